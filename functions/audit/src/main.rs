//! The `audit` Lambda: DynamoDB stream batch → audit records in CloudWatch Logs + EMF metrics.

use flagtrail_runtime::{build, init_tracing, serve, AuditConfig, SdkSettings};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let config = AuditConfig::from_env()?;
    let pipeline = build::audit_pipeline(&SdkSettings::lambda().load().await, &config);
    serve(pipeline, &config.metrics_namespace).await
}
