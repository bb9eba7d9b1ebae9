//! Configuration of the two functions, read once from environment variables (see README).

use flagtrail_core::{ConfigError, CoreConfig, Vars};

/// The process environment as configuration variables.
pub fn env_vars() -> Vars {
    std::env::vars().collect()
}

/// Configuration of the `audit` function (and `flagtrail tail`'s audit consumer).
#[derive(Debug, Clone)]
pub struct AuditConfig {
    /// Core settings.
    pub core: CoreConfig,
    /// `FLAGTRAIL_AUDIT_LOG_GROUP` (required): the audit log group.
    pub log_group: String,
    /// `FLAGTRAIL_AUDIT_STREAM_PREFIX` (default `audit/`): log streams are `{prefix}YYYY/MM/DD`.
    pub stream_prefix: String,
    /// `FLAGTRAIL_METRICS_NAMESPACE` (default `Flagtrail`).
    pub metrics_namespace: String,
    /// `FLAGTRAIL_AUDIT_RETENTION_DAYS` (optional): the audit group's retention; events are kept
    /// inside it, since CloudWatch Logs rejects older ones.
    pub retention_days: Option<u32>,
    /// `FLAGTRAIL_SEAL_KEY_ID` (optional): the KMS asymmetric key (`ECC_NIST_P256`, `SIGN_VERIFY`)
    /// that signs each invocation's seal; without it seals carry digests only.
    pub seal_key_id: Option<String>,
    /// `FLAGTRAIL_ARCHIVE_STREAM` (optional): a Firehose delivery stream the function archives what
    /// it wrote to; set where the group's subscription cannot feed the archive (data protection).
    pub archive_stream: Option<String>,
}

impl AuditConfig {
    /// Defaults for everything but the log group.
    pub fn new(log_group: impl Into<String>) -> Self {
        AuditConfig {
            core: CoreConfig::default(),
            log_group: log_group.into(),
            stream_prefix: "audit/".into(),
            metrics_namespace: "Flagtrail".into(),
            retention_days: None,
            seal_key_id: None,
            archive_stream: None,
        }
    }

    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(&env_vars())
    }

    /// Reads and validates the variables; the error names the first bad one.
    pub fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        Ok(AuditConfig {
            core: CoreConfig::from_vars(vars)?,
            log_group: vars.required("FLAGTRAIL_AUDIT_LOG_GROUP")?,
            stream_prefix: vars.optional("FLAGTRAIL_AUDIT_STREAM_PREFIX").unwrap_or_else(|| "audit/".into()),
            metrics_namespace: vars.optional("FLAGTRAIL_METRICS_NAMESPACE").unwrap_or_else(|| "Flagtrail".into()),
            retention_days: vars
                .number("FLAGTRAIL_AUDIT_RETENTION_DAYS")?
                .map(|d| {
                    u32::try_from(d).map_err(|_| ConfigError::new("FLAGTRAIL_AUDIT_RETENTION_DAYS", "is too large"))
                })
                .transpose()?,
            seal_key_id: vars.optional("FLAGTRAIL_SEAL_KEY_ID"),
            archive_stream: vars.optional("FLAGTRAIL_ARCHIVE_STREAM"),
        })
    }
}

/// Configuration of the `notify` function (and `flagtrail tail`'s notify consumer).
#[derive(Debug, Clone)]
pub struct NotifyConfig {
    /// Core settings.
    pub core: CoreConfig,
    /// `FLAGTRAIL_ALERT_TOPIC_ARN` (required).
    pub alert_topic_arn: String,
    /// `FLAGTRAIL_INVALIDATION_TOPIC_ARN` (required).
    pub invalidation_topic_arn: String,
    /// `FLAGTRAIL_METRICS_NAMESPACE` (default `Flagtrail`).
    pub metrics_namespace: String,
    /// `FLAGTRAIL_MARKS_TABLE` (optional): the freshness marks table (docs/freshness.md).
    pub marks_table: Option<String>,
}

impl NotifyConfig {
    /// Defaults for everything but the two topics.
    pub fn new(alert_topic_arn: impl Into<String>, invalidation_topic_arn: impl Into<String>) -> Self {
        NotifyConfig {
            core: CoreConfig::default(),
            alert_topic_arn: alert_topic_arn.into(),
            invalidation_topic_arn: invalidation_topic_arn.into(),
            metrics_namespace: "Flagtrail".into(),
            marks_table: None,
        }
    }

    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(&env_vars())
    }

    /// Reads and validates the variables; the error names the first bad one.
    pub fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        let arn = |name: &str| {
            let v = vars.required(name)?;
            if v.starts_with("arn:") && v.split(':').count() >= 6 {
                Ok(v)
            } else {
                Err(ConfigError::new(name, format!("`{v}` is not an SNS topic ARN")))
            }
        };
        Ok(NotifyConfig {
            core: CoreConfig::from_vars(vars)?,
            alert_topic_arn: arn("FLAGTRAIL_ALERT_TOPIC_ARN")?,
            invalidation_topic_arn: arn("FLAGTRAIL_INVALIDATION_TOPIC_ARN")?,
            metrics_namespace: vars.optional("FLAGTRAIL_METRICS_NAMESPACE").unwrap_or_else(|| "Flagtrail".into()),
            marks_table: vars.optional("FLAGTRAIL_MARKS_TABLE"),
        })
    }
}

/// How late a change's record may reach the trail by default: the audit mapping's maximum record
/// age (6 h, infra/cdk/lib/stream-consumer.ts) — after it Lambda discards the batch to the failure
/// destination, which pages on its own — plus 15 minutes for the last retry's invocation.
pub const DEFAULT_GRACE_SECONDS: u64 = 6 * 3600 + 15 * 60;

/// Configuration of the scheduled completeness check (`reconcile` function).
#[derive(Debug, Clone)]
pub struct ReconcileConfig {
    /// `FLAGTRAIL_TABLE` (required): the flag table.
    pub table: String,
    /// `FLAGTRAIL_AUDIT_LOG_GROUP` (required): the trail.
    pub log_group: String,
    /// `FLAGTRAIL_METRICS_NAMESPACE` (default `Flagtrail`).
    pub metrics_namespace: String,
    /// `FLAGTRAIL_STATE_BUCKET` (optional): where the state is kept between runs
    /// (`FLAGTRAIL_STATE_KEY`, default `reconcile/state.jsonl.gz`); without it every run reads the
    /// whole trail.
    pub state: Option<(String, String)>,
    /// `FLAGTRAIL_RECONCILE_GRACE_SECONDS` (default [`DEFAULT_GRACE_SECONDS`]).
    pub grace_seconds: u64,
    /// `FLAGTRAIL_RECONCILE_OVERLAP_SECONDS` (default 900): how far before the last run's end each
    /// run reads the trail again (events ingested late).
    pub overlap_seconds: u64,
    /// `FLAGTRAIL_SCAN_SEGMENTS` (default 24): the table is compared in this many slices, one per
    /// run — hourly runs make a full pass a day.
    pub segments: u32,
    /// `FLAGTRAIL_SCAN_READ_UNITS_PER_SECOND` (default 50; 0 is unlimited): the table's read capacity
    /// the check may consume.
    pub read_units_per_second: u64,
    /// `FLAGTRAIL_LOGS_REQUESTS_PER_SECOND` (default 2): FilterLogEvents requests per second
    /// (the account's quota is 5, shared).
    pub filter_requests_per_second: u64,
    /// `FLAGTRAIL_BASELINE_ON_FIRST_RUN` (`true`/`false`, default false): the first run (no state
    /// kept) records a baseline of the items the trail does not show; needs the state bucket.
    pub baseline_on_first_run: bool,
    /// `FLAGTRAIL_SEAL_KEY_ID` (optional): the key that signs the baseline's seals.
    pub seal_key_id: Option<String>,
}

impl ReconcileConfig {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(&env_vars())
    }

    /// Reads and validates the variables; the error names the first bad one.
    pub fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        let state = vars.optional("FLAGTRAIL_STATE_BUCKET").map(|bucket| {
            (bucket, vars.optional("FLAGTRAIL_STATE_KEY").unwrap_or_else(|| "reconcile/state.jsonl.gz".into()))
        });
        let baseline_on_first_run = match vars.optional("FLAGTRAIL_BASELINE_ON_FIRST_RUN").as_deref() {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => {
                return Err(ConfigError::new(
                    "FLAGTRAIL_BASELINE_ON_FIRST_RUN",
                    format!("`{other}` is not true or false"),
                ))
            }
        };
        if baseline_on_first_run && state.is_none() {
            return Err(ConfigError::new(
                "FLAGTRAIL_BASELINE_ON_FIRST_RUN",
                "needs FLAGTRAIL_STATE_BUCKET: without a kept state every run would be a first run",
            ));
        }
        let segments = vars.number("FLAGTRAIL_SCAN_SEGMENTS")?.unwrap_or(24);
        // DynamoDB parallel Scan: TotalSegments is 1 to 1,000,000.
        if !(1..=1_000_000).contains(&segments) {
            return Err(ConfigError::new("FLAGTRAIL_SCAN_SEGMENTS", "must be 1 to 1000000 (Scan TotalSegments)"));
        }
        Ok(ReconcileConfig {
            table: vars.required("FLAGTRAIL_TABLE")?,
            log_group: vars.required("FLAGTRAIL_AUDIT_LOG_GROUP")?,
            metrics_namespace: vars.optional("FLAGTRAIL_METRICS_NAMESPACE").unwrap_or_else(|| "Flagtrail".into()),
            state,
            grace_seconds: vars.count("FLAGTRAIL_RECONCILE_GRACE_SECONDS")?.unwrap_or(DEFAULT_GRACE_SECONDS),
            overlap_seconds: vars.count("FLAGTRAIL_RECONCILE_OVERLAP_SECONDS")?.unwrap_or(900),
            segments: segments as u32,
            read_units_per_second: vars.count("FLAGTRAIL_SCAN_READ_UNITS_PER_SECOND")?.unwrap_or(50),
            filter_requests_per_second: vars.number("FLAGTRAIL_LOGS_REQUESTS_PER_SECOND")?.unwrap_or(2),
            baseline_on_first_run,
            seal_key_id: vars.optional("FLAGTRAIL_SEAL_KEY_ID"),
        })
    }
}

/// Configuration of the transparency log's single writer (`log-writer` function).
#[derive(Debug, Clone)]
pub struct LogWriterConfig {
    /// `FLAGTRAIL_AUDIT_LOG_GROUP` (required): the trail whose seals the log holds.
    pub log_group: String,
    /// `FLAGTRAIL_LOG_BUCKET` (required): the write-once archive.
    pub bucket: String,
    /// `FLAGTRAIL_LOG_PREFIX` (default `log/`).
    pub prefix: String,
    /// `FLAGTRAIL_CHECKPOINT_KEY_ID` (required): the KMS key (`ECC_NIST_EDWARDS25519`) that signs
    /// checkpoints.
    pub checkpoint_key_id: String,
    /// `FLAGTRAIL_LOG_ORIGIN` (default `flagtrail/seals`): the checkpoints' origin line.
    pub origin: String,
    /// `FLAGTRAIL_LOG_LOOKBACK_SECONDS` (default 14 days and an hour): how far back each round reads
    /// the trail for seals. A seal is dated like the newest record it covers, and PutLogEvents
    /// refuses events older than 14 days, so no seal can be written further back than that.
    pub lookback_seconds: u64,
    /// `FLAGTRAIL_LOGS_REQUESTS_PER_SECOND` (default 2): FilterLogEvents requests per second.
    pub filter_requests_per_second: u64,
    /// `FLAGTRAIL_WITNESSES` (default none): comma-separated `URL VKEY` entries, each a C2SP
    /// tlog-witness submission prefix and the witness's verifier key.
    pub witnesses: Vec<WitnessEndpoint>,
}

/// A witness the log writer asks: its submission prefix and verifier key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessEndpoint {
    /// The submission prefix (`…/add-checkpoint` is appended).
    pub url: String,
    /// The witness's verifier key (`name+keyid+base64`, cosignature/v1).
    pub vkey: String,
}

impl WitnessEndpoint {
    /// The witness's key.
    pub fn key(&self) -> flagtrail_core::integrity::tlog::WitnessKey {
        flagtrail_core::integrity::tlog::WitnessKey::from_vkey(&self.vkey).expect("checked when the config was read")
    }
}

/// Reads `URL VKEY` entries, checking each vkey.
fn witness_endpoints(vars: &Vars, name: &str) -> Result<Vec<WitnessEndpoint>, ConfigError> {
    let mut out = Vec::new();
    for (i, entry) in vars.list(name).unwrap_or_default().iter().enumerate() {
        let Some((url, vkey)) = entry.split_once(char::is_whitespace) else {
            return Err(ConfigError::new(name, format!("entry {}: {entry:?} is not `URL VKEY`", i + 1)));
        };
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(ConfigError::new(name, format!("entry {}: {url:?} is not an http(s) URL", i + 1)));
        }
        flagtrail_core::integrity::tlog::WitnessKey::from_vkey(vkey.trim())
            .map_err(|e| ConfigError::new(name, format!("entry {}: {e}", i + 1)))?;
        out.push(WitnessEndpoint { url: url.to_owned(), vkey: vkey.trim().to_owned() });
    }
    Ok(out)
}

/// Configuration of a C2SP tlog-witness (`witness` function).
#[derive(Debug, Clone)]
pub struct WitnessConfig {
    /// `FLAGTRAIL_WITNESS_KEY_ID` (required): the KMS key (`ECC_NIST_EDWARDS25519`) that cosigns.
    pub key_id: String,
    /// `FLAGTRAIL_WITNESS_NAME` (default `witness-` and 16 hex digits of the key's SHA-256): the
    /// name on its cosignature lines.
    pub name: Option<String>,
    /// `FLAGTRAIL_WITNESS_LOG_KEYS` (required): comma-separated vkeys of the logs it witnesses.
    pub logs: Vec<flagtrail_core::integrity::tlog::NoteVerifyingKey>,
    /// `FLAGTRAIL_WITNESS_TABLE` (required): its state, a DynamoDB table keyed by `origin`.
    pub table: String,
}

impl WitnessConfig {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(&env_vars())
    }

    /// Reads and validates the variables; the error names the first bad one.
    pub fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        const LOGS: &str = "FLAGTRAIL_WITNESS_LOG_KEYS";
        let logs = vars
            .list(LOGS)
            .unwrap_or_default()
            .iter()
            .map(|v| {
                flagtrail_core::integrity::tlog::NoteVerifyingKey::from_vkey(v).map_err(|e| ConfigError::new(LOGS, e))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if logs.is_empty() {
            return Err(ConfigError::new(LOGS, "is required: the vkey of at least one log"));
        }
        let name = vars.optional("FLAGTRAIL_WITNESS_NAME");
        if let Some(n) = &name {
            if n.is_empty() || n.contains(char::is_whitespace) || n.contains('+') {
                return Err(ConfigError::new("FLAGTRAIL_WITNESS_NAME", "a key name has no spaces and no '+'"));
            }
        }
        Ok(WitnessConfig {
            key_id: vars.required("FLAGTRAIL_WITNESS_KEY_ID")?,
            name,
            logs,
            table: vars.required("FLAGTRAIL_WITNESS_TABLE")?,
        })
    }
}

impl LogWriterConfig {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(&env_vars())
    }

    /// Reads and validates the variables; the error names the first bad one.
    pub fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        let max_age = u64::try_from(flagtrail_core::delivery::rules::LOG_MAX_AGE_MS / 1000).unwrap_or(0);
        Ok(LogWriterConfig {
            log_group: vars.required("FLAGTRAIL_AUDIT_LOG_GROUP")?,
            bucket: vars.required("FLAGTRAIL_LOG_BUCKET")?,
            prefix: vars.optional("FLAGTRAIL_LOG_PREFIX").unwrap_or_else(|| "log/".into()),
            checkpoint_key_id: vars.required("FLAGTRAIL_CHECKPOINT_KEY_ID")?,
            origin: vars
                .optional("FLAGTRAIL_LOG_ORIGIN")
                .unwrap_or_else(|| flagtrail_core::integrity::tlog::DEFAULT_ORIGIN.into()),
            lookback_seconds: vars.number("FLAGTRAIL_LOG_LOOKBACK_SECONDS")?.unwrap_or(max_age + 3600),
            filter_requests_per_second: vars.number("FLAGTRAIL_LOGS_REQUESTS_PER_SECOND")?.unwrap_or(2),
            witnesses: witness_endpoints(vars, "FLAGTRAIL_WITNESSES")?,
        })
    }

    /// The lookback in ms.
    pub fn lookback_ms(&self) -> i64 {
        i64::try_from(self.lookback_seconds.saturating_mul(1000)).unwrap_or(i64::MAX)
    }
}

#[cfg(test)]
mod witness_tests {
    use super::*;

    const VKEY: &str = "witness.example/w1+5e0ea0f8+BH9pUf1nyUhp2ttRLiR8WXfOeqKZD5c8oM1r7eI3nfrI";

    fn writer(witnesses: &str) -> Result<LogWriterConfig, ConfigError> {
        LogWriterConfig::from_vars(&Vars::from_iter([
            ("FLAGTRAIL_AUDIT_LOG_GROUP", "g"),
            ("FLAGTRAIL_LOG_BUCKET", "b"),
            ("FLAGTRAIL_CHECKPOINT_KEY_ID", "k"),
            ("FLAGTRAIL_WITNESSES", witnesses),
        ]))
    }

    #[test]
    fn witnesses_are_url_and_vkey_pairs_and_a_bad_entry_is_named() {
        let key = flagtrail_core::integrity::tlog::WitnessKey::named(
            "witness.example/w1",
            ed25519_dalek::SigningKey::from_bytes(&[5; 32]).verifying_key(),
        );
        let vkey = key.vkey();
        let c = writer(&format!("https://a.example/w {vkey}, http://127.0.0.1:9/ {vkey}")).unwrap();
        assert_eq!(c.witnesses.len(), 2);
        assert_eq!(c.witnesses[0].url, "https://a.example/w");
        assert_eq!(c.witnesses[1].key().vkey(), vkey);
        let e = writer(&format!("https://a.example/w {vkey},https://b.example/w")).unwrap_err();
        assert_eq!(e.name, "FLAGTRAIL_WITNESSES");
        assert!(e.message.contains("entry 2"), "{e}");
        let e = writer(&format!("ftp://a.example {vkey}")).unwrap_err();
        assert!(e.message.contains("not an http(s) URL"), "{e}");
        let e = writer(&format!("https://a.example/w {}", &VKEY[..VKEY.len() - 4])).unwrap_err();
        assert!(e.message.contains("verifier key"), "{e}");
        assert!(writer("").unwrap().witnesses.is_empty());
    }

    #[test]
    fn a_witness_needs_the_logs_it_witnesses() {
        let base = [("FLAGTRAIL_WITNESS_KEY_ID", "k"), ("FLAGTRAIL_WITNESS_TABLE", "t")];
        let e = WitnessConfig::from_vars(&Vars::from_iter(base)).unwrap_err();
        assert_eq!(e.name, "FLAGTRAIL_WITNESS_LOG_KEYS");
        let log = flagtrail_core::integrity::tlog::NoteVerifyingKey::new(
            "flagtrail/prod/seals",
            ed25519_dalek::SigningKey::from_bytes(&[6; 32]).verifying_key(),
        )
        .vkey();
        let vars = Vars::from_iter(base.into_iter().chain([("FLAGTRAIL_WITNESS_LOG_KEYS", log.as_str())]));
        assert_eq!(WitnessConfig::from_vars(&vars).unwrap().logs[0].name(), "flagtrail/prod/seals");
        let vars = Vars::from_iter(base.into_iter().chain([("FLAGTRAIL_WITNESS_LOG_KEYS", VKEY)]));
        assert!(
            WitnessConfig::from_vars(&vars).unwrap_err().message.contains("key type"),
            "a witness vkey is not a log key"
        );
    }
}
