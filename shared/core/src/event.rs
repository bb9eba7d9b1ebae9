//! A Lambda stream event as a batch of raw records, each decoded into a change or a quarantine record.
//!
//! The envelope keeps each record as raw JSON so one undecodable record becomes a quarantine
//! record instead of failing the whole event.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::audit::QuarantineRecord;
use crate::change::{decode_record, Change, DecodeError};
use crate::config::CoreConfig;

/// A DynamoDB stream event as Lambda delivers it, records still raw (serialized back byte for byte).
#[derive(Debug, Deserialize, Serialize)]
pub struct StreamEvent {
    /// The records, in shard order.
    #[serde(rename = "Records")]
    pub records: Vec<Box<RawValue>>,
}

impl StreamEvent {
    /// Parses an event; errors say what is wrong (and where) in the text.
    pub fn from_json(text: &str) -> Result<Self, EventError> {
        Ok(serde_json::from_str(text)?)
    }
}

/// One record of a batch after decoding.
pub enum Entry {
    /// A change of the table.
    Change(Box<Change>),
    /// A record that could not be decoded.
    Quarantined(Box<QuarantineRecord>),
}

impl Entry {
    /// The sequence number, when known (quarantined records may not tell it).
    pub fn sequence_number(&self) -> Option<&str> {
        match self {
            Entry::Change(c) => Some(&c.sequence_number),
            Entry::Quarantined(q) => q.sequence_number(),
        }
    }
}

/// Decodes every record; never fails as a whole.
pub fn decode_batch(event: &StreamEvent, config: &CoreConfig) -> Vec<Entry> {
    event.records.iter().map(|raw| decode_entry(raw.get(), config)).collect()
}

/// Decodes one raw record into a change or its quarantine record.
pub fn decode_entry(raw: &str, config: &CoreConfig) -> Entry {
    let result = if raw.len() > config.max_record_bytes {
        Err(DecodeError::TooLarge { size: raw.len(), limit: config.max_record_bytes })
    } else {
        decode_record(raw)
    };
    match result {
        Ok(c) => Entry::Change(Box::new(c)),
        Err(e) => {
            // Kind and location only: parser messages can quote attribute values, which may be
            // secrets; the full message goes to the (protected) audit trail's quarantine record.
            tracing::warn!(kind = e.kind(), at = e.path(), bytes = raw.len(), "quarantining undecodable stream record");
            Entry::Quarantined(Box::new(QuarantineRecord::new(raw, &e)))
        }
    }
}

/// A whole Lambda event (or replay file) that is not a DynamoDB stream event.
#[derive(Debug, thiserror::Error)]
#[error("not a DynamoDB stream event: {0}")]
pub struct EventError(#[from] pub serde_json::Error);
