//! `flagtrail verify`: is the trail what its seals say? (see `flagtrail_core::integrity::verify`
//! for what each finding means, docs/integrity.md for what it proves.)

use std::path::PathBuf;

use anyhow::Context;
use flagtrail_core::integrity::{SealKey, SealKeys, Verifier, VerifyReport};
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
    /// The keys seals must be signed with.
    #[command(flatten)]
    pub keys: KeyArgs,
    /// The transparency log of the seals (a folder's `log/`).
    #[command(flatten)]
    pub log: crate::transparency::LogArgs,
    /// Print the result as one JSON document (for working papers) instead of lines.
    #[arg(long)]
    pub json: bool,
}

/// The trusted seal keys.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct KeyArgs {
    /// A trusted public key (PEM), e.g. exported from KMS; repeat for keys used before a rotation.
    #[arg(long = "public-key")]
    pub public_keys: Vec<PathBuf>,
    /// A trusted KMS key (id, ARN or alias), read with GetPublicKey; repeatable.
    #[arg(long = "kms-key-id")]
    pub kms_key_ids: Vec<String>,
}

/// The keys the arguments name; `None` when none is given (signatures are then not checked).
pub async fn trusted_keys(args: &KeyArgs, sdk: &aws_config::SdkConfig) -> anyhow::Result<Option<SealKeys>> {
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

/// The report as one JSON document: counts, what was checked, and each finding with its kind.
pub fn report_json(source: &str, report: &VerifyReport, signed: bool) -> serde_json::Value {
    serde_json::json!({
        "source": source,
        "intact": report.intact(),
        "records": report.records,
        "duplicates": report.duplicates,
        "seals": report.seals,
        "signaturesChecked": signed,
        "signaturesVerified": report.signatures_verified,
        "findings": report.findings.iter().map(|f| serde_json::json!({"kind": f.kind(), "text": f.to_string()})).collect::<Vec<_>>(),
    })
}

/// `[path]` given alone stands for `--dir path`.
pub fn with_path(mut trail: TrailArgs, path: Option<PathBuf>) -> anyhow::Result<TrailArgs> {
    if let Some(path) = path {
        anyhow::ensure!(
            trail.log_group.is_none() && trail.archive.is_none() && trail.dir.is_none(),
            "give one trail: a folder, --log-group or --archive"
        );
        trail.dir = Some(path);
    }
    Ok(trail)
}

/// `flagtrail verify`: false when anything is edited, missing, unsealed, badly signed or a gap.
pub async fn run(args: VerifyArgs) -> anyhow::Result<bool> {
    let trail = with_path(args.trail, args.path)?;
    let sdk = SdkSettings::default().load().await;
    let keys = trusted_keys(&args.keys, &sdk).await?;
    // Unmasked: the seals cover the bytes written, before any data-protection masking.
    let source = trail_source(&trail, &sdk, true).await?;
    let mut report = check(source.as_ref(), keys.as_ref()).await?;
    if args.log.log_public_key.is_some() {
        let objects = match (&args.log.log_from, trail.dir.as_deref()) {
            (Some(from), _) => crate::transparency::load_log(from, &sdk).await?,
            (None, Some(dir)) => crate::transparency::folder_objects(&dir.join("log"))?,
            (None, None) => {
                anyhow::bail!("--log-public-key checks the folder's log/, or the log given with --log-from")
            }
        };
        let findings = crate::transparency::check_log(&objects, &args.log, &report.seal_ids)?;
        report.findings.extend(findings.into_iter().map(flagtrail_core::integrity::IntegrityFinding::Log));
        report.findings.sort();
    }
    if args.json {
        println!("{}", report_json(&source.name(), &report, keys.is_some()));
    } else {
        print_report(&source.name(), &report, keys.is_some());
    }
    Ok(report.intact())
}

/// Reads `source` and verifies it (signatures too when `keys` are given), one message at a time.
pub async fn check(source: &dyn TrailSource, keys: Option<&SealKeys>) -> anyhow::Result<VerifyReport> {
    let mut verifier = Verifier::default();
    source.each_message(&mut |m| verifier.push(&m)).await?;
    Ok(verifier.finish(keys))
}
