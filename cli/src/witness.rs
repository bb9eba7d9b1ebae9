//! `flagtrail witness`: a C2SP tlog-witness served over HTTP from this machine (an auditor's own
//! witness, or the local stand-in of the deployed one), and `flagtrail vkey`: the verifier key of
//! a PEM or KMS public key, to configure witnesses, writers and verifiers with.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use flagtrail_core::integrity::tlog::{NoteVerifyingKey, WitnessKey, DEFAULT_ORIGIN};
use flagtrail_runtime::sink::{CheckpointSigner, KmsCheckpointSigner};
use flagtrail_runtime::witness::{FileWitnessState, WitnessService};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;

use crate::transparency::{ed25519_signer, verifying_key};

/// Options of `flagtrail witness`.
#[derive(clap::Args, Debug)]
pub struct WitnessArgs {
    /// The witness key, an Ed25519 PKCS#8 PEM file.
    #[arg(long, group = "witness_signing_key")]
    pub key: Option<PathBuf>,
    /// The witness key in KMS (spec ECC_NIST_EDWARDS25519): key id, ARN or alias.
    #[arg(long, group = "witness_signing_key")]
    pub kms_key: Option<String>,
    /// The name on its cosignature lines (default: `witness-` and 16 hex digits of the key's hash).
    #[arg(long)]
    pub name: Option<String>,
    /// A log it witnesses, by verifier key (`origin+keyid+base64`); repeatable.
    #[arg(long = "log-vkey")]
    pub log_vkeys: Vec<String>,
    /// A log it witnesses, by its checkpoint public key (Ed25519 PEM) named `--log-origin`.
    #[arg(long)]
    pub log_public_key: Option<PathBuf>,
    /// The origin of `--log-public-key`.
    #[arg(long, default_value = DEFAULT_ORIGIN)]
    pub log_origin: String,
    /// Its state: the latest cosigned checkpoint of each log (JSON; created on the first one).
    #[arg(long)]
    pub state: PathBuf,
    /// Address to listen on (port 0: any free port; the address is printed once it listens).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: String,
}

/// `flagtrail witness`: serves until killed; prints `listening on http://ADDR` once it accepts.
pub async fn run_witness(args: WitnessArgs) -> anyhow::Result<()> {
    let sdk = flagtrail_runtime::SdkSettings::default().load().await;
    let signer = ed25519_signer(args.key.as_deref(), args.kms_key.as_deref(), &sdk)
        .await?
        .ok_or_else(|| anyhow::anyhow!("give --key or --kms-key"))?;
    let mut logs = Vec::new();
    for v in &args.log_vkeys {
        logs.push(NoteVerifyingKey::from_vkey(v).map_err(|e| anyhow::anyhow!("--log-vkey: {e}"))?);
    }
    if let Some(pem) = &args.log_public_key {
        logs.push(NoteVerifyingKey::new(args.log_origin.clone(), verifying_key(pem)?));
    }
    anyhow::ensure!(!logs.is_empty(), "give the logs it witnesses: --log-vkey or --log-public-key");
    let service =
        Arc::new(WitnessService::new(signer, args.name.clone(), logs, Box::new(FileWitnessState::new(&args.state))));
    let listener =
        tokio::net::TcpListener::bind(&args.listen).await.with_context(|| format!("listening on {}", args.listen))?;
    println!("witness {} listening on http://{}", service.key().vkey(), listener.local_addr()?);
    use std::io::Write;
    std::io::stdout().flush()?;
    loop {
        let (stream, _) = listener.accept().await?;
        let service = service.clone();
        tokio::spawn(async move {
            let handler = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let service = service.clone();
                async move {
                    let (parts, body) = req.into_parts();
                    // add-checkpoint bodies are a few KB (63 proof lines and a note); refuse more.
                    let body = http_body_util::Limited::new(body, 64 * 1024).collect().await;
                    let now =
                        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
                    let a = match body {
                        Ok(b) => service.respond(parts.method.as_str(), parts.uri.path(), &b.to_bytes(), now).await,
                        Err(e) => flagtrail_runtime::witness::Answer {
                            status: 413,
                            content_type: "text/plain; charset=utf-8",
                            body: format!("{e}\n").into_bytes(),
                        },
                    };
                    hyper::Response::builder()
                        .status(a.status)
                        .header("content-type", a.content_type)
                        .body(Full::new(Bytes::from(a.body)))
                }
            });
            let io = hyper_util::rt::TokioIo::new(stream);
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, handler).await;
        });
    }
}

/// Options of `flagtrail vkey`.
#[derive(clap::Args, Debug)]
pub struct VkeyArgs {
    /// An Ed25519 public key (PEM).
    #[arg(long, group = "public")]
    pub public_key: Option<PathBuf>,
    /// A KMS key of spec ECC_NIST_EDWARDS25519 (GetPublicKey).
    #[arg(long, group = "public")]
    pub kms_key: Option<String>,
    /// The key's name: a log's origin, or a witness's name (default for a witness: derived from the key).
    #[arg(long)]
    pub name: Option<String>,
    /// A witness key (cosignature/v1) rather than a log key.
    #[arg(long)]
    pub witness: bool,
}

/// `flagtrail vkey`: prints the verifier key.
pub async fn run_vkey(args: VkeyArgs) -> anyhow::Result<()> {
    let key = match (&args.public_key, &args.kms_key) {
        (Some(pem), _) => verifying_key(pem)?,
        (None, Some(id)) => {
            let sdk = flagtrail_runtime::SdkSettings::default().load().await;
            KmsCheckpointSigner::new(aws_sdk_kms::Client::new(&sdk), id).await?.verifying_key()
        }
        (None, None) => anyhow::bail!("give --public-key or --kms-key"),
    };
    let vkey = match (args.witness, args.name) {
        (true, Some(name)) => WitnessKey::named(name, key).vkey(),
        (true, None) => WitnessKey::new(key).vkey(),
        (false, name) => NoteVerifyingKey::new(name.unwrap_or_else(|| DEFAULT_ORIGIN.into()), key).vkey(),
    };
    println!("{vkey}");
    Ok(())
}
