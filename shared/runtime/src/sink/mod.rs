//! Sinks behind small traits: CloudWatch Logs, SNS and the DynamoDB marks table in Lambda, local files in the CLI and tests.
//! Batching, splitting and failure bookkeeping are not here (see `flagtrail_core::delivery`):
//! a sink makes one call with a batch that already fits the service's limits.

use async_trait::async_trait;
use flagtrail_core::delivery::LogEvent;
use flagtrail_core::notify::Message;

mod archive;
mod checkpoint;
mod cloudwatch;
mod error;
mod local;
mod marks;
mod seal;
mod sns;
mod witness;

pub use archive::{ArchiveSink, FirehoseArchive};
pub use checkpoint::{sign_checkpoint, CheckpointSigner, KmsCheckpointSigner, LocalCheckpointSigner};
pub use cloudwatch::CloudWatchLog;
pub use error::SinkError;
pub use local::{LocalLog, LocalTopic};
pub use marks::{DynamoDbMarks, LocalMarks, MarkSink, Raised, ITEM_TOO_LARGE};
pub use seal::{KmsSigner, LocalSigner, SealSigner};
pub use sns::SnsTopic;
pub use witness::{answer, function_url_region, CheckpointWitness, HttpWitness, InProcessWitness, WitnessCallError};

/// Where audit records go (CloudWatch Logs in Lambda, a file locally).
#[async_trait]
pub trait LogSink: Send + Sync {
    /// Writes one batch that already fits PutLogEvents' limits, in chronological order; returns the
    /// positions of the events the service accepted the call for but did not write
    /// (`rejectedLogEventsInfo`, HTTP 200): those are not durable.
    async fn put(&self, events: &[LogEvent]) -> Result<Vec<usize>, SinkError>;
}

/// One entry of a PublishBatch call that was not published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryFailure {
    /// Position in the call.
    pub index: usize,
    /// SNS says the entry itself was at fault (`SenderFault`): sending it again as-is will fail again.
    pub sender_fault: bool,
    /// The service's code and message.
    pub reason: String,
}

/// Where alerts and invalidations go (an SNS topic in Lambda, a file locally).
#[async_trait]
pub trait TopicSink: Send + Sync {
    /// Publishes one batch that already fits PublishBatch's limits; returns the entries that
    /// failed (PublishBatch reports those with HTTP 200).
    async fn publish(&self, messages: &[Message]) -> Result<Vec<EntryFailure>, SinkError>;

    /// A FIFO topic: SNS delivers each message group in order, so the pipeline keeps that order.
    fn fifo(&self) -> bool {
        false
    }
}
