//! The C2SP `tlog-witness` protocol, without I/O: the `add-checkpoint` request a log sends, the
//! checks a witness makes before it cosigns (in the order and with the HTTP statuses the spec
//! gives), the cosignature line it answers with, and how the log keeps only the cosignatures of
//! the witnesses it knows. Keys are named and exchanged as signed-note verifier keys ("vkeys",
//! `name+keyid+base64(type || key)`).
//!
//! Spec (c2sp.org/tlog-witness): the body is `old <size>`, up to 63 base64 consistency-proof lines,
//! an empty line, then the checkpoint note. Unknown origin → 404; no signature of a trusted log key
//! → 403; old size above the checkpoint's → 400; old size other than the last cosigned one → 409
//! with that size as a `text/x.tlog.size` body; a proof that does not verify → 422; same size with
//! another root → 409. Checking the old size and storing the new checkpoint must be atomic (the
//! caller's store does it: a conditional write).

use base64::Engine;
use ed25519_dalek::VerifyingKey;
use signed_note::Note;
use tlog_tiles::{check_tree, Checkpoint, Hash};

use super::tlog::{cosigned_message, key_id, NoteVerifyingKey, WitnessKey, ALG_COSIGNATURE_V1, ALG_ED25519};

const B64: base64::engine::general_purpose::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// At most this many proof lines (C2SP tlog-witness: "MUST NOT send more than 63").
pub const MAX_PROOF_LINES: usize = 63;
/// The content type of a 409's body (the witness's latest size).
pub const SIZE_CONTENT_TYPE: &str = "text/x.tlog.size";

/// An `add-checkpoint` request: the size the log believes the witness last cosigned, a
/// consistency proof from it, and the new checkpoint note.
#[derive(Debug, Clone, PartialEq)]
pub struct AddCheckpoint {
    /// The old size.
    pub old: u64,
    /// The consistency proof from `old` to the checkpoint's size (empty when `old` is 0).
    pub proof: Vec<Hash>,
    /// The checkpoint note (it may carry several signatures).
    pub checkpoint: Vec<u8>,
}

/// Why a witness did not cosign, each with the HTTP status the spec gives it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WitnessError {
    /// The body is not an add-checkpoint request (400).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The witness knows no log of this origin (404).
    #[error("unknown log origin {0:?}")]
    UnknownOrigin(String),
    /// No signature of a trusted key of the origin verifies (403).
    #[error("the checkpoint is not signed by a trusted key of its log")]
    NotSignedByLog,
    /// The old size is not the size the witness last cosigned (409; the body gives that size).
    #[error("the witness's latest cosigned size is {latest}, not the old size {old}")]
    Conflict {
        /// The witness's latest size.
        latest: u64,
        /// The old size of the request.
        old: u64,
    },
    /// The same size as the last cosigned checkpoint with another root: a fork (409).
    #[error("size {size} was cosigned with another root: a forked log")]
    Forked {
        /// The size.
        size: u64,
    },
    /// The proof does not show the checkpoint extends the last cosigned one (422).
    #[error("the consistency proof does not verify: {0}")]
    Inconsistent(String),
}

impl WitnessError {
    /// The HTTP status of the answer.
    pub fn status(&self) -> u16 {
        match self {
            Self::BadRequest(_) => 400,
            Self::UnknownOrigin(_) => 404,
            Self::NotSignedByLog => 403,
            Self::Conflict { .. } | Self::Forked { .. } => 409,
            Self::Inconsistent(_) => 422,
        }
    }

    /// The answer's content type and body.
    pub fn body(&self) -> (&'static str, Vec<u8>) {
        match self {
            Self::Conflict { latest, .. } => (SIZE_CONTENT_TYPE, format!("{latest}\n").into_bytes()),
            Self::Forked { size } => (SIZE_CONTENT_TYPE, format!("{size}\n").into_bytes()),
            other => ("text/plain; charset=utf-8", format!("{other}\n").into_bytes()),
        }
    }
}

impl AddCheckpoint {
    /// The request body.
    pub fn body(&self) -> Vec<u8> {
        let mut out = format!("old {}\n", self.old);
        for h in &self.proof {
            out.push_str(&B64.encode(h.0));
            out.push('\n');
        }
        out.push('\n');
        [out.into_bytes(), self.checkpoint.clone()].concat()
    }

    /// Parses a request body; anything malformed is a [`WitnessError::BadRequest`] naming what.
    pub fn parse(body: &[u8]) -> Result<Self, WitnessError> {
        let bad = |why: &str| WitnessError::BadRequest(why.to_owned());
        let text = std::str::from_utf8(body).map_err(|_| bad("the body is not UTF-8"))?;
        let (head, checkpoint) = text.split_once("\n\n").ok_or_else(|| bad("no empty line before the checkpoint"))?;
        let mut lines = head.split('\n');
        let old = lines
            .next()
            .and_then(|l| l.strip_prefix("old "))
            .ok_or_else(|| bad("the first line is not `old <size>`"))?;
        if old.is_empty() || (old.len() > 1 && old.starts_with('0')) || !old.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("the old size is not a decimal without leading zeroes"));
        }
        let old: u64 = old.parse().map_err(|_| bad("the old size is out of range"))?;
        let proof = lines
            .enumerate()
            .map(|(i, l)| {
                let bytes = B64.decode(l).map_err(|_| bad(&format!("proof line {} is not base64", i + 1)))?;
                <[u8; 32]>::try_from(bytes.as_slice())
                    .map(Hash)
                    .map_err(|_| bad(&format!("proof line {} is not a 32-byte hash", i + 1)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if proof.len() > MAX_PROOF_LINES {
            return Err(bad(&format!("{} proof lines, at most {MAX_PROOF_LINES}", proof.len())));
        }
        Ok(AddCheckpoint { old, proof, checkpoint: checkpoint.as_bytes().to_vec() })
    }
}

/// A checkpoint a witness has checked: its origin, size and root (what it stores as its latest).
#[derive(Debug, Clone, PartialEq)]
pub struct Witnessed {
    /// The log's origin.
    pub origin: String,
    /// The size.
    pub size: u64,
    /// The root hash.
    pub root: Hash,
    /// The checkpoint's text (the note body that the cosignature covers).
    pub text: Vec<u8>,
}

/// The origin line of a checkpoint note (to find the log and the witness's state for it).
pub fn checkpoint_origin(note: &[u8]) -> Result<String, WitnessError> {
    let parsed = Note::from_bytes(note).map_err(|e| WitnessError::BadRequest(format!("the checkpoint: {e}")))?;
    let checkpoint =
        Checkpoint::from_bytes(parsed.text()).map_err(|e| WitnessError::BadRequest(format!("the checkpoint: {e}")))?;
    Ok(checkpoint.origin().to_owned())
}

/// The witness's checks on `request`, given the keys of the logs it knows and its latest cosigned
/// (size, root) for the request's origin (`None`: never cosigned one). On success the caller stores
/// the result atomically (only if its latest is still what it passed here) and then cosigns.
pub fn check_add_checkpoint(
    request: &AddCheckpoint,
    logs: &[NoteVerifyingKey],
    latest: Option<(u64, Hash)>,
) -> Result<Witnessed, WitnessError> {
    let origin = checkpoint_origin(&request.checkpoint)?;
    let keys: Vec<Box<dyn signed_note::Verifier>> = logs
        .iter()
        .filter(|k| k.name() == origin)
        .map(|k| Box::new(k.clone()) as Box<dyn signed_note::Verifier>)
        .collect();
    if keys.is_empty() {
        return Err(WitnessError::UnknownOrigin(origin));
    }
    let note = Note::from_bytes(&request.checkpoint).map_err(|e| WitnessError::BadRequest(e.to_string()))?;
    // Signatures of unknown keys are ignored; none of a trusted key (or a bad one) is a 403.
    note.verify(&signed_note::VerifierList::new(keys)).map_err(|_| WitnessError::NotSignedByLog)?;
    let checkpoint = Checkpoint::from_bytes(note.text()).map_err(|e| WitnessError::BadRequest(e.to_string()))?;
    let (size, root) = (checkpoint.size(), *checkpoint.hash());
    if request.old > size {
        return Err(WitnessError::BadRequest(format!(
            "old size {} is above the checkpoint's size {size}",
            request.old
        )));
    }
    let (latest_size, latest_root) = latest.unwrap_or((0, Hash::default()));
    if request.old != latest_size {
        return Err(WitnessError::Conflict { latest: latest_size, old: request.old });
    }
    if request.old == 0 {
        if !request.proof.is_empty() {
            return Err(WitnessError::Inconsistent("the proof must be empty from size 0".into()));
        }
    } else if size == latest_size {
        if root != latest_root {
            return Err(WitnessError::Forked { size });
        }
    } else {
        check_tree(&request.proof, size, root, latest_size, latest_root)
            .map_err(|e| WitnessError::Inconsistent(e.to_string()))?;
    }
    Ok(Witnessed { origin, size, root, text: note.text().to_vec() })
}

/// What a witness's key signs for a cosignature/v1 at `time` (seconds) over a checkpoint `text`.
pub fn cosignature_message(time: u64, text: &[u8]) -> Vec<u8> {
    cosigned_message(time, text)
}

/// The cosignature/v1 line (`— name base64(keyid || time || signature)` and a newline) of the
/// witness `name` with public key `key`, from its Ed25519 `signature` of
/// [`cosignature_message`]`(time, text)`.
pub fn cosignature_line(name: &str, key: &VerifyingKey, time: u64, signature: &[u8]) -> String {
    let id = key_id(name, ALG_COSIGNATURE_V1, key);
    let blob = [id.to_be_bytes().as_slice(), time.to_be_bytes().as_slice(), signature].concat();
    format!("\u{2014} {name} {}\n", B64.encode(blob))
}

/// The checkpoint `note` with the cosignature lines of `witness` found in a witness's answer
/// `response` (lines of other keys are ignored, as the spec asks); an error unless one of them is a
/// valid cosignature of `witness` on this checkpoint.
pub fn add_cosignatures(note: &[u8], response: &[u8], witness: &WitnessKey) -> Result<Vec<u8>, String> {
    let response = std::str::from_utf8(response).map_err(|_| "the witness's answer is not UTF-8".to_owned())?;
    let prefix = format!("\u{2014} {} ", witness.0.name());
    let lines: String = response.lines().filter(|l| l.starts_with(&prefix)).map(|l| format!("{l}\n")).collect();
    let merged = [note, lines.as_bytes()].concat();
    let parsed = Note::from_bytes(&merged).map_err(|e| format!("the witness's answer is not a signature line: {e}"))?;
    match witness.cosigned_at(&parsed) {
        Some(_) => Ok(merged),
        None => Err(format!("no valid cosignature of {} on this checkpoint in the answer", witness.0.name())),
    }
}

/// A signed-note verifier key: `name+keyid+base64(type || key)`.
fn vkey(name: &str, alg: u8, key: &VerifyingKey) -> String {
    let id = key_id(name, alg, key);
    format!("{name}+{id:08x}+{}", B64.encode([[alg].as_slice(), key.as_bytes().as_slice()].concat()))
}

fn parse_vkey(vkey: &str, alg: u8) -> Result<(String, VerifyingKey), String> {
    let bad = |why: &str| format!("verifier key {vkey:?}: {why}");
    let mut parts = vkey.trim().splitn(3, '+');
    let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad("not name+keyid+key"));
    };
    let bytes = B64.decode(key).map_err(|_| bad("the key is not base64"))?;
    let (&kind, key) = bytes.split_first().ok_or_else(|| bad("empty key"))?;
    if kind != alg {
        return Err(bad(&format!("key type 0x{kind:02x}, expected 0x{alg:02x}")));
    }
    let key = <[u8; 32]>::try_from(key).map_err(|_| bad("not a 32-byte Ed25519 key"))?;
    let key = VerifyingKey::from_bytes(&key).map_err(|_| bad("not an Ed25519 point"))?;
    if u32::from_str_radix(id, 16).ok() != Some(key_id(name, alg, &key)) || id.len() != 8 {
        return Err(bad("the key id does not match the name and key"));
    }
    Ok((name.to_owned(), key))
}

impl NoteVerifyingKey {
    /// The vkey of a log key (Ed25519, type 0x01).
    pub fn vkey(&self) -> String {
        vkey(self.name(), ALG_ED25519, self.key())
    }

    /// A log key from its vkey.
    pub fn from_vkey(s: &str) -> Result<Self, String> {
        parse_vkey(s, ALG_ED25519).map(|(name, key)| NoteVerifyingKey::new(name, key))
    }
}

impl WitnessKey {
    /// A witness key going by `name`.
    pub fn named(name: impl Into<String>, key: VerifyingKey) -> Self {
        WitnessKey(NoteVerifyingKey::new(name, key))
    }

    /// The vkey of a witness (cosignature/v1, type 0x04).
    pub fn vkey(&self) -> String {
        vkey(self.0.name(), ALG_COSIGNATURE_V1, self.0.key())
    }

    /// A witness key from its vkey.
    pub fn from_vkey(s: &str) -> Result<Self, String> {
        parse_vkey(s, ALG_COSIGNATURE_V1).map(|(name, key)| WitnessKey::named(name, key))
    }
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::{Signer, SigningKey};

    use super::*;
    use crate::integrity::tlog::{seal_entry, signed_checkpoint, MerkleLog, NoteKey};

    const ORIGIN: &str = "example.test/log";

    fn log_key() -> NoteKey {
        NoteKey::new(ORIGIN, SigningKey::from_bytes(&[1; 32]))
    }

    fn log(n: usize) -> MerkleLog {
        MerkleLog::from_entries((0..n).map(|i| seal_entry(&format!("seal {i}")))).unwrap()
    }

    fn request(log: &MerkleLog, old: u64, key: &NoteKey) -> AddCheckpoint {
        let proof = if old > 0 { log.consistency(old).unwrap() } else { vec![] };
        AddCheckpoint { old, proof, checkpoint: signed_checkpoint(ORIGIN, log, key).unwrap() }
    }

    #[test]
    fn a_request_reads_back_as_sent_and_malformed_bodies_are_named() {
        let req = request(&log(20), 7, &log_key());
        assert_eq!(req.proof.len(), 6, "from 7 to 20");
        assert_eq!(AddCheckpoint::parse(&req.body()).unwrap(), req);
        let checkpoint = String::from_utf8(req.checkpoint.clone()).unwrap();
        for (body, why) in [
            (format!("old 07\n\n{checkpoint}"), "leading zeroes"),
            (format!("size 7\n\n{checkpoint}"), "`old <size>`"),
            (format!("old 7\nnot-base64!\n\n{checkpoint}"), "proof line 1 is not base64"),
            (format!("old 7\nAAAA\n\n{checkpoint}"), "proof line 1 is not a 32-byte hash"),
            ("old 7\n".to_owned(), "no empty line"),
        ] {
            match AddCheckpoint::parse(body.as_bytes()) {
                Err(WitnessError::BadRequest(m)) => assert!(m.contains(why), "{m} lacks {why}"),
                other => panic!("{body:?} gave {other:?}"),
            }
        }
        let long = format!("old 7\n{}\n{checkpoint}", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n".repeat(64));
        assert!(
            matches!(AddCheckpoint::parse(long.as_bytes()), Err(WitnessError::BadRequest(m)) if m.contains("64 proof lines"))
        );
    }

    #[test]
    fn each_refusal_has_the_status_the_spec_gives() {
        let (key, logs) = (log_key(), [log_key().verifying()]);
        let l = log(10);
        let at5 = Some((5, l.root_at(5).unwrap()));
        // First contact: old 0 from a witness that never cosigned.
        let first = check_add_checkpoint(&request(&l, 0, &key), &logs, None).unwrap();
        assert_eq!((first.origin.as_str(), first.size), (ORIGIN, 10));
        // A good extension from 5.
        assert_eq!(check_add_checkpoint(&request(&l, 5, &key), &logs, at5).unwrap().size, 10);
        // The witness is at 5; the log says 3: 409 with 5 as the body.
        let e = check_add_checkpoint(&request(&l, 3, &key), &logs, at5).unwrap_err();
        assert_eq!((e.status(), e.body()), (409, (SIZE_CONTENT_TYPE, b"5\n".to_vec())));
        // Old above the checkpoint's size: 400.
        let mut high = request(&l, 5, &key);
        high.old = 11;
        assert_eq!(check_add_checkpoint(&high, &logs, at5).unwrap_err().status(), 400);
        // Another origin: 404. Another key of this origin: 403.
        let other = NoteKey::new("other.test/log", SigningKey::from_bytes(&[1; 32]));
        let foreign = AddCheckpoint {
            old: 0,
            proof: vec![],
            checkpoint: signed_checkpoint("other.test/log", &l, &other).unwrap(),
        };
        assert_eq!(check_add_checkpoint(&foreign, &logs, None).unwrap_err().status(), 404);
        let forged = request(&l, 5, &NoteKey::new(ORIGIN, SigningKey::from_bytes(&[2; 32])));
        assert_eq!(check_add_checkpoint(&forged, &logs, at5).unwrap_err(), WitnessError::NotSignedByLog);
        // A fork of the first 5 leaves: the proof does not verify, 422.
        let mut fork = MerkleLog::from_entries(l.entries()[..4].to_vec()).unwrap();
        for i in 0..6 {
            fork.append(seal_entry(&format!("fork {i}"))).unwrap();
        }
        let mut forked = request(&fork, 5, &key);
        assert_eq!(check_add_checkpoint(&forked, &logs, at5).unwrap_err().status(), 422);
        // The same size with another root: 409, not a conflict to retry.
        forked = request(&MerkleLog::from_entries(fork.entries()[..5].to_vec()).unwrap(), 5, &key);
        assert_eq!(check_add_checkpoint(&forked, &logs, at5).unwrap_err(), WitnessError::Forked { size: 5 });
        // A non-empty proof from 0.
        let mut from0 = request(&l, 0, &key);
        from0.proof = l.consistency(5).unwrap();
        assert_eq!(check_add_checkpoint(&from0, &logs, None).unwrap_err().status(), 422);
    }

    #[test]
    fn a_cosignature_line_verifies_and_other_lines_are_ignored() {
        let l = log(3);
        let note = signed_checkpoint(ORIGIN, &l, &log_key()).unwrap();
        let text = Note::from_bytes(&note).unwrap().text().to_vec();
        let w = SigningKey::from_bytes(&[7; 32]);
        let witness = WitnessKey::named("witness.test/w1", w.verifying_key());
        let sig = w.sign(&cosignature_message(1_700_000_000, &text)).to_bytes();
        let line = cosignature_line("witness.test/w1", &w.verifying_key(), 1_700_000_000, &sig);
        let stranger = SigningKey::from_bytes(&[8; 32]);
        let other = cosignature_line("witness.test/w2", &stranger.verifying_key(), 1, &[0; 64]);
        let merged = add_cosignatures(&note, format!("{other}{line}").as_bytes(), &witness).unwrap();
        assert_eq!(merged, [note.as_slice(), line.as_bytes()].concat());
        assert_eq!(witness.cosigned_at(&Note::from_bytes(&merged).unwrap()), Some(1_700_000_000));
        // A signature over another time does not pass as this witness's cosignature.
        let wrong = cosignature_line("witness.test/w1", &w.verifying_key(), 1_700_000_001, &sig);
        assert!(add_cosignatures(&note, wrong.as_bytes(), &witness).is_err());
        // Vkeys read back, and a tampered id is refused.
        assert_eq!(WitnessKey::from_vkey(&witness.vkey()).unwrap().vkey(), witness.vkey());
        let logv = log_key().verifying().vkey();
        assert_eq!(NoteVerifyingKey::from_vkey(&logv).unwrap().vkey(), logv);
        assert_eq!(logv, signed_note::new_ed25519_verifier_key(ORIGIN, &log_key().verifying().key().clone()));
        assert!(WitnessKey::from_vkey(&logv).is_err(), "a log vkey is not a witness vkey");
        let tampered = format!("{ORIGIN}+00000000+{}", logv.splitn(3, '+').nth(2).unwrap());
        assert!(NoteVerifyingKey::from_vkey(&tampered).unwrap_err().contains("key id"));
    }
}
