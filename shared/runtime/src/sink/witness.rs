//! The witnesses the log writer asks for cosignatures (C2SP tlog-witness `add-checkpoint`): any
//! witness over HTTP(S), or one in this process (the local contract's `--witness-key`).
//!
//! A witness behind a Lambda Function URL with `AuthType: AWS_IAM` (the stack's witness in the
//! auditors' account) only answers requests signed with SigV4 for the service `lambda` ("Control
//! access to Lambda function URLs", Lambda developer guide); a URL whose host is
//! `<id>.lambda-url.<region>.on.aws` is signed with the writer's credentials. Other witnesses get
//! the request unsigned: the protocol authenticates nothing but the checkpoint's signature.

use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use flagtrail_core::integrity::tlog::WitnessKey;
use flagtrail_core::integrity::witness::{AddCheckpoint, SIZE_CONTENT_TYPE};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;

use crate::witness::WitnessService;

/// Why a witness gave no cosignature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WitnessCallError {
    /// 409 with a size: the witness's latest cosigned size is not the old size sent.
    #[error("the witness is at size {0}")]
    AtSize(u64),
    /// Any other refusal, with its HTTP status and text.
    #[error("refused with {status}: {text}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The answer's text (first 500 bytes).
        text: String,
    },
    /// No answer (connection, timeout, signing): worth trying next round.
    #[error("unreachable: {0}")]
    Unreachable(String),
}

/// A witness the writer asks to cosign.
#[async_trait]
pub trait CheckpointWitness: Send + Sync {
    /// Its public key and name, which its cosignatures must verify with.
    fn key(&self) -> &WitnessKey;
    /// Sends `request`; the answer's body (cosignature lines) on 200.
    async fn add_checkpoint(&self, request: &AddCheckpoint) -> Result<Vec<u8>, WitnessCallError>;
}

/// How long one add-checkpoint call may take (the spec's witnesses answer synchronously).
const CALL_TIMEOUT: Duration = Duration::from_secs(20);

/// A witness at an HTTP(S) submission prefix.
pub struct HttpWitness {
    url: String,
    key: WitnessKey,
    client: hyper_util::client::legacy::Client<
        hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
        Full<Bytes>,
    >,
    /// Credentials and region when the URL is a Lambda Function URL (SigV4, service `lambda`).
    sigv4: Option<(SharedCredentialsProvider, String)>,
}

/// The region of a Lambda Function URL host (`<id>.lambda-url.<region>.on.aws`), if it is one.
pub fn function_url_region(url: &str) -> Option<String> {
    let host = url.split("://").nth(1)?.split(['/', ':']).next()?;
    let rest = host.split_once(".lambda-url.")?.1;
    rest.strip_suffix(".on.aws").filter(|r| !r.is_empty() && !r.contains('.')).map(str::to_owned)
}

impl HttpWitness {
    /// The witness at submission prefix `url` with key `key`; `credentials` sign requests to a
    /// Lambda Function URL.
    pub fn new(
        url: impl Into<String>,
        key: WitnessKey,
        credentials: Option<SharedCredentialsProvider>,
    ) -> Result<Self, std::io::Error> {
        let url = url.into();
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(rustls::crypto::aws_lc_rs::default_provider())?
            .https_or_http()
            .enable_http1()
            .build();
        let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build(https);
        let sigv4 = function_url_region(&url).and_then(|region| credentials.map(|c| (c, region)));
        Ok(HttpWitness { url, key, client, sigv4 })
    }

    fn endpoint(&self) -> String {
        format!("{}/add-checkpoint", self.url.trim_end_matches('/'))
    }

    /// The request as sent, signed when the witness is a Function URL.
    pub async fn request(&self, body: Vec<u8>) -> Result<http::Request<Full<Bytes>>, WitnessCallError> {
        let unreachable = |e: String| WitnessCallError::Unreachable(e);
        let mut req = http::Request::post(self.endpoint())
            .header("content-type", "text/plain; charset=utf-8")
            .body(Full::new(Bytes::from(body.clone())))
            .map_err(|e| unreachable(format!("{}: {e}", self.url)))?;
        if let Some((credentials, region)) = &self.sigv4 {
            use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
            let creds =
                credentials.provide_credentials().await.map_err(|e| unreachable(format!("credentials: {e}")))?;
            let identity = creds.into();
            let params = aws_sigv4::sign::v4::SigningParams::builder()
                .identity(&identity)
                .region(region)
                .name("lambda")
                .time(SystemTime::now())
                .settings(SigningSettings::default())
                .build()
                .map_err(|e| unreachable(format!("signing: {e}")))?
                .into();
            let uri = req.uri().to_string();
            let headers: Vec<(String, String)> = req
                .headers()
                .iter()
                .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or_default().to_owned()))
                .collect();
            let signable = SignableRequest::new(
                "POST",
                &uri,
                headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                SignableBody::Bytes(&body),
            )
            .map_err(|e| unreachable(format!("signing: {e}")))?;
            let (instructions, _) =
                sign(signable, &params).map_err(|e| unreachable(format!("signing: {e}")))?.into_parts();
            instructions.apply_to_request_http1x(&mut req);
        }
        Ok(req)
    }
}

#[async_trait]
impl CheckpointWitness for HttpWitness {
    fn key(&self) -> &WitnessKey {
        &self.key
    }

    async fn add_checkpoint(&self, request: &AddCheckpoint) -> Result<Vec<u8>, WitnessCallError> {
        let req = self.request(request.body()).await?;
        let sent = tokio::time::timeout(CALL_TIMEOUT, async {
            let response = self.client.request(req).await.map_err(|e| format!("{e:?}"))?;
            let (parts, body) = response.into_parts();
            let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
            Ok::<_, String>((parts, body))
        })
        .await
        .map_err(|_| WitnessCallError::Unreachable(format!("{}: no answer in {CALL_TIMEOUT:?}", self.url)))?
        .map_err(|e| WitnessCallError::Unreachable(format!("{}: {e}", self.url)))?;
        let (parts, body) = sent;
        let content_type = parts.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
        answer(parts.status.as_u16(), content_type, body.to_vec())
    }
}

/// A witness's HTTP answer as a call result: 200 → its body; 409 with a size → [`WitnessCallError::AtSize`].
pub fn answer(status: u16, content_type: &str, body: Vec<u8>) -> Result<Vec<u8>, WitnessCallError> {
    let text = String::from_utf8_lossy(&body[..body.len().min(500)]).trim().to_owned();
    match status {
        200 => Ok(body),
        409 if content_type.starts_with(SIZE_CONTENT_TYPE) => text
            .parse()
            .map(WitnessCallError::AtSize)
            .map_err(|_| WitnessCallError::Refused { status, text })
            .and_then(Err),
        s if s >= 500 || s == 429 => Err(WitnessCallError::Unreachable(format!("{s}: {text}"))),
        _ => Err(WitnessCallError::Refused { status, text }),
    }
}

/// A witness in this process (a key in a file plays the witness, as the local contract asks).
pub struct InProcessWitness {
    service: WitnessService,
    key: WitnessKey,
    /// The time its cosignatures carry (seconds).
    pub now: u64,
}

impl InProcessWitness {
    /// The witness `service`, cosigning at `now`.
    pub fn new(service: WitnessService, now: u64) -> Self {
        InProcessWitness { key: service.key(), service, now }
    }
}

#[async_trait]
impl CheckpointWitness for InProcessWitness {
    fn key(&self) -> &WitnessKey {
        &self.key
    }

    async fn add_checkpoint(&self, request: &AddCheckpoint) -> Result<Vec<u8>, WitnessCallError> {
        let a = self.service.respond("POST", "/add-checkpoint", &request.body(), self.now).await;
        answer(a.status, a.content_type, a.body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_function_url_hosts_are_signed() {
        assert_eq!(function_url_region("https://abcdefg.lambda-url.eu-west-1.on.aws/").as_deref(), Some("eu-west-1"));
        assert_eq!(function_url_region("https://witness.example.org/lambda-url.x.on.aws"), None);
        assert_eq!(function_url_region("http://127.0.0.1:8080"), None);
    }

    /// The request to an IAM-auth Function URL carries a SigV4 signature for the service `lambda`
    /// in the URL's region (moto serves no Function URLs: the request's shape is what is checked);
    /// any other witness gets it unsigned.
    #[tokio::test]
    async fn requests_to_a_function_url_are_signed_for_lambda() {
        let key = WitnessKey::new(ed25519_dalek::SigningKey::from_bytes(&[1; 32]).verifying_key());
        let creds = SharedCredentialsProvider::new(aws_credential_types::Credentials::new(
            "AKIDEXAMPLE",
            "secret",
            None,
            None,
            "test",
        ));
        let url =
            HttpWitness::new("https://abc123.lambda-url.eu-west-1.on.aws/", key.clone(), Some(creds.clone())).unwrap();
        let req = url.request(b"old 0\n\nx".to_vec()).await.unwrap();
        assert_eq!(req.uri().to_string(), "https://abc123.lambda-url.eu-west-1.on.aws/add-checkpoint");
        let auth = req.headers()["authorization"].to_str().unwrap();
        assert!(auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"), "{auth}");
        assert!(auth.contains("/eu-west-1/lambda/aws4_request"), "{auth}");
        assert!(auth.contains("SignedHeaders=") && req.headers().contains_key("x-amz-date"), "{auth}");
        let other = HttpWitness::new("https://witness.example.org/w1", key, Some(creds)).unwrap();
        let req = other.request(b"old 0\n\nx".to_vec()).await.unwrap();
        assert!(!req.headers().contains_key("authorization"));
        assert_eq!(req.uri().to_string(), "https://witness.example.org/w1/add-checkpoint");
    }

    #[test]
    fn answers_map_to_what_the_writer_does_next() {
        assert_eq!(answer(200, "text/plain", b"x".to_vec()), Ok(b"x".to_vec()));
        assert_eq!(answer(409, "text/x.tlog.size", b"12\n".to_vec()), Err(WitnessCallError::AtSize(12)));
        assert!(matches!(
            answer(409, "text/plain", b"12\n".to_vec()),
            Err(WitnessCallError::Refused { status: 409, .. })
        ));
        assert!(matches!(answer(422, "", b"bad proof".to_vec()), Err(WitnessCallError::Refused { status: 422, .. })));
        assert!(matches!(answer(503, "", vec![]), Err(WitnessCallError::Unreachable(_))));
    }
}
