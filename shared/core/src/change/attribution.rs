//! Who made a change, as far as the record can prove it. A stream record carries no caller
//! identity (only TTL deletions name the service), so the author comes from the stamps writers put
//! in the item — and only when this very write stamped it. A wrong name is worse than none: a
//! write that did not restamp, or a delete without the delete stamp, names nobody, and the stamp
//! found in the image is given as `lastWriter`, labelled as not the author.
//!
//! The rules (docs/audit-record.md, docs/delete-stamp.md):
//! - `stamp`: a new item, or a MODIFY whose `requestId` differs from the old image's, with a
//!   non-empty `updatedBy` → that writer and request;
//! - `deleteStamp`: a REMOVE whose old image carries `deletedBy`/`deleteRequestId` (the writer
//!   stamped the item right before deleting it), or that stamp-only MODIFY itself → the deleter;
//! - `service`: a TTL expiry (userIdentity `dynamodb.amazonaws.com`) → the service;
//! - `unstamped`: an INSERT or MODIFY that did not stamp itself → nobody;
//! - `unknown`: a REMOVE without the delete stamp, or a record without the images to tell
//!   (KEYS_ONLY, NEW_IMAGE streams) → nobody.

use serde::Serialize;

use super::EventName;
use crate::value::{AttributeValue, Item};

/// The principal DynamoDB names on TTL deletions.
pub const TTL_PRINCIPAL: &str = "dynamodb.amazonaws.com";

/// How the actor of a change was established.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ActorSource {
    /// The write stamped itself (`updatedBy`, `requestId`).
    Stamp,
    /// The delete stamp (`deletedBy`, `deleteRequestId`) written right before the delete.
    DeleteStamp,
    /// DynamoDB itself (TTL expiry).
    Service,
    /// An INSERT or MODIFY that did not stamp itself: its author is not in the record.
    Unstamped,
    /// A REMOVE without a delete stamp, or a record without the images to tell.
    Unknown,
}

impl ActorSource {
    /// True when the record names nobody as the author.
    pub fn is_unattributed(&self) -> bool {
        matches!(self, ActorSource::Unstamped | ActorSource::Unknown)
    }

    /// The name used in audit records and alerts.
    pub fn as_str(&self) -> &'static str {
        match self {
            ActorSource::Stamp => "stamp",
            ActorSource::DeleteStamp => "deleteStamp",
            ActorSource::Service => "service",
            ActorSource::Unstamped => "unstamped",
            ActorSource::Unknown => "unknown",
        }
    }
}

/// The stamp found in an image when it does not name this change's author.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LastWriter {
    /// `updatedBy` of the image: who wrote the item last *before* (or without stamping) this change.
    pub updated_by: Option<String>,
    /// `requestId` of the image.
    pub request_id: Option<String>,
}

/// Who made a change and how we know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribution {
    /// How the actor was established.
    pub source: ActorSource,
    /// The author; `None` when the record cannot name one.
    pub actor: Option<String>,
    /// The author's request id; `None` when the record cannot name one.
    pub request_id: Option<String>,
    /// When `actor` is `None`: the stamp found in the image, which is *not* this change's author.
    pub last_writer: Option<LastWriter>,
}

fn text<'a>(image: Option<&'a Item>, name: &str) -> Option<&'a str> {
    image.and_then(|i| i.get(name)).and_then(AttributeValue::as_s).filter(|s| !s.trim().is_empty())
}

fn last_writer(image: Option<&Item>) -> Option<LastWriter> {
    let w = LastWriter {
        updated_by: text(image, "updatedBy").map(str::to_owned),
        request_id: text(image, "requestId").map(str::to_owned),
    };
    (w.updated_by.is_some() || w.request_id.is_some()).then_some(w)
}

fn named(source: ActorSource, actor: &str, request_id: Option<&str>) -> Attribution {
    Attribution { source, actor: Some(actor.to_owned()), request_id: request_id.map(str::to_owned), last_writer: None }
}

fn nobody(source: ActorSource, image: Option<&Item>) -> Attribution {
    Attribution { source, actor: None, request_id: None, last_writer: last_writer(image) }
}

/// True when a MODIFY is the delete stamp: it sets a `deleteRequestId` the old image did not have.
pub fn is_delete_stamp(event_name: EventName, old: Option<&Item>, new: Option<&Item>) -> bool {
    event_name == EventName::Modify
        && text(new, "deleteRequestId").is_some()
        && text(new, "deleteRequestId") != text(old, "deleteRequestId")
}

/// Attributes a change (see the module's rules).
pub fn attribute(event_name: EventName, old: Option<&Item>, new: Option<&Item>, ttl_expiry: bool) -> Attribution {
    if ttl_expiry {
        return named(ActorSource::Service, TTL_PRINCIPAL, None);
    }
    match event_name {
        EventName::Insert => match (text(new, "updatedBy"), new) {
            (Some(by), _) => named(ActorSource::Stamp, by, text(new, "requestId")),
            (None, Some(_)) => nobody(ActorSource::Unstamped, new),
            (None, None) => nobody(ActorSource::Unknown, None),
        },
        EventName::Modify => {
            let (Some(_), Some(_)) = (old, new) else {
                // Without both images nobody can tell whether this write restamped the item.
                return nobody(ActorSource::Unknown, new.or(old));
            };
            if is_delete_stamp(event_name, old, new) {
                return match text(new, "deletedBy") {
                    Some(by) => named(ActorSource::DeleteStamp, by, text(new, "deleteRequestId")),
                    None => nobody(ActorSource::Unstamped, new),
                };
            }
            let restamped = text(new, "requestId").is_some() && text(new, "requestId") != text(old, "requestId");
            match text(new, "updatedBy") {
                Some(by) if restamped => named(ActorSource::Stamp, by, text(new, "requestId")),
                _ => nobody(ActorSource::Unstamped, new),
            }
        }
        EventName::Remove => match text(old, "deletedBy") {
            Some(by) if text(old, "deleteRequestId").is_some() => {
                named(ActorSource::DeleteStamp, by, text(old, "deleteRequestId"))
            }
            _ => nobody(ActorSource::Unknown, old),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(pairs: &[(&str, &str)]) -> Item {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), AttributeValue::S((*v).to_owned()))).collect()
    }

    #[test]
    fn each_source() {
        let bob = item(&[("updatedBy", "bob"), ("requestId", "r1")]);
        let alice = item(&[("updatedBy", "alice"), ("requestId", "r2")]);
        let a = attribute(EventName::Insert, None, Some(&bob), false);
        assert_eq!(
            (a.source, a.actor.as_deref(), a.request_id.as_deref()),
            (ActorSource::Stamp, Some("bob"), Some("r1"))
        );
        let a = attribute(EventName::Modify, Some(&bob), Some(&alice), false);
        assert_eq!((a.source, a.actor.as_deref()), (ActorSource::Stamp, Some("alice")));

        // A console edit that kept bob's stamp: bob did not make it.
        let a = attribute(EventName::Modify, Some(&bob), Some(&bob), false);
        assert_eq!((a.source, a.actor), (ActorSource::Unstamped, None));
        assert_eq!(a.last_writer.unwrap().updated_by.as_deref(), Some("bob"));

        // A delete without the stamp: the old image names the last writer, not the deleter.
        let a = attribute(EventName::Remove, Some(&bob), None, false);
        assert_eq!((a.source, a.actor), (ActorSource::Unknown, None));
        assert_eq!(a.last_writer.unwrap().request_id.as_deref(), Some("r1"));

        // The delete stamp, then the delete.
        let mut stamped = bob.clone();
        stamped.extend(item(&[
            ("deletedBy", "carol"),
            ("deleteRequestId", "r9"),
            ("deletedAt", "2026-11-23T10:00:00Z"),
        ]));
        let a = attribute(EventName::Modify, Some(&bob), Some(&stamped), false);
        assert_eq!(
            (a.source, a.actor.as_deref(), a.request_id.as_deref()),
            (ActorSource::DeleteStamp, Some("carol"), Some("r9"))
        );
        let a = attribute(EventName::Remove, Some(&stamped), None, false);
        assert_eq!(
            (a.source, a.actor.as_deref(), a.request_id.as_deref()),
            (ActorSource::DeleteStamp, Some("carol"), Some("r9"))
        );

        let a = attribute(EventName::Remove, Some(&bob), None, true);
        assert_eq!((a.source, a.actor.as_deref()), (ActorSource::Service, Some(TTL_PRINCIPAL)));
    }

    #[test]
    fn streams_without_images_cannot_attribute() {
        // KEYS_ONLY: no image at all.
        for e in [EventName::Insert, EventName::Modify, EventName::Remove] {
            let a = attribute(e, None, None, false);
            assert_eq!((a.source, a.actor, a.last_writer), (ActorSource::Unknown, None, None));
        }
        // NEW_IMAGE: an INSERT can be attributed, a MODIFY cannot (was requestId restamped?).
        let bob = item(&[("updatedBy", "bob"), ("requestId", "r1")]);
        assert_eq!(attribute(EventName::Insert, None, Some(&bob), false).source, ActorSource::Stamp);
        let a = attribute(EventName::Modify, None, Some(&bob), false);
        assert_eq!((a.source, a.actor), (ActorSource::Unknown, None));
        assert_eq!(a.last_writer.unwrap().updated_by.as_deref(), Some("bob"));
    }

    #[test]
    fn blank_stamps_name_nobody() {
        let blank = item(&[("updatedBy", " "), ("requestId", "r1")]);
        assert_eq!(attribute(EventName::Insert, None, Some(&blank), false).source, ActorSource::Unstamped);
        let old = item(&[("updatedBy", "bob"), ("requestId", "r0")]);
        assert_eq!(attribute(EventName::Modify, Some(&old), Some(&blank), false).source, ActorSource::Unstamped);
    }
}
