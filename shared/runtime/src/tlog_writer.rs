//! The transparency log's single writer (docs/integrity.md): one round appends the seals the trail
//! holds and the log does not, in the order the trail first shows them, writes the new entry
//! bundles and tiles, signs a checkpoint with the checkpoint key, has the witnesses cosign it, and
//! archives it. A round with nothing new still writes a checkpoint (same size, new cosignature
//! times): on a fixed cadence, silence is told from deletion.
//!
//! Where it writes is a [`LogStore`]: an S3 prefix of the write-once archive, or a folder. Objects
//! are created, never replaced (`If-None-Match: *`, S3 conditional writes), so two writers can never
//! both succeed: the second one's tiles or archived checkpoint already exist with other bytes and
//! its round fails whole. Only `checkpoint` (the latest) is replaced, conditionally on the ETag read
//! at the round's start.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use flagtrail_core::integrity::tlog::{
    bundle_entries, bundle_paths, entry_seal, read_checkpoint, seal_entry, LogError, MerkleLog, NoteVerifyingKey,
    TILE_HEIGHT,
};
use flagtrail_core::integrity::witness::{add_cosignatures, AddCheckpoint};
use sha2::Digest;

use crate::sink::{sign_checkpoint, CheckpointSigner, CheckpointWitness, SinkError, WitnessCallError};
use crate::trail::{TrailError, TrailSource};

/// Why a round failed.
#[derive(Debug, thiserror::Error)]
pub enum LogWriteError {
    /// The store could not be read or written.
    #[error(transparent)]
    Store(#[from] SinkError),
    /// Another writer got there first: an object of this round already exists with other bytes, or
    /// the latest checkpoint changed since the round read it.
    #[error("another writer: {0}")]
    Conflict(String),
    /// What the store holds is not a log the key signed, or not the tree its checkpoint names.
    #[error("the stored log: {0}")]
    Corrupt(String),
    /// The trail could not be read.
    #[error(transparent)]
    Trail(#[from] TrailError),
}

/// What creating an object did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    /// It did not exist.
    New,
    /// It existed with the same bytes (a round retried).
    Same,
}

/// Where the log's objects live, by their C2SP path (`checkpoint`, `tile/…`, `checkpoints/…`).
#[async_trait]
pub trait LogStore: Send + Sync {
    /// An object and its version tag, if it exists.
    async fn get(&self, path: &str) -> Result<Option<(Vec<u8>, Option<String>)>, SinkError>;
    /// Creates an object that must not exist yet; an existing one with other bytes is a conflict.
    async fn create(&self, path: &str, bytes: &[u8]) -> Result<Created, LogWriteError>;
    /// Replaces the object if it is still at `tag` (`None`: if it still does not exist).
    async fn replace(&self, path: &str, bytes: &[u8], tag: Option<&str>) -> Result<(), LogWriteError>;
    /// The names of the objects directly under `dir` (e.g. `checkpoints/`), without `dir`.
    async fn list(&self, dir: &str) -> Result<Vec<String>, SinkError>;
}

/// A prefix of an S3 bucket (the archive).
pub struct S3LogStore {
    client: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
}

impl S3LogStore {
    /// Objects under `prefix` (e.g. `log/`) of `bucket`.
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>, prefix: impl Into<String>) -> Self {
        S3LogStore { client, bucket: bucket.into(), prefix: prefix.into() }
    }

    fn key(&self, path: &str) -> String {
        format!("{}{path}", self.prefix)
    }
}

fn s3_error(e: impl std::fmt::Debug) -> SinkError {
    SinkError::Transient { sink: "s3", message: format!("{e:?}") }
}

fn precondition_failed<E>(
    e: &aws_smithy_runtime_api::client::result::SdkError<E, aws_smithy_runtime_api::http::Response>,
) -> bool {
    e.raw_response().is_some_and(|r| r.status().as_u16() == 412)
}

#[async_trait]
impl LogStore for S3LogStore {
    async fn get(&self, path: &str) -> Result<Option<(Vec<u8>, Option<String>)>, SinkError> {
        match self.client.get_object().bucket(&self.bucket).key(self.key(path)).send().await {
            Ok(out) => {
                let tag = out.e_tag().map(str::to_owned);
                let bytes = out.body.collect().await.map_err(s3_error)?.into_bytes().to_vec();
                Ok(Some((bytes, tag)))
            }
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => Ok(None),
            Err(e) => Err(s3_error(e)),
        }
    }

    async fn create(&self, path: &str, bytes: &[u8]) -> Result<Created, LogWriteError> {
        let sent = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(self.key(path))
            .if_none_match("*")
            .body(bytes.to_vec().into())
            .send()
            .await;
        match sent {
            Ok(_) => Ok(Created::New),
            Err(e) if precondition_failed(&e) => match self.get(path).await? {
                Some((existing, _)) if existing == bytes => Ok(Created::Same),
                _ => Err(LogWriteError::Conflict(format!("{} exists with other bytes", self.key(path)))),
            },
            Err(e) => Err(s3_error(e).into()),
        }
    }

    async fn replace(&self, path: &str, bytes: &[u8], tag: Option<&str>) -> Result<(), LogWriteError> {
        let req = self.client.put_object().bucket(&self.bucket).key(self.key(path)).body(bytes.to_vec().into());
        let req = match tag {
            Some(tag) => req.if_match(tag),
            None => req.if_none_match("*"),
        };
        match req.send().await {
            Ok(_) => Ok(()),
            Err(e) if precondition_failed(&e) => {
                Err(LogWriteError::Conflict(format!("{} changed since this round read it", self.key(path))))
            }
            Err(e) => Err(s3_error(e).into()),
        }
    }

    async fn list(&self, dir: &str) -> Result<Vec<String>, SinkError> {
        let prefix = self.key(dir);
        let mut pages =
            self.client.list_objects_v2().bucket(&self.bucket).prefix(&prefix).delimiter("/").into_paginator().send();
        let mut names = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(s3_error)?;
            names.extend(page.contents().iter().filter_map(|o| o.key()?.strip_prefix(&prefix).map(str::to_owned)));
        }
        Ok(names)
    }
}

/// A folder (`DIR/log/`, the local contract's layout).
pub struct DirLogStore(pub PathBuf);

#[async_trait]
impl LogStore for DirLogStore {
    async fn get(&self, path: &str) -> Result<Option<(Vec<u8>, Option<String>)>, SinkError> {
        match std::fs::read(self.0.join(path)) {
            Ok(bytes) => {
                let tag = hex::encode(sha2::Sha256::digest(&bytes));
                Ok(Some((bytes, Some(tag))))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(SinkError::Permanent { sink: "log folder", message: format!("{path}: {e}") }),
        }
    }

    async fn create(&self, path: &str, bytes: &[u8]) -> Result<Created, LogWriteError> {
        use std::io::Write;
        let full = self.0.join(path);
        let io = |e: std::io::Error| SinkError::Permanent { sink: "log folder", message: format!("{path}: {e}") };
        std::fs::create_dir_all(full.parent().expect("a path under the folder")).map_err(io)?;
        match std::fs::OpenOptions::new().write(true).create_new(true).open(&full) {
            Ok(mut f) => {
                f.write_all(bytes).map_err(io)?;
                Ok(Created::New)
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                if std::fs::read(&full).map_err(io)? == bytes {
                    Ok(Created::Same)
                } else {
                    Err(LogWriteError::Conflict(format!("{} exists with other bytes", full.display())))
                }
            }
            Err(e) => Err(io(e).into()),
        }
    }

    async fn replace(&self, path: &str, bytes: &[u8], tag: Option<&str>) -> Result<(), LogWriteError> {
        let now = self.get(path).await?.and_then(|(_, t)| t);
        if now.as_deref() != tag {
            return Err(LogWriteError::Conflict(format!("{path} changed since this round read it")));
        }
        let full = self.0.join(path);
        std::fs::write(&full, bytes)
            .map_err(|e| SinkError::Permanent { sink: "log folder", message: format!("{path}: {e}") })?;
        Ok(())
    }

    async fn list(&self, dir: &str) -> Result<Vec<String>, SinkError> {
        let io = |e: std::io::Error| SinkError::Permanent { sink: "log folder", message: format!("{dir}: {e}") };
        let entries = match std::fs::read_dir(self.0.join(dir)) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io(e)),
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io)?;
            if entry.file_type().map_err(io)?.is_file() {
                names.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        Ok(names)
    }
}

/// A store that counts the objects read through it (what a round costs in GETs: the benchmark's
/// and the tests' measure).
pub struct CountedStore<S> {
    inner: S,
    reads: Arc<AtomicUsize>,
}

impl<S> CountedStore<S> {
    /// `inner`, adding each object read to `reads`.
    pub fn new(inner: S, reads: Arc<AtomicUsize>) -> Self {
        CountedStore { inner, reads }
    }
}

#[async_trait]
impl<S: LogStore> LogStore for CountedStore<S> {
    async fn get(&self, path: &str) -> Result<Option<(Vec<u8>, Option<String>)>, SinkError> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        self.inner.get(path).await
    }
    async fn create(&self, path: &str, bytes: &[u8]) -> Result<Created, LogWriteError> {
        self.inner.create(path, bytes).await
    }
    async fn replace(&self, path: &str, bytes: &[u8], tag: Option<&str>) -> Result<(), LogWriteError> {
        self.inner.replace(path, bytes, tag).await
    }
    async fn list(&self, dir: &str) -> Result<Vec<String>, SinkError> {
        self.inner.list(dir).await
    }
}

/// The seal ids of a trail (events at or after `since_ms`, if given) in the order it first shows
/// them: the log's leaf order.
pub async fn seals_in_order(trail: &dyn TrailSource, since_ms: Option<i64>) -> Result<Vec<String>, TrailError> {
    let (mut seen, mut out) = (HashSet::new(), Vec::new());
    trail
        .each_message_since(since_ms, &mut |m| {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(&m) else { return };
            if let (Some("seal"), Some(id)) = (v["recordType"].as_str(), v["sealId"].as_str()) {
                if seen.insert(id.to_owned()) {
                    out.push(id.to_owned());
                }
            }
        })
        .await?;
    Ok(out)
}

/// The log writer: its store, checkpoint key, the witnesses it asks (C2SP tlog-witness), and the
/// log's origin.
pub struct LogWriter {
    /// Where the log lives.
    pub store: Box<dyn LogStore>,
    /// The checkpoint key.
    pub signer: Box<dyn CheckpointSigner>,
    /// The witnesses; each cosigns after checking consistency with the last checkpoint it cosigned.
    pub witnesses: Vec<Box<dyn CheckpointWitness>>,
    /// The checkpoints' origin line (the log key's name).
    pub origin: String,
}

/// What a round did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendReport {
    /// Size before.
    pub from: u64,
    /// Size after.
    pub to: u64,
    /// Objects created (tiles, bundles, the archived checkpoint).
    pub created: usize,
    /// Witnesses that cosigned the checkpoint.
    pub cosigned: usize,
    /// Witnesses that did not, and why: the checkpoint is still written (the log must not stall on
    /// a witness), and the caller reports these as a failed round.
    pub unwitnessed: Vec<String>,
}

/// Leaves in a full entry bundle (C2SP tlog-tiles).
const TILE_WIDTH: u64 = 1 << TILE_HEIGHT;

/// How far ahead of the round that logged it a seal's timestamp can be: CloudWatch Logs accepts
/// events up to 2 hours in the future (PutLogEvents), and an hour more is kept for clock skew.
const SEAL_TIME_AHEAD_SECONDS: u64 = 3 * 3600;

fn corrupt(e: LogError) -> LogWriteError {
    LogWriteError::Corrupt(e.0)
}

/// (size, time) of an archived checkpoint's name, `<size>.<time>.<digest>`.
fn archived_at(name: &str) -> Option<(u64, u64)> {
    let mut parts = name.split('.');
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

impl LogWriter {
    /// One round over `seals` (the trail's seal ids in order, read from `since`, in seconds, or
    /// from its start when `None`) at `now` (seconds).
    ///
    /// The round holds the log's right edge, not the log: it resumes from the latest checkpoint
    /// with the partial entry bundle and the O(log n) tiles its operations ask for, each
    /// authenticated against the checkpoint's root, and it reads back only the bundles appended
    /// since `since` to know which of `seals` are leaves already (see [`LogWriter::logged_seals`]).
    pub async fn append(&self, seals: &[String], since: Option<u64>, now: u64) -> Result<AppendReport, LogWriteError> {
        let key = NoteVerifyingKey::new(self.origin.clone(), self.signer.verifying_key());
        let latest = self.store.get("checkpoint").await?;
        let (size, root) = match &latest {
            Some((note, _)) => read_checkpoint(note, &key).map_err(corrupt)?,
            None => (0, Default::default()),
        };
        let partial = match bundle_paths(size).pop() {
            Some(path) if size % TILE_WIDTH != 0 => self.bundle(&path).await?,
            _ => Vec::new(),
        };
        let mut log = MerkleLog::resume(size, root, partial).map_err(corrupt)?;
        self.with_tiles(&mut log, |l| l.check_edge()).await?;
        let logged = self.logged_seals(&log, seals, since).await?;
        for seal in seals.iter().filter(|s| !logged.contains(s.as_str())) {
            self.with_tiles(&mut log, |l| l.append(seal_entry(seal))).await?;
        }
        let mut created = 0;
        for (path, bytes) in self.with_tiles(&mut log, |l| l.tiles(size)).await? {
            created += usize::from(self.store.create(&path, &bytes).await? == Created::New);
        }
        self.with_tiles(&mut log, |l| l.root_at(l.size())).await?;
        let note = sign_checkpoint(&self.origin, &log, self.signer.as_ref()).await?;
        let (note, cosigned, unwitnessed) = self.cosign(note, &mut log, size).await;
        // Named by size, time and the note's own digest: two rounds in the same second (a retried
        // round, whose witnesses date their cosignatures by their own clocks) archive both notes
        // instead of colliding; a second writer is still stopped by `checkpoint`'s If-Match.
        let digest = hex::encode(&sha2::Sha256::digest(&note)[..8]);
        let archived = format!("checkpoints/{:020}.{now:020}.{digest}", log.size());
        created += usize::from(self.store.create(&archived, &note).await? == Created::New);
        self.store.replace("checkpoint", &note, latest.as_ref().and_then(|(_, t)| t.as_deref())).await?;
        Ok(AppendReport { from: size, to: log.size(), created, cosigned, unwitnessed })
    }

    /// Runs `op` on `log`, giving it the stored tiles it asks for until it needs none.
    async fn with_tiles<T>(
        &self,
        log: &mut MerkleLog,
        mut op: impl FnMut(&mut MerkleLog) -> Result<T, LogError>,
    ) -> Result<T, LogWriteError> {
        loop {
            let failed = match op(log) {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            let wanted = log.wanted_tiles();
            if wanted.is_empty() {
                return Err(corrupt(failed));
            }
            for path in wanted {
                let (bytes, _) =
                    self.store.get(&path).await?.ok_or_else(|| LogWriteError::Corrupt(format!("{path} is missing")))?;
                log.add_tile(&path, bytes).map_err(corrupt)?;
            }
        }
    }

    async fn bundle(&self, path: &str) -> Result<Vec<Vec<u8>>, LogWriteError> {
        let (bytes, _) =
            self.store.get(path).await?.ok_or_else(|| LogWriteError::Corrupt(format!("{path} is missing")))?;
        bundle_entries(&bytes).map_err(|e| LogWriteError::Corrupt(format!("{path}: {}", e.0)))
    }

    /// Which of `seals` (the trail read from `since`) are leaves already. Only the leaves that can
    /// hold one are read: those appended after the newest archived checkpoint made before `since`
    /// (less the time a seal can be ahead of a round), or all of them when `since` is `None` or no
    /// checkpoint is that old. Over a 14-day trail that is about 14 days of bundles.
    async fn logged_seals(
        &self,
        log: &MerkleLog,
        seals: &[String],
        since: Option<u64>,
    ) -> Result<HashSet<String>, LogWriteError> {
        let from = match since {
            None => 0,
            Some(since) => {
                let before = since.saturating_sub(SEAL_TIME_AHEAD_SECONDS);
                let archived = self.store.list("checkpoints/").await?;
                archived.iter().filter_map(|n| archived_at(n)).filter(|&(_, t)| t <= before).map(|(s, _)| s).max()
            }
            .unwrap_or(0),
        };
        let size = log.size();
        // Only the window's seals are kept: a log whose bundles are all read (a young one, or the
        // whole trail) still costs the window's memory, not the log's.
        let window: HashSet<&str> = seals.iter().map(String::as_str).collect();
        let mut logged = HashSet::new();
        let mut note = |entry: &[u8]| {
            if let Some(seal) = entry_seal(entry).filter(|s| window.contains(s)) {
                logged.insert(seal.to_owned());
            }
        };
        for path in
            bundle_paths(size).iter().take((size / TILE_WIDTH) as usize).skip((from.min(size) / TILE_WIDTH) as usize)
        {
            self.bundle(path).await?.iter().for_each(|e| note(e));
        }
        log.entries().iter().for_each(|e| note(e));
        Ok(logged)
    }

    /// Asks each witness to cosign `note` (the checkpoint of `log`), telling it the log was at
    /// `old` before. A witness at another size answers 409 with its size; the request is made again
    /// once from that size, if it is within this log. Returns the note with the cosignatures, their
    /// count, and the witnesses that gave none, with why.
    async fn cosign(&self, mut note: Vec<u8>, log: &mut MerkleLog, old: u64) -> (Vec<u8>, usize, Vec<String>) {
        let (mut cosigned, mut unwitnessed) = (0, Vec::new());
        for witness in &self.witnesses {
            let name = witness.key().0.name().to_owned();
            let mut from = old;
            let outcome = loop {
                let proof = match from {
                    0 => Ok(Vec::new()),
                    f if f == log.size() => Ok(Vec::new()),
                    f => self.with_tiles(log, |l| l.consistency(f)).await.map_err(|e| e.to_string()),
                };
                let request = match proof {
                    Ok(proof) => AddCheckpoint { old: from, proof, checkpoint: note.clone() },
                    Err(e) => break Err(e),
                };
                match witness.add_checkpoint(&request).await {
                    Ok(answer) => break add_cosignatures(&note, &answer, witness.key()),
                    Err(WitnessCallError::AtSize(at)) if at != from && at <= log.size() => from = at,
                    Err(WitnessCallError::AtSize(at)) if at > log.size() => {
                        break Err(format!(
                            "it cosigned size {at}, beyond this log's {}: the log lost leaves it had shown",
                            log.size()
                        ))
                    }
                    Err(e) => break Err(e.to_string()),
                }
            };
            match outcome {
                Ok(with) => {
                    note = with;
                    cosigned += 1;
                }
                Err(why) => {
                    tracing::warn!(witness = %name, %why, "checkpoint not cosigned");
                    unwitnessed.push(format!("{name}: {why}"));
                }
            }
        }
        (note, cosigned, unwitnessed)
    }
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::SigningKey;
    use flagtrail_core::integrity::tlog::{read_checkpoint, seal_entry, MerkleLog, NoteVerifyingKey};

    use super::*;
    use crate::sink::LocalCheckpointSigner;

    fn seals(range: std::ops::Range<usize>) -> Vec<String> {
        range.map(|i| format!("seal-{i}")).collect()
    }

    const DAY: u64 = 86_400;

    /// A later round reads the right edge and the bundles of the lookback, not the log; it still
    /// skips the seals of the window that are leaves already and grows the same tree.
    #[tokio::test]
    async fn a_round_reads_the_right_edge_and_the_lookback_not_the_whole_log() {
        let dir = std::env::temp_dir().join(format!("flagtrail-writer-edge-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let key = SigningKey::from_bytes(&[7; 32]);
        let reads = Arc::new(AtomicUsize::new(0));
        let counted = || reads.swap(0, Ordering::SeqCst);
        let writer = LogWriter {
            store: Box::new(CountedStore::new(DirLogStore(dir.clone()), reads.clone())),
            signer: Box::new(LocalCheckpointSigner(key.clone())),
            witnesses: Vec::new(),
            origin: "example.test/log".into(),
        };
        let t0 = 1_700_000_000;
        let first = writer.append(&seals(0..5000), None, t0).await.unwrap();
        assert_eq!((first.from, first.to), (0, 5000));

        // 20 days on, the trail's 14-day window: the last 100 seals already logged, 250 new.
        counted();
        let since = t0 + 6 * DAY;
        let second = writer.append(&seals(4900..5250), Some(since), t0 + 20 * DAY).await.unwrap();
        assert_eq!((second.from, second.to), (5000, 5250), "the 100 logged seals are not appended again");
        let read = counted();
        // The checkpoint, the partial bundle and a tile per level: not the 20 bundles of the log.
        assert!(read <= 6, "{read} objects read");

        let whole = MerkleLog::from_entries(seals(0..5250).iter().map(|s| seal_entry(s))).unwrap();
        let note = std::fs::read(dir.join("checkpoint")).unwrap();
        let (size, root) =
            read_checkpoint(&note, &NoteVerifyingKey::new("example.test/log", key.verifying_key())).unwrap();
        assert_eq!((size, root), (5250, whole.root_at(5250).unwrap()));
        for (path, bytes) in whole.tiles(0).unwrap() {
            assert_eq!(std::fs::read(dir.join(&path)).unwrap(), bytes, "{path}");
        }

        // An hour on, the same window again: its seals are leaves of the last full bundle (read
        // back from the checkpoint at t0) and of the partial one; nothing is appended.
        let again = writer.append(&seals(4900..5250), Some(since + 3600), t0 + 20 * DAY + 3600).await.unwrap();
        assert_eq!((again.from, again.to), (5250, 5250), "every seal of the window is a leaf already");
        let read = counted();
        assert!((3..=7).contains(&read), "the right edge and bundle 19 only: {read} objects read");

        // Without a window (the whole trail), every bundle is read and nothing is appended twice.
        let third = writer.append(&seals(0..5250), None, t0 + 20 * DAY + 1).await.unwrap();
        assert_eq!((third.from, third.to), (5250, 5250));
        assert!(counted() > 20, "the whole trail: every bundle read");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
