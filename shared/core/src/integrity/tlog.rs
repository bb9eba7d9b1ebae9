//! The seals in a transparency log: one leaf per seal, an RFC 6962 Merkle tree stored as C2SP
//! `tlog-tiles` (hash tiles and entry bundles), a C2SP `tlog-checkpoint` signed by the log key as a
//! C2SP `signed-note`, and C2SP `tlog-cosignature` (cosignature/v1, Ed25519) from witnesses that
//! cosign a checkpoint only when it is consistent with the last one they cosigned.
//!
//! Tree hashing, proofs, tile coordinates and checkpoint text come from Cloudflare's `tlog_tiles`
//! (a port of Go's `golang.org/x/mod/sumdb/tlog`) and note signatures from `signed_note`; only the
//! cosignature (not in `signed_note` 0.2) is written here, from the spec.
//!
//! What this adds to the seals (docs/integrity.md): a tail cut off with its seals leaves leaves
//! without seals; another history sealed with the same seal key does not match the leaves; a log
//! rebuilt by whoever holds the seal and log keys lacks the trusted witnesses' cosignatures; and a
//! folder older than the checkpoint an auditor holds is behind it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;

use ed25519_dalek::{Signer as _, SigningKey, Verifier as _, VerifyingKey};
use sha2::{Digest, Sha256};
use signed_note::{Note, Signature as NoteSignature, Signer as NoteSigner, Verifier as NoteVerifier};

use super::witness::{check_add_checkpoint, cosignature_line, AddCheckpoint, WitnessError};
/// A tree hash (SHA-256, RFC 6962).
pub use tlog_tiles::Hash;
use tlog_tiles::{
    prove_tree, record_hash, stored_hash_count, stored_hash_index, stored_hashes, tree_hash, Checkpoint, HashReader,
    Tile, TileHashReader, TileReader,
};

/// Tile height (C2SP tlog-tiles fixes 8: 256 hashes a tile).
pub const TILE_HEIGHT: u8 = 8;
/// The default origin line of the log's checkpoints.
pub const DEFAULT_ORIGIN: &str = "flagtrail.local/audit-seals";
/// Signed-note signature type of a plain Ed25519 note signature.
pub(crate) const ALG_ED25519: u8 = 0x01;
/// Signed-note signature type of an Ed25519 cosignature/v1.
pub(crate) const ALG_COSIGNATURE_V1: u8 = 0x04;

/// The leaf a seal becomes.
pub fn seal_entry(seal_id: &str) -> Vec<u8> {
    format!("flagtrail-seal/v1 {seal_id}").into_bytes()
}

/// The seal a leaf names, if it is one.
pub fn entry_seal(entry: &[u8]) -> Option<&str> {
    std::str::from_utf8(entry).ok()?.strip_prefix("flagtrail-seal/v1 ")
}

/// What went wrong with the log's own data structures.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("transparency log: {0}")]
pub struct LogError(pub String);

fn err(e: impl std::fmt::Display) -> LogError {
    LogError(e.to_string())
}

/// The Merkle tree of the log: a whole log built from its entries, or a stored log resumed at its
/// right edge ([`MerkleLog::resume`]), which holds only the leaves it appends, the partial entry
/// bundle before them and the stored tiles it was given. A resumed log reads a stored hash from
/// those tiles, authenticated against the checkpoint's root (`tlog_tiles::TileHashReader`); a
/// tile it needs and was not given fails the operation and is named by [`MerkleLog::wanted_tiles`],
/// so that a writer fetches O(log n) tiles a round instead of the whole log.
#[derive(Default, Clone)]
pub struct MerkleLog {
    stored: Option<StoredTree>,
    /// Leaf index of `entries[0]`.
    first_entry: u64,
    entries: Vec<Vec<u8>>,
    /// Stored hashes from index `stored_hash_count(stored size)` on.
    hashes: Vec<Hash>,
}

/// The tree a resumed log grows from: its size and root (from the signed checkpoint), the tiles
/// read so far, the hashes already authenticated, and the tiles an operation wanted.
#[derive(Default)]
struct StoredTree {
    size: u64,
    root: Hash,
    tiles: HashMap<Tile, Vec<u8>>,
    verified: Mutex<HashMap<u64, Hash>>,
    wanted: Mutex<BTreeMap<String, Tile>>,
}

impl Clone for StoredTree {
    fn clone(&self) -> Self {
        StoredTree {
            size: self.size,
            root: self.root,
            tiles: self.tiles.clone(),
            verified: Mutex::new(self.verified.lock().unwrap_or_else(|p| p.into_inner()).clone()),
            wanted: Mutex::new(self.wanted.lock().unwrap_or_else(|p| p.into_inner()).clone()),
        }
    }
}

impl TileReader for StoredTree {
    fn height(&self) -> u8 {
        TILE_HEIGHT
    }
    fn read_tiles(&self, tiles: &[Tile]) -> Result<Vec<Vec<u8>>, tlog_tiles::Error> {
        let mut wanted = self.wanted.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = Vec::with_capacity(tiles.len());
        for t in tiles {
            match self.tiles.get(t) {
                Some(data) => out.push(data.clone()),
                None => {
                    wanted.insert(c2sp_path(t, false), *t);
                }
            }
        }
        if out.len() < tiles.len() {
            return Err(tlog_tiles::Error::InvalidInput("stored tiles not read yet".into()));
        }
        Ok(out)
    }
    fn save_tiles(&self, _: &[Tile], _: &[Vec<u8>]) {}
}

impl StoredTree {
    fn read(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error> {
        let mut verified = self.verified.lock().unwrap_or_else(|p| p.into_inner());
        let unknown: Vec<u64> = indexes.iter().copied().filter(|i| !verified.contains_key(i)).collect();
        if !unknown.is_empty() {
            let read = TileHashReader::new(self.size, self.root, self).read_hashes(&unknown)?;
            verified.extend(unknown.into_iter().zip(read));
        }
        Ok(indexes.iter().map(|i| verified[i]).collect())
    }
}

impl HashReader for MerkleLog {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error> {
        let offset = self.hash_offset();
        let old: Vec<u64> = indexes.iter().copied().filter(|&i| i < offset).collect();
        let mut old = match (&self.stored, old.is_empty()) {
            (_, true) => Vec::new().into_iter(),
            (Some(stored), false) => stored.read(&old)?.into_iter(),
            (None, false) => return Err(tlog_tiles::Error::IndexesNotInTree),
        };
        indexes
            .iter()
            .map(|&i| match i.checked_sub(offset) {
                None => old.next().ok_or(tlog_tiles::Error::IndexesNotInTree),
                Some(j) => self.hashes.get(j as usize).copied().ok_or(tlog_tiles::Error::IndexesNotInTree),
            })
            .collect()
    }
}

impl MerkleLog {
    /// A log of these entries, in order.
    pub fn from_entries(entries: impl IntoIterator<Item = Vec<u8>>) -> Result<Self, LogError> {
        let mut log = MerkleLog::default();
        for e in entries {
            log.append(e)?;
        }
        Ok(log)
    }

    /// The stored log of a checkpoint (`size`, `root`) resumed at its right edge: `bundle` is the
    /// entries of its partial entry bundle (empty when `size` is a multiple of 256). Call
    /// [`MerkleLog::check_edge`] before trusting those entries.
    pub fn resume(size: u64, root: Hash, bundle: Vec<Vec<u8>>) -> Result<Self, LogError> {
        if bundle.len() as u64 != size % (1 << TILE_HEIGHT) {
            return Err(LogError(format!(
                "the partial entry bundle of a log of {size} holds {} entries, not {}",
                bundle.len(),
                size % (1 << TILE_HEIGHT)
            )));
        }
        Ok(MerkleLog {
            stored: Some(StoredTree { size, root, ..StoredTree::default() }),
            first_entry: size - bundle.len() as u64,
            entries: bundle,
            hashes: Vec::new(),
        })
    }

    /// The stored tiles (C2SP paths) the last failed operation needed and this log was not given;
    /// empty when it failed for another reason.
    pub fn wanted_tiles(&self) -> Vec<String> {
        match &self.stored {
            Some(s) => s.wanted.lock().unwrap_or_else(|p| p.into_inner()).keys().cloned().collect(),
            None => Vec::new(),
        }
    }

    /// Gives a resumed log one of its [`MerkleLog::wanted_tiles`], as read from the store; its
    /// hashes are authenticated when an operation reads them.
    pub fn add_tile(&mut self, path: &str, data: Vec<u8>) -> Result<(), LogError> {
        let stored = self.stored.as_mut().ok_or_else(|| LogError("a whole log reads no tiles".into()))?;
        let tile = stored.wanted.get_mut().unwrap_or_else(|p| p.into_inner()).remove(path);
        let tile = tile.ok_or_else(|| LogError(format!("{path} was not wanted")))?;
        stored.tiles.insert(tile, data);
        Ok(())
    }

    /// Checks that the held entries of a resumed log's partial bundle are the leaves its tiles and
    /// checkpoint root say.
    pub fn check_edge(&self) -> Result<(), LogError> {
        let indexes: Vec<u64> =
            (0..self.held_before_growth()).map(|i| stored_hash_index(0, self.first_entry + i)).collect();
        let leaves = self.read_hashes(&indexes).map_err(err)?;
        for (i, (entry, leaf)) in self.entries.iter().zip(leaves).enumerate() {
            if record_hash(entry) != leaf {
                return Err(LogError(format!(
                    "entry {} of the partial bundle is not the leaf the tiles hold",
                    self.first_entry + i as u64
                )));
            }
        }
        Ok(())
    }

    fn held_before_growth(&self) -> u64 {
        self.stored.as_ref().map_or(0, |s| s.size - self.first_entry)
    }

    fn hash_offset(&self) -> u64 {
        self.stored.as_ref().map_or(0, |s| stored_hash_count(s.size))
    }

    /// Appends one entry.
    pub fn append(&mut self, entry: Vec<u8>) -> Result<(), LogError> {
        let new = stored_hashes(self.size(), &entry, self).map_err(err)?;
        self.hashes.extend(new);
        self.entries.push(entry);
        Ok(())
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.first_entry + self.entries.len() as u64
    }

    /// The entries held, in order: all of a whole log's; a resumed log's from its partial bundle on.
    pub fn entries(&self) -> &[Vec<u8>] {
        &self.entries
    }

    /// The root of the tree of the first `size` leaves.
    pub fn root_at(&self, size: u64) -> Result<Hash, LogError> {
        tree_hash(size, self).map_err(err)
    }

    /// The consistency proof from the tree of `old` leaves to the whole tree.
    pub fn consistency(&self, old: u64) -> Result<Vec<Hash>, LogError> {
        prove_tree(self.size(), old, self).map_err(err)
    }

    /// The files of C2SP tlog-tiles for the tree grown from `old` leaves to its size: hash tiles
    /// `tile/<L>/<N>[.p/<W>]` and entry bundles `tile/entries/<N>[.p/<W>]` (each entry a big-endian
    /// u16 length and its bytes), as (path, bytes).
    pub fn tiles(&self, old: u64) -> Result<Vec<(String, Vec<u8>)>, LogError> {
        let mut out = Vec::new();
        for tile in Tile::new_tiles(TILE_HEIGHT, old, self.size()) {
            let data = tile.read_data(self).map_err(err)?;
            out.push((c2sp_path(&tile, false), data));
            if tile.level() == 0 {
                let start = (tile.level_index() << TILE_HEIGHT)
                    .checked_sub(self.first_entry)
                    .ok_or_else(|| LogError(format!("entries before {} are not held", self.first_entry)))?
                    as usize;
                let mut bundle = Vec::new();
                for e in &self.entries[start..start + tile.width() as usize] {
                    let len = u16::try_from(e.len()).map_err(|_| LogError("an entry over 65,535 bytes".into()))?;
                    bundle.extend_from_slice(&len.to_be_bytes());
                    bundle.extend_from_slice(e);
                }
                out.push((c2sp_path(&tile, true), bundle));
            }
        }
        Ok(out)
    }
}

/// C2SP paths drop the height Go's layout puts after `tile/` and name entry bundles `entries`.
fn c2sp_path(tile: &Tile, entries: bool) -> String {
    let go = tile.path(); // tile/8/<L>/<N>[.p/<W>]
    let rest = go.splitn(4, '/').nth(3).unwrap_or_default();
    if entries {
        format!("tile/entries/{rest}")
    } else {
        format!("tile/{}/{rest}", tile.level())
    }
}

/// Entries of a bundle, in order.
pub fn bundle_entries(bundle: &[u8]) -> Result<Vec<Vec<u8>>, LogError> {
    let mut out = Vec::new();
    let mut rest = bundle;
    while !rest.is_empty() {
        let (len, tail) = rest.split_at_checked(2).ok_or_else(|| LogError("entry bundle cut short".into()))?;
        let n = usize::from(u16::from_be_bytes([len[0], len[1]]));
        let (entry, tail) = tail.split_at_checked(n).ok_or_else(|| LogError("entry bundle cut short".into()))?;
        out.push(entry.to_vec());
        rest = tail;
    }
    Ok(out)
}

/// The path of the entry bundle holding leaves `[n·256, n·256 + width)` in a tree of `size`.
pub fn bundle_paths(size: u64) -> Vec<String> {
    let full = size >> TILE_HEIGHT;
    let mut out: Vec<String> =
        (0..full).map(|n| c2sp_path(&Tile::new(TILE_HEIGHT, 0, n, 1 << TILE_HEIGHT, true), true)).collect();
    let w = size - (full << TILE_HEIGHT);
    if w > 0 {
        out.push(c2sp_path(&Tile::new(TILE_HEIGHT, 0, full, w as u32, true), true));
    }
    out
}

/// An Ed25519 key signing notes: the log's checkpoints, or a witness's cosignatures.
pub struct NoteKey {
    name: String,
    key: SigningKey,
}

/// The public half of a [`NoteKey`].
#[derive(Clone, Debug)]
pub struct NoteVerifyingKey {
    name: String,
    key: VerifyingKey,
}

pub(crate) fn key_id(name: &str, alg: u8, key: &VerifyingKey) -> u32 {
    signed_note::key_id(name, &[&[alg], key.as_bytes().as_slice()].concat())
}

/// The name a witness key goes by: `witness-` and the first 8 bytes of its public key's SHA-256
/// (PEM keys carry no name; the verifier derives the same one).
pub fn witness_name(key: &VerifyingKey) -> String {
    format!("witness-{}", hex::encode(&Sha256::digest(key.as_bytes())[..8]))
}

impl NoteKey {
    /// A key going by `name`.
    pub fn new(name: impl Into<String>, key: SigningKey) -> Self {
        NoteKey { name: name.into(), key }
    }

    /// Its public half.
    pub fn verifying(&self) -> NoteVerifyingKey {
        NoteVerifyingKey { name: self.name.clone(), key: self.key.verifying_key() }
    }
}

impl NoteVerifyingKey {
    /// A public key going by `name`.
    pub fn new(name: impl Into<String>, key: VerifyingKey) -> Self {
        NoteVerifyingKey { name: name.into(), key }
    }

    /// The name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The public key.
    pub fn key(&self) -> &VerifyingKey {
        &self.key
    }
}

impl NoteSigner for NoteKey {
    fn name(&self) -> &str {
        &self.name
    }
    fn key_id(&self) -> u32 {
        key_id(&self.name, ALG_ED25519, &self.key.verifying_key())
    }
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, ed25519_dalek::SignatureError> {
        Ok(self.key.sign(msg).to_bytes().to_vec())
    }
}

impl NoteVerifier for NoteVerifyingKey {
    fn name(&self) -> &str {
        &self.name
    }
    fn key_id(&self) -> u32 {
        key_id(&self.name, ALG_ED25519, &self.key)
    }
    fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        let Ok(sig) = ed25519_dalek::Signature::from_slice(sig) else { return false };
        self.key.verify(msg, &sig).is_ok()
    }
}

/// The message a cosignature/v1 signs: `cosignature/v1`, `time <t>`, then the checkpoint body.
pub(crate) fn cosigned_message(time: u64, body: &[u8]) -> Vec<u8> {
    [format!("cosignature/v1\ntime {time}\n").as_bytes(), body].concat()
}

/// A witness whose key is in memory (the local contract's `--witness-key`): cosigns a checkpoint
/// only if it passes the C2SP tlog-witness checks ([`check_add_checkpoint`]) against the last one
/// it cosigned.
pub struct Witness {
    key: NoteKey,
    /// Size and root of the last checkpoint it cosigned (its state, kept by the caller).
    pub last: Option<(u64, Hash)>,
}

impl Witness {
    /// A witness signing with `key` (its name derived from the key), starting from `last`.
    pub fn new(key: SigningKey, last: Option<(u64, Hash)>) -> Self {
        let name = witness_name(&key.verifying_key());
        Witness { key: NoteKey::new(name, key), last }
    }

    /// Its public key, as verifiers trust it.
    pub fn public(&self) -> WitnessKey {
        WitnessKey(self.key.verifying())
    }

    /// Checks `note` (a checkpoint signed by `log`) against the last cosigned checkpoint with the
    /// consistency `proof` from it, and returns the note with its cosignature for `time` (seconds).
    pub fn cosign(
        &mut self,
        note: &[u8],
        log: &NoteVerifyingKey,
        proof: &[Hash],
        time: u64,
    ) -> Result<Vec<u8>, WitnessError> {
        let old = self.last.map_or(0, |(size, _)| size);
        let request = AddCheckpoint { old, proof: proof.to_vec(), checkpoint: note.to_vec() };
        let checked = check_add_checkpoint(&request, std::slice::from_ref(log), self.last)?;
        let line = self.cosignature_line(&checked.text, time);
        self.last = Some((checked.size, checked.root));
        Ok([note, line.as_bytes()].concat())
    }

    /// Its cosignature line on a checkpoint `text` at `time`.
    pub fn cosignature_line(&self, text: &[u8], time: u64) -> String {
        let signature = self.key.key.sign(&cosigned_message(time, text)).to_bytes();
        cosignature_line(&self.key.name, &self.key.key.verifying_key(), time, &signature)
    }
}

/// A trusted witness's public key, checking cosignature/v1 lines.
#[derive(Clone)]
pub struct WitnessKey(pub NoteVerifyingKey);

impl WitnessKey {
    /// The witness with this public key (its name derived from it).
    pub fn new(key: VerifyingKey) -> Self {
        WitnessKey(NoteVerifyingKey::new(witness_name(&key), key))
    }

    /// The time of this witness's valid cosignature on `note`, if it has one.
    pub fn cosigned_at(&self, note: &Note) -> Option<u64> {
        let id = key_id(&self.0.name, ALG_COSIGNATURE_V1, &self.0.key);
        note_signatures(note).into_iter().find_map(|s| {
            if s.name() != self.0.name || s.id() != id || s.signature().len() != 72 {
                return None;
            }
            let (time, sig) = s.signature().split_at(8);
            let time = u64::from_be_bytes(time.try_into().ok()?);
            let sig = ed25519_dalek::Signature::from_slice(sig).ok()?;
            self.0.key.verify(&cosigned_message(time, note.text()), &sig).ok().map(|_| time)
        })
    }
}

/// The signature lines of a note (re-read from its bytes: `Note` keeps them private).
fn note_signatures(note: &Note) -> Vec<NoteSignature> {
    let bytes = note.to_bytes();
    let text_len = note.text().len() + 1;
    let sigs = std::str::from_utf8(&bytes[text_len.min(bytes.len())..]).unwrap_or("");
    sigs.lines().filter_map(|l| NoteSignature::from_bytes(l.as_bytes()).ok()).collect()
}

/// The size and root of a checkpoint note signed by `log` (what a log writer resumes from).
pub fn read_checkpoint(note: &[u8], log: &NoteVerifyingKey) -> Result<(u64, Hash), LogError> {
    let parsed = Note::from_bytes(note).map_err(err)?;
    parsed
        .verify(&signed_note::VerifierList::new(vec![Box::new(log.clone())]))
        .map_err(|e| LogError(format!("the checkpoint is not signed by the log key {} ({e})", log.name)))?;
    let checkpoint = Checkpoint::from_bytes(parsed.text()).map_err(err)?;
    Ok((checkpoint.size(), *checkpoint.hash()))
}

/// The checkpoint of the log at its size, as the text the log key signs.
pub fn checkpoint_text(origin: &str, log: &MerkleLog) -> Result<Vec<u8>, LogError> {
    Ok(Checkpoint::new(origin, log.size(), log.root_at(log.size())?, "").map_err(err)?.to_bytes())
}

/// A checkpoint signed by the log key, as note bytes.
pub fn signed_checkpoint(origin: &str, log: &MerkleLog, key: &NoteKey) -> Result<Vec<u8>, LogError> {
    let mut note = Note::new(&checkpoint_text(origin, log)?, &[]).map_err(err)?;
    note.add_sigs(&[key]).map_err(err)?;
    Ok(note.to_bytes())
}

/// A signature made elsewhere (a KMS key that never leaves KMS) over a note's text, standing in
/// for the key when the note is assembled.
struct Presigned<'a> {
    key: &'a NoteVerifyingKey,
    text: &'a [u8],
    signature: &'a [u8],
}

impl NoteSigner for Presigned<'_> {
    fn name(&self) -> &str {
        &self.key.name
    }
    fn key_id(&self) -> u32 {
        key_id(&self.key.name, ALG_ED25519, &self.key.key)
    }
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, ed25519_dalek::SignatureError> {
        if msg != self.text {
            return Err(ed25519_dalek::SignatureError::new());
        }
        Ok(self.signature.to_vec())
    }
}

/// The checkpoint `text` (from [`checkpoint_text`]) with a `signature` made elsewhere, as note
/// bytes; refused unless the signature verifies with `key`.
pub fn checkpoint_with_signature(text: &[u8], key: &NoteVerifyingKey, signature: &[u8]) -> Result<Vec<u8>, LogError> {
    if !NoteVerifier::verify(key, text, signature) {
        return Err(LogError(format!("the checkpoint signature does not verify with the log key {}", key.name)));
    }
    let mut note = Note::new(text, &[]).map_err(err)?;
    note.add_sigs(&[&Presigned { key, text, signature }]).map_err(err)?;
    Ok(note.to_bytes())
}

/// One way the log and the trail disagree, or the log is not what its keys and witnesses say.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogFinding {
    /// No checkpoint, or one that is not signed by the log key.
    BadCheckpoint(String),
    /// A checkpoint without a valid cosignature of enough trusted witnesses.
    Unwitnessed {
        /// The checkpoint's size.
        size: u64,
        /// Trusted witnesses that cosigned it, and the quorum asked for.
        cosigned: usize,
        /// The quorum.
        quorum: usize,
    },
    /// The log's leaves do not hash to the checkpoint's root, or a leaf is not a seal.
    BadTree(String),
    /// Leaves at the end of the log whose seals are not in the trail: the tail was cut off.
    TruncatedTail {
        /// The first such leaf.
        from_leaf: u64,
        /// How many.
        count: u64,
    },
    /// Leaves before the end whose seals are not in the trail.
    SealMissing {
        /// The leaf.
        leaf: u64,
        /// Its seal.
        seal_id: String,
    },
    /// Seals in the trail that no leaf names: another history, or written behind the log's back.
    SealNotLogged {
        /// The seal.
        seal_id: String,
    },
    /// Two checkpoints that cannot both be of this log: a forked history.
    Forked(String),
    /// Cosignatures further apart than the checkpoint cadence (or the last one too old): checkpoints
    /// that should exist are missing, or the witnesses stopped seeing the log.
    Stale {
        /// The size of the checkpoint after the gap (or the latest, for a gap up to now).
        size: u64,
        /// The gap, in seconds.
        gap: u64,
        /// The cadence allowed.
        max_gap: u64,
    },
    /// The folder's log is older than a checkpoint the auditor holds (rollback).
    Behind {
        /// The size the auditor holds.
        held: u64,
        /// The size found.
        found: u64,
    },
}

impl LogFinding {
    /// A stable name of the finding's kind, for machine-readable output.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::BadCheckpoint(_) => "badCheckpoint",
            Self::Unwitnessed { .. } => "unwitnessedCheckpoint",
            Self::BadTree(_) => "badLogTree",
            Self::TruncatedTail { .. } => "truncatedTail",
            Self::SealMissing { .. } => "sealMissing",
            Self::SealNotLogged { .. } | Self::Forked(_) => "forkedHistory",
            Self::Stale { .. } => "staleCheckpoint",
            Self::Behind { .. } => "logBehind",
        }
    }
}

impl std::fmt::Display for LogFinding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::BadCheckpoint(why) => write!(f, "bad checkpoint: {why}"),
            Self::Unwitnessed { size, cosigned, quorum } => write!(
                f,
                "unwitnessed checkpoint: size {size} has {cosigned} trusted cosignature(s), {quorum} required"
            ),
            Self::BadTree(why) => write!(f, "log tree: {why}"),
            Self::TruncatedTail { from_leaf, count } => write!(
                f,
                "truncated tail: the log's last {count} leaf/leaves from leaf {from_leaf} name seals that are not in the trail"
            ),
            Self::SealMissing { leaf, seal_id } => {
                write!(f, "seal missing: log leaf {leaf} names seal {} that is not in the trail", &seal_id[..seal_id.len().min(16)])
            }
            Self::SealNotLogged { seal_id } => write!(
                f,
                "forked history: seal {} is in the trail but in no log leaf",
                &seal_id[..seal_id.len().min(16)]
            ),
            Self::Forked(why) => write!(f, "forked history: {why}"),
            Self::Stale { size, gap: u64::MAX, .. } => {
                write!(f, "stale checkpoint: no trusted cosignature up to size {size}")
            }
            Self::Stale { size, gap, max_gap } => write!(
                f,
                "stale checkpoint: {gap} s between cosignatures up to size {size}, the cadence allows {max_gap} s"
            ),
            Self::Behind { held, found } => write!(
                f,
                "log behind a checkpoint the auditor holds: it has {found} leaves, the held checkpoint {held}"
            ),
        }
    }
}

/// What the verifier trusts.
pub struct LogTrust<'a> {
    /// The log's checkpoint key.
    pub log: &'a NoteVerifyingKey,
    /// Trusted witnesses.
    pub witnesses: &'a [WitnessKey],
    /// How many of them must cosign.
    pub quorum: usize,
    /// The checkpoint cadence, checked on the cosignatures' times: `(longest gap, now)` in seconds.
    pub freshness: Option<(u64, u64)>,
}

/// A checkpoint note checked against the trusted keys: its (size, root) and findings.
/// A checkpoint that verified: the checkpoint, its findings, and when the trusted witnesses last
/// cosigned it (the newest of their times).
type Checked = (Checkpoint, Vec<LogFinding>, Option<u64>);

fn checked_checkpoint(bytes: &[u8], trust: &LogTrust, what: &str) -> Result<Checked, LogFinding> {
    let bad = |why: String| LogFinding::BadCheckpoint(format!("{what}: {why}"));
    let note = Note::from_bytes(bytes).map_err(|e| bad(e.to_string()))?;
    let list = signed_note::VerifierList::new(vec![Box::new(trust.log.clone())]);
    note.verify(&list).map_err(|e| bad(format!("not signed by the log key ({e})")))?;
    let checkpoint = Checkpoint::from_bytes(note.text()).map_err(|e| bad(e.to_string()))?;
    let times: Vec<u64> = trust.witnesses.iter().filter_map(|w| w.cosigned_at(&note)).collect();
    let mut findings = Vec::new();
    if times.len() < trust.quorum {
        findings.push(LogFinding::Unwitnessed { size: checkpoint.size(), cosigned: times.len(), quorum: trust.quorum });
    }
    Ok((checkpoint, findings, times.into_iter().max()))
}

/// Verifies the log against the trail's seals: the latest checkpoint (signed, cosigned by a
/// quorum), the leaves from the entry bundles (`read` gives a file of the log by its path), the
/// root, every leaf a seal of the trail and every seal a leaf, the archived checkpoints consistent
/// with the tree, and, if the auditor holds one, that checkpoint too.
pub fn verify_log(
    checkpoint: &[u8],
    archived: &[Vec<u8>],
    held: Option<&[u8]>,
    read: &dyn Fn(&str) -> Option<Vec<u8>>,
    trail_seals: &BTreeSet<String>,
    trust: &LogTrust,
) -> Vec<LogFinding> {
    let (latest, mut findings, latest_time) = match checked_checkpoint(checkpoint, trust, "latest") {
        Ok(c) => c,
        Err(f) => return vec![f],
    };
    let mut entries = Vec::new();
    for path in bundle_paths(latest.size()) {
        match read(&path).map(|b| bundle_entries(&b)) {
            Some(Ok(e)) => entries.extend(e),
            Some(Err(e)) => findings.push(LogFinding::BadTree(format!("{path}: {e}"))),
            None => findings.push(LogFinding::BadTree(format!("{path} is missing"))),
        }
    }
    let log = match MerkleLog::from_entries(entries) {
        Ok(l) if l.size() == latest.size() => l,
        Ok(l) => {
            findings.push(LogFinding::BadTree(format!("{} leaves for a checkpoint of {}", l.size(), latest.size())));
            return findings;
        }
        Err(e) => {
            findings.push(LogFinding::BadTree(e.to_string()));
            return findings;
        }
    };
    if log.root_at(log.size()).ok().as_ref() != Some(latest.hash()) {
        findings.push(LogFinding::BadTree("the leaves do not hash to the checkpoint's root".into()));
        return findings;
    }

    // Leaves against the trail's seals.
    let leaves: Vec<Option<&str>> = log.entries().iter().map(|e| entry_seal(e)).collect();
    let absent: Vec<u64> =
        (0..log.size()).filter(|&i| leaves[i as usize].is_none_or(|s| !trail_seals.contains(s))).collect();
    let tail = absent.iter().rev().zip((0..log.size()).rev()).take_while(|(a, b)| **a == *b).count() as u64;
    for &i in &absent[..absent.len() - tail as usize] {
        match leaves[i as usize] {
            Some(s) => findings.push(LogFinding::SealMissing { leaf: i, seal_id: s.to_owned() }),
            None => findings.push(LogFinding::BadTree(format!("leaf {i} is not a seal entry"))),
        }
    }
    if tail > 0 {
        findings.push(LogFinding::TruncatedTail { from_leaf: log.size() - tail, count: tail });
    }
    let logged: BTreeSet<&str> = leaves.iter().flatten().copied().collect();
    for s in trail_seals.iter().filter(|s| !logged.contains(s.as_str())) {
        findings.push(LogFinding::SealNotLogged { seal_id: s.clone() });
    }

    // Every archived checkpoint and the held one must be a prefix of this tree.
    let prefix_of = |c: &Checkpoint, what: &str| -> Option<LogFinding> {
        if c.size() > log.size() {
            return Some(if what == "held" {
                LogFinding::Behind { held: c.size(), found: log.size() }
            } else {
                LogFinding::Forked(format!(
                    "{what} checkpoint of size {} is beyond the latest ({})",
                    c.size(),
                    log.size()
                ))
            });
        }
        match log.root_at(c.size()) {
            Ok(root) if root == *c.hash() => None,
            _ => Some(LogFinding::Forked(format!(
                "{what} checkpoint of size {} has another root than this log",
                c.size()
            ))),
        }
    };
    let mut times = Vec::new();
    for (i, bytes) in archived.iter().enumerate() {
        match checked_checkpoint(bytes, trust, &format!("archived #{i}")) {
            Ok((c, f, time)) => {
                findings.extend(f);
                findings.extend(prefix_of(&c, "an archived"));
                times.extend(time.map(|t| (c.size(), t)));
            }
            Err(f) => findings.push(f),
        }
    }
    // Silence is told from deletion by the cadence: a checkpoint is cosigned every period, even
    // when nothing changed, so a longer gap between cosignatures (or since the last) is a finding.
    if let Some((max_gap, now)) = trust.freshness {
        times.sort_unstable();
        for pair in times.windows(2) {
            let ((_, a), (size, b)) = (pair[0], pair[1]);
            if b.saturating_sub(a) > max_gap {
                findings.push(LogFinding::Stale { size, gap: b - a, max_gap });
            }
        }
        let last = latest_time.into_iter().chain(times.iter().map(|&(_, t)| t)).max();
        match last {
            Some(t) if now.saturating_sub(t) > max_gap => {
                findings.push(LogFinding::Stale { size: latest.size(), gap: now - t, max_gap })
            }
            None => findings.push(LogFinding::Stale { size: latest.size(), gap: u64::MAX, max_gap }),
            _ => {}
        }
    }
    if let Some(held) = held {
        match checked_checkpoint(held, trust, "held") {
            Ok((c, f, _)) => {
                findings.extend(f);
                findings.extend(prefix_of(&c, "held"));
            }
            Err(f) => findings.push(f),
        }
    }
    findings.sort();
    findings.dedup();
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    /// A log of `n` seals with a checkpoint per seal, each cosigned by `witness`.
    fn build(n: usize, witness: u8) -> (MerkleLog, Vec<Vec<u8>>, BTreeSet<String>) {
        let log_key = NoteKey::new(DEFAULT_ORIGIN, key(1));
        let mut w = Witness::new(key(witness), None);
        let mut log = MerkleLog::default();
        let (mut checkpoints, mut seals) = (Vec::new(), BTreeSet::new());
        for i in 0..n {
            let seal = hex::encode(Sha256::digest(format!("seal {i}")));
            let old = log.size();
            log.append(seal_entry(&seal)).unwrap();
            seals.insert(seal);
            let note = signed_checkpoint(DEFAULT_ORIGIN, &log, &log_key).unwrap();
            let proof = if old > 0 { log.consistency(old).unwrap() } else { vec![] };
            checkpoints.push(w.cosign(&note, &log_key.verifying(), &proof, 1_700_000_000 + i as u64).unwrap());
        }
        (log, checkpoints, seals)
    }

    fn files(log: &MerkleLog) -> std::collections::BTreeMap<String, Vec<u8>> {
        log.tiles(0).unwrap().into_iter().collect()
    }

    fn leaves(range: std::ops::Range<usize>) -> Vec<Vec<u8>> {
        range.map(|i| seal_entry(&format!("seal {i}"))).collect()
    }

    /// Runs `op`, handing the log the tiles it asks for from `stored` and counting them in `reads`.
    fn fed<T>(
        log: &mut MerkleLog,
        stored: &BTreeMap<String, Vec<u8>>,
        reads: &mut usize,
        mut op: impl FnMut(&mut MerkleLog) -> Result<T, LogError>,
    ) -> Result<T, LogError> {
        loop {
            match op(log) {
                Ok(v) => return Ok(v),
                Err(e) if log.wanted_tiles().is_empty() => return Err(e),
                Err(_) => {
                    for path in log.wanted_tiles() {
                        let data = stored.get(&path).unwrap_or_else(|| panic!("{path} is not stored")).clone();
                        log.add_tile(&path, data).unwrap();
                        *reads += 1;
                    }
                }
            }
        }
    }

    /// The stored log of `n` leaves resumed at its right edge.
    fn resumed(n: usize) -> (MerkleLog, BTreeMap<String, Vec<u8>>) {
        let whole = MerkleLog::from_entries(leaves(0..n)).unwrap();
        let stored = files(&whole);
        let bundle = leaves(n - n % 256..n);
        (MerkleLog::resume(n as u64, whole.root_at(n as u64).unwrap(), bundle).unwrap(), stored)
    }

    #[test]
    fn a_resumed_log_grows_into_the_same_tree_from_a_few_tiles() {
        for (n, grow) in [(0, 3), (1, 1), (255, 1), (256, 0), (256, 300), (257, 255), (1000, 70), (66_000, 600)] {
            let (mut log, stored) = resumed(n);
            let mut reads = 0;
            fed(&mut log, &stored, &mut reads, |l| l.check_edge()).unwrap();
            for e in leaves(n..n + grow) {
                fed(&mut log, &stored, &mut reads, |l| l.append(e.clone())).unwrap();
            }
            let whole = MerkleLog::from_entries(leaves(0..n + grow)).unwrap();
            let size = (n + grow) as u64;
            assert_eq!(fed(&mut log, &stored, &mut reads, |l| l.root_at(size)).unwrap(), whole.root_at(size).unwrap());
            let tiles = fed(&mut log, &stored, &mut reads, |l| l.tiles(n as u64)).unwrap();
            assert_eq!(tiles, whole.tiles(n as u64).unwrap(), "tiles from {n} to {size}");
            for old in [1, n as u64 / 2, n as u64].into_iter().filter(|&o| o > 0 && o < size) {
                let proof = fed(&mut log, &stored, &mut reads, |l| l.consistency(old)).unwrap();
                assert_eq!(proof, whole.consistency(old).unwrap(), "proof {old} -> {size}");
            }
            // The right edge and what the proofs reach, not the log: a tile per level and a few more.
            assert!(reads <= 12, "{reads} tiles read resuming {n}");
        }
    }

    #[test]
    fn a_resumed_log_refuses_tiles_or_a_bundle_that_are_not_its_checkpoint() {
        let (mut log, mut stored) = resumed(1000);
        assert!(log.root_at(1000).is_err(), "a resumed log has no hashes before it reads tiles");
        let first = log.wanted_tiles()[0].clone();
        stored.get_mut(&first).unwrap()[0] ^= 1;
        let err = fed(&mut log, &stored, &mut 0, |l| l.root_at(1000)).unwrap_err();
        assert!(err.0.contains("inconsistent"), "{err}");

        let (_, stored) = resumed(1000);
        let whole = MerkleLog::from_entries(leaves(0..1000)).unwrap();
        let mut bundle = leaves(768..1000);
        bundle[5] = seal_entry("another seal");
        let mut log = MerkleLog::resume(1000, whole.root_at(1000).unwrap(), bundle).unwrap();
        let err = fed(&mut log, &stored, &mut 0, |l| l.check_edge()).unwrap_err();
        assert!(err.0.contains("entry 773"), "{err}");
        assert!(MerkleLog::resume(1000, whole.root_at(1000).unwrap(), leaves(768..999)).is_err());
    }

    fn check(
        log: &MerkleLog,
        checkpoints: &[Vec<u8>],
        held: Option<&[u8]>,
        seals: &BTreeSet<String>,
        witness: u8,
    ) -> Vec<LogFinding> {
        let f = files(log);
        let log_key = NoteKey::new(DEFAULT_ORIGIN, key(1)).verifying();
        let witnesses = [WitnessKey::new(key(witness).verifying_key())];
        let trust = LogTrust { log: &log_key, witnesses: &witnesses, quorum: 1, freshness: None };
        verify_log(checkpoints.last().unwrap(), checkpoints, held, &|p| f.get(p).cloned(), seals, &trust)
    }

    #[test]
    fn a_checkpoint_signed_elsewhere_is_the_same_note_and_a_wrong_signature_is_refused() {
        let log_key = NoteKey::new(DEFAULT_ORIGIN, key(1));
        let mut log = MerkleLog::default();
        log.append(seal_entry("s1")).unwrap();
        let text = checkpoint_text(DEFAULT_ORIGIN, &log).unwrap();
        let signature = log_key.sign(&text).unwrap();
        let assembled = checkpoint_with_signature(&text, &log_key.verifying(), &signature).unwrap();
        assert_eq!(assembled, signed_checkpoint(DEFAULT_ORIGIN, &log, &log_key).unwrap());
        let other = NoteKey::new(DEFAULT_ORIGIN, key(2)).sign(&text).unwrap();
        assert!(checkpoint_with_signature(&text, &log_key.verifying(), &other).is_err());
    }

    #[test]
    fn an_untouched_log_verifies_across_tile_boundaries() {
        let (log, checkpoints, seals) = build(260, 7);
        assert!(files(&log).contains_key("tile/entries/000") && files(&log).contains_key("tile/entries/001.p/4"));
        assert!(files(&log).contains_key("tile/0/001.p/4") && files(&log).contains_key("tile/1/000.p/1"));
        assert_eq!(check(&log, &checkpoints, Some(&checkpoints[100]), &seals, 7), vec![]);
    }

    #[test]
    fn each_attack_is_named() {
        let (log, checkpoints, mut seals) = build(5, 7);
        // The last seal cut off the trail.
        let last = entry_seal(&log.entries()[4]).unwrap().to_owned();
        seals.remove(&last);
        assert_eq!(
            check(&log, &checkpoints, None, &seals, 7),
            vec![LogFinding::TruncatedTail { from_leaf: 4, count: 1 }]
        );
        seals.insert(last);
        // A trusted witness other than the one that cosigned.
        let f = check(&log, &checkpoints, None, &seals, 9);
        assert!(f.iter().all(|f| matches!(f, LogFinding::Unwitnessed { cosigned: 0, .. })) && !f.is_empty(), "{f:?}");
        // The auditor holds a checkpoint of 5 leaves; the folder has 3.
        let (short, short_checkpoints, short_seals) = build(3, 7);
        let f = check(&short, &short_checkpoints, Some(&checkpoints[4]), &short_seals, 7);
        assert_eq!(f, vec![LogFinding::Behind { held: 5, found: 3 }]);
        // Another history of the same size, signed by the log key: the held checkpoint forks.
        let mut other = MerkleLog::default();
        let mut other_seals = BTreeSet::new();
        for i in 0..5 {
            let s = hex::encode(Sha256::digest(format!("other {i}")));
            other.append(seal_entry(&s)).unwrap();
            other_seals.insert(s);
        }
        let note = signed_checkpoint(DEFAULT_ORIGIN, &other, &NoteKey::new(DEFAULT_ORIGIN, key(1))).unwrap();
        let cosigned = Witness::new(key(7), None)
            .cosign(&note, &NoteKey::new(DEFAULT_ORIGIN, key(1)).verifying(), &[], 1)
            .unwrap();
        let f = check(&other, &[cosigned], Some(&checkpoints[4]), &other_seals, 7);
        assert!(matches!(&f[..], [LogFinding::Forked(_)]), "{f:?}");
        // The trail's seals are another history than the log's leaves.
        let f = check(&log, &checkpoints, None, &other_seals, 7);
        assert!(f.iter().any(|f| matches!(f, LogFinding::SealNotLogged { .. })), "{f:?}");
        assert!(f.iter().any(|f| matches!(f, LogFinding::TruncatedTail { from_leaf: 0, count: 5 })), "{f:?}");
    }

    #[test]
    fn a_witness_refuses_rollbacks_and_forks() {
        let log_key = NoteKey::new(DEFAULT_ORIGIN, key(1));
        let (log, _, _) = build(4, 7);
        let mut w = Witness::new(key(7), Some((4, log.root_at(4).unwrap())));
        let mut shorter = MerkleLog::from_entries(log.entries()[..3].to_vec()).unwrap();
        let note = signed_checkpoint(DEFAULT_ORIGIN, &shorter, &log_key).unwrap();
        // Behind the last cosigned size: the old size (4) is above the checkpoint's (3), a 400.
        assert!(matches!(w.cosign(&note, &log_key.verifying(), &[], 1), Err(WitnessError::BadRequest(_))));
        for i in 0..3 {
            shorter.append(seal_entry(&format!("fork {i}"))).unwrap();
        }
        let note = signed_checkpoint(DEFAULT_ORIGIN, &shorter, &log_key).unwrap();
        let proof = shorter.consistency(4).unwrap();
        assert!(matches!(w.cosign(&note, &log_key.verifying(), &proof, 1), Err(WitnessError::Inconsistent(_))));
        let forged = signed_checkpoint(DEFAULT_ORIGIN, &shorter, &NoteKey::new(DEFAULT_ORIGIN, key(2))).unwrap();
        assert_eq!(w.cosign(&forged, &log_key.verifying(), &proof, 1), Err(WitnessError::NotSignedByLog));
    }

    #[test]
    fn a_gap_between_cosignatures_longer_than_the_cadence_is_named() {
        // build() cosigns checkpoint i at 1,700,000,000 + i: one second apart.
        let (log, checkpoints, seals) = build(4, 7);
        let f = files(&log);
        let log_key = NoteKey::new(DEFAULT_ORIGIN, key(1)).verifying();
        let witnesses = [WitnessKey::new(key(7).verifying_key())];
        let run = |archived: &[Vec<u8>], freshness| {
            let trust = LogTrust { log: &log_key, witnesses: &witnesses, quorum: 1, freshness };
            verify_log(checkpoints.last().unwrap(), archived, None, &|p| f.get(p).cloned(), &seals, &trust)
        };
        assert_eq!(run(&checkpoints, Some((1, 1_700_000_003))), vec![]);
        // The archived checkpoint of size 2 deleted: 2 s between cosignatures, over a 1 s cadence.
        let holed = [checkpoints[0].clone(), checkpoints[2].clone(), checkpoints[3].clone()];
        assert_eq!(run(&holed, Some((1, 1_700_000_003))), vec![LogFinding::Stale { size: 3, gap: 2, max_gap: 1 }]);
        // Nothing cosigned for a minute: the log (or its witness) went quiet.
        assert_eq!(
            run(&checkpoints, Some((30, 1_700_000_063))),
            vec![LogFinding::Stale { size: 4, gap: 60, max_gap: 30 }]
        );
    }
}
