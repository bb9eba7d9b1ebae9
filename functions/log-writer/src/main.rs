//! The `log-writer` Lambda, on a schedule: one round of the transparency log's single writer per
//! invocation (new seals appended, a checkpoint signed with the KMS checkpoint key and archived).

use flagtrail_runtime::{build, init_tracing, serve_log_writer, LogWriterConfig, SdkSettings};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let config = LogWriterConfig::from_env()?;
    let (writer, trail) = build::log_writer(&SdkSettings::lambda().load().await, &config).await?;
    serve_log_writer(writer, trail, config.lookback_ms()).await
}
