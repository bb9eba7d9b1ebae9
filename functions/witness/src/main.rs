//! The `witness` Lambda, behind a Function URL: C2SP tlog-witness `add-checkpoint`, cosigning with
//! its KMS key the checkpoints of the logs it is given, its latest per log in DynamoDB.

use flagtrail_runtime::{build, init_tracing, serve_witness, SdkSettings, WitnessConfig};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let config = WitnessConfig::from_env()?;
    serve_witness(build::witness(&SdkSettings::lambda().load().await, &config).await?).await
}
