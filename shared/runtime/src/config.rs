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

/// Configuration of the scheduled completeness check (`reconcile` function).
#[derive(Debug, Clone)]
pub struct ReconcileConfig {
    /// `FLAGTRAIL_TABLE` (required): the flag table.
    pub table: String,
    /// `FLAGTRAIL_AUDIT_LOG_GROUP` (required): the trail.
    pub log_group: String,
    /// `FLAGTRAIL_METRICS_NAMESPACE` (default `Flagtrail`).
    pub metrics_namespace: String,
}

impl ReconcileConfig {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(&env_vars())
    }

    /// Reads and validates the variables; the error names the first bad one.
    pub fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        Ok(ReconcileConfig {
            table: vars.required("FLAGTRAIL_TABLE")?,
            log_group: vars.required("FLAGTRAIL_AUDIT_LOG_GROUP")?,
            metrics_namespace: vars.optional("FLAGTRAIL_METRICS_NAMESPACE").unwrap_or_else(|| "Flagtrail".into()),
        })
    }
}
