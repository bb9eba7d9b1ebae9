//! The services' documented limits that every plan is cut to.
//!
//! PutLogEvents: <https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutLogEvents.html>;
//! PublishBatch: <https://docs.aws.amazon.com/sns/latest/api/API_PublishBatch.html>;
//! PutRecordBatch: <https://docs.aws.amazon.com/firehose/latest/APIReference/API_PutRecordBatch.html>.

/// PutLogEvents: bytes per call, counting 26 bytes of overhead per event.
pub const LOG_BATCH_BYTES: usize = 1_048_576;
/// PutLogEvents: per-event overhead counted against the batch size.
pub const LOG_EVENT_OVERHEAD: usize = 26;
/// PutLogEvents: events per call.
pub const LOG_BATCH_EVENTS: usize = 10_000;
/// PutLogEvents: largest single event message.
pub const LOG_EVENT_BYTES: usize = LOG_BATCH_BYTES - LOG_EVENT_OVERHEAD;
/// PutLogEvents: events of one call span at most 24 hours.
pub const LOG_BATCH_SPAN_MS: i64 = 24 * 3600 * 1000;
/// Lambda Invoke (synchronous): request payload bytes ("Lambda quotas": 6 MB each for request and
/// response); a saved stream batch fits, since Lambda delivered it within the same limit.
pub const LAMBDA_SYNC_PAYLOAD_BYTES: usize = 6 * 1024 * 1024;
/// SNS PublishBatch: entries per call.
pub const SNS_BATCH_ENTRIES: usize = 10;
/// SNS: bytes per message, and per PublishBatch call, attributes included.
pub const SNS_BATCH_BYTES: usize = 262_144;
/// DynamoDB: bytes of a partition key value.
pub const DDB_PARTITION_KEY_BYTES: usize = 2048;
/// DynamoDB: bytes of an item, attribute names and values counted (400 KB).
pub const DDB_ITEM_BYTES: usize = 400 * 1024;
/// Firehose PutRecordBatch: records per call ("These limits cannot be changed").
pub const FIREHOSE_BATCH_RECORDS: usize = 500;
/// Firehose: bytes of one record before base64 ("1,000 KB"; read as 1,000,000, the stricter).
pub const FIREHOSE_RECORD_BYTES: usize = 1_000_000;
/// Firehose PutRecordBatch: bytes per call ("4 MB"; read as 4,000,000, the stricter).
pub const FIREHOSE_BATCH_BYTES: usize = 4_000_000;
