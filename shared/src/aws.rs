//! The AWS sinks: CloudWatch Logs for audit records, SNS for alerts and invalidations.
//!
//! Thin on purpose: batching, splitting and failure bookkeeping live in [`crate::sink`] and
//! [`crate::pipeline`]; these only make the calls and sort their errors into transient/permanent.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_cloudwatchlogs::types::InputLogEvent;
use aws_sdk_sns::types::{MessageAttributeValue, PublishBatchRequestEntry};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::http::Response;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::error::SinkError;
use crate::sink::{LogEvent, LogSink, Message, TopicSink};

/// Retry and timeout settings for every client (see docs/reliability.md): adaptive retry mode
/// with 3 attempts; each attempt ≤ 5 s and an operation ≤ 12 s, so a call gives up well inside
/// a Lambda timeout of 30 s+ and the record is reported for redelivery instead.
pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::adaptive().with_max_attempts(3).with_initial_backoff(Duration::from_millis(100)))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(2))
                .operation_attempt_timeout(Duration::from_secs(5))
                .operation_timeout(Duration::from_secs(12))
                .build(),
        )
        .load()
        .await
}

/// Sorts an SDK error into transient (retry later) or permanent (needs an operator).
pub fn classify<E>(sink: &'static str, err: &SdkError<E, Response>) -> SinkError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let status = err.raw_response().map(|r| r.status().as_u16());
    let code = err.code().unwrap_or("");
    let message = format!("{} ({})", aws_smithy_types::error::display::DisplayErrorContext(err), code);
    let transient = match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => true,
        _ => {
            status.is_some_and(|s| s >= 500 || s == 429)
                || code.contains("Throttl")
                || matches!(
                    code,
                    "ServiceUnavailable"
                        | "InternalFailure"
                        | "InternalError"
                        | "RequestLimitExceeded"
                        | "TooManyRequestsException"
                        | "KMSThrottling"
                )
        }
    };
    if transient {
        SinkError::Transient { sink, message }
    } else {
        SinkError::Permanent { sink, message }
    }
}

/// Audit records to one CloudWatch Logs group, one log stream per UTC day: a stream is created
/// at most once a day (CreateLogStream allows 50 TPS per account), never per invocation.
pub struct CloudWatchLog {
    client: aws_sdk_cloudwatchlogs::Client,
    group: String,
    stream_prefix: String,
    known_streams: Mutex<HashSet<String>>,
}

impl CloudWatchLog {
    /// A sink writing to `group`, streams named `{stream_prefix}YYYY/MM/DD`.
    pub fn new(client: aws_sdk_cloudwatchlogs::Client, group: String, stream_prefix: String) -> Self {
        CloudWatchLog { client, group, stream_prefix, known_streams: Mutex::new(HashSet::new()) }
    }

    /// The stream for events at `timestamp_ms`.
    pub fn stream_for(&self, timestamp_ms: i64) -> String {
        let t = time::OffsetDateTime::from_unix_timestamp(timestamp_ms.div_euclid(1000))
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        format!("{}{:04}/{:02}/{:02}", self.stream_prefix, t.year(), t.month() as u8, t.day())
    }

    async fn create_stream(&self, stream: &str) -> Result<(), SinkError> {
        match self.client.create_log_stream().log_group_name(&self.group).log_stream_name(stream).send().await {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_already_exists_exception()) => Ok(()),
            Err(e) => Err(classify("cloudwatch logs", &e)),
        }
    }

    async fn put_once(
        &self,
        stream: &str,
        events: &[LogEvent],
    ) -> Result<(), SdkError<aws_sdk_cloudwatchlogs::operation::put_log_events::PutLogEventsError, Response>> {
        let input: Vec<InputLogEvent> = events
            .iter()
            .map(|e| {
                InputLogEvent::builder()
                    .timestamp(e.timestamp_ms)
                    .message(e.message.clone())
                    .build()
                    .expect("timestamp and message are set")
            })
            .collect();
        let out = self
            .client
            .put_log_events()
            .log_group_name(&self.group)
            .log_stream_name(stream)
            .set_log_events(Some(input))
            .send()
            .await?;
        if let Some(r) = out.rejected_log_events_info() {
            // The pipeline clamps timestamps, so this means a clock problem: say so loudly.
            tracing::error!(?r, "CloudWatch Logs rejected some audit events");
        }
        Ok(())
    }
}

#[async_trait]
impl LogSink for CloudWatchLog {
    async fn put(&self, events: &[LogEvent]) -> Result<(), SinkError> {
        let Some(first) = events.first() else { return Ok(()) };
        let stream = self.stream_for(first.timestamp_ms);
        let known = self.known_streams.lock().map(|k| k.contains(&stream)).unwrap_or(false);
        match self.put_once(&stream, events).await {
            Ok(()) => {}
            Err(e) if !known && e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) => {
                tracing::info!(stream, "creating audit log stream");
                self.create_stream(&stream).await?;
                self.put_once(&stream, events).await.map_err(|e| classify("cloudwatch logs", &e))?;
            }
            Err(e) => return Err(classify("cloudwatch logs", &e)),
        }
        if let Ok(mut k) = self.known_streams.lock() {
            k.insert(stream);
        }
        Ok(())
    }
}

/// An SNS topic, published to with PublishBatch; FIFO topics get group and deduplication ids.
pub struct SnsTopic {
    client: aws_sdk_sns::Client,
    topic_arn: String,
    fifo: bool,
    sink: &'static str,
}

impl SnsTopic {
    /// A sink publishing to `topic_arn`; `sink` names it in errors ("alert topic", …).
    pub fn new(client: aws_sdk_sns::Client, topic_arn: String, sink: &'static str) -> Self {
        let fifo = topic_arn.ends_with(".fifo");
        SnsTopic { client, topic_arn, fifo, sink }
    }
}

#[async_trait]
impl TopicSink for SnsTopic {
    async fn publish(&self, messages: &[Message]) -> Result<Vec<usize>, SinkError> {
        if messages.is_empty() {
            return Ok(Vec::new());
        }
        let entries = messages
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let mut b = PublishBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message(m.body.clone())
                    .set_subject(m.subject.clone());
                for (k, v) in &m.attributes {
                    let attr = MessageAttributeValue::builder()
                        .data_type("String")
                        .string_value(v.clone())
                        .build()
                        .expect("data type is set");
                    b = b.message_attributes(k.clone(), attr);
                }
                if self.fifo {
                    b = b.message_group_id(m.group_id.clone()).message_deduplication_id(m.dedup_id.clone());
                }
                b.build().expect("id and message are set")
            })
            .collect();
        let out = self
            .client
            .publish_batch()
            .topic_arn(&self.topic_arn)
            .set_publish_batch_request_entries(Some(entries))
            .send()
            .await
            .map_err(|e| classify(self.sink, &e))?;
        let failed: Vec<usize> = out
            .failed()
            .iter()
            .filter_map(|f| {
                tracing::warn!(
                    sink = self.sink,
                    id = f.id(),
                    code = f.code(),
                    sender_fault = f.sender_fault(),
                    "PublishBatch entry failed"
                );
                f.id().parse().ok()
            })
            .collect();
        Ok(failed)
    }
}
