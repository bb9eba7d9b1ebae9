//! The transparency log of the seals in a folder (`DIR/log/`), the local stand-in of the deployed
//! log: `replay --log-key --witness-key` writes it, `verify --log-public-key` checks it (see
//! `flagtrail_core::integrity::tlog`). Layout, C2SP tlog-tiles: `log/checkpoint` (the latest,
//! cosigned), `log/checkpoints/<size>` (every checkpoint, archived), `log/tile/<L>/<N>` and
//! `log/tile/entries/<N>`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::Context;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey};
use ed25519_dalek::{SigningKey, VerifyingKey};
use flagtrail_core::integrity::tlog::{
    seal_entry, signed_checkpoint, verify_log, LogFinding, LogTrust, MerkleLog, NoteKey, NoteVerifyingKey, Witness,
    WitnessKey, DEFAULT_ORIGIN,
};

/// Options of `verify` for the transparency log.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct LogArgs {
    /// The log's checkpoint public key (Ed25519, PEM): checks the folder's `log/` against the trail.
    #[arg(long)]
    pub log_public_key: Option<PathBuf>,
    /// A trusted witness public key (Ed25519, PEM; its name derived from the key); repeatable.
    #[arg(long = "witness-public-key", requires = "log_public_key")]
    pub witness_public_keys: Vec<PathBuf>,
    /// A trusted witness by its verifier key (`name+keyid+base64`, what `flagtrail vkey --witness`
    /// prints and C2SP witnesses publish); repeatable.
    #[arg(long = "witness-vkey", requires = "log_public_key")]
    pub witness_vkeys: Vec<String>,
    /// Trusted witnesses that must cosign each checkpoint (default: all given).
    #[arg(long, requires = "log_public_key")]
    pub witness_quorum: Option<usize>,
    /// The checkpoint the witness last cosigned, as the auditor kept it: the log must contain it.
    #[arg(long, requires = "log_public_key")]
    pub witness_checkpoint: Option<PathBuf>,
    /// The checkpoint cadence in seconds: cosignatures further apart (or the last one older than
    /// this) are a finding, since a checkpoint is cosigned every period even when nothing changed.
    #[arg(long, requires = "log_public_key")]
    pub witness_max_gap: Option<u64>,
    /// The log's origin (its checkpoints' first line, and the log key's name).
    #[arg(long, default_value = DEFAULT_ORIGIN)]
    pub log_origin: String,
    /// Where the log is, when not the folder's `log/`: `s3://bucket/prefix` (where the writer puts
    /// it in the archive) or a folder holding `checkpoint`, `checkpoints/` and `tile/`.
    #[arg(long, requires = "log_public_key")]
    pub log_from: Option<String>,
}

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

/// An Ed25519 private key from a PKCS#8 PEM file (`openssl genpkey -algorithm ed25519`).
pub fn signing_key(path: &Path) -> anyhow::Result<SigningKey> {
    let pem = String::from_utf8(read(path)?).with_context(|| format!("{} is not PEM text", path.display()))?;
    SigningKey::from_pkcs8_pem(&pem)
        .map_err(|e| anyhow::anyhow!("{}: not an Ed25519 PKCS#8 private key: {e}", path.display()))
}

/// An Ed25519 public key from a PEM file (`openssl pkey -pubout`).
pub fn verifying_key(path: &Path) -> anyhow::Result<VerifyingKey> {
    let pem = String::from_utf8(read(path)?).with_context(|| format!("{} is not PEM text", path.display()))?;
    VerifyingKey::from_public_key_pem(&pem)
        .map_err(|e| anyhow::anyhow!("{}: not an Ed25519 public key: {e}", path.display()))
}

/// The seal ids of `audit.jsonl` in the order they were first written: the log's leaf order.
fn seals_in_order(dir: &Path) -> anyhow::Result<Vec<String>> {
    use std::io::BufRead;
    let file = std::fs::File::open(dir.join("audit.jsonl")).context("reading audit.jsonl")?;
    let (mut seen, mut out) = (BTreeSet::new(), Vec::new());
    for line in std::io::BufReader::new(file).lines() {
        let line = line?;
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else { continue };
        if let (Some("seal"), Some(id)) = (v["recordType"].as_str(), v["sealId"].as_str()) {
            if seen.insert(id.to_owned()) {
                out.push(id.to_owned());
            }
        }
    }
    Ok(out)
}

/// Writes the log of the folder's seals: one leaf and one checkpoint per seal, each checkpoint
/// cosigned by the witness after it checked consistency with the previous one; returns the size.
pub fn write_log(dir: &Path, log_key: &Path, witness_key: &Path, origin: &str) -> anyhow::Result<u64> {
    let root = dir.join("log");
    anyhow::ensure!(
        !root.join("checkpoint").exists(),
        "{} already holds a log; replay into a fresh folder",
        root.display()
    );
    let key = NoteKey::new(origin, signing_key(log_key)?);
    let mut witness = Witness::new(signing_key(witness_key)?, None);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
    let mut log = MerkleLog::default();
    std::fs::create_dir_all(root.join("checkpoints"))?;
    let mut latest = None;
    for seal in seals_in_order(dir)? {
        let old = log.size();
        log.append(seal_entry(&seal))?;
        let note = signed_checkpoint(origin, &log, &key)?;
        let proof = if old > 0 { log.consistency(old)? } else { Vec::new() };
        let cosigned = witness.cosign(&note, &key.verifying(), &proof, now)?;
        std::fs::write(root.join("checkpoints").join(format!("{:020}", log.size())), &cosigned)?;
        latest = Some(cosigned);
    }
    for (path, bytes) in log.tiles(0)? {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().expect("tile paths have a folder"))?;
        std::fs::write(path, bytes)?;
    }
    let latest = match latest {
        Some(c) => c,
        None => witness.cosign(&signed_checkpoint(origin, &log, &key)?, &key.verifying(), &[], now)?,
    };
    std::fs::write(root.join("checkpoint"), latest)?;
    Ok(log.size())
}

/// Every object of a log, by its path under the log's root.
pub type LogObjects = std::collections::BTreeMap<String, Vec<u8>>;

/// The objects of the log in a folder (its root: `checkpoint`, `checkpoints/`, `tile/`).
pub fn folder_objects(root: &Path) -> anyhow::Result<LogObjects> {
    fn walk(root: &Path, dir: &Path, out: &mut LogObjects) -> anyhow::Result<()> {
        let Ok(entries) = std::fs::read_dir(dir) else { return Ok(()) };
        for e in entries {
            let path = e?.path();
            if path.is_dir() {
                walk(root, &path, out)?;
            } else {
                let rel = path.strip_prefix(root)?.to_string_lossy().replace('\\', "/");
                out.insert(rel, read(&path)?);
            }
        }
        Ok(())
    }
    let mut out = LogObjects::new();
    walk(root, root, &mut out)?;
    Ok(out)
}

/// The objects of the log under `s3://bucket/prefix`, or in a folder.
pub async fn load_log(from: &str, sdk: &aws_config::SdkConfig) -> anyhow::Result<LogObjects> {
    let Some(rest) = from.strip_prefix("s3://") else { return folder_objects(Path::new(from)) };
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let s3 = aws_sdk_s3::Client::new(sdk);
    let mut out = LogObjects::new();
    let mut pages = s3.list_objects_v2().bucket(bucket).prefix(prefix).into_paginator().send();
    while let Some(page) = pages.next().await {
        for key in page.with_context(|| format!("listing {from}"))?.contents().iter().filter_map(|o| o.key()) {
            let object = s3
                .get_object()
                .bucket(bucket)
                .key(key)
                .send()
                .await
                .with_context(|| format!("reading s3://{bucket}/{key}"))?;
            let bytes =
                object.body.collect().await.with_context(|| format!("reading s3://{bucket}/{key}"))?.into_bytes();
            out.insert(key.strip_prefix(prefix).unwrap_or(key).to_owned(), bytes.to_vec());
        }
    }
    Ok(out)
}

/// Checks a log's objects against the trail's seals with the given keys.
pub fn check_log(
    objects: &LogObjects,
    args: &LogArgs,
    trail_seals: &BTreeSet<String>,
) -> anyhow::Result<Vec<LogFinding>> {
    let Some(log_key) = &args.log_public_key else { return Ok(Vec::new()) };
    let log = NoteVerifyingKey::new(args.log_origin.clone(), verifying_key(log_key)?);
    let mut witnesses: Vec<WitnessKey> =
        args.witness_public_keys.iter().map(|p| verifying_key(p).map(WitnessKey::new)).collect::<Result<_, _>>()?;
    for v in &args.witness_vkeys {
        witnesses.push(WitnessKey::from_vkey(v).map_err(|e| anyhow::anyhow!("--witness-vkey: {e}"))?);
    }
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
    let trust = LogTrust {
        log: &log,
        witnesses: &witnesses,
        quorum: args.witness_quorum.unwrap_or(witnesses.len()),
        freshness: args.witness_max_gap.map(|gap| (gap, now)),
    };
    let Some(checkpoint) = objects.get("checkpoint") else {
        return Ok(vec![LogFinding::BadCheckpoint("the log has no checkpoint".into())]);
    };
    // Archived checkpoints in path order: by size, then time.
    let archived: Vec<Vec<u8>> =
        objects.iter().filter(|(k, _)| k.starts_with("checkpoints/")).map(|(_, v)| v.clone()).collect();
    // A note ends with exactly one newline; a copy may carry more (`aws … --output text` adds one).
    let held = args.witness_checkpoint.as_deref().map(read).transpose()?.map(|mut note| {
        while note.ends_with(b"\n") {
            note.pop();
        }
        note.push(b'\n');
        note
    });
    let tiles = |path: &str| objects.get(path).cloned();
    Ok(verify_log(checkpoint, &archived, held.as_deref(), &tiles, trail_seals, &trust))
}

/// An Ed25519 signer (a log's checkpoint key, or a witness's key): a PEM file, or a KMS key of spec
/// `ECC_NIST_EDWARDS25519`; `None` when neither is given.
pub async fn ed25519_signer(
    pem: Option<&Path>,
    kms_key: Option<&str>,
    sdk: &aws_config::SdkConfig,
) -> anyhow::Result<Option<Box<dyn flagtrail_runtime::sink::CheckpointSigner>>> {
    use flagtrail_runtime::sink::{KmsCheckpointSigner, LocalCheckpointSigner};
    Ok(match (pem, kms_key) {
        (Some(pem), _) => Some(Box::new(LocalCheckpointSigner(signing_key(pem)?))),
        (None, Some(key)) => Some(Box::new(KmsCheckpointSigner::new(aws_sdk_kms::Client::new(sdk), key).await?)),
        (None, None) => None,
    })
}

/// Options of `flagtrail log-append`.
#[derive(clap::Args, Debug)]
pub struct AppendArgs {
    /// The trail whose seals the log holds.
    #[command(flatten)]
    pub trail: crate::completeness::TrailArgs,
    /// Where the log lives: `s3://bucket/prefix` (the archive) or a folder (its `log/`).
    #[arg(long)]
    pub to: String,
    /// The checkpoint key, an Ed25519 PKCS#8 PEM file (the local stand-in of the KMS key).
    #[arg(long, group = "checkpoint_key")]
    pub log_key: Option<PathBuf>,
    /// The checkpoint key in KMS (spec ECC_NIST_EDWARDS25519): key id, ARN or alias.
    #[arg(long, group = "checkpoint_key")]
    pub log_kms_key: Option<String>,
    /// A witness in this process, by its key (Ed25519 PEM); repeatable. It keeps its latest
    /// cosigned checkpoint in `--witness-state`, or only for this round without it.
    #[arg(long = "witness-key")]
    pub witness_keys: Vec<PathBuf>,
    /// The state file of the `--witness-key` witnesses (as `flagtrail witness --state` keeps it).
    #[arg(long, requires = "witness_keys")]
    pub witness_state: Option<PathBuf>,
    /// A C2SP tlog-witness to ask: `URL VKEY` (its submission prefix and verifier key); repeatable.
    /// Requests to a Lambda Function URL are signed with SigV4.
    #[arg(long = "witness")]
    pub witnesses: Vec<String>,
    /// The log's origin (its checkpoints' first line, and the log key's name).
    #[arg(long, default_value = DEFAULT_ORIGIN)]
    pub log_origin: String,
}

/// `flagtrail log-append`: one round of the log writer (what the scheduled writer runs).
pub async fn run_append(args: AppendArgs) -> anyhow::Result<()> {
    use flagtrail_runtime::sink::{CheckpointWitness, HttpWitness, InProcessWitness, LocalCheckpointSigner};
    use flagtrail_runtime::tlog_writer::{seals_in_order, DirLogStore, LogStore, LogWriter, S3LogStore};
    use flagtrail_runtime::witness::{FileWitnessState, MemoryWitnessState, WitnessService, WitnessState};
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
    let sdk = flagtrail_runtime::SdkSettings::default().load().await;
    let signer = ed25519_signer(args.log_key.as_deref(), args.log_kms_key.as_deref(), &sdk)
        .await?
        .ok_or_else(|| anyhow::anyhow!("give --log-key or --log-kms-key"))?;
    let store: Box<dyn LogStore> = match args.to.strip_prefix("s3://") {
        Some(rest) => {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            anyhow::ensure!(!bucket.is_empty(), "--to `{}` names no bucket", args.to);
            Box::new(S3LogStore::new(aws_sdk_s3::Client::new(&sdk), bucket, prefix))
        }
        None => Box::new(DirLogStore(PathBuf::from(&args.to).join("log"))),
    };
    let mut witnesses: Vec<Box<dyn CheckpointWitness>> = Vec::new();
    let log_public = NoteVerifyingKey::new(args.log_origin.clone(), signer.verifying_key());
    for path in &args.witness_keys {
        let state: Box<dyn WitnessState> = match &args.witness_state {
            Some(file) => Box::new(FileWitnessState::new(file)),
            None => Box::<MemoryWitnessState>::default(),
        };
        let signer = Box::new(LocalCheckpointSigner(signing_key(path)?));
        let service = WitnessService::new(signer, None, vec![log_public.clone()], state);
        witnesses.push(Box::new(InProcessWitness::new(service, now)));
    }
    for entry in &args.witnesses {
        let (url, vkey) = entry
            .split_once(char::is_whitespace)
            .ok_or_else(|| anyhow::anyhow!("--witness {entry:?}: expected `URL VKEY`"))?;
        let key = WitnessKey::from_vkey(vkey.trim()).map_err(|e| anyhow::anyhow!("--witness: {e}"))?;
        witnesses.push(Box::new(HttpWitness::new(url, key, sdk.credentials_provider())?));
    }
    let trail = crate::completeness::trail_source(&args.trail, &sdk, false).await?;
    let seals = seals_in_order(trail.as_ref(), None).await?;
    let writer = LogWriter { store, signer, witnesses, origin: args.log_origin.clone() };
    let r = writer.append(&seals, None, now).await?;
    println!(
        "log {}: size {} → {} ({} seal(s) in {}); {} object(s) created; checkpoint cosigned by {} of {} witness(es)",
        args.to,
        r.from,
        r.to,
        seals.len(),
        trail.name(),
        r.created,
        r.cosigned,
        writer.witnesses.len()
    );
    for why in &r.unwitnessed {
        eprintln!("not cosigned: {why}");
    }
    anyhow::ensure!(r.unwitnessed.is_empty(), "{} witness(es) did not cosign the checkpoint", r.unwitnessed.len());
    Ok(())
}
