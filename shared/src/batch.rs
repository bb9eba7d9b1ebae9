//! A Lambda stream event as a batch of records, and the partial-failure bookkeeping over it.
//!
//! The envelope keeps each record as raw JSON so one undecodable record becomes a quarantine
//! record instead of failing the whole event.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::audit::QuarantineRecord;
use crate::change::{decode_record, Change};
use crate::config::CoreConfig;
use crate::error::{DecodeError, EventError};

/// A DynamoDB stream event as Lambda delivers it, records still raw.
#[derive(Debug, Deserialize)]
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

/// The partial batch response Lambda reads (`ReportBatchItemFailures`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchResponse {
    /// At most one entry: the lowest sequence number whose outputs are not all durable.
    pub batch_item_failures: Vec<BatchItemFailure>,
}

/// One failed record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchItemFailure {
    /// The record's SequenceNumber; empty means "the whole batch failed".
    pub item_identifier: String,
}

impl BatchResponse {
    /// The same response as `aws_lambda_events`' type (built through serde: it is non-exhaustive).
    pub fn to_lambda(&self) -> aws_lambda_events::streams::DynamoDbEventResponse {
        serde_json::to_value(self).and_then(serde_json::from_value).unwrap_or_default()
    }

    /// The sequence number Lambda resumes from, if any record failed.
    pub fn resume_from(&self) -> Option<&str> {
        self.batch_item_failures.first().map(|f| f.item_identifier.as_str())
    }
}

/// Tracks which records' outputs failed; Lambda resumes from the lowest one and redelivers
/// everything after it, so only that one is reported.
#[derive(Debug, Default)]
pub struct Ledger {
    first_failed: Option<usize>,
}

impl Ledger {
    /// Marks record `index` (position in the batch) as not durable.
    pub fn fail(&mut self, index: usize) {
        self.first_failed = Some(self.first_failed.map_or(index, |f| f.min(index)));
    }

    /// The first failed position, if any.
    pub fn first_failed(&self) -> Option<usize> {
        self.first_failed
    }

    /// The response for a batch: a record without a sequence number cannot be named, so the
    /// nearest earlier one is (redelivering a durable record only makes a duplicate); with none,
    /// the empty identifier makes Lambda retry the whole batch.
    pub fn response(&self, sequence_numbers: &[Option<String>]) -> BatchResponse {
        let Some(first) = self.first_failed.filter(|_| !sequence_numbers.is_empty()) else {
            return BatchResponse::default();
        };
        let id = sequence_numbers[..=first.min(sequence_numbers.len() - 1)]
            .iter()
            .rev()
            .find_map(Option::as_deref)
            .unwrap_or("")
            .to_owned();
        BatchResponse { batch_item_failures: vec![BatchItemFailure { item_identifier: id }] }
    }
}
