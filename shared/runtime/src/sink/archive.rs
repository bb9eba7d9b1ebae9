//! The write-once archive fed by the audit function itself (Firehose PutRecordBatch), used where
//! the audit group's subscription cannot feed it: with a data-protection policy, CloudWatch Logs
//! masks subscription data, and the archive must keep the exact bytes the seals cover
//! (`flagtrail_core::integrity::archive` says why and what the records look like).

use async_trait::async_trait;
use aws_sdk_firehose::primitives::Blob;
use aws_sdk_firehose::types::Record;
use flagtrail_core::delivery::{plan_record_batches, LogEvent};
use flagtrail_core::integrity::archive_records;

use super::SinkError;
use crate::sdk::classify;

/// Where the audit function archives what it wrote to the log group.
#[async_trait]
pub trait ArchiveSink: Send + Sync {
    /// Archives events the log group accepted, in order; `Ok` once every one is durable in the
    /// delivery stream.
    async fn put(&self, events: &[LogEvent]) -> Result<(), SinkError>;
}

/// A Firehose delivery stream into the archive bucket.
pub struct FirehoseArchive {
    client: aws_sdk_firehose::Client,
    stream: String,
    log_group: String,
}

/// Attempts per PutRecordBatch for records Firehose answered with an `ErrorCode` (HTTP 200).
const ATTEMPTS: usize = 3;

impl FirehoseArchive {
    /// Archives `log_group`'s events into delivery stream `stream`.
    pub fn new(client: aws_sdk_firehose::Client, stream: String, log_group: String) -> Self {
        FirehoseArchive { client, stream, log_group }
    }

    /// One call; returns the positions Firehose did not take.
    async fn put_batch(&self, records: &[&Vec<u8>]) -> Result<Vec<usize>, SinkError> {
        let input = records.iter().map(|r| Record::builder().data(Blob::new(r.to_vec())).build().expect("data is set"));
        let out = self
            .client
            .put_record_batch()
            .delivery_stream_name(&self.stream)
            .set_records(Some(input.collect()))
            .send()
            .await
            .map_err(|e| classify("archive stream", &e))?;
        if out.failed_put_count() == 0 {
            return Ok(Vec::new());
        }
        // "Even if the PutRecordBatch call succeeds, the value of FailedPutCount may be greater
        // than 0": each response entry lines up with its record and carries an ErrorCode.
        let failed: Vec<usize> = out
            .request_responses()
            .iter()
            .enumerate()
            .filter(|(_, r)| r.error_code().is_some())
            .map(|(i, _)| i)
            .collect();
        if let Some(r) = out.request_responses().iter().find(|r| r.error_code().is_some()) {
            tracing::warn!(
                failed = failed.len(),
                code = r.error_code(),
                message = r.error_message(),
                "PutRecordBatch entries failed"
            );
        }
        Ok(failed)
    }
}

#[async_trait]
impl ArchiveSink for FirehoseArchive {
    async fn put(&self, events: &[LogEvent]) -> Result<(), SinkError> {
        let records = archive_records(&self.log_group, events)
            .map_err(|e| SinkError::Permanent { sink: "archive stream", message: e.to_string() })?;
        let sizes: Vec<usize> = records.iter().map(Vec::len).collect();
        for batch in plan_record_batches(&sizes) {
            let mut pending: Vec<&Vec<u8>> = records[batch].iter().collect();
            for attempt in 1..=ATTEMPTS {
                let failed = self.put_batch(&pending).await?;
                if failed.is_empty() {
                    break;
                }
                if attempt == ATTEMPTS {
                    let message = format!("{} record(s) still failed after {ATTEMPTS} attempts", failed.len());
                    return Err(SinkError::Transient { sink: "archive stream", message });
                }
                pending = failed.into_iter().map(|i| pending[i]).collect();
            }
        }
        Ok(())
    }
}
