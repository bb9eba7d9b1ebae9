//! The quarantine record: input that could not be decoded, kept in the trail so nothing is lost.

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::action::Action;
use super::record::SCHEMA_VERSION;
use crate::change::{DecodeError, SalvagedRecord};

/// Raw records up to this size are kept whole inside their quarantine record.
pub const QUARANTINE_INLINE_BYTES: usize = 256 * 1024;
/// A record that could not be decoded, kept in the trail so nothing is lost.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QuarantineRecord {
    schema_version: u32,
    record_type: &'static str,
    /// The stream eventID, or `sha256:<hash of the raw record>` when even that is unreadable.
    pub event_id: String,
    sequence_number: Option<String>,
    event_name: Option<String>,
    action: Action,
    source_stream: Option<String>,
    error: QuarantineError,
    raw_sha256: String,
    raw_bytes: usize,
    /// The raw record, when small enough to keep inline.
    raw: Option<String>,
    /// The record's keys as sent, when the raw record is too large to keep.
    keys: Option<Box<serde_json::value::RawValue>>,
}

#[derive(Serialize)]
struct QuarantineError {
    kind: &'static str,
    message: String,
}

impl QuarantineRecord {
    /// Builds the quarantine record of `raw`, which failed with `error`.
    pub fn new(raw: &str, error: &DecodeError) -> Self {
        let salvaged = if raw.len() <= QUARANTINE_INLINE_BYTES * 8 {
            SalvagedRecord::from_raw(raw)
        } else {
            SalvagedRecord::default()
        };
        let sha = hex::encode(Sha256::digest(raw.as_bytes()));
        let inline = raw.len() <= QUARANTINE_INLINE_BYTES;
        let (sequence_number, keys) = match salvaged.dynamodb {
            Some(d) => (d.sequence_number, if inline { None } else { d.keys }),
            None => (None, None),
        };
        QuarantineRecord {
            schema_version: SCHEMA_VERSION,
            record_type: "quarantine",
            event_id: salvaged.event_id.filter(|s| !s.is_empty()).unwrap_or_else(|| format!("sha256:{sha}")),
            sequence_number,
            event_name: salvaged.event_name,
            action: Action::Quarantined,
            source_stream: salvaged.event_source_arn,
            error: QuarantineError { kind: error.kind(), message: error.to_string() },
            raw_sha256: sha,
            raw_bytes: raw.len(),
            raw: inline.then(|| raw.to_owned()),
            keys,
        }
    }

    /// The stream sequence number, if the record still told a valid one (only those can be
    /// reported to Lambda as a batch item failure).
    pub fn sequence_number(&self) -> Option<&str> {
        self.sequence_number.as_deref().filter(|s| crate::change::is_sequence_number(s))
    }

    /// What was wrong with the record.
    pub fn error_message(&self) -> &str {
        &self.error.message
    }

    /// One line of JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}
