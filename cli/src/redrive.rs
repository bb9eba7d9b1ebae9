//! `flagtrail redrive`: runs records Lambda discarded (the S3 on-failure destination, or a folder of
//! the same invocation records) through the pipeline they came from, into the real sinks.
//!
//! Idempotent: audit records carry the stream eventId (a record written twice is a duplicate an
//! auditor can identify), alerts and invalidations keep their dedup ids and versions; an object is
//! marked done only once every record in it is durable, and done objects are not read again.
//!
//! With `--via-function` the records go through the deployed function instead (a synchronous
//! Invoke with the saved event): its code, its configuration and its role — for audit, the only
//! role that may sign seals, so redriven records are sealed with the key like any other.

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{InvocationType, LogType};
use base64::Engine;
use flagtrail_core::delivery::{BatchResponse, LAMBDA_SYNC_PAYLOAD_BYTES};
use flagtrail_core::failure::{function_name, FailureRecord};
use flagtrail_core::StreamEvent;
use flagtrail_devtools::failure_store::{DirStore, FailureStore, S3Store, StoreError};
use flagtrail_runtime::build::{audit_pipeline, notify_pipeline};
use flagtrail_runtime::sdk::classify;
use flagtrail_runtime::{AuditConfig, Invocation, NotifyConfig, Outcome, Pipeline, SdkSettings, SinkError};

/// Which pipeline to run the records through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Function {
    /// Audit records into FLAGTRAIL_AUDIT_LOG_GROUP.
    Audit,
    /// Alerts and invalidations to FLAGTRAIL_ALERT_TOPIC_ARN / FLAGTRAIL_INVALIDATION_TOPIC_ARN.
    Notify,
}

/// Options of `flagtrail redrive`; sinks come from the same variables the Lambdas read.
#[derive(clap::Args, Debug)]
pub struct RedriveArgs {
    /// The pipeline the records are run through.
    #[arg(long, value_enum)]
    pub function: Function,
    /// The S3 bucket of the mappings' on-failure destination.
    #[arg(long, required_unless_present = "dir", conflicts_with = "dir")]
    pub bucket: Option<String>,
    /// A local folder of invocation records (as the stream-mapping stand-in writes them).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Only records discarded by this function (the name in `requestContext.functionArn`).
    #[arg(long)]
    pub only_function: Option<String>,
    /// List what would be redriven; send nothing and mark nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Invoke this deployed function (name or ARN) with each of its own saved batches instead of
    /// writing with your own credentials: for audit, the function's role signs the seals (needs
    /// `lambda:InvokeFunction` on it).
    #[arg(long)]
    pub via_function: Option<String>,
}

/// A deployed function invoked synchronously with a saved batch: its partial batch response says
/// which records are durable.
pub struct DeployedFunction {
    client: aws_sdk_lambda::Client,
    function: String,
    pipeline: &'static str,
}

impl DeployedFunction {
    /// A client for `function` (name or ARN) running `pipeline`; a call waits as long as a function
    /// may run (15 minutes), not the sinks' 12 s.
    pub fn new(sdk: &aws_config::SdkConfig, function: &str, pipeline: Function) -> Self {
        let timeouts = aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(5))
            .operation_attempt_timeout(Duration::from_secs(15 * 60 + 30))
            .operation_timeout(Duration::from_secs(3 * (15 * 60 + 30)))
            .build();
        let conf = aws_sdk_lambda::config::Builder::from(sdk).timeout_config(timeouts).build();
        DeployedFunction {
            client: aws_sdk_lambda::Client::from_conf(conf),
            function: function.to_owned(),
            pipeline: match pipeline {
                Function::Audit => "audit",
                Function::Notify => "notify",
            },
        }
    }

    fn failed(error: SinkError) -> Outcome {
        Outcome { response: BatchResponse::whole_batch(), errors: vec![error], ..Default::default() }
    }
}

#[async_trait]
impl Pipeline for DeployedFunction {
    fn name(&self) -> &'static str {
        self.pipeline
    }

    async fn handle(&self, event: &StreamEvent, _inv: Invocation) -> Outcome {
        const SINK: &str = "function";
        let permanent = |message: String| Self::failed(SinkError::Permanent { sink: SINK, message });
        let payload = match serde_json::to_vec(event) {
            Ok(p) if p.len() > LAMBDA_SYNC_PAYLOAD_BYTES => {
                return permanent(format!("the batch is {} bytes, over Invoke's {LAMBDA_SYNC_PAYLOAD_BYTES}", p.len()))
            }
            Ok(p) => p,
            Err(e) => return permanent(format!("cannot serialize the batch: {e}")),
        };
        let sent = self
            .client
            .invoke()
            .function_name(&self.function)
            .invocation_type(InvocationType::RequestResponse)
            // The last 4 KB of the invocation's log, to say why records were not made durable.
            .log_type(LogType::Tail)
            .payload(Blob::new(payload))
            .send()
            .await;
        let out = match sent {
            Ok(out) => out,
            Err(e) => return Self::failed(classify(SINK, &e)),
        };
        let body = out.payload().map(|b| String::from_utf8_lossy(b.as_ref()).into_owned()).unwrap_or_default();
        let log = out
            .log_result()
            .and_then(|l| base64::engine::general_purpose::STANDARD.decode(l).ok())
            .map(|l| format!("; its log ends: {}", String::from_utf8_lossy(&l).trim_end()))
            .unwrap_or_default();
        if let Some(kind) = out.function_error() {
            return permanent(format!("{} failed ({kind}): {body}{log}", self.function));
        }
        match serde_json::from_str::<BatchResponse>(&body) {
            Ok(response) => {
                let errors = match response.resume_from() {
                    Some(seq) => vec![SinkError::Transient {
                        sink: SINK,
                        message: format!("{} did not make record {seq:?} and later durable{log}", self.function),
                    }],
                    None => vec![],
                };
                Outcome { response, errors, ..Default::default() }
            }
            Err(e) => {
                permanent(format!("{} answered what is not a partial batch response ({e}): {body}{log}", self.function))
            }
        }
    }
}

/// What happened to one invocation record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fate {
    /// Every record is durable; the object is marked done.
    Redriven(usize),
    /// Dry run: this many records would be redriven.
    WouldRedrive(usize),
    /// Discarded by another function (`--only-function`).
    OtherFunction(String),
    /// Not redriven; the object stays pending.
    Failed(String),
}

/// One line of the report.
#[derive(Debug, Clone)]
pub struct Redriven {
    /// The object's key.
    pub key: String,
    /// What happened.
    pub fate: Fate,
}

/// Redrives every pending invocation record of `store` through `pipeline`.
pub async fn redrive(
    store: &dyn FailureStore,
    pipeline: &dyn Pipeline,
    only_function: Option<&str>,
    dry_run: bool,
) -> Result<Vec<Redriven>, StoreError> {
    let mut report = Vec::new();
    for key in store.pending().await? {
        let text = store.get(&key).await?;
        let fate = match FailureRecord::from_json(&text) {
            Err(e) => Fate::Failed(e.to_string()),
            Ok(r) if only_function.is_some_and(|f| f != r.function_name()) => {
                Fate::OtherFunction(r.function_name().to_owned())
            }
            Ok(r) => match r.event() {
                Err(e) => Fate::Failed(e.to_string()),
                Ok(event) if dry_run => Fate::WouldRedrive(event.records.len()),
                Ok(event) => {
                    let out = pipeline.handle(&event, Invocation::unbounded()).await;
                    match out.response.resume_from() {
                        None => {
                            store.mark_done(&key).await?;
                            Fate::Redriven(event.records.len())
                        }
                        Some(seq) => Fate::Failed(format!(
                            "not durable from sequence number {seq}: {}",
                            out.errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
                        )),
                    }
                }
            },
        };
        report.push(Redriven { key, fate });
    }
    Ok(report)
}

/// Whose discarded batches to redrive. Both mappings share the failure bucket: through a function
/// (`via`, a name or ARN), only that function's own batches, and `--only-function` must agree.
pub fn batches_of<'a>(only: Option<&'a str>, via: Option<&'a str>) -> anyhow::Result<Option<&'a str>> {
    match (only, via.map(function_name)) {
        (Some(only), Some(via)) if only != via => {
            anyhow::bail!("--only-function {only} with --via-function {via} would send {only}'s batches to {via}")
        }
        (only, via) => Ok(only.or(via)),
    }
}

/// Runs the command; false when any record could not be redriven.
pub async fn run(args: RedriveArgs) -> anyhow::Result<bool> {
    let sdk = SdkSettings::default().load().await;
    let store: Box<dyn FailureStore> = match (&args.bucket, &args.dir) {
        (Some(bucket), _) => {
            // A local stand-in (AWS_ENDPOINT_URL) serves buckets by path, not by host name.
            let path_style = std::env::var_os("AWS_ENDPOINT_URL").is_some();
            let conf = aws_sdk_s3::config::Builder::from(&sdk).force_path_style(path_style).build();
            Box::new(S3Store { client: aws_sdk_s3::Client::from_conf(conf), bucket: bucket.clone() })
        }
        (None, Some(dir)) => Box::new(DirStore(dir.clone())),
        (None, None) => anyhow::bail!("give --bucket or --dir"),
    };
    let pipeline: Box<dyn Pipeline> = match (&args.via_function, args.function) {
        (Some(name), function) => Box::new(DeployedFunction::new(&sdk, name, function)),
        (None, Function::Audit) => Box::new(audit_pipeline(&sdk, &AuditConfig::from_env()?)),
        (None, Function::Notify) => Box::new(notify_pipeline(&sdk, &NotifyConfig::from_env()?)),
    };
    let only_function = batches_of(args.only_function.as_deref(), args.via_function.as_deref())?;
    let report = redrive(store.as_ref(), pipeline.as_ref(), only_function, args.dry_run).await?;
    let mut ok = true;
    let (mut objects, mut records) = (0, 0);
    for r in &report {
        let line = match &r.fate {
            Fate::Redriven(n) => {
                objects += 1;
                records += n;
                format!("redriven   {n:>5} record(s)")
            }
            Fate::WouldRedrive(n) => {
                objects += 1;
                records += n;
                format!("would redrive {n:>5} record(s)")
            }
            Fate::OtherFunction(f) => format!("skipped    (discarded by {f})"),
            Fate::Failed(why) => {
                ok = false;
                format!("FAILED     {why}")
            }
        };
        println!("{}  {line}", r.key);
    }
    let verb = if args.dry_run { "would redrive" } else { "redriven" };
    println!(
        "{} pending object(s) in {}; {verb}: {objects} object(s), {records} record(s)",
        report.len(),
        store.name()
    );
    Ok(ok)
}

#[cfg(test)]
mod tests {
    use super::batches_of;

    #[test]
    fn through_a_function_only_its_own_batches() {
        let arn = "arn:aws:lambda:eu-west-1:123456789012:function:flagtrail-prod-audit:live";
        assert_eq!(batches_of(None, Some(arn)).unwrap(), Some("flagtrail-prod-audit"));
        assert_eq!(batches_of(None, Some("flagtrail-prod-audit")).unwrap(), Some("flagtrail-prod-audit"));
        assert_eq!(batches_of(Some("flagtrail-prod-audit"), Some(arn)).unwrap(), Some("flagtrail-prod-audit"));
        assert_eq!(batches_of(Some("flagtrail-prod-notify"), None).unwrap(), Some("flagtrail-prod-notify"));
        assert_eq!(batches_of(None, None).unwrap(), None);
        let err = batches_of(Some("flagtrail-prod-notify"), Some(arn)).unwrap_err().to_string();
        assert!(err.contains("would send flagtrail-prod-notify's batches to flagtrail-prod-audit"), "{err}");
    }
}
