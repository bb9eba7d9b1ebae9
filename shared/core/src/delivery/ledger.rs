//! Partial-batch bookkeeping: which records' outputs are not durable, and the response Lambda
//! reads (`ReportBatchItemFailures`). Lambda resumes from the lowest reported sequence number and
//! redelivers everything after it, so only the first failure is reported.
//! <https://docs.aws.amazon.com/lambda/latest/dg/services-ddb-batchfailurereporting.html>

use serde::{Deserialize, Serialize};

use crate::metrics::{Counter, Metrics};

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
    /// Lambda resumes from this record; the empty identifier retries the whole batch.
    pub fn failed_from(item_identifier: impl Into<String>) -> Self {
        BatchResponse { batch_item_failures: vec![BatchItemFailure { item_identifier: item_identifier.into() }] }
    }

    /// Nothing in the batch is known durable: Lambda retries all of it.
    pub fn whole_batch() -> Self {
        Self::failed_from("")
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
            .unwrap_or("");
        BatchResponse::failed_from(id)
    }

    /// The response for a batch, counting the records that will come again.
    pub fn finish(&self, sequence_numbers: &[Option<String>], metrics: &mut Metrics) -> BatchResponse {
        if let Some(first) = self.first_failed {
            metrics.count(Counter::RecordsRetried, sequence_numbers.len().saturating_sub(first) as u64);
        }
        self.response(sequence_numbers)
    }
}
