//! Sinks behind small traits: CloudWatch Logs and SNS in Lambda, local files in the CLI and tests.
//! Batching, splitting and failure bookkeeping are not here (see `flagtrail_core::delivery`):
//! a sink makes one call with a batch that already fits the service's limits.

use async_trait::async_trait;
use flagtrail_core::delivery::LogEvent;
use flagtrail_core::notify::Message;

mod cloudwatch;
mod error;
mod local;
mod sns;

pub use cloudwatch::CloudWatchLog;
pub use error::SinkError;
pub use local::{LocalLog, LocalTopic};
pub use sns::SnsTopic;

/// Where audit records go (CloudWatch Logs in Lambda, a file locally).
#[async_trait]
pub trait LogSink: Send + Sync {
    /// Writes one batch that already fits PutLogEvents' limits, in chronological order.
    async fn put(&self, events: &[LogEvent]) -> Result<(), SinkError>;
}

/// Where alerts and invalidations go (an SNS topic in Lambda, a file locally).
#[async_trait]
pub trait TopicSink: Send + Sync {
    /// Publishes one batch that already fits PublishBatch's limits; returns the positions of the
    /// entries that failed (PublishBatch reports those with HTTP 200).
    async fn publish(&self, messages: &[Message]) -> Result<Vec<usize>, SinkError>;
}
