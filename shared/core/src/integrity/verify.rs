//! Verifying a trail: every record sealed with its exact bytes, every sealed record present, every
//! seal whole and (with trusted keys) signed, and per-item version continuity.
//!
//! Records are matched to seals by the SHA-256 of their bytes, so duplicates (a batch written again
//! after a retry) verify as long as one valid seal covers those bytes. A record whose id a valid
//! seal names with other bytes is *edited*; a sealed entry whose bytes appear nowhere is *missing*;
//! a record no valid seal covers is *unsealed* (inserted, or written by an invocation that died
//! before its seal — redelivery writes it again under a seal, see docs/integrity.md).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::keys::SealKeys;
use super::seal::{record_id, statement_digest, SealEntry, SealPart, SealSignature};
use crate::completeness::{continuity, Finding, TrailRecord};

/// One way the trail is not what its seals say; sorted seals first (a bad seal explains the
/// unsealed records after it), then records, then continuity.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum IntegrityFinding {
    /// A seal whose parts do not hash to its id, or disagree with each other.
    SealAltered {
        /// The seal.
        seal_id: String,
        /// What disagrees.
        reason: String,
    },
    /// A seal with parts missing.
    SealIncomplete {
        /// The seal.
        seal_id: String,
        /// The missing part numbers.
        missing: Vec<usize>,
    },
    /// A seal whose signature no trusted key verifies.
    BadSignature {
        /// The seal.
        seal_id: String,
        /// Why.
        reason: String,
    },
    /// A seal without a signature, when keys were given.
    Unsigned {
        /// The seal.
        seal_id: String,
    },
    /// A record whose id a valid seal names, with other bytes.
    Edited {
        /// The record's id.
        id: String,
        /// The seal naming it.
        seal_id: String,
    },
    /// A sealed record that is not in the trail.
    Missing {
        /// The record's id.
        id: String,
        /// The seal naming it.
        seal_id: String,
    },
    /// A record no valid seal covers.
    Unsealed {
        /// The record's id (or its position, when it has none).
        id: String,
    },
    /// A message that is not a JSON document.
    Unreadable {
        /// Its position in the trail as read.
        position: usize,
        /// Why.
        reason: String,
    },
    /// A completeness finding (a version gap names the records missing between two versions).
    Continuity(Finding),
    /// The transparency log of the seals disagrees with the trail or its keys and witnesses.
    Log(super::tlog::LogFinding),
}

impl fmt::Display for IntegrityFinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Edited { id, seal_id } => {
                write!(f, "edited: record {id} differs from the bytes seal {} covers", short(seal_id))
            }
            Self::Missing { id, seal_id } => {
                write!(f, "missing: record {id}, covered by seal {}, is not in the trail", short(seal_id))
            }
            Self::Unsealed { id } => write!(f, "unsealed: record {id} is covered by no valid seal (inserted?)"),
            Self::Unreadable { position, reason } => write!(f, "unreadable: message {position}: {reason}"),
            Self::SealAltered { seal_id, reason } => write!(f, "seal altered: seal {}: {reason}", short(seal_id)),
            Self::SealIncomplete { seal_id, missing } => {
                write!(f, "seal incomplete: seal {} lacks part(s) {missing:?}", short(seal_id))
            }
            Self::BadSignature { seal_id, reason } => {
                write!(f, "bad signature: seal {}: {reason}", short(seal_id))
            }
            Self::Unsigned { seal_id } => write!(f, "unsigned: seal {} carries no signature", short(seal_id)),
            Self::Continuity(finding) => write!(f, "{finding}"),
            Self::Log(finding) => write!(f, "{finding}"),
        }
    }
}

impl IntegrityFinding {
    /// A stable name of the finding's kind, for machine-readable output.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::SealAltered { .. } => "sealAltered",
            Self::SealIncomplete { .. } => "sealIncomplete",
            Self::BadSignature { .. } => "badSignature",
            Self::Unsigned { .. } => "unsigned",
            Self::Edited { .. } => "edited",
            Self::Missing { .. } => "missing",
            Self::Unsealed { .. } => "unsealed",
            Self::Unreadable { .. } => "unreadable",
            Self::Continuity(_) => "continuity",
            Self::Log(f) => f.kind(),
        }
    }
}

fn short(seal_id: &str) -> &str {
    &seal_id[..seal_id.len().min(16)]
}

/// What a verification found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Audit records read (seals excluded), duplicates included.
    pub records: usize,
    /// Records read more than once (same bytes).
    pub duplicates: usize,
    /// Distinct seals read.
    pub seals: usize,
    /// Seals whose signature a trusted key verified.
    pub signatures_verified: usize,
    /// Every finding, sorted.
    pub findings: Vec<IntegrityFinding>,
    /// The id of every seal read (whole or not): what the transparency log's leaves must name.
    pub seal_ids: std::collections::BTreeSet<String>,
}

impl VerifyReport {
    /// True when nothing was found.
    pub fn intact(&self) -> bool {
        self.findings.is_empty()
    }

    /// The findings about seals and record bytes, continuity apart (a trail that starts mid-history
    /// has version gaps its seals say nothing about).
    pub fn seal_findings(&self) -> impl Iterator<Item = &IntegrityFinding> {
        self.findings.iter().filter(|f| !matches!(f, IntegrityFinding::Continuity(_)))
    }
}

/// Verifies `messages` (the trail's log event messages, any order). With `keys`, every seal must
/// carry a signature one of them verifies; without, signatures are not checked (digests only).
pub fn verify(messages: &[String], keys: Option<&SealKeys>) -> VerifyReport {
    let mut v = Verifier::default();
    for m in messages {
        v.push(m);
    }
    v.finish(keys)
}

/// A verification fed one message at a time, holding per distinct record only its digest, id and
/// what continuity needs (~200 bytes), not the message: a trail of millions of records is read
/// in bounded memory.
#[derive(Default)]
pub struct Verifier {
    position: usize,
    report: VerifyReport,
    findings: Vec<IntegrityFinding>,
    seal_parts: BTreeMap<String, Vec<SealPart>>,
    /// Each distinct record: its digest → (id, its change record if it is one).
    records: HashMap<[u8; 32], (String, Option<TrailRecord>)>,
    /// Part records (an oversized record split), joined back for continuity at the end.
    parts: BTreeMap<String, (u64, BTreeMap<u64, String>)>,
}

impl Verifier {
    /// Takes the next message of the trail.
    pub fn push(&mut self, message: &str) {
        self.push_parsed(message, serde_json::from_str(message));
    }

    /// Takes the next message with its parse, for a caller that parsed it already (one parse per
    /// message when a report reads the same pass).
    pub fn push_parsed(&mut self, message: &str, parsed: Result<Value, serde_json::Error>) {
        let position = self.position;
        self.position += 1;
        let value = match parsed {
            Ok(v) => v,
            Err(e) => {
                self.findings.push(IntegrityFinding::Unreadable { position, reason: e.to_string() });
                return;
            }
        };
        if value["recordType"] == "seal" {
            let seal_id = value["sealId"].as_str().unwrap_or("?").to_owned();
            match serde_json::from_value::<SealPart>(value) {
                // Byte for byte what the writer serializes: no field outside the digest and the
                // signature can be added or changed in a seal event.
                Ok(part) if serde_json::to_string(&part).is_ok_and(|t| t == *message) => {
                    self.seal_parts.entry(part.seal_id.clone()).or_default().push(part)
                }
                Ok(_) => self.findings.push(IntegrityFinding::SealAltered {
                    seal_id,
                    reason: format!("message {position} is not the seal's own serialization (edited text)"),
                }),
                Err(e) => self
                    .findings
                    .push(IntegrityFinding::SealAltered { seal_id, reason: format!("message {position}: {e}") }),
            }
            return;
        }
        self.report.records += 1;
        let digest: [u8; 32] = Sha256::digest(message.as_bytes()).into();
        if self.records.contains_key(&digest) {
            self.report.duplicates += 1;
            return;
        }
        if value["recordType"] == "part" {
            if let (Some(id), Some(n), Some(of), Some(chunk)) =
                (value["eventId"].as_str(), value["part"].as_u64(), value["parts"].as_u64(), value["chunk"].as_str())
            {
                let entry = self.parts.entry(id.to_owned()).or_insert_with(|| (of, BTreeMap::new()));
                entry.1.insert(n, chunk.to_owned());
            }
        }
        let id = record_id(&value).unwrap_or_else(|| format!("message {position}"));
        self.records.insert(digest, (id, TrailRecord::from_json(&value)));
    }

    /// The report over everything pushed.
    pub fn finish(self, keys: Option<&SealKeys>) -> VerifyReport {
        let Verifier { mut report, mut findings, seal_parts, records, parts, .. } = self;
        report.seals = seal_parts.len();
        report.seal_ids = seal_parts.keys().cloned().collect();

        // Entries of the seals that are whole, consistent and (with keys) signed.
        let mut sealed: Vec<(SealEntry, &str)> = Vec::new();
        for (seal_id, parts) in &seal_parts {
            match check_seal(seal_id, parts, keys) {
                Ok(entries) => {
                    report.signatures_verified += usize::from(keys.is_some());
                    sealed.extend(entries.into_iter().map(|e| (e, seal_id.as_str())));
                }
                Err(f) => findings.push(f),
            }
        }

        let covered: HashSet<[u8; 32]> = sealed.iter().filter_map(|(e, _)| digest_of(&e.sha256)).collect();
        let mut sealed_ids: HashMap<&str, &str> = HashMap::new();
        for (e, seal_id) in &sealed {
            sealed_ids.insert(e.id.as_str(), seal_id);
        }
        let present_ids: HashSet<&str> = records.values().map(|(id, _)| id.as_str()).collect();
        for (digest, (id, _)) in &records {
            if covered.contains(digest) {
                continue;
            }
            findings.push(match sealed_ids.get(id.as_str()) {
                Some(seal_id) => IntegrityFinding::Edited { id: id.clone(), seal_id: (*seal_id).to_owned() },
                None => IntegrityFinding::Unsealed { id: id.clone() },
            });
        }
        let mut reported = HashSet::new();
        for (e, seal_id) in &sealed {
            let present = digest_of(&e.sha256).is_some_and(|d| records.contains_key(&d));
            if !present && !present_ids.contains(e.id.as_str()) && reported.insert(&e.id) {
                findings.push(IntegrityFinding::Missing { id: e.id.clone(), seal_id: (*seal_id).to_owned() });
            }
        }

        let mut changes: Vec<TrailRecord> = records.into_values().filter_map(|(_, r)| r).collect();
        changes.extend(joined_parts(parts));
        findings.extend(continuity(&changes).into_iter().map(IntegrityFinding::Continuity));
        findings.sort();
        findings.dedup();
        report.findings = findings;
        report
    }
}

fn digest_of(hex_digest: &str) -> Option<[u8; 32]> {
    hex::decode(hex_digest).ok()?.try_into().ok()
}

/// A seal's entries if it is whole, consistent and (with keys) signed by a trusted key.
///
/// The same seal may be stored more than once with different signatures: a redelivered batch is
/// sealed again with the same digest, and ECDSA signatures differ on every Sign call. So parts are
/// compared without their signature, and with keys every distinct signature must verify.
fn check_seal(seal_id: &str, parts: &[SealPart], keys: Option<&SealKeys>) -> Result<Vec<SealEntry>, IntegrityFinding> {
    let altered = |reason: String| IntegrityFinding::SealAltered { seal_id: seal_id.to_owned(), reason };
    let unsigned = |p: &SealPart| SealPart { signature: None, ..p.clone() };
    let first = &parts[0];
    let mut by_number: BTreeMap<usize, SealPart> = BTreeMap::new();
    for p in parts {
        let same_header = p.parts == first.parts
            && p.count == first.count
            && p.stream_arn == first.stream_arn
            && p.first_sequence_number == first.first_sequence_number
            && p.last_sequence_number == first.last_sequence_number;
        if !same_header {
            return Err(altered(format!("part {} disagrees with part {} on the header", p.part, first.part)));
        }
        if let Some(seen) = by_number.insert(p.part, unsigned(p)) {
            if seen != unsigned(p) {
                return Err(altered(format!("two different copies of part {}", p.part)));
            }
        }
    }
    let missing: Vec<usize> = (1..=first.parts).filter(|n| !by_number.contains_key(n)).collect();
    if !missing.is_empty() {
        return Err(IntegrityFinding::SealIncomplete { seal_id: seal_id.to_owned(), missing });
    }
    if by_number.len() != first.parts {
        return Err(altered(format!("parts numbered beyond {}", first.parts)));
    }
    let entries: Vec<SealEntry> = by_number.values().flat_map(|p| p.records.iter().cloned()).collect();
    if entries.len() != first.count {
        return Err(altered(format!("{} entries where the seal counts {}", entries.len(), first.count)));
    }
    let digest = statement_digest(
        first.stream_arn.as_deref(),
        first.first_sequence_number.as_deref(),
        first.last_sequence_number.as_deref(),
        &entries,
    );
    if hex::encode(digest) != seal_id {
        return Err(altered("its entries do not hash to its id".into()));
    }
    if let Some(keys) = keys {
        let mut signatures: Vec<&Option<SealSignature>> = parts.iter().map(|p| &p.signature).collect();
        signatures.dedup();
        for signature in signatures {
            let Some(signature) = signature else {
                return Err(IntegrityFinding::Unsigned { seal_id: seal_id.to_owned() });
            };
            keys.check(signature, &digest)
                .map_err(|reason| IntegrityFinding::BadSignature { seal_id: seal_id.to_owned(), reason })?;
        }
    }
    Ok(entries)
}

/// Change records of oversized records, joined back from their complete parts.
fn joined_parts(parts: BTreeMap<String, (u64, BTreeMap<u64, String>)>) -> Vec<TrailRecord> {
    parts
        .into_values()
        .filter(|(of, chunks)| chunks.len() as u64 == *of)
        .filter_map(|(_, chunks)| {
            let whole: String = chunks.into_values().collect();
            serde_json::from_str(&whole).ok().as_ref().and_then(TrailRecord::from_json)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integrity::keys::SealKey;
    use crate::integrity::seal::{Seal, SealSignature, SIGNING_ALGORITHM};
    use base64::Engine;
    use p256::ecdsa::signature::{RandomizedSigner, Signer};
    use p256::ecdsa::{Signature, SigningKey};

    fn change(event_id: &str, item: &str, version: u64, name: &str) -> String {
        serde_json::json!({
            "schemaVersion": 2, "recordType": "change", "eventId": event_id, "eventName": name,
            "sequenceNumber": format!("{:04}", event_id.trim_start_matches('e').parse::<u32>().unwrap()),
            "keys": {"PK": item, "SK": "FLAG"}, "itemVersion": version, "actor": "a@example.com"
        })
        .to_string()
    }

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32].into()).unwrap()
    }

    /// A sealed batch: its records, then its seal parts, signed with `signer` if any.
    fn sealed(records: Vec<String>, signer: Option<&SigningKey>) -> Vec<String> {
        let seal = Seal {
            stream_arn: Some("arn:s".into()),
            first_sequence_number: Some("1".into()),
            last_sequence_number: Some("9".into()),
            entries: records
                .iter()
                .map(|m| SealEntry::of(record_id(&serde_json::from_str(m).unwrap()).unwrap(), m))
                .collect(),
        };
        let signature = signer.map(|k| {
            let sig: Signature = k.sign(&seal.digest());
            SealSignature {
                key_id: "local:test".into(),
                algorithm: SIGNING_ALGORITHM.into(),
                value: base64::engine::general_purpose::STANDARD.encode(sig.to_der().as_bytes()),
            }
        });
        let mut out = records;
        out.extend(seal.to_parts(signature.as_ref()));
        out
    }

    fn trail(signer: Option<&SigningKey>) -> Vec<String> {
        let mut t = sealed(vec![change("e1", "f1", 1, "INSERT"), change("e2", "f2", 1, "INSERT")], signer);
        t.extend(sealed(vec![change("e3", "f1", 2, "MODIFY"), change("e4", "f2", 2, "MODIFY")], signer));
        t.extend(sealed(vec![change("e5", "f1", 3, "MODIFY"), change("e6", "f2", 3, "MODIFY")], signer));
        t
    }

    fn trusted(seed: u8) -> SealKeys {
        SealKeys(vec![SealKey::from_key("test", *key(seed).verifying_key())])
    }

    fn position(t: &[String], event_id: &str) -> usize {
        t.iter().position(|m| m.contains(&format!("\"eventId\":\"{event_id}\""))).unwrap()
    }

    #[test]
    fn an_untouched_trail_verifies_with_and_without_keys() {
        let t = trail(Some(&key(1)));
        let r = verify(&t, Some(&trusted(1)));
        assert!(r.intact(), "{:?}", r.findings);
        assert_eq!((r.records, r.seals, r.signatures_verified, r.duplicates), (6, 3, 3, 0));
        assert!(verify(&t, None).intact());
        // Redelivery: the first batch written again with a second seal; duplicates verify.
        let mut again = t.clone();
        again.extend(sealed(vec![change("e1", "f1", 1, "INSERT"), change("e2", "f2", 1, "INSERT")], Some(&key(1))));
        let r = verify(&again, Some(&trusted(1)));
        assert!(r.intact(), "{:?}", r.findings);
        assert_eq!(r.duplicates, 2);
    }

    /// What a data-protection policy does to subscription data (the archive's feed): "the sensitive
    /// data is replaced by asterisks". Every record naming an e-mail actor fails its seal, which is
    /// why, with `dataProtection`, the audit function writes the archive itself.
    #[test]
    fn masked_records_fail_their_seal() {
        let t = trail(Some(&key(1)));
        let masked: Vec<String> = t.iter().map(|m| m.replace("a@example.com", "*************")).collect();
        let r = verify(&masked, Some(&trusted(1)));
        let edited = r.findings.iter().filter(|f| matches!(f, IntegrityFinding::Edited { .. })).count();
        assert_eq!((edited, r.findings.len()), (6, 6), "{:?}", r.findings);
    }

    #[test]
    fn each_tampering_is_named() {
        let keys = trusted(1);
        let t = trail(Some(&key(1)));
        let check = |t: &[String]| verify(t, Some(&keys)).findings;

        let mut edited = t.clone();
        let i = position(&edited, "e3");
        edited[i] = edited[i].replace("a@example.com", "b@example.com");
        assert!(matches!(&check(&edited)[..], [IntegrityFinding::Edited { id, .. }] if id == "e3"));

        let mut deleted = t.clone();
        deleted.remove(position(&deleted, "e4"));
        let f = check(&deleted);
        assert!(matches!(&f[0], IntegrityFinding::Missing { id, .. } if id == "e4"), "{f:?}");
        // f2 goes v1 → v3 without e4: continuity says so too.
        assert!(matches!(&f[1..], [IntegrityFinding::Continuity(Finding::VersionGap { from: 1, to: 3, .. })]));

        let mut inserted = t.clone();
        inserted.push(change("e7", "f1", 4, "MODIFY"));
        assert!(matches!(&check(&inserted)[..], [IntegrityFinding::Unsealed { id }] if id == "e7"));

        let mut no_seal = t.clone();
        let s = no_seal.iter().rposition(|m| m.contains("\"recordType\":\"seal\"")).unwrap();
        no_seal.remove(s);
        let f = check(&no_seal);
        assert_eq!(f.len(), 2, "{f:?}");
        assert!(f.iter().all(|f| matches!(f, IntegrityFinding::Unsealed { id } if id == "e5" || id == "e6")));

        let mut swapped = t.clone();
        let seals: Vec<usize> =
            (0..swapped.len()).filter(|&i| swapped[i].contains("\"recordType\":\"seal\"")).collect();
        let sig = |m: &str| serde_json::from_str::<SealPart>(m).unwrap().signature.unwrap().value;
        let (a, b) = (sig(&swapped[seals[0]]), sig(&swapped[seals[1]]));
        swapped[seals[1]] = swapped[seals[1]].replace(&b, &a);
        let f = check(&swapped);
        assert!(matches!(&f[0], IntegrityFinding::BadSignature { .. }), "{f:?}");
        assert!(f[1..].iter().all(|f| matches!(f, IntegrityFinding::Unsealed { id } if id == "e3" || id == "e4")));

        // A whole batch and its seal gone: the versions on either side of it no longer meet.
        let middle: Vec<String> = t
            .iter()
            .filter(|m| !m.contains("\"eventId\":\"e3\"") && !m.contains("\"eventId\":\"e4\""))
            .filter(|m| !m.contains(&serde_json::from_str::<SealPart>(&t[seals[1]]).unwrap().seal_id))
            .cloned()
            .collect();
        let f = check(&middle);
        assert_eq!(f.len(), 2, "{f:?}");
        assert!(f
            .iter()
            .all(|f| matches!(f, IntegrityFinding::Continuity(Finding::VersionGap { from: 1, to: 3, .. }))));
    }

    #[test]
    fn signatures_need_a_trusted_key() {
        let t = trail(Some(&key(1)));
        let f = verify(&t, Some(&trusted(2))).findings;
        assert_eq!(f.iter().filter(|f| matches!(f, IntegrityFinding::BadSignature { .. })).count(), 3);
        let unsigned = trail(None);
        assert!(verify(&unsigned, None).intact());
        let f = verify(&unsigned, Some(&trusted(1))).findings;
        assert_eq!(f.iter().filter(|f| matches!(f, IntegrityFinding::Unsigned { .. })).count(), 3);
        // Digests alone still catch an edit (not a rewrite of record and seal together).
        let mut edited = unsigned.clone();
        edited[0] = edited[0].replace("a@example.com", "x@example.com");
        assert!(matches!(&verify(&edited, None).findings[..], [IntegrityFinding::Edited { id, .. }] if id == "e1"));
    }

    #[test]
    fn a_batch_sealed_twice_with_different_signatures_verifies() {
        // KMS's ECDSA signatures differ on every call; a redelivered batch is sealed again with the
        // same digest and another signature. Both copies verify; a forged one does not.
        let records = vec![change("e1", "f1", 1, "INSERT")];
        let first = sealed(records.clone(), Some(&key(1)));
        let mut second = first.clone();
        let part: SealPart = serde_json::from_str(&second[1]).unwrap();
        let digest: [u8; 32] = hex::decode(&part.seal_id).unwrap().try_into().unwrap();
        let other: Signature = key(1).sign_with_rng(&mut FixedRng(7), &digest);
        let mut resigned = part.clone();
        resigned.signature.as_mut().unwrap().value =
            base64::engine::general_purpose::STANDARD.encode(other.to_der().as_bytes());
        assert_ne!(resigned.signature, part.signature, "a second, different signature");
        second[1] = serde_json::to_string(&resigned).unwrap();
        let both: Vec<String> = first.iter().chain(&second).cloned().collect();
        let r = verify(&both, Some(&trusted(1)));
        assert!(r.intact(), "{:?}", r.findings);
        assert_eq!(r.duplicates, 1);
        let mut forged = resigned.clone();
        forged.signature.as_mut().unwrap().value =
            serde_json::from_str::<SealPart>(&sealed(vec![change("e9", "f9", 1, "INSERT")], Some(&key(1)))[1])
                .unwrap()
                .signature
                .unwrap()
                .value;
        let with_forged: Vec<String> =
            first.iter().cloned().chain([records[0].clone(), serde_json::to_string(&forged).unwrap()]).collect();
        let f = verify(&with_forged, Some(&trusted(1))).findings;
        assert!(matches!(&f[0], IntegrityFinding::BadSignature { .. }), "{f:?}");
    }

    #[test]
    fn a_seal_event_with_added_or_edited_text_is_altered() {
        let t = trail(Some(&key(1)));
        let s = t.iter().position(|m| m.contains("\"recordType\":\"seal\"")).unwrap();
        let mut added = t.clone();
        added[s] = added[s].replacen('{', r#"{"actor":"mallory@example.com","#, 1);
        assert!(matches!(&verify(&added, Some(&trusted(1))).findings[0], IntegrityFinding::SealAltered { .. }));
        let mut spaced = t.clone();
        spaced[s] = spaced[s].replacen(',', ", ", 1);
        assert!(matches!(&verify(&spaced, Some(&trusted(1))).findings[0], IntegrityFinding::SealAltered { .. }));
    }

    /// A deterministic source of randomness for a second, different ECDSA signature.
    struct FixedRng(u8);
    impl p256::elliptic_curve::rand_core::RngCore for FixedRng {
        fn next_u32(&mut self) -> u32 {
            u32::from(self.0)
        }
        fn next_u64(&mut self) -> u64 {
            u64::from(self.0)
        }
        fn fill_bytes(&mut self, dest: &mut [u8]) {
            dest.fill(self.0);
        }
        fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), p256::elliptic_curve::rand_core::Error> {
            dest.fill(self.0);
            Ok(())
        }
    }
    impl p256::elliptic_curve::rand_core::CryptoRng for FixedRng {}

    #[test]
    fn a_seal_part_edited_or_lost_is_named() {
        let t = trail(None);
        let s = t.iter().position(|m| m.contains("\"recordType\":\"seal\"")).unwrap();
        let mut altered = t.clone();
        let part: SealPart = serde_json::from_str(&altered[s]).unwrap();
        let forged = SealEntry::of("e1", "forged");
        altered[s] = altered[s].replace(&part.records[0].sha256, &forged.sha256);
        let f = verify(&altered, None).findings;
        assert!(matches!(&f[0], IntegrityFinding::SealAltered { .. }), "{f:?}");
        let mut unreadable = t.clone();
        unreadable.push("not json".into());
        assert!(matches!(&verify(&unreadable, None).findings[..], [IntegrityFinding::Unreadable { position: 9, .. }]));
    }
}
