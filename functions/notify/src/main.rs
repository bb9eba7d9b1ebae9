//! The `notify` Lambda: DynamoDB stream batch → kill-switch/flag alerts and cache invalidations on SNS.

use aws_lambda_events::streams::DynamoDbEventResponse;
use flagtrail::aws::{sdk_config, SnsTopic};
use flagtrail::config::{NotifyConfig, Vars};
use flagtrail::{metrics, Invocation, NotifyPipeline, StreamEvent};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = NotifyConfig::from_vars(&Vars::from_env())?;
    let sns = aws_sdk_sns::Client::new(&sdk_config().await);
    let pipeline = &NotifyPipeline {
        config: config.core.clone(),
        alerts: SnsTopic::new(sns.clone(), config.alert_topic_arn.clone(), "alert topic"),
        invalidations: SnsTopic::new(sns, config.invalidation_topic_arn.clone(), "invalidation topic"),
    };
    let namespace = config.metrics_namespace.as_str();
    run(service_fn(move |event: LambdaEvent<StreamEvent>| async move {
        let outcome = pipeline.handle(&event.payload, Invocation::with_deadline_ms(event.context.deadline)).await;
        metrics::emit(&outcome.metrics, namespace, "notify");
        Ok::<DynamoDbEventResponse, Error>(outcome.response.to_lambda())
    }))
    .await
}
