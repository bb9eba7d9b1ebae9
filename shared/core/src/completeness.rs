//! Is the trail complete? Two checks over audit records, pure:
//!
//! - **Version continuity.** Writers bump `version` by one per write, so per item the trail's
//!   MODIFYs must go v, v+1, v+2…; a REMOVE carries the last version unchanged. A jump (v3 → v5)
//!   means a record is missing from the trail; so does an INSERT of an item whose last record was
//!   not a REMOVE. Duplicates (same eventId) are ignored.
//! - **Reconcile against the table.** An item whose current `version`/`requestId` has no audit
//!   record was written behind the trail's back (or its record was lost); an item the trail says
//!   exists but the table does not have was deleted without a REMOVE record.
//!
//! Neither proves anything about writes that do not bump `version` (an unstamped write keeps it;
//! its record says `actorSource: unstamped`).

use std::collections::{BTreeMap, HashSet};
use std::fmt;

use serde_json::Value;

use crate::notify::sequence_cmp;

/// One change record of a trail, reduced to what completeness needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrailRecord {
    /// Stream eventID.
    pub event_id: String,
    /// Stream sequence number.
    pub sequence_number: String,
    /// INSERT / MODIFY / REMOVE.
    pub event_name: String,
    /// The item (see [`item_id`]).
    pub item: String,
    /// `itemVersion` (the current image's `version`), when an integer.
    pub version: Option<u64>,
    /// `version` of the `after` image, as text (what the table holds after this change).
    pub after_version: Option<String>,
    /// `requestId` of the `after` image.
    pub after_request_id: Option<String>,
}

/// The identity of an item from its key attributes: `PK=… SK=…`.
pub fn item_id(pk: &str, sk: &str) -> String {
    format!("PK={pk} SK={sk}")
}

fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

impl TrailRecord {
    /// Reads an audit record (`recordType: "change"`); other records (quarantine, part, seal) are
    /// not changes of a known item and give `None`.
    pub fn from_json(v: &Value) -> Option<Self> {
        if v["recordType"] != "change" {
            return None;
        }
        let keys = &v["keys"];
        Some(TrailRecord {
            event_id: v["eventId"].as_str()?.to_owned(),
            sequence_number: v["sequenceNumber"].as_str()?.to_owned(),
            event_name: v["eventName"].as_str()?.to_owned(),
            item: item_id(&text_of(&keys["PK"]).unwrap_or_default(), &text_of(&keys["SK"]).unwrap_or_default()),
            version: v["itemVersion"].as_u64(),
            after_version: text_of(&v["after"]["version"]),
            after_request_id: text_of(&v["after"]["requestId"]),
        })
    }
}

/// One thing the trail cannot account for, named by item and event.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
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
        /// The last record of the item.
        event_id: String,
    },
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
            Finding::GoneWithoutRemove { item, event_id } => {
                write!(f, "missing REMOVE: {item} is gone from the table; its last record ({event_id}) is not a delete")
            }
        }
    }
}

/// Each item's records in stream order, duplicates (same eventId) dropped.
fn by_item(records: &[TrailRecord]) -> BTreeMap<&str, Vec<&TrailRecord>> {
    let mut seen = HashSet::new();
    let mut items: BTreeMap<&str, Vec<&TrailRecord>> = BTreeMap::new();
    for r in records {
        if seen.insert(r.event_id.as_str()) {
            items.entry(r.item.as_str()).or_default().push(r);
        }
    }
    for list in items.values_mut() {
        list.sort_by(|a, b| sequence_cmp(&a.sequence_number, &b.sequence_number));
    }
    items
}

/// Version continuity per item (see the module).
pub fn continuity(records: &[TrailRecord]) -> Vec<Finding> {
    let mut out = Vec::new();
    for (item, list) in by_item(records) {
        let mut prev: Option<&TrailRecord> = None;
        for r in list {
            if let Some(p) = prev {
                match r.event_name.as_str() {
                    "INSERT" if p.event_name != "REMOVE" => out
                        .push(Finding::RecreatedWithoutRemove { item: item.to_owned(), event_id: r.event_id.clone() }),
                    "MODIFY" | "REMOVE" if p.event_name != "REMOVE" => {
                        let bump = u64::from(r.event_name == "MODIFY");
                        if let (Some(from), Some(to)) = (p.version, r.version) {
                            if to > from + bump {
                                out.push(Finding::VersionGap {
                                    item: item.to_owned(),
                                    from,
                                    to,
                                    event_id: r.event_id.clone(),
                                });
                            }
                        }
                    }
                    _ => {}
                }
            }
            prev = Some(r);
        }
    }
    out
}

/// One item as the table holds it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableItem {
    /// The item (see [`item_id`]).
    pub item: String,
    /// Its `version`, as text.
    pub version: Option<String>,
    /// Its `requestId`.
    pub request_id: Option<String>,
}

/// Compares the table with the trail (see the module). Items the trail never saw are reported
/// too: run it over the trail's whole retention, or expect the items older than the trail.
pub fn reconcile(table: &[TableItem], records: &[TrailRecord]) -> Vec<Finding> {
    let items = by_item(records);
    let mut out = Vec::new();
    let present: HashSet<&str> = table.iter().map(|t| t.item.as_str()).collect();
    for t in table {
        let audited = items.get(t.item.as_str()).is_some_and(|list| {
            list.iter()
                .any(|r| r.event_name != "REMOVE" && r.after_version == t.version && r.after_request_id == t.request_id)
        });
        if !audited {
            out.push(Finding::UnauditedState {
                item: t.item.clone(),
                version: t.version.clone(),
                request_id: t.request_id.clone(),
            });
        }
    }
    for (item, list) in &items {
        let Some(last) = list.last() else { continue };
        if last.event_name != "REMOVE" && !present.contains(item) {
            out.push(Finding::GoneWithoutRemove { item: (*item).to_owned(), event_id: last.event_id.clone() });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: &str, seq: u64, name: &str, item: &str, v: u64) -> TrailRecord {
        TrailRecord {
            event_id: id.into(),
            sequence_number: seq.to_string(),
            event_name: name.into(),
            item: item.into(),
            version: Some(v),
            after_version: (name != "REMOVE").then(|| v.to_string()),
            after_request_id: (name != "REMOVE").then(|| format!("req-{v}")),
        }
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
                Finding::VersionGap { item: "x".into(), from: 2, to: 4, event_id: "d".into() },
                Finding::RecreatedWithoutRemove { item: "x".into(), event_id: "g".into() },
                Finding::VersionGap { item: "y".into(), from: 1, to: 3, event_id: "i".into() },
            ]
        );
        assert_eq!(continuity(&trail[..3]), vec![], "a clean history");
    }

    #[test]
    fn reconcile_finds_writes_behind_the_trail_and_unrecorded_deletes() {
        let trail = vec![rec("a", 1, "INSERT", "x", 1), rec("b", 2, "MODIFY", "x", 2), rec("c", 3, "INSERT", "y", 1)];
        let table = |v: &str| {
            vec![TableItem { item: "x".into(), version: Some(v.into()), request_id: Some(format!("req-{v}")) }]
        };
        assert_eq!(
            reconcile(&table("2"), &trail),
            vec![Finding::GoneWithoutRemove { item: "y".into(), event_id: "c".into() }]
        );
        let found = reconcile(&table("3"), &trail[..2]);
        assert_eq!(
            found,
            vec![Finding::UnauditedState {
                item: "x".into(),
                version: Some("3".into()),
                request_id: Some("req-3".into())
            }]
        );
        assert!(found[0].to_string().contains("x is at version 3 request req-3"));
    }
}
