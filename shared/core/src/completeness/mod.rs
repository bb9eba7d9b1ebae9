//! Is the trail complete? Two checks over audit records, pure:
//!
//! - **Version continuity.** Writers bump `version` by one per write, so per item the trail's
//!   MODIFYs must go v, v+1, v+2…; a REMOVE carries the last version unchanged. A jump (v3 → v5)
//!   means a record is missing from the trail; so does an INSERT of an item whose last record was
//!   not a REMOVE. Duplicates (same sequence number) are ignored.
//! - **Reconcile against the table.** An item whose current `version`/`requestId` has no audit
//!   record was written behind the trail's back (or its record was lost); an item the trail says
//!   exists but the table does not have was deleted without a REMOVE record.
//!
//! A **baseline record** (`recordType: "baseline"`, see [`crate::audit::baseline`]) states an
//! item's state at the time it was taken, for items whose history the trail does not hold (written
//! before the trail existed): from then on the item's next change continues from it.
//!
//! Both checks run over a [`TrailState`]: what the trail shows of each item, built one record at a
//! time and kept between runs, so a scheduled check reads only what is new (see `state`).
//!
//! Neither proves anything about writes that do not bump `version` (an unstamped write keeps it;
//! its record says `actorSource: unstamped`).

mod index;
mod seq;
mod state;

use std::fmt;

use serde_json::Value;

pub use seq::SequenceKey;
pub use state::{BaselineProgress, ItemKey, Pass, StateError, Suspect, TrailResume, TrailState, MAX_SUSPECT_ITEMS};

/// One record of a trail, reduced to what completeness needs: a change, or a baseline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrailRecord {
    /// Stream eventID, or the baseline record's id.
    pub event_id: String,
    /// Stream sequence number; `None` for a baseline.
    pub sequence_number: Option<String>,
    /// INSERT / MODIFY / REMOVE, or BASELINE.
    pub event_name: String,
    /// The item's key.
    pub key: ItemKey,
    /// `itemVersion` (the current image's `version`), when an integer.
    pub version: Option<u64>,
    /// `version` of the `after` image, as text (what the table holds after this change).
    pub after_version: Option<String>,
    /// `requestId` of the `after` image.
    pub after_request_id: Option<String>,
    /// When the change was made (`changedAt`, or the baseline's `baselineAt`), ms since the epoch.
    pub at_ms: Option<i64>,
}

/// The identity of an item from its key attributes: `PK=… SK=…` (how findings name it).
pub fn item_id(pk: &str, sk: &str) -> String {
    format!("PK={pk} SK={sk}")
}

/// An attribute value as text: strings as they are, numbers in their JSON form.
pub fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

fn epoch_ms(v: &Value) -> Option<i64> {
    crate::report::epoch_ms(v.as_str()?)
}

impl TrailRecord {
    /// Reads an audit record (`recordType: "change"` or `"baseline"`); other records (quarantine,
    /// part, seal) are not states of a known item and give `None`.
    pub fn from_json(v: &Value) -> Option<Self> {
        let keys = &v["keys"];
        let key = ItemKey::new(&text_of(&keys["PK"]).unwrap_or_default(), &text_of(&keys["SK"]).unwrap_or_default());
        match v["recordType"].as_str()? {
            "change" => Some(TrailRecord {
                event_id: v["eventId"].as_str()?.to_owned(),
                sequence_number: Some(v["sequenceNumber"].as_str()?.to_owned()),
                event_name: v["eventName"].as_str()?.to_owned(),
                key,
                version: v["itemVersion"].as_u64(),
                after_version: text_of(&v["after"]["version"]),
                after_request_id: text_of(&v["after"]["requestId"]),
                at_ms: epoch_ms(&v["changedAt"]),
            }),
            "baseline" => Some(TrailRecord {
                event_id: v["eventId"].as_str()?.to_owned(),
                sequence_number: None,
                event_name: "BASELINE".into(),
                key,
                version: v["itemVersion"].as_u64(),
                after_version: text_of(&v["version"]),
                after_request_id: text_of(&v["requestId"]),
                at_ms: epoch_ms(&v["baselineAt"]),
            }),
            _ => None,
        }
    }

    /// The item, as findings name it.
    pub fn item(&self) -> String {
        self.key.id()
    }
}

/// One thing the trail cannot account for, named by item and record.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Finding {
    /// Versions jump: the records of the versions in between are missing.
    VersionGap {
        /// The item.
        item: String,
        /// The last version seen before the jump.
        from: u64,
        /// The version after it.
        to: u64,
        /// The record after the gap.
        event_id: String,
    },
    /// An INSERT of an item whose last record was not a REMOVE: the delete is missing.
    RecreatedWithoutRemove {
        /// The item.
        item: String,
        /// The INSERT.
        event_id: String,
    },
    /// The table holds a state no audit record shows.
    UnauditedState {
        /// The item.
        item: String,
        /// Its `version` in the table.
        version: Option<String>,
        /// Its `requestId` in the table.
        request_id: Option<String>,
    },
    /// The trail says the item exists; the table does not have it and no REMOVE is recorded.
    GoneWithoutRemove {
        /// The item.
        item: String,
        /// The version of its last record.
        version: Option<u64>,
    },
}

impl Finding {
    /// A finding about the trail alone (continuity), not about the table.
    pub fn is_continuity(&self) -> bool {
        matches!(self, Finding::VersionGap { .. } | Finding::RecreatedWithoutRemove { .. })
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Finding::VersionGap { item, from, to, event_id } => {
                write!(
                    f,
                    "version gap: {item}: v{from} → v{to} (record {event_id}); the records in between are missing"
                )
            }
            Finding::RecreatedWithoutRemove { item, event_id } => {
                write!(f, "missing REMOVE: {item} was created again (record {event_id}) with no delete recorded before")
            }
            Finding::UnauditedState { item, version, request_id } => write!(
                f,
                "unaudited write: {item} is at version {} request {} in the table, and no audit record shows it",
                version.as_deref().unwrap_or("-"),
                request_id.as_deref().unwrap_or("-")
            ),
            Finding::GoneWithoutRemove { item, version } => {
                let v = version.map_or("-".to_owned(), |v| v.to_string());
                write!(f, "missing REMOVE: {item} is gone from the table; its last record (v{v}) is not a delete")
            }
        }
    }
}

/// One item as the table holds it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableItem {
    /// The item's key.
    pub key: ItemKey,
    /// Its `version`, as text.
    pub version: Option<String>,
    /// Its `requestId`.
    pub request_id: Option<String>,
}

impl TableItem {
    /// The item, as findings name it.
    pub fn item(&self) -> String {
        self.key.id()
    }
}

/// A whole trail into a state, in stream order (baselines first: they are dated, not sequenced),
/// so that the findings do not depend on the order the records were read in.
fn whole(records: &[TrailRecord]) -> TrailState {
    let mut ordered: Vec<&TrailRecord> = records.iter().collect();
    ordered.sort_by_cached_key(|r| r.sequence_number.as_deref().and_then(SequenceKey::parse).unwrap_or_default());
    let mut state = TrailState::default();
    for r in ordered {
        state.apply(r, 0);
    }
    state
}

/// Version continuity of a whole trail at once (see the module): what [`TrailState`] finds, in
/// stream order and no grace.
pub fn continuity(records: &[TrailRecord]) -> Vec<Finding> {
    whole(records).findings(0, 0).into_iter().filter(Finding::is_continuity).collect()
}

/// Compares the table with a whole trail at once (see the module): every item the table holds
/// must show its current state in the trail, and every item the trail says exists must be in
/// the table. Items the trail never saw are reported too: record a baseline for them.
pub fn reconcile(table: &[TableItem], records: &[TrailRecord]) -> Vec<Finding> {
    let mut state = whole(records);
    // A cycle that starts after every record: any item the table lacks is gone.
    let pass = state.begin_pass(i64::MAX, 1);
    for t in table {
        state.check(t, 0);
    }
    state.end_pass(pass, 0);
    state.findings(0, 0).into_iter().filter(|f| !f.is_continuity()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn rec(id: &str, seq: u64, name: &str, item: &str, v: u64) -> TrailRecord {
        TrailRecord {
            event_id: id.into(),
            sequence_number: Some(format!("{seq:021}")),
            event_name: name.into(),
            key: ItemKey::new(item, "S"),
            version: Some(v),
            after_version: (name != "REMOVE").then(|| v.to_string()),
            after_request_id: (name != "REMOVE").then(|| format!("req-{v}")),
            at_ms: Some(seq as i64),
        }
    }

    fn id(item: &str) -> String {
        item_id(item, "S")
    }

    #[test]
    fn gaps_are_named_and_duplicates_ignored() {
        let trail = vec![
            rec("a", 1, "INSERT", "x", 1),
            rec("b", 2, "MODIFY", "x", 2),
            rec("b", 2, "MODIFY", "x", 2),
            rec("d", 4, "MODIFY", "x", 4),
            rec("e", 5, "REMOVE", "x", 4),
            rec("f", 6, "INSERT", "x", 1),
            rec("g", 7, "INSERT", "x", 1),
            rec("h", 1, "INSERT", "y", 1),
            rec("i", 2, "REMOVE", "y", 3),
        ];
        assert_eq!(
            continuity(&trail),
            vec![
                Finding::VersionGap { item: id("x"), from: 2, to: 4, event_id: "d".into() },
                Finding::VersionGap { item: id("y"), from: 1, to: 3, event_id: "i".into() },
                Finding::RecreatedWithoutRemove { item: id("x"), event_id: "g".into() },
            ]
        );
        assert_eq!(continuity(&trail[..3]), vec![], "a clean history");
    }

    #[test]
    fn order_of_arrival_does_not_matter_and_a_late_record_fills_its_gap() {
        let trail = [
            rec("a", 1, "INSERT", "x", 1),
            rec("b", 2, "MODIFY", "x", 2),
            rec("c", 3, "MODIFY", "x", 3),
            rec("d", 4, "MODIFY", "x", 4),
        ];
        let shuffled = vec![trail[3].clone(), trail[0].clone(), trail[2].clone(), trail[1].clone()];
        assert_eq!(continuity(&shuffled), vec![]);
        let missing_two = vec![trail[0].clone(), trail[3].clone(), trail[2].clone()];
        assert_eq!(
            continuity(&missing_two),
            vec![Finding::VersionGap { item: id("x"), from: 1, to: 3, event_id: "c".into() }]
        );
    }

    #[test]
    fn reconcile_finds_writes_behind_the_trail_and_unrecorded_deletes() {
        let trail = vec![rec("a", 1, "INSERT", "x", 1), rec("b", 2, "MODIFY", "x", 2), rec("c", 3, "INSERT", "y", 1)];
        let table = |v: &str| {
            vec![TableItem {
                key: ItemKey::new("x", "S"),
                version: Some(v.into()),
                request_id: Some(format!("req-{v}")),
            }]
        };
        assert_eq!(
            reconcile(&table("2"), &trail),
            vec![Finding::GoneWithoutRemove { item: id("y"), version: Some(1) }]
        );
        let found = reconcile(&table("3"), &trail[..2]);
        assert_eq!(
            found,
            vec![Finding::UnauditedState {
                item: id("x"),
                version: Some("3".into()),
                request_id: Some("req-3".into())
            }]
        );
        assert!(found[0].to_string().contains("x SK=S is at version 3 request req-3"));
        assert!(
            reconcile(&table("1"), &trail[..2]).iter().any(|f| matches!(f, Finding::UnauditedState { .. })),
            "the table must hold the latest state, not any earlier one"
        );
    }

    #[test]
    fn a_baseline_accounts_for_an_item_the_trail_never_saw_and_continues_its_versions() {
        let table =
            vec![TableItem { key: ItemKey::new("old", "S"), version: Some("7".into()), request_id: Some("r7".into()) }];
        assert_eq!(reconcile(&table, &[]).len(), 1, "an item older than the trail");
        let baseline = TrailRecord {
            event_id: "baseline-1".into(),
            sequence_number: None,
            event_name: "BASELINE".into(),
            key: ItemKey::new("old", "S"),
            version: Some(7),
            after_version: Some("7".into()),
            after_request_id: Some("r7".into()),
            at_ms: Some(100),
        };
        assert_eq!(reconcile(&table, std::slice::from_ref(&baseline)), vec![]);
        let next = rec("m", 200, "MODIFY", "old", 8);
        assert_eq!(continuity(&[baseline.clone(), next.clone()]), vec![]);
        let jump = rec("n", 200, "MODIFY", "old", 9);
        assert_eq!(
            continuity(&[baseline, jump]),
            vec![Finding::VersionGap { item: id("old"), from: 7, to: 9, event_id: "n".into() }]
        );
    }
}
