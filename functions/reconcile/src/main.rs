//! The `reconcile` Lambda, on a schedule: version continuity of the trail and the table against
//! the trail; findings in the log and the `ReconcileFindings` metric.

use flagtrail_runtime::{build, init_tracing, serve_check, ReconcileConfig, SdkSettings};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let config = ReconcileConfig::from_env()?;
    let check = build::completeness_check(&SdkSettings::lambda().load().await, &config);
    serve_check(check, &config.metrics_namespace).await
}
