//! Decoding: one DynamoDB stream record (Lambda event shape) → a typed [`Change`].
//!
//! The record is read with our own serde types rather than `aws_lambda_events`' ones: those fail a
//! whole record on one missing field and misread a fractional `ApproximateCreationDateTime`; here
//! every missing part becomes an explicit marker and every real error names where it is.

use serde::Deserialize;
use serde_json::value::RawValue;
use time::OffsetDateTime;

mod attribution;
mod error;
pub use attribution::{attribute, is_delete_stamp, ActorSource, Attribution, LastWriter, TTL_PRINCIPAL};
pub use error::DecodeError;

use crate::key::ItemKey;
use crate::value::{AttributeValue, Item};

/// The kind of write that produced a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum EventName {
    /// A new item.
    Insert,
    /// An existing item changed.
    Modify,
    /// An item was deleted (by a writer, or by TTL expiry).
    Remove,
}

/// Whether the actor is a person/writer or the DynamoDB service itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ActorKind {
    /// A writer named by its stamp.
    User,
    /// DynamoDB itself (TTL expiry).
    Service,
    /// The record names nobody.
    Unknown,
}

impl From<ActorSource> for ActorKind {
    fn from(s: ActorSource) -> Self {
        match s {
            ActorSource::Stamp | ActorSource::DeleteStamp => ActorKind::User,
            ActorSource::Service => ActorKind::Service,
            ActorSource::Unstamped | ActorSource::Unknown => ActorKind::Unknown,
        }
    }
}

/// One change of the flag table, decoded from a stream record.
#[derive(Debug, Clone)]
pub struct Change {
    /// Stream `eventID`: the dedupe key of every output.
    pub event_id: String,
    /// Stream sequence number (decimal text; compared by length then lexically).
    pub sequence_number: String,
    /// INSERT / MODIFY / REMOVE.
    pub event_name: EventName,
    /// The item's key and what kind of item it is.
    pub key: ItemKey,
    /// Image before the write, when the stream carries it.
    pub old: Option<Item>,
    /// Image after the write, when the stream carries it.
    pub new: Option<Item>,
    /// Parts the record should have but does not: `keys`, `old` or `new` image (a KEYS_ONLY or
    /// NEW_IMAGE stream, or a record written by another tool).
    pub missing: Vec<&'static str>,
    /// StreamViewType as sent, if any.
    pub stream_view_type: Option<String>,
    /// When DynamoDB applied the write (ms precision); `None` if the record has no time.
    pub approximate_time: Option<OffsetDateTime>,
    /// Who made it, and how we know (see [`attribute`]).
    pub attribution: Attribution,
    /// True when DynamoDB's TTL deleted the item.
    pub ttl_expiry: bool,
    /// `eventSourceARN` (the stream ARN) if present.
    pub event_source_arn: Option<String>,
    /// `awsRegion` if present.
    pub region: Option<String>,
}

impl Change {
    /// The image that describes the item now: new for INSERT/MODIFY, old for REMOVE.
    pub fn current(&self) -> Option<&Item> {
        match self.event_name {
            EventName::Remove => self.old.as_ref(),
            _ => self.new.as_ref().or(self.old.as_ref()),
        }
    }

    /// An attribute of the current image, falling back to the other image.
    pub fn attr(&self, name: &str) -> Option<&AttributeValue> {
        self.current()
            .and_then(|i| i.get(name))
            .or_else(|| self.new.as_ref().and_then(|i| i.get(name)))
            .or_else(|| self.old.as_ref().and_then(|i| i.get(name)))
    }

    /// A string attribute of the current image.
    pub fn attr_text(&self, name: &str) -> Option<&str> {
        self.attr(name).and_then(AttributeValue::as_text)
    }

    /// The table name, from the stream ARN (`arn:aws:dynamodb:r:a:table/NAME/stream/…`).
    pub fn table_name(&self) -> Option<&str> {
        let arn = self.event_source_arn.as_deref()?;
        let rest = &arn[arn.find(":table/")? + 7..];
        Some(rest.split('/').next().unwrap_or(rest))
    }
}

#[derive(Deserialize)]
struct WireRecord {
    #[serde(rename = "eventID")]
    event_id: Option<String>,
    #[serde(rename = "eventName")]
    event_name: Option<String>,
    #[serde(rename = "eventSourceARN")]
    event_source_arn: Option<String>,
    #[serde(rename = "awsRegion")]
    aws_region: Option<String>,
    #[serde(rename = "userIdentity")]
    user_identity: Option<WireIdentity>,
    dynamodb: Option<WireStream>,
}

#[derive(Deserialize)]
struct WireIdentity {
    #[serde(rename = "principalId")]
    principal_id: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

#[derive(Deserialize)]
struct WireStream {
    #[serde(rename = "Keys")]
    keys: Option<Item>,
    #[serde(rename = "NewImage")]
    new_image: Option<Item>,
    #[serde(rename = "OldImage")]
    old_image: Option<Item>,
    #[serde(rename = "SequenceNumber")]
    sequence_number: Option<String>,
    #[serde(rename = "ApproximateCreationDateTime")]
    approximate_creation: Option<WireTime>,
    #[serde(rename = "StreamViewType")]
    stream_view_type: Option<String>,
}

/// Lambda sends epoch seconds (possibly fractional); Kinesis-style sources send milliseconds and
/// some tools an RFC 3339 string. All three are accepted.
#[derive(Deserialize)]
#[serde(untagged)]
enum WireTime {
    Number(serde_json::Number),
    Text(String),
}

impl WireTime {
    fn to_time(&self) -> Option<OffsetDateTime> {
        match self {
            WireTime::Number(n) => {
                let secs = n.as_f64()?;
                // Anything past year 5138 in seconds is really milliseconds.
                let ms = if secs.abs() > 1e11 { secs } else { secs * 1000.0 };
                let nanos = (ms.round() as i128).checked_mul(1_000_000)?;
                OffsetDateTime::from_unix_timestamp_nanos(nanos).ok()
            }
            WireTime::Text(s) => OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok(),
        }
    }
}

/// The few fields still worth reading from a record that failed to decode, for its quarantine record.
#[derive(Deserialize, Default)]
pub(crate) struct SalvagedRecord {
    #[serde(rename = "eventID")]
    pub event_id: Option<String>,
    #[serde(rename = "eventName")]
    pub event_name: Option<String>,
    #[serde(rename = "eventSourceARN")]
    pub event_source_arn: Option<String>,
    pub dynamodb: Option<SalvagedStream>,
}

#[derive(Deserialize, Default)]
pub(crate) struct SalvagedStream {
    #[serde(rename = "SequenceNumber")]
    pub sequence_number: Option<String>,
    #[serde(rename = "Keys")]
    pub keys: Option<Box<RawValue>>,
}

impl SalvagedRecord {
    /// Best effort: whatever parses of the identifying fields, nothing if the JSON itself is broken.
    pub(crate) fn from_raw(raw: &str) -> Self {
        serde_json::from_str(raw).unwrap_or_default()
    }
}

/// Decodes one stream record from its raw JSON text.
pub fn decode_record(raw: &str) -> Result<Change, DecodeError> {
    let wire: WireRecord = match serde_json::from_str(raw) {
        Ok(w) => w,
        // Re-parse only on failure to learn *where* it failed; the fast path pays nothing for it.
        Err(_) => {
            let de = &mut serde_json::Deserializer::from_str(raw);
            let err = match serde_path_to_error::deserialize::<_, WireRecord>(de) {
                Err(e) => e,
                Ok(_) => {
                    return Err(DecodeError::Malformed {
                        path: String::new(),
                        message: "record failed to decode".into(),
                    })
                }
            };
            return Err(DecodeError::Malformed { path: err.path().to_string(), message: err.inner().to_string() });
        }
    };
    from_wire(wire)
}

fn from_wire(w: WireRecord) -> Result<Change, DecodeError> {
    let event_id = w.event_id.filter(|s| !s.is_empty()).ok_or(DecodeError::Missing("eventID"))?;
    let event_name = match w.event_name.as_deref() {
        Some("INSERT") => EventName::Insert,
        Some("MODIFY") => EventName::Modify,
        Some("REMOVE") => EventName::Remove,
        Some(other) => return Err(DecodeError::UnknownEventName(other.chars().take(32).collect())),
        None => return Err(DecodeError::Missing("eventName")),
    };
    let ddb = w.dynamodb.ok_or(DecodeError::Missing("dynamodb"))?;
    let sequence_number =
        ddb.sequence_number.filter(|s| !s.is_empty()).ok_or(DecodeError::Missing("dynamodb.SequenceNumber"))?;
    // Lambda resumes from it and consumers order invalidations by it: it must be a decimal number.
    if !is_sequence_number(&sequence_number) {
        return Err(DecodeError::Malformed {
            path: "dynamodb.SequenceNumber".into(),
            message: "not a decimal sequence number".into(),
        });
    }
    let (old, new) = (ddb.old_image, ddb.new_image);
    let mut missing = Vec::new();
    // Keys are authoritative; without them, an image still holds the key attributes, and with
    // neither the record is still audited as a generic item change.
    let keys = ddb.keys.or_else(|| new.as_ref().or(old.as_ref()).map(key_subset)).unwrap_or_else(|| {
        missing.push("keys");
        Item::new()
    });
    let key = ItemKey::from_keys(keys);
    if event_name != EventName::Insert && old.is_none() {
        missing.push("old");
    }
    if event_name != EventName::Remove && new.is_none() {
        missing.push("new");
    }

    // TTL deletions are REMOVEs by the service principal; nothing else is attributed to it.
    let ttl_expiry = event_name == EventName::Remove
        && w.user_identity.as_ref().is_some_and(|u| {
            u.principal_id.as_deref() == Some(TTL_PRINCIPAL) && u.kind.as_deref().is_none_or(|k| k == "Service")
        });
    let attribution = attribute(event_name, old.as_ref(), new.as_ref(), ttl_expiry);

    Ok(Change {
        event_id,
        sequence_number,
        event_name,
        key,
        old,
        new,
        missing,
        stream_view_type: ddb.stream_view_type,
        approximate_time: ddb.approximate_creation.as_ref().and_then(WireTime::to_time),
        attribution,
        ttl_expiry,
        event_source_arn: w.event_source_arn,
        region: w.aws_region,
    })
}

/// Stream sequence numbers are decimal digits (up to 40 of them).
pub(crate) fn is_sequence_number(s: &str) -> bool {
    !s.is_empty() && s.len() <= 40 && s.bytes().all(|b| b.is_ascii_digit())
}

fn key_subset(image: &Item) -> Item {
    image
        .iter()
        .filter(|(k, _)| k.as_str() == "PK" || k.as_str() == "SK")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}
