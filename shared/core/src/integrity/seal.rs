//! A seal: the statement "these records, with exactly these bytes, were made durable by one
//! invocation", as a digest that one KMS Sign call signs.
//!
//! The statement lists, in write order, each covered log event's id (its `eventId`, or
//! `eventId#part` for a part of an oversized record) and the SHA-256 of its exact message bytes,
//! under a header with the stream ARN, the first and last sequence numbers and the count. The
//! seal's id is the hex SHA-256 of that statement; the signature (ECDSA_SHA_256, message type RAW)
//! is over the 32 bytes of that digest. A statement over thousands of records does not fit one log
//! event comfortably, so it is stored in parts of [`ENTRIES_PER_PART`] entries, each part carrying
//! the header, the seal id and the signature: the verifier joins the parts and recomputes the id.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::audit::SCHEMA_VERSION;

/// Entries per seal part: ~115 bytes each, so a part stays near 230 KB, far below the 1 MB event.
pub const ENTRIES_PER_PART: usize = 2000;

/// The one signing algorithm seals use: ECDSA over P-256 with SHA-256 (KMS key spec
/// `ECC_NIST_P256`, signing algorithm `ECDSA_SHA_256`).
pub const SIGNING_ALGORITHM: &str = "ECDSA_SHA_256";

/// The first line of every statement: changes to the format change it.
const STATEMENT_FORMAT: &str = "flagtrail-seal/1";

/// One covered record: its id and the SHA-256 of its exact bytes (hex).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealEntry {
    /// `eventId`, or `eventId#part` for a part of an oversized record.
    pub id: String,
    /// Hex SHA-256 of the log event's message as written.
    pub sha256: String,
}

impl SealEntry {
    /// The entry of a log event with id `id` and message `message`.
    pub fn of(id: impl Into<String>, message: &str) -> Self {
        SealEntry { id: id.into(), sha256: hex::encode(Sha256::digest(message.as_bytes())) }
    }
}

/// A signature over a seal's digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SealSignature {
    /// The signing key as the signer names it (a KMS key ARN, or `local:<fingerprint>`):
    /// informational, the verifier checks against the keys the auditor trusts.
    pub key_id: String,
    /// Always [`SIGNING_ALGORITHM`].
    pub algorithm: String,
    /// The DER-encoded ECDSA signature, base64.
    pub value: String,
}

/// What one invocation made durable, before it is stored.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Seal {
    /// The stream the records came from (`eventSourceARN`), when known.
    pub stream_arn: Option<String>,
    /// Sequence number of the first covered record.
    pub first_sequence_number: Option<String>,
    /// Sequence number of the last covered record.
    pub last_sequence_number: Option<String>,
    /// The covered log events, in write order.
    pub entries: Vec<SealEntry>,
}

/// One stored part of a seal (`recordType: "seal"`). Unknown fields are refused, and the verifier
/// requires the stored text to be exactly this struct's serialization: a seal event carries
/// nothing that is not covered by its digest or its signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SealPart {
    /// The audit schema version.
    pub schema_version: u32,
    /// Always `seal`.
    pub record_type: String,
    /// Hex SHA-256 of the statement (see the module doc).
    pub seal_id: String,
    /// This part's number, from 1.
    pub part: usize,
    /// How many parts the seal has.
    pub parts: usize,
    /// See [`Seal::stream_arn`].
    pub stream_arn: Option<String>,
    /// See [`Seal::first_sequence_number`].
    pub first_sequence_number: Option<String>,
    /// See [`Seal::last_sequence_number`].
    pub last_sequence_number: Option<String>,
    /// Entries of the whole seal.
    pub count: usize,
    /// This part's entries.
    pub records: Vec<SealEntry>,
    /// The signature over the seal id's 32 bytes; absent without a signing key.
    pub signature: Option<SealSignature>,
}

impl Seal {
    /// The statement's SHA-256: what the seal id names and the signature signs.
    pub fn digest(&self) -> [u8; 32] {
        statement_digest(
            self.stream_arn.as_deref(),
            self.first_sequence_number.as_deref(),
            self.last_sequence_number.as_deref(),
            &self.entries,
        )
    }

    /// The stored parts (JSON documents, one log event each), carrying `signature` if any; none for
    /// a seal over nothing.
    pub fn to_parts(&self, signature: Option<&SealSignature>) -> Vec<String> {
        let seal_id = hex::encode(self.digest());
        let parts = self.entries.len().div_ceil(ENTRIES_PER_PART);
        self.entries
            .chunks(ENTRIES_PER_PART)
            .enumerate()
            .map(|(i, records)| {
                let part = SealPart {
                    schema_version: SCHEMA_VERSION,
                    record_type: "seal".into(),
                    seal_id: seal_id.clone(),
                    part: i + 1,
                    parts,
                    stream_arn: self.stream_arn.clone(),
                    first_sequence_number: self.first_sequence_number.clone(),
                    last_sequence_number: self.last_sequence_number.clone(),
                    count: self.entries.len(),
                    records: records.to_vec(),
                    signature: signature.cloned(),
                };
                serde_json::to_string(&part).expect("a seal part serializes")
            })
            .collect()
    }
}

/// The digest of a statement. Ids are length-prefixed, so no id can forge a line break.
pub(crate) fn statement_digest(
    stream_arn: Option<&str>,
    first: Option<&str>,
    last: Option<&str>,
    entries: &[SealEntry],
) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(STATEMENT_FORMAT.as_bytes());
    h.update(b"\n");
    for (name, value) in [("stream", stream_arn), ("first", first), ("last", last)] {
        match value {
            Some(v) => h.update(format!("{name} {}:{v}\n", v.len()).as_bytes()),
            None => h.update(format!("{name} -\n").as_bytes()),
        }
    }
    h.update(format!("count {}\n", entries.len()).as_bytes());
    for e in entries {
        h.update(format!("{}:{} {}\n", e.id.len(), e.id, e.sha256).as_bytes());
    }
    h.finalize().into()
}

/// The id a log event is sealed under: `eventId`, or `eventId#part` for a part record. `None`
/// for a seal or a message that is not an audit record.
pub fn record_id(record: &serde_json::Value) -> Option<String> {
    // Seals carry no eventId.
    let event_id = record["eventId"].as_str()?;
    match record["recordType"].as_str() {
        Some("part") => Some(format!("{event_id}#{}", record["part"].as_u64()?)),
        _ => Some(event_id.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seal(n: usize) -> Seal {
        Seal {
            stream_arn: Some("arn:aws:dynamodb:eu-west-1:1:table/t/stream/s".into()),
            first_sequence_number: Some("100".into()),
            last_sequence_number: Some("200".into()),
            entries: (0..n).map(|i| SealEntry::of(format!("e{i}"), &format!("{{\"i\":{i}}}"))).collect(),
        }
    }

    #[test]
    fn parts_carry_the_statement_and_split_it() {
        let s = seal(ENTRIES_PER_PART + 1);
        let parts = s.to_parts(None);
        assert_eq!(parts.len(), 2);
        let p: Vec<SealPart> = parts.iter().map(|p| serde_json::from_str(p).unwrap()).collect();
        assert_eq!(p[0].seal_id, hex::encode(s.digest()));
        assert_eq!((p[0].part, p[1].part, p[1].parts, p[1].count), (1, 2, 2, ENTRIES_PER_PART + 1));
        assert_eq!(p[0].records.len() + p[1].records.len(), ENTRIES_PER_PART + 1);
        assert!(parts.iter().all(|p| p.len() < 300_000), "a part stays far below the event limit");
    }

    #[test]
    fn the_digest_changes_with_any_field() {
        let base = seal(3);
        let mut other = base.clone();
        other.entries[1].sha256 = SealEntry::of("x", "changed").sha256;
        assert_ne!(base.digest(), other.digest());
        let mut other = base.clone();
        other.entries.swap(0, 1);
        assert_ne!(base.digest(), other.digest());
        let mut other = base.clone();
        other.last_sequence_number = Some("201".into());
        assert_ne!(base.digest(), other.digest());
        // An id cannot smuggle a line that reads as another entry.
        let a = Seal { entries: vec![SealEntry { id: "a 1\n2:bb".into(), sha256: "c".into() }], ..seal(0) };
        let b = Seal {
            entries: vec![
                SealEntry { id: "a".into(), sha256: "1".into() },
                SealEntry { id: "bb".into(), sha256: "c".into() },
            ],
            ..seal(0)
        };
        assert_ne!(a.digest(), b.digest());
    }

    #[test]
    fn record_ids_name_parts_apart() {
        let v = |s: &str| serde_json::from_str::<serde_json::Value>(s).unwrap();
        assert_eq!(record_id(&v(r#"{"recordType":"change","eventId":"e"}"#)).as_deref(), Some("e"));
        assert_eq!(record_id(&v(r#"{"recordType":"part","eventId":"e","part":2}"#)).as_deref(), Some("e#2"));
        assert_eq!(record_id(&v(r#"{"recordType":"seal","sealId":"x"}"#)), None);
    }
}
