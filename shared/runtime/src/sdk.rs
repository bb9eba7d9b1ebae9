//! The AWS SDK's retry and timeout settings, in one place for every client (see
//! docs/reliability.md), and the sorting of SDK errors into transient and permanent.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_config::default_provider::credentials::DefaultCredentialsChain;
use aws_config::environment::credentials::EnvironmentVariableCredentialsProvider;
use aws_config::meta::credentials::CredentialsProviderChain;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::{future, ProvideCredentials};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::http::Response;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::sink::SinkError;

/// How every client retries and times out, and where it connects.
///
/// Production defaults: standard retry mode with 3 attempts (not adaptive: its client-side rate
/// limiter held calls past the operation timeout after two throttled responses — measured in
/// tests/tests/faults.rs, docs/faults.md — while calls-in-flight already back off on throttling); each attempt ≤ 5 s and an operation
/// ≤ 12 s, so a call gives up well inside a Lambda timeout of 30 s+ and the record is reported for
/// redelivery instead. Tests shorten the timeouts through this type, never by building their own
/// SDK configuration.
#[derive(Debug, Clone)]
pub struct SdkSettings {
    /// Attempts per operation, the first included.
    pub max_attempts: u32,
    /// First retry backoff (the SDK adds jitter and grows it).
    pub initial_backoff: Duration,
    /// TCP/TLS connect timeout.
    pub connect_timeout: Duration,
    /// One attempt's timeout.
    pub attempt_timeout: Duration,
    /// The whole operation's timeout, retries included.
    pub operation_timeout: Duration,
    /// A fixed endpoint (a local stand-in); `None` leaves it to the SDK (`AWS_ENDPOINT_URL` too).
    pub endpoint_url: Option<String>,
    /// Dummy static credentials and a fixed region for a local stand-in; `None` uses the default
    /// provider chains.
    pub local: Option<LocalAccount>,
    /// Where credentials come from outside a local stand-in.
    pub credentials: CredentialSource,
}

/// Where a process's AWS credentials come from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CredentialSource {
    /// The SDK's default chain exactly as aws-config builds it (the CLI, anything not in Lambda).
    #[default]
    DefaultChain,
    /// A Lambda function: the execution role's keys from the environment; the rest of the default
    /// chain only if they are missing, built then (see [`SdkSettings::lambda`]).
    LambdaEnvironment,
}

/// Credentials and region for a local stand-in (moto), which accepts any.
#[derive(Debug, Clone)]
pub struct LocalAccount {
    /// Region name.
    pub region: String,
}

impl Default for SdkSettings {
    fn default() -> Self {
        SdkSettings {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(100),
            connect_timeout: Duration::from_secs(2),
            attempt_timeout: Duration::from_secs(5),
            operation_timeout: Duration::from_secs(12),
            endpoint_url: None,
            local: None,
            credentials: CredentialSource::DefaultChain,
        }
    }
}

impl SdkSettings {
    /// The production settings for a Lambda function: credentials from the environment first.
    ///
    /// Lambda puts the execution role's keys in the environment (the reserved variables
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`: "Defined runtime environment
    /// variables", Lambda Developer Guide), so a function never needs the rest of the default chain;
    /// building it eagerly cost every cold start an STS client for web identity and, with it, one
    /// more TLS trust store parsed from the platform's certificates (docs/measurements.md, "Cold
    /// start"). The rest of the chain is still there, built on first use, with aws-config's defaults
    /// rather than these settings (it is never used where the keys are in the environment).
    pub fn lambda() -> Self {
        SdkSettings { credentials: CredentialSource::LambdaEnvironment, ..Default::default() }
    }

    /// The production settings pointed at a local stand-in on `endpoint` (dummy credentials,
    /// us-east-1).
    pub fn local(endpoint: &str) -> Self {
        SdkSettings {
            endpoint_url: Some(endpoint.to_owned()),
            local: Some(LocalAccount { region: "us-east-1".into() }),
            ..Default::default()
        }
    }

    /// Loads the SDK configuration every client of the process is built from.
    pub async fn load(&self) -> SdkConfig {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(
                RetryConfig::standard().with_max_attempts(self.max_attempts).with_initial_backoff(self.initial_backoff),
            )
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(self.connect_timeout)
                    .operation_attempt_timeout(self.attempt_timeout)
                    .operation_timeout(self.operation_timeout)
                    .build(),
            );
        if let Some(url) = &self.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        loader = match &self.local {
            Some(local) => {
                let creds = aws_sdk_sns::config::Credentials::new("test", "test", None, None, "flagtrail-local");
                loader.region(Region::new(local.region.clone())).credentials_provider(creds)
            }
            None if self.credentials == CredentialSource::LambdaEnvironment => {
                loader.credentials_provider(environment_then_default_chain())
            }
            None => loader,
        };
        loader.load().await
    }
}

/// The environment's keys, else the SDK's default chain (which starts with the environment too),
/// built on first use.
fn environment_then_default_chain() -> CredentialsProviderChain {
    CredentialsProviderChain::first_try("Environment", EnvironmentVariableCredentialsProvider::new())
        .or_else("DefaultProviderChain", DefaultChainOnDemand::default())
}

/// How many on-demand default chains this process has built (for the test that it is not built
/// when the environment has the keys).
#[doc(hidden)]
pub fn default_chains_built() -> usize {
    CHAINS_BUILT.load(Ordering::SeqCst)
}

static CHAINS_BUILT: AtomicUsize = AtomicUsize::new(0);

/// [`DefaultCredentialsChain`], built on its first use.
#[derive(Debug, Default)]
struct DefaultChainOnDemand(tokio::sync::OnceCell<DefaultCredentialsChain>);

impl ProvideCredentials for DefaultChainOnDemand {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(async move {
            let chain = self
                .0
                .get_or_init(|| async {
                    CHAINS_BUILT.fetch_add(1, Ordering::SeqCst);
                    DefaultCredentialsChain::builder().build().await
                })
                .await;
            chain.provide_credentials().await
        })
    }
}

/// Sorts an SDK error into transient (retry later) or permanent (needs an operator).
pub fn classify<E>(sink: &'static str, err: &SdkError<E, Response>) -> SinkError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let status = err.raw_response().map(|r| r.status().as_u16());
    let code = err.code().unwrap_or("");
    let message = format!("{} ({})", aws_smithy_types::error::display::DisplayErrorContext(err), code);
    let throttled = status == Some(429)
        || code.contains("Throttl")
        || matches!(
            code,
            "RequestLimitExceeded"
                | "TooManyRequestsException"
                | "KMSThrottling"
                | "ProvisionedThroughputExceededException"
        );
    if throttled {
        return SinkError::Throttled { sink, message };
    }
    let transient = match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => true,
        _ => {
            status.is_some_and(|s| s >= 500 || s == 429)
                || code.contains("Throttl")
                || matches!(
                    code,
                    "ServiceUnavailable"
                        | "InternalFailure"
                        | "InternalError"
                        | "RequestLimitExceeded"
                        | "TooManyRequestsException"
                        | "KMSThrottling"
                )
        }
    };
    if transient {
        SinkError::Transient { sink, message }
    } else {
        SinkError::Permanent { sink, message }
    }
}
