//! The `audit` Lambda: DynamoDB stream batch → audit records in CloudWatch Logs + EMF metrics.

use aws_lambda_events::streams::DynamoDbEventResponse;
use flagtrail::aws::{sdk_config, CloudWatchLog};
use flagtrail::config::{AuditConfig, Vars};
use flagtrail::{metrics, AuditPipeline, Invocation, StreamEvent};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = AuditConfig::from_vars(&Vars::from_env())?;
    let sdk = sdk_config().await;
    let log = CloudWatchLog::new(
        aws_sdk_cloudwatchlogs::Client::new(&sdk),
        config.log_group.clone(),
        config.stream_prefix.clone(),
    );
    let pipeline = &AuditPipeline { config: config.core.clone(), log };
    let namespace = config.metrics_namespace.as_str();
    run(service_fn(move |event: LambdaEvent<StreamEvent>| async move {
        let outcome = pipeline.handle(&event.payload, Invocation::with_deadline_ms(event.context.deadline)).await;
        metrics::emit(&outcome.metrics, namespace, "audit");
        Ok::<DynamoDbEventResponse, Error>(outcome.response.to_lambda())
    }))
    .await
}
