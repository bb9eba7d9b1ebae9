//! Audit records to a CloudWatch Logs group with PutLogEvents.

use std::collections::HashSet;
use std::sync::Mutex;

use async_trait::async_trait;
use aws_sdk_cloudwatchlogs::types::InputLogEvent;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::http::Response;
use flagtrail_core::delivery::rules::RejectedEvents;
use flagtrail_core::delivery::LogEvent;

use super::{LogSink, SinkError};
use crate::sdk::classify;

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
    ) -> Result<Vec<usize>, SdkError<aws_sdk_cloudwatchlogs::operation::put_log_events::PutLogEventsError, Response>>
    {
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
        let Some(r) = out.rejected_log_events_info() else { return Ok(Vec::new()) };
        // HTTP 200, yet these events were not written. The pipeline clamps timestamps into the
        // group's window, so this means a clock or retention misconfiguration: say so loudly.
        tracing::error!(?r, "CloudWatch Logs rejected some audit events; they will be retried");
        let index = |i: Option<i32>| i.and_then(|i| usize::try_from(i).ok());
        let rejected = RejectedEvents {
            too_old_end: index(r.too_old_log_event_end_index()),
            // Documented only as "the expired log events": read as inclusive, so at worst one
            // written event is reported too and comes again as a duplicate (same eventId).
            expired_end: index(r.expired_log_event_end_index()).map(|i| i + 1),
            too_new_start: index(r.too_new_log_event_start_index()),
        };
        Ok(rejected.positions(events.len()))
    }
}

#[async_trait]
impl LogSink for CloudWatchLog {
    async fn put(&self, events: &[LogEvent]) -> Result<Vec<usize>, SinkError> {
        let Some(first) = events.first() else { return Ok(Vec::new()) };
        let stream = self.stream_for(first.timestamp_ms);
        let known = self.known_streams.lock().map(|k| k.contains(&stream)).unwrap_or(false);
        let rejected = match self.put_once(&stream, events).await {
            Ok(rejected) => rejected,
            Err(e) if !known && e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) => {
                tracing::info!(stream, "creating audit log stream");
                self.create_stream(&stream).await?;
                self.put_once(&stream, events).await.map_err(|e| classify("cloudwatch logs", &e))?
            }
            Err(e) => return Err(classify("cloudwatch logs", &e)),
        };
        if let Ok(mut k) = self.known_streams.lock() {
            k.insert(stream);
        }
        Ok(rejected)
    }
}
