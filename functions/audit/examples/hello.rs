//! The hello-world `lambda_runtime` bootstrap that `scripts/cold-start.py` measures the functions'
//! init against: same crate graph, same release profile, nothing but the runtime loop.

use lambda_runtime::{run, service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    run(service_fn(|e: LambdaEvent<serde_json::Value>| async move { Ok::<_, Error>(e.payload) })).await
}
