//! `flagtrail tail`: the event source mapping, locally, with the Lambdas' own pipelines and sinks.

use flagtrail::aws::{sdk_config, CloudWatchLog, SnsTopic};
use flagtrail::config::{AuditConfig, NotifyConfig, Vars};
use flagtrail::esm::{drain, Consumer, MappingOptions};
use flagtrail::{AuditPipeline, NotifyPipeline};

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
    let vars = Vars::from_env();
    let audit_cfg = AuditConfig::from_vars(&vars)?;
    let notify_cfg = NotifyConfig::from_vars(&vars)?;
    let sdk = sdk_config().await;
    let stream_arn = stream_arn(&aws_sdk_dynamodb::Client::new(&sdk), &args.table).await?;
    let audit = AuditPipeline {
        config: audit_cfg.core.clone(),
        log: CloudWatchLog::new(
            aws_sdk_cloudwatchlogs::Client::new(&sdk),
            audit_cfg.log_group.clone(),
            audit_cfg.stream_prefix.clone(),
        ),
    };
    let sns = aws_sdk_sns::Client::new(&sdk);
    let notify = NotifyPipeline {
        config: notify_cfg.core.clone(),
        alerts: SnsTopic::new(sns.clone(), notify_cfg.alert_topic_arn.clone(), "alert topic"),
        invalidations: SnsTopic::new(sns, notify_cfg.invalidation_topic_arn.clone(), "invalidation topic"),
    };
    let opts = MappingOptions {
        batch_size: args.batch_size,
        stop_after_idle_polls: (!args.follow).then_some(3),
        ..Default::default()
    };
    let consumers: [&dyn Consumer; 2] = [&audit, &notify];
    let stats = drain(&aws_sdk_dynamodbstreams::Client::new(&sdk), &stream_arn, &consumers, &opts).await?;
    for (name, ns) in [("audit", &audit_cfg.metrics_namespace), ("notify", &notify_cfg.metrics_namespace)] {
        for m in stats.metrics.get(name).into_iter().flatten() {
            for doc in m.to_emf(ns, name, flagtrail::pipeline::now_ms()) {
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

/// The table's latest stream ARN.
pub async fn stream_arn(ddb: &aws_sdk_dynamodb::Client, table: &str) -> anyhow::Result<String> {
    let t = ddb.describe_table().table_name(table).send().await?;
    t.table()
        .and_then(|t| t.latest_stream_arn())
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("table {table} has no stream: enable NEW_AND_OLD_IMAGES"))
}
