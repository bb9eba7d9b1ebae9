//! `flagtrail tail`: the event source mapping, locally, with the Lambdas' own pipelines and sinks.

use flagtrail_devtools::mapping::{drain, MappingOptions};
use flagtrail_devtools::stack::stream_arn;
use flagtrail_runtime::build::{audit_pipeline, notify_pipeline};
use flagtrail_runtime::config::env_vars;
use flagtrail_runtime::pipeline::now_ms;
use flagtrail_runtime::{AuditConfig, NotifyConfig, Pipeline, SdkSettings};

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
}

/// Runs both consumers over the table's stream.
pub async fn run(args: TailArgs) -> anyhow::Result<()> {
    let vars = env_vars();
    let audit_cfg = AuditConfig::from_vars(&vars)?;
    let notify_cfg = NotifyConfig::from_vars(&vars)?;
    let sdk = SdkSettings::default().load().await;
    let stream_arn = stream_arn(&aws_sdk_dynamodb::Client::new(&sdk), &args.table).await?;
    let audit = audit_pipeline(&sdk, &audit_cfg);
    let notify = notify_pipeline(&sdk, &notify_cfg);
    let opts = MappingOptions {
        batch_size: args.batch_size,
        stop_after_idle_polls: (!args.follow).then_some(3),
        ..Default::default()
    };
    let consumers: [&dyn Pipeline; 2] = [&audit, &notify];
    let stats = drain(&aws_sdk_dynamodbstreams::Client::new(&sdk), &stream_arn, &consumers, &opts).await?;
    for (name, ns) in [("audit", &audit_cfg.metrics_namespace), ("notify", &notify_cfg.metrics_namespace)] {
        for m in stats.metrics.get(name).into_iter().flatten() {
            for doc in m.to_emf(ns, name, now_ms()) {
                println!("{doc}");
            }
        }
        eprintln!(
            "{name}: {} invocation(s), {} record(s), {} batch(es) redelivered",
            stats.invocations.get(name).unwrap_or(&0),
            stats.records.get(name).unwrap_or(&0),
            stats.failed_batches.get(name).unwrap_or(&0)
        );
    }
    Ok(())
}
