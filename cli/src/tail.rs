//! `flagtrail tail`: the event source mapping, locally, with the Lambdas' own pipelines and sinks.

use std::path::PathBuf;

use flagtrail_devtools::failure_store::DirStore;
use flagtrail_devtools::mapping::{drain_mappings, notify_filter, Mapping, MappingOptions};
use flagtrail_devtools::stack::stream_arn;
use flagtrail_runtime::build::{audit_pipeline, notify_pipeline};
use flagtrail_runtime::config::env_vars;
use flagtrail_runtime::pipeline::now_ms;
use flagtrail_runtime::{AuditConfig, NotifyConfig, SdkSettings};

/// Options of `flagtrail tail`; sinks come from the same variables the Lambdas read.
#[derive(clap::Args)]
pub struct TailArgs {
    /// The table whose stream to follow.
    #[arg(long, env = "FLAGTRAIL_TABLE")]
    pub table: String,
    /// Records per batch.
    #[arg(long, default_value_t = 100)]
    pub batch_size: i32,
    /// Keep polling instead of stopping once the stream is drained.
    #[arg(long)]
    pub follow: bool,
    /// Write the invocation records of discarded batches here (as Lambda writes them to the S3
    /// on-failure destination), for `flagtrail redrive --dir`.
    #[arg(long)]
    pub failure_dir: Option<PathBuf>,
    /// Read a stream on AWS itself. DynamoDB Streams allows two readers per shard, and the stack's
    /// two functions are both: a third reader is throttled and slows them down.
    #[arg(long)]
    pub third_reader: bool,
}

/// True when the SDK talks to a stand-in on this machine.
fn local_endpoint(endpoint: Option<&str>) -> bool {
    endpoint.is_some_and(|e| {
        let host = e.split("://").nth(1).unwrap_or(e).split(['/', ':']).next().unwrap_or("");
        host == "localhost" || host.starts_with("127.") || host == "[::1]"
    })
}

/// Runs both consumers over the table's stream.
pub async fn run(args: TailArgs) -> anyhow::Result<()> {
    let vars = env_vars();
    if !args.third_reader && !local_endpoint(vars.optional("AWS_ENDPOINT_URL").as_deref()) {
        anyhow::bail!(
            "refusing to read a DynamoDB stream on AWS: a shard allows two readers and the audit and notify \
             functions are both of them, so a third is throttled and delays them. Point AWS_ENDPOINT_URL at a \
             local stand-in, or pass --third-reader if this table has no deployed mappings."
        );
    }
    let audit_cfg = AuditConfig::from_vars(&vars)?;
    let notify_cfg = NotifyConfig::from_vars(&vars)?;
    let sdk = SdkSettings::default().load().await;
    let stream_arn = stream_arn(&aws_sdk_dynamodb::Client::new(&sdk), &args.table).await?;
    let audit = audit_pipeline(&sdk, &audit_cfg);
    let notify = notify_pipeline(&sdk, &notify_cfg);
    // The stack's settings: bounded retries, bisect, a record age limit; notify filtered to flag keys.
    let opts = MappingOptions {
        batch_size: args.batch_size,
        stop_after_idle_polls: (!args.follow).then_some(3),
        ..Default::default()
    };
    let store = args.failure_dir.map(DirStore);
    let on_failure = store.as_ref().map(|s| s as &dyn flagtrail_devtools::failure_store::FailureStore);
    let mappings = [
        Mapping { pipeline: &audit, options: opts.clone(), on_failure },
        Mapping {
            pipeline: &notify,
            options: MappingOptions { pk_prefixes: Some(notify_filter()), ..opts },
            on_failure,
        },
    ];
    let stats = drain_mappings(&aws_sdk_dynamodbstreams::Client::new(&sdk), &stream_arn, &mappings).await?;
    for (name, ns) in [("audit", &audit_cfg.metrics_namespace), ("notify", &notify_cfg.metrics_namespace)] {
        for m in stats.metrics.get(name).into_iter().flatten() {
            for doc in m.to_emf(ns, name, now_ms()) {
                println!("{doc}");
            }
        }
        eprintln!(
            "{name}: {} invocation(s), {} record(s), {} batch(es) redelivered, {} record(s) discarded",
            stats.invocations.get(name).unwrap_or(&0),
            stats.records.get(name).unwrap_or(&0),
            stats.failed_batches.get(name).unwrap_or(&0),
            stats.discarded.get(name).unwrap_or(&0)
        );
    }
    for key in &stats.destination_keys {
        eprintln!("discarded batch written to the failure folder: {key}");
    }
    Ok(())
}
