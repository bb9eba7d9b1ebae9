//! Field-level diffs of the two images, and which changes are bookkeeping only.

use std::collections::BTreeMap;

use crate::change::{Change, EventName};
use crate::value::{AttributeValue, Item};

/// Attributes writers stamp (every write, and the delete stamp before a delete); a change of only
/// these is a no-op for evaluation and audit.
pub const BOOKKEEPING_FIELDS: [&str; 7] =
    ["updatedBy", "updatedAt", "requestId", "version", "deletedBy", "deleteRequestId", "deletedAt"];
/// One field's values before and after.
#[derive(Debug, Clone, Copy)]
pub struct FieldChange<'a> {
    /// Value before (absent: the field did not exist).
    pub before: Option<&'a AttributeValue>,
    /// Value after (absent: the field was removed).
    pub after: Option<&'a AttributeValue>,
}

/// Field-level diff of the two images; `None` when an image the event needs is missing.
pub fn diff<'a>(change: &'a Change) -> Option<BTreeMap<&'a str, FieldChange<'a>>> {
    static EMPTY: Item = Item::new();
    let empty = &EMPTY;
    let old = match (change.event_name, &change.old) {
        (EventName::Insert, _) => empty,
        (_, Some(o)) => o,
        (_, None) => return None,
    };
    let new = match (change.event_name, &change.new) {
        (EventName::Remove, _) => empty,
        (_, Some(n)) => n,
        (_, None) => return None,
    };
    Some(diff_items(old, new))
}

/// Field-level diff of two items (semantic equality: numbers by value, sets unordered).
pub fn diff_items<'a>(old: &'a Item, new: &'a Item) -> BTreeMap<&'a str, FieldChange<'a>> {
    let mut out = BTreeMap::new();
    for (k, before) in old {
        let after = new.get(k);
        if after != Some(before) {
            out.insert(k.as_str(), FieldChange { before: Some(before), after });
        }
    }
    for (k, after) in new {
        if !old.contains_key(k) {
            out.insert(k.as_str(), FieldChange { before: None, after: Some(after) });
        }
    }
    out
}

/// True when a MODIFY changed nothing but the writers' bookkeeping stamps.
pub fn is_no_op(change: &Change, changes: Option<&BTreeMap<&str, FieldChange>>) -> bool {
    change.event_name == EventName::Modify && changes.is_some_and(|c| c.keys().all(|k| BOOKKEEPING_FIELDS.contains(k)))
}
