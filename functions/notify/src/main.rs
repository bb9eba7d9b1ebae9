//! The `notify` Lambda: DynamoDB stream batch → kill-switch/flag alerts and cache invalidations on SNS.

use flagtrail_runtime::{build, init_tracing, serve, NotifyConfig, SdkSettings};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let config = NotifyConfig::from_env()?;
    let pipeline = build::notify_pipeline(&SdkSettings::lambda().load().await, &config);
    serve(pipeline, &config.metrics_namespace).await
}
