//! `flagtrail verify`: is the trail what its seals say? (see `flagtrail_core::integrity::verify`
//! for what each finding means, docs/integrity.md for what it proves.)

use std::path::PathBuf;

use anyhow::Context;
use flagtrail_core::integrity::{verify, SealKey, SealKeys, VerifyReport};
use flagtrail_runtime::trail::TrailSource;
use flagtrail_runtime::SdkSettings;

use crate::completeness::{trail_source, TrailArgs};

/// Options of `flagtrail verify`.
#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    /// A folder written by `flagtrail replay --out` (same as --dir).
    pub path: Option<PathBuf>,
    /// The trail, when not a folder.
    #[command(flatten)]
    pub trail: TrailArgs,
    /// A trusted public key (PEM), e.g. exported from KMS; repeat for keys used before a rotation.
    #[arg(long = "public-key")]
    pub public_keys: Vec<PathBuf>,
    /// A trusted KMS key (id, ARN or alias), read with GetPublicKey; repeatable.
    #[arg(long = "kms-key-id")]
    pub kms_key_ids: Vec<String>,
}

/// The keys the arguments name; `None` when none is given (signatures are then not checked).
pub async fn trusted_keys(args: &VerifyArgs, sdk: &aws_config::SdkConfig) -> anyhow::Result<Option<SealKeys>> {
    let mut keys = Vec::new();
    for path in &args.public_keys {
        let pem = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        keys.push(SealKey::from_pem(path.display().to_string(), &pem)?);
    }
    for id in &args.kms_key_ids {
        keys.push(kms_key(sdk, id).await?);
    }
    Ok((!keys.is_empty()).then_some(SealKeys(keys)))
}

/// The public half of a KMS signing key (GetPublicKey: DER SubjectPublicKeyInfo).
pub async fn kms_key(sdk: &aws_config::SdkConfig, id: &str) -> anyhow::Result<SealKey> {
    let out = aws_sdk_kms::Client::new(sdk)
        .get_public_key()
        .key_id(id)
        .send()
        .await
        .with_context(|| format!("KMS GetPublicKey {id}"))?;
    let der = out.public_key().with_context(|| format!("KMS key {id} returned no public key"))?;
    Ok(SealKey::from_der(format!("kms:{id}"), der.as_ref())?)
}

/// Prints the findings and a summary; true when the trail is intact.
pub fn print_report(source: &str, report: &VerifyReport, signed: bool) -> bool {
    for f in &report.findings {
        println!("{f}");
    }
    println!(
        "verify {source}: {} record(s) ({} duplicate(s)), {} seal(s), {}; {} finding(s)",
        report.records,
        report.duplicates,
        report.seals,
        if signed {
            format!("{} signature(s) verified", report.signatures_verified)
        } else {
            "signatures NOT checked (give --public-key or --kms-key-id)".to_owned()
        },
        report.findings.len()
    );
    report.intact()
}

/// `flagtrail verify`: false when anything is edited, missing, unsealed, badly signed or a gap.
pub async fn run(mut args: VerifyArgs) -> anyhow::Result<bool> {
    if let Some(path) = args.path.take() {
        anyhow::ensure!(
            args.trail.log_group.is_none() && args.trail.archive.is_none() && args.trail.dir.is_none(),
            "give one trail: a folder, --log-group or --archive"
        );
        args.trail.dir = Some(path);
    }
    let sdk = SdkSettings::default().load().await;
    let keys = trusted_keys(&args, &sdk).await?;
    // Unmasked: the seals cover the bytes written, before any data-protection masking.
    let source = trail_source(&args.trail, &sdk, true).await?;
    Ok(check(source.as_ref(), keys.as_ref()).await?.intact())
}

/// Reads `source`, verifies it (signatures too when `keys` are given) and prints the report.
pub async fn check(source: &dyn TrailSource, keys: Option<&SealKeys>) -> anyhow::Result<VerifyReport> {
    let report = verify(&source.messages().await?, keys);
    print_report(&source.name(), &report, keys.is_some());
    Ok(report)
}
