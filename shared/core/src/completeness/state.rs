//! What the trail shows of every item, built one record at a time, checked against the table one
//! item at a time, and kept between scheduled runs, so that a run reads only the trail written
//! since the last one and a slice of the table.
//!
//! Per item it keeps ~100 bytes, not records: the newest and the oldest change seen (sequence
//! number, version, kind), digests of the newest state and of a baseline, and when the table last
//! showed it. Records may arrive in any order (the log group and the archive interleave shards and
//! repeat what they both hold): a record newer than the newest is checked against it, one older
//! than the oldest against that, and one in between can only fill a gap already suspected — one
//! that contradicts its neighbours is not found that way. A stream delivers each item's records in
//! order; the whole-trail checks ([`super::continuity`], [`super::reconcile`]) sort first.
//!
//! Nothing is reported at once. Each disagreement is a [`Suspect`] with the time it was first seen;
//! [`TrailState::findings`] reports those older than a grace period, so a write whose record is
//! still on its way (retries, a batch waiting for its shard) is not a page. A suspect the trail or
//! the table later explains is dropped.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::index::ItemIndex;
use super::{item_id, Finding, SequenceKey, TableItem, TrailRecord};

/// An item's key (`PK`, `SK`), length-prefixed in one string so that no key can forge another.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ItemKey(Box<str>);

impl ItemKey {
    /// The key of the item `pk`, `sk`.
    pub fn new(pk: &str, sk: &str) -> Self {
        ItemKey(format!("{}:{pk}{sk}", pk.len()).into_boxed_str())
    }

    /// `PK` and `SK`.
    pub fn parts(&self) -> (&str, &str) {
        let (len, rest) = self.0.split_once(':').expect("ItemKey::new writes a length");
        rest.split_at(len.parse().expect("ItemKey::new writes a length"))
    }

    /// The item as findings name it (`PK=… SK=…`).
    pub fn id(&self) -> String {
        let (pk, sk) = self.parts();
        item_id(pk, sk)
    }
}

const REMOVED: u8 = 1;
const HAS_CHANGE: u8 = 2;
const HAS_BASELINE: u8 = 4;
const OLDEST_INSERT: u8 = 8;
const OLDEST_REMOVE: u8 = 16;
const NO_VERSION: u64 = u64::MAX;

/// What the trail shows of one item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
struct ItemState {
    /// The newest change: sequence number, `itemVersion`, time.
    #[serde(rename = "n")]
    newest: SequenceKey,
    #[serde(rename = "v")]
    version: u64,
    #[serde(rename = "nt")]
    change_ms: i64,
    /// The oldest change: what a record older still is checked against.
    #[serde(rename = "o")]
    oldest: SequenceKey,
    #[serde(rename = "ov")]
    oldest_version: u64,
    /// Digest of the newest change's `after` (`version`, `requestId`), and of the baseline's.
    #[serde(rename = "s", with = "hex16")]
    state: [u8; 16],
    #[serde(rename = "b", with = "hex16")]
    baseline: [u8; 16],
    #[serde(rename = "bt")]
    baseline_ms: i64,
    /// The cycle in which the table last showed the item.
    #[serde(rename = "c")]
    seen_cycle: u32,
    #[serde(rename = "f")]
    flags: u8,
}

/// Digests as hex in the stored state.
mod hex16 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(b: &[u8; 16], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(b))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 16], D::Error> {
        let text = <&str>::deserialize(d)?;
        let bytes = hex::decode(text).map_err(serde::de::Error::custom)?;
        bytes.try_into().map_err(|_| serde::de::Error::custom("a digest is 16 bytes"))
    }
}

impl ItemState {
    fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    fn set(&mut self, flag: u8, on: bool) {
        if on {
            self.flags |= flag
        } else {
            self.flags &= !flag
        }
    }

    /// The trail says the item is in the table: a baseline newer than its newest change, or a
    /// newest change that is not a REMOVE.
    fn exists(&self) -> bool {
        if self.has(HAS_BASELINE) && (!self.has(HAS_CHANGE) || self.baseline_ms >= self.change_ms) {
            return true;
        }
        self.has(HAS_CHANGE) && !self.has(REMOVED)
    }

    fn shows(&self, digest: [u8; 16]) -> bool {
        (self.has(HAS_CHANGE) && !self.has(REMOVED) && self.state == digest)
            || (self.has(HAS_BASELINE) && self.baseline == digest)
    }

    fn last_ms(&self) -> i64 {
        self.change_ms.max(self.baseline_ms)
    }

    fn version(&self) -> Option<u64> {
        (self.version != NO_VERSION).then_some(self.version)
    }
}

/// The digest of a state: `version` and `requestId`, length-prefixed, first 16 bytes of SHA-256.
fn state_digest(version: Option<&str>, request_id: Option<&str>) -> [u8; 16] {
    let mut h = Sha256::new();
    for part in [version, request_id] {
        match part {
            Some(p) => h.update(format!("{}:{p};", p.len())),
            None => h.update("-;"),
        }
    }
    h.finalize()[..16].try_into().expect("16 of 32 bytes")
}

/// A disagreement not yet reported: the finding, since when, and for a gap the sequence number of
/// the record after it (a late record older than that can fill it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Suspect {
    /// What would be reported.
    pub finding: Finding,
    /// When it was first seen (ms since the epoch).
    pub since_ms: i64,
    /// For continuity findings: the record after the gap.
    pub after: Option<SequenceKey>,
}

/// A baseline taken over several runs (a large table at a paced read rate): the key its scan
/// resumes after, `None` before the first page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BaselineProgress {
    /// The last item read.
    pub after: Option<ItemKey>,
}

/// A read of the trail cut short: the window it started at and the reader's token for the rest
/// (FilterLogEvents' `nextToken`, valid for 24 hours: a read resumed later starts the window again).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrailResume {
    /// The window's start (ms), `None` for the whole trail.
    pub since_ms: Option<i64>,
    /// Where the reader goes on.
    pub token: String,
    /// When the token was handed back (ms).
    pub saved_ms: i64,
}

/// One slice of the table to compare: segment `segment` of `segments` (DynamoDB parallel Scan).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    /// The segment to scan.
    pub segment: u32,
    /// Of how many.
    pub segments: u32,
}

/// A state that cannot be read back.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Line `line` is not what [`TrailState::write_to`] writes.
    #[error("reconcile state, line {line}: {reason}")]
    Malformed {
        /// 1-based.
        line: usize,
        /// Why.
        reason: String,
    },
    /// Reading or writing failed.
    #[error("reconcile state: {0}")]
    Io(#[from] std::io::Error),
}

/// Items with suspects kept at most: a table whose items mostly disagree with the trail (a deploy
/// beside an existing table without a baseline) would otherwise hold a suspect per item. Beyond it
/// disagreements are counted, not kept, and found again by the next pass.
pub const MAX_SUSPECT_ITEMS: usize = 10_000;

/// The first line of a stored state; a change of format changes it.
const FORMAT: &str = "flagtrail-reconcile-state/1";

#[derive(Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "camelCase")]
enum Line {
    #[serde(rename_all = "camelCase")]
    Header {
        format: String,
        read_until_ms: Option<i64>,
        #[serde(default)]
        baseline: Option<BaselineProgress>,
        #[serde(default)]
        resume: Option<TrailResume>,
        cycle: u32,
        cycle_started_ms: i64,
        next_segment: u32,
        segments: u32,
        items: usize,
    },
    Item {
        k: ItemKey,
        s: ItemState,
    },
    Suspect {
        k: ItemKey,
        s: Suspect,
    },
}

/// What the trail shows of every item, the open suspects, and where the last run stopped.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct TrailState {
    items: ItemIndex<ItemState>,
    suspects: BTreeMap<ItemKey, Vec<Suspect>>,
    /// Disagreements found this run and not kept, the suspects being at [`MAX_SUSPECT_ITEMS`].
    pub unkept: usize,
    /// Events up to this time (ms, the log event's timestamp) have been read.
    pub read_until_ms: Option<i64>,
    /// A baseline begun and not finished: where its scan resumes.
    pub baseline: Option<BaselineProgress>,
    /// A read of the trail begun and not finished: where it resumes.
    pub resume: Option<TrailResume>,
    cycle: u32,
    cycle_started_ms: i64,
    next_segment: u32,
    segments: u32,
}

impl TrailState {
    /// Items the trail shows.
    pub fn items(&self) -> usize {
        self.items.len()
    }

    /// Whether any baseline record has been read.
    pub fn has_baseline(&self) -> bool {
        self.items.iter().any(|(_, e)| e.has(HAS_BASELINE))
    }

    /// Whether the trail shows the item's state `version`/`request_id` (a baseline is not needed).
    pub fn shows(&self, key: &ItemKey, version: Option<&str>, request_id: Option<&str>) -> bool {
        self.items.get(key).is_some_and(|e| e.shows(state_digest(version, request_id)))
    }

    /// Takes one record of the trail, read at `now_ms`.
    pub fn apply(&mut self, r: &TrailRecord, now_ms: i64) {
        let entry = self.items.entry(&r.key);
        let digest = state_digest(r.after_version.as_deref(), r.after_request_id.as_deref());
        let at = r.at_ms.unwrap_or(0);
        let mut found = Vec::new();
        if r.event_name == "BASELINE" {
            if !entry.has(HAS_CHANGE) || entry.has(REMOVED) || entry.version == NO_VERSION {
                entry.version = r.version.unwrap_or(NO_VERSION);
            } else if let Some(v) = r.version {
                entry.version = entry.version.max(v);
            }
            entry.baseline = digest;
            entry.baseline_ms = entry.baseline_ms.max(at);
            entry.set(HAS_BASELINE, true);
        } else {
            // A change whose sequence number cannot be read sorts before every other.
            let seq = r.sequence_number.as_deref().and_then(SequenceKey::parse).unwrap_or_default();
            let (remove, insert) = (r.event_name == "REMOVE", r.event_name == "INSERT");
            let continues = |prev_removed: bool, prev_version: u64, next: &TrailRecord| -> Option<Finding> {
                if prev_removed {
                    return None;
                }
                match next.event_name.as_str() {
                    "INSERT" => {
                        Some(Finding::RecreatedWithoutRemove { item: next.key.id(), event_id: next.event_id.clone() })
                    }
                    name => {
                        let (from, to) = (prev_version, next.version?);
                        let bump = u64::from(name == "MODIFY");
                        (from != NO_VERSION && to > from + bump).then(|| Finding::VersionGap {
                            item: next.key.id(),
                            from,
                            to,
                            event_id: next.event_id.clone(),
                        })
                    }
                }
            };
            if entry.has(HAS_CHANGE) && (seq == entry.newest || seq == entry.oldest) {
                return; // the same record again
            }
            if !entry.has(HAS_CHANGE) || seq > entry.newest {
                // A change older than a baseline (read after it) does not continue from it.
                let prev_known = entry.has(HAS_CHANGE) || (entry.has(HAS_BASELINE) && at >= entry.baseline_ms);
                if prev_known {
                    found.extend(continues(entry.has(REMOVED), entry.version, r).map(|f| (f, seq)));
                }
                if !entry.has(HAS_CHANGE) {
                    (entry.oldest, entry.oldest_version) = (seq, r.version.unwrap_or(NO_VERSION));
                    entry.set(OLDEST_INSERT, insert);
                    entry.set(OLDEST_REMOVE, remove);
                }
                entry.newest = seq;
                // Versions only grow, except when an item is created again; a change older than a
                // baseline does not take the item back before it.
                let before_baseline = entry.has(HAS_BASELINE) && at < entry.baseline_ms;
                entry.version = match r.version {
                    Some(v) if (insert && !before_baseline) || entry.version == NO_VERSION => v,
                    Some(v) => entry.version.max(v),
                    None => entry.version,
                };
                entry.change_ms = entry.change_ms.max(at);
                entry.state = digest;
                entry.set(REMOVED, remove);
                entry.set(HAS_CHANGE, true);
            } else if seq < entry.oldest {
                // Older than anything seen: it precedes the oldest.
                let oldest = TrailRecord {
                    event_id: String::new(),
                    sequence_number: None,
                    event_name: if entry.has(OLDEST_INSERT) {
                        "INSERT"
                    } else if entry.has(OLDEST_REMOVE) {
                        "REMOVE"
                    } else {
                        "MODIFY"
                    }
                    .into(),
                    key: r.key.clone(),
                    version: (entry.oldest_version != NO_VERSION).then_some(entry.oldest_version),
                    after_version: None,
                    after_request_id: None,
                    at_ms: None,
                };
                let prev_version = r.version.unwrap_or(NO_VERSION);
                if let Some(f) = continues(remove, prev_version, &oldest) {
                    // Named by the oldest record; its id is not kept, so name it by sequence number.
                    let f = match f {
                        Finding::VersionGap { item, from, to, .. } => Finding::VersionGap {
                            item,
                            from,
                            to,
                            event_id: format!("sequence {}", entry.oldest.to_decimal()),
                        },
                        Finding::RecreatedWithoutRemove { item, .. } => Finding::RecreatedWithoutRemove {
                            item,
                            event_id: format!("sequence {}", entry.oldest.to_decimal()),
                        },
                        other => other,
                    };
                    found.push((f, entry.oldest));
                }
                (entry.oldest, entry.oldest_version) = (seq, r.version.unwrap_or(NO_VERSION));
                entry.set(OLDEST_INSERT, insert);
                entry.set(OLDEST_REMOVE, remove);
                entry.change_ms = entry.change_ms.max(at);
            } else {
                // Between the oldest and the newest: it can only fill a suspected gap.
                fill_gap(self.suspects.get_mut(&r.key), r, seq);
            }
        }
        let entry = *entry;
        for (finding, after) in found {
            self.suspect(&r.key, Suspect { finding, since_ms: now_ms, after: Some(after) });
        }
        // The trail now explains a state the table showed, or a delete.
        if let Some(list) = self.suspects.get_mut(&r.key) {
            list.retain(|s| match &s.finding {
                Finding::UnauditedState { version, request_id, .. } => {
                    !entry.shows(state_digest(version.as_deref(), request_id.as_deref()))
                }
                Finding::GoneWithoutRemove { .. } => entry.exists(),
                _ => true,
            });
        }
        self.drop_empty(&r.key);
    }

    /// Whether the table was never compared with this state (a first run, or a state rebuilt).
    pub fn never_compared(&self) -> bool {
        self.cycle == 0
    }

    /// Starts comparing the table at `now_ms`, the table scanned in `segments` slices, one per
    /// pass: a cycle of passes covers every item. Returns the slice to scan.
    pub fn begin_pass(&mut self, now_ms: i64, segments: u32) -> Pass {
        let segments = segments.max(1);
        if self.next_segment == 0 || self.segments != segments {
            self.cycle += 1;
            self.cycle_started_ms = now_ms;
            self.next_segment = 0;
            self.segments = segments;
        }
        Pass { segment: self.next_segment, segments }
    }

    /// Compares one item of the table (read at `now_ms`) with the trail.
    pub fn check(&mut self, t: &TableItem, now_ms: i64) {
        let digest = state_digest(t.version.as_deref(), t.request_id.as_deref());
        let cycle = self.cycle;
        let audited = match self.items.get_mut(&t.key) {
            Some(e) => {
                e.seen_cycle = cycle;
                e.exists() && e.shows(digest)
            }
            None => false,
        };
        if !audited && self.full(&t.key) {
            self.unkept += 1;
            return;
        }
        let list = self.suspects.entry(t.key.clone()).or_default();
        list.retain(|s| !matches!(s.finding, Finding::GoneWithoutRemove { .. }));
        if audited {
            list.retain(|s| !matches!(s.finding, Finding::UnauditedState { .. }));
        } else {
            let finding = Finding::UnauditedState {
                item: t.key.id(),
                version: t.version.clone(),
                request_id: t.request_id.clone(),
            };
            // A state already suspected keeps its age; a newer state starts again.
            if !list.iter().any(|s| s.finding == finding) {
                list.retain(|s| !matches!(s.finding, Finding::UnauditedState { .. }));
                list.push(Suspect { finding, since_ms: now_ms, after: None });
            }
        }
        self.drop_empty(&t.key);
    }

    /// The table no longer holds `key` (a re-check found nothing).
    pub fn check_absent(&mut self, key: &ItemKey, now_ms: i64) {
        if let Some(list) = self.suspects.get_mut(key) {
            list.retain(|s| !matches!(s.finding, Finding::UnauditedState { .. }));
        }
        if let Some(e) = self.items.get(key).filter(|e| e.exists()) {
            let finding = Finding::GoneWithoutRemove { item: key.id(), version: e.version() };
            self.suspect(key, Suspect { finding, since_ms: now_ms, after: None });
        }
        self.drop_empty(key);
    }

    /// Ends a pass at `now_ms`. When it completes a cycle, every item the trail says exists, that
    /// no pass of the cycle saw and that has no record newer than the cycle's start, is gone.
    pub fn end_pass(&mut self, pass: Pass, now_ms: i64) {
        self.next_segment = (pass.segment + 1) % pass.segments;
        if self.next_segment != 0 {
            return;
        }
        let (cycle, started) = (self.cycle, self.cycle_started_ms);
        let gone: Vec<(ItemKey, Option<u64>)> = self
            .items
            .iter()
            .filter(|(_, e)| e.exists() && e.seen_cycle != cycle && e.last_ms() < started)
            .map(|(k, e)| (k.clone(), e.version()))
            .collect();
        for (key, version) in gone {
            let finding = Finding::GoneWithoutRemove { item: key.id(), version };
            self.suspect(&key, Suspect { finding, since_ms: now_ms, after: None });
        }
    }

    /// The keys of open table-side suspects, to read again before reporting them.
    pub fn to_recheck(&self) -> Vec<ItemKey> {
        self.suspects
            .iter()
            .filter(|(_, list)| list.iter().any(|s| !s.finding.is_continuity()))
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Suspects at least `grace_ms` old at `now_ms`, sorted: what to report.
    pub fn findings(&self, now_ms: i64, grace_ms: i64) -> Vec<Finding> {
        let mut out: Vec<Finding> = self
            .suspects
            .values()
            .flatten()
            .filter(|s| now_ms.saturating_sub(s.since_ms) >= grace_ms)
            .map(|s| s.finding.clone())
            .collect();
        out.sort();
        out
    }

    /// Suspects younger than the grace period: not reported yet.
    pub fn pending(&self, now_ms: i64, grace_ms: i64) -> usize {
        self.suspects.values().flatten().filter(|s| now_ms.saturating_sub(s.since_ms) < grace_ms).count()
    }

    /// No room for a suspect of a new item.
    fn full(&self, key: &ItemKey) -> bool {
        self.suspects.len() >= MAX_SUSPECT_ITEMS && !self.suspects.contains_key(key)
    }

    fn suspect(&mut self, key: &ItemKey, s: Suspect) {
        if self.full(key) {
            self.unkept += 1;
            return;
        }
        let list = self.suspects.entry(key.clone()).or_default();
        if !list.iter().any(|o| o.finding == s.finding) {
            list.push(s);
        }
    }

    fn drop_empty(&mut self, key: &ItemKey) {
        if self.suspects.get(key).is_some_and(Vec::is_empty) {
            self.suspects.remove(key);
        }
    }

    /// Writes the state as JSON lines (a header, one line per item, one per suspect).
    pub fn write_to(&self, out: &mut impl Write) -> Result<(), StateError> {
        let mut line = |l: &Line| -> Result<(), StateError> {
            serde_json::to_writer(&mut *out, l).map_err(|e| StateError::Io(e.into()))?;
            out.write_all(b"\n")?;
            Ok(())
        };
        line(&Line::Header {
            format: FORMAT.into(),
            read_until_ms: self.read_until_ms,
            baseline: self.baseline.clone(),
            resume: self.resume.clone(),
            cycle: self.cycle,
            cycle_started_ms: self.cycle_started_ms,
            next_segment: self.next_segment,
            segments: self.segments,
            items: self.items.len(),
        })?;
        for (k, s) in self.items.iter() {
            line(&Line::Item { k: k.clone(), s: *s })?;
        }
        for (k, list) in &self.suspects {
            for s in list {
                line(&Line::Suspect { k: k.clone(), s: s.clone() })?;
            }
        }
        Ok(())
    }

    /// Reads what [`TrailState::write_to`] wrote.
    pub fn read_from(input: impl BufRead) -> Result<Self, StateError> {
        let mut state = TrailState::default();
        let mut header = false;
        for (n, text) in input.lines().enumerate() {
            let text = text?;
            let bad = |reason: String| StateError::Malformed { line: n + 1, reason };
            match serde_json::from_str::<Line>(&text).map_err(|e| bad(e.to_string()))? {
                Line::Header {
                    format,
                    read_until_ms,
                    baseline,
                    resume,
                    cycle,
                    cycle_started_ms,
                    next_segment,
                    segments,
                    items,
                } => {
                    if n != 0 || format != FORMAT {
                        return Err(bad(format!("expected the header `{FORMAT}` on the first line")));
                    }
                    header = true;
                    state.read_until_ms = read_until_ms;
                    state.baseline = baseline;
                    state.resume = resume;
                    (state.cycle, state.cycle_started_ms, state.next_segment, state.segments) =
                        (cycle, cycle_started_ms, next_segment, segments);
                    state.items.reserve(items);
                }
                _ if !header => return Err(bad(format!("expected the header `{FORMAT}` on the first line"))),
                Line::Item { k, s } => state.items.push(k, s),
                Line::Suspect { k, s } => state.suspects.entry(k).or_default().push(s),
            }
        }
        if !header {
            return Err(StateError::Malformed { line: 1, reason: "empty".into() });
        }
        Ok(state)
    }
}

/// A record between the oldest and newest of its item fills the gap it falls in, if any.
fn fill_gap(list: Option<&mut Vec<Suspect>>, r: &TrailRecord, seq: SequenceKey) {
    let (Some(list), Some(v)) = (list, r.version) else { return };
    let mut out = Vec::with_capacity(list.len() + 1);
    for s in list.drain(..) {
        match (&s.finding, s.after) {
            (Finding::VersionGap { item, from, to, event_id }, Some(after)) if seq < after && *from < v && v < *to => {
                let bump = u64::from(r.event_name == "MODIFY");
                if v > from + bump {
                    let finding =
                        Finding::VersionGap { item: item.clone(), from: *from, to: v, event_id: r.event_id.clone() };
                    out.push(Suspect { finding, since_ms: s.since_ms, after: Some(seq) });
                }
                if *to > v + 1 {
                    let finding =
                        Finding::VersionGap { item: item.clone(), from: v, to: *to, event_id: event_id.clone() };
                    out.push(Suspect { finding, since_ms: s.since_ms, after: Some(after) });
                }
            }
            (Finding::RecreatedWithoutRemove { .. }, Some(after)) if seq < after && r.event_name == "REMOVE" => {}
            _ => out.push(s),
        }
    }
    *list = out;
}

#[cfg(test)]
mod tests {
    use super::super::tests::rec;
    use super::*;

    fn table(item: &str, v: &str) -> TableItem {
        TableItem { key: ItemKey::new(item, "S"), version: Some(v.into()), request_id: Some(format!("req-{v}")) }
    }

    #[test]
    fn keys_cannot_forge_each_other() {
        assert_ne!(ItemKey::new("a:b", "c"), ItemKey::new("a", ":bc"));
        assert_eq!(ItemKey::new("FLAG#prod#x", "SK=1").parts(), ("FLAG#prod#x", "SK=1"));
        assert_eq!(ItemKey::new("p", "s").id(), "PK=p SK=s");
    }

    #[test]
    fn a_suspect_is_reported_only_after_the_grace_and_dropped_when_the_trail_explains_it() {
        let mut s = TrailState::default();
        s.apply(&rec("a", 1, "INSERT", "x", 1), 0);
        let pass = s.begin_pass(1_000, 1);
        s.check(&table("x", "2"), 1_000);
        s.end_pass(pass, 1_000);
        assert_eq!(s.findings(1_500, 1_000), vec![], "younger than the grace");
        assert_eq!(s.pending(1_500, 1_000), 1);
        assert_eq!(s.findings(2_000, 1_000).len(), 1, "old enough");
        // Its record arrives: the suspect is gone.
        s.apply(&rec("b", 2, "MODIFY", "x", 2), 2_100);
        assert_eq!(s.findings(9_000, 0), vec![]);
    }

    #[test]
    fn a_state_already_suspected_keeps_its_age_and_a_newer_one_starts_again() {
        let mut s = TrailState::default();
        s.apply(&rec("a", 1, "INSERT", "x", 1), 0);
        for (now, v) in [(0, "5"), (500, "5")] {
            let p = s.begin_pass(now, 1);
            s.check(&table("x", v), now);
            s.end_pass(p, now);
        }
        assert_eq!(s.findings(1_000, 1_000).len(), 1);
        let p = s.begin_pass(1_000, 1);
        s.check(&table("x", "6"), 1_000);
        s.end_pass(p, 1_000);
        assert_eq!(s.findings(1_500, 1_000), vec![]);
    }

    #[test]
    fn gone_needs_a_whole_cycle_and_spares_items_changed_during_it() {
        let mut s = TrailState::default();
        for (i, item) in ["x", "y", "z"].iter().enumerate() {
            s.apply(&rec(item, i as u64 + 1, "INSERT", item, 1), 0);
        }
        // Three segments; the table shows x in the first, nothing else.
        let p = s.begin_pass(100, 3);
        assert_eq!(p, Pass { segment: 0, segments: 3 });
        s.check(&table("x", "1"), 100);
        s.end_pass(p, 100);
        assert_eq!(s.findings(100, 0), vec![], "the cycle is not complete");
        let p = s.begin_pass(200, 3);
        assert_eq!(p.segment, 1);
        s.end_pass(p, 200);
        // z is written during the cycle: its record is newer than the cycle's start.
        let mut z2 = rec("z2", 10, "MODIFY", "z", 2);
        z2.at_ms = Some(150);
        s.apply(&z2, 250);
        let p = s.begin_pass(300, 3);
        s.end_pass(p, 300);
        assert_eq!(s.findings(300, 0), vec![Finding::GoneWithoutRemove { item: item_id("y", "S"), version: Some(1) }]);
        // A re-check finds y after all.
        s.check(&table("y", "1"), 400);
        assert_eq!(s.findings(400, 0), vec![]);
        s.check_absent(&ItemKey::new("z", "S"), 500);
        assert_eq!(s.findings(500, 0), vec![Finding::GoneWithoutRemove { item: item_id("z", "S"), version: Some(2) }]);
    }

    #[test]
    fn a_gap_older_than_everything_is_found_whatever_the_order() {
        let mut s = TrailState::default();
        s.apply(&rec("d", 4, "MODIFY", "x", 4), 0);
        s.apply(&rec("c", 3, "MODIFY", "x", 3), 0);
        s.apply(&rec("a", 1, "INSERT", "x", 1), 0);
        assert_eq!(
            s.findings(0, 0),
            vec![Finding::VersionGap { item: item_id("x", "S"), from: 1, to: 3, event_id: format!("sequence {}", 3) }]
        );
        s.apply(&rec("b", 2, "MODIFY", "x", 2), 0);
        assert_eq!(s.findings(0, 0), vec![], "the missing record arrives");
    }

    #[test]
    fn a_change_older_than_a_baseline_read_after_it_does_not_take_the_item_back() {
        let mut s = TrailState::default();
        let baseline = TrailRecord {
            event_id: "baseline-1".into(),
            sequence_number: None,
            event_name: "BASELINE".into(),
            key: ItemKey::new("x", "S"),
            version: Some(7),
            after_version: Some("7".into()),
            after_request_id: Some("req-7".into()),
            at_ms: Some(100),
        };
        s.apply(&baseline, 0);
        let mut old = rec("a", 1, "INSERT", "x", 1);
        old.at_ms = Some(50);
        s.apply(&old, 0);
        let mut next = rec("m", 9, "MODIFY", "x", 8);
        next.at_ms = Some(200);
        s.apply(&next, 0);
        assert_eq!(s.findings(0, 0), vec![], "v8 continues from the baseline's v7");
        let p = s.begin_pass(i64::MAX, 1);
        s.check(&table("x", "8"), 0);
        s.end_pass(p, 0);
        assert_eq!(s.findings(0, 0), vec![]);
    }

    #[test]
    fn suspects_beyond_the_cap_are_counted_not_kept() {
        let mut s = TrailState::default();
        let p = s.begin_pass(0, 1);
        for i in 0..MAX_SUSPECT_ITEMS + 5 {
            s.check(&table(&format!("x{i}"), "1"), 0);
        }
        s.end_pass(p, 0);
        assert_eq!((s.findings(0, 0).len(), s.unkept), (MAX_SUSPECT_ITEMS, 5));
    }

    #[test]
    fn the_state_round_trips_and_a_bad_line_is_named() {
        let mut s = TrailState::default();
        s.apply(&rec("a", 1, "INSERT", "x", 1), 0);
        s.apply(&rec("c", 3, "MODIFY", "x", 3), 0);
        let p = s.begin_pass(5, 2);
        s.check(&table("y", "1"), 5);
        s.end_pass(p, 5);
        s.read_until_ms = Some(42);
        s.baseline = Some(BaselineProgress { after: Some(ItemKey::new("p", "s")) });
        s.resume = Some(TrailResume { since_ms: Some(7), token: "t".into(), saved_ms: 9 });
        let mut bytes = Vec::new();
        s.write_to(&mut bytes).unwrap();
        let back = TrailState::read_from(bytes.as_slice()).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.findings(5, 0).len(), 2);
        let text = String::from_utf8(bytes).unwrap().replacen("\"t\":\"item\"", "\"t\":\"itme\"", 1);
        let err = TrailState::read_from(text.as_bytes()).unwrap_err().to_string();
        assert!(err.contains("line 2"), "{err}");
        assert!(TrailState::read_from(&b""[..]).is_err());
    }
}
