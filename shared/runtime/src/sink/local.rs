//! Local sinks: JSON-lines files (or memory) for the CLI and tests.

use std::path::PathBuf;
use std::sync::Mutex;

use async_trait::async_trait;
use flagtrail_core::delivery::rules::{check_log_batch, check_publish_batch};
use flagtrail_core::delivery::LogEvent;
use flagtrail_core::notify::Message;

use super::{EntryFailure, LogSink, SinkError, TopicSink};
use crate::pipeline::now_ms;

/// Local log sink: appends messages to a JSON-lines file, or keeps them in memory. It refuses
/// what PutLogEvents refuses and drops what it would reject (see
/// `flagtrail_core::delivery::rules`), so a test cannot pass on a call AWS would not honour.
#[derive(Debug, Default)]
pub struct LocalLog {
    path: Option<PathBuf>,
    /// Everything written, in order.
    pub events: Mutex<Vec<LogEvent>>,
    /// Number of `put` calls.
    pub calls: Mutex<usize>,
    /// The clock the too-old/too-new rules are checked against; `None`: the system clock.
    pub clock_ms: Option<i64>,
    /// The log group's retention: older events are rejected as expired.
    pub retention_days: Option<u32>,
}

impl LocalLog {
    /// A sink that also appends to `path` (created or truncated).
    pub fn to_file(path: PathBuf) -> std::io::Result<Self> {
        std::fs::write(&path, b"")?;
        Ok(LocalLog { path: Some(path), ..Default::default() })
    }
}

#[async_trait]
impl LogSink for LocalLog {
    async fn put(&self, events: &[LogEvent]) -> Result<Vec<usize>, SinkError> {
        let now = self.clock_ms.unwrap_or_else(now_ms);
        let rejected = check_log_batch(events, now, self.retention_days)
            .map_err(|v| SinkError::Permanent {
                sink: "local log",
                message: format!("InvalidParameterException: {v}"),
            })?
            .positions(events.len());
        let written: Vec<LogEvent> =
            events.iter().enumerate().filter(|(i, _)| !rejected.contains(i)).map(|(_, e)| e.clone()).collect();
        if let Some(p) = &self.path {
            append_lines(p, written.iter().map(|e| e.message.as_str()))
                .map_err(|e| SinkError::Permanent { sink: "local log", message: e.to_string() })?;
        }
        self.events.lock().map_err(|_| poisoned("local log"))?.extend(written);
        *self.calls.lock().map_err(|_| poisoned("local log"))? += 1;
        Ok(rejected)
    }
}

/// Local topic: appends message bodies to a JSON-lines file, or keeps them in memory. It refuses
/// what PublishBatch refuses (whole calls, or single entries as the sender's fault), so a test
/// cannot pass on a message SNS would not publish.
#[derive(Debug, Default)]
pub struct LocalTopic {
    path: Option<PathBuf>,
    /// Everything published, in order.
    pub messages: Mutex<Vec<Message>>,
    /// Number of `publish` calls.
    pub calls: Mutex<usize>,
    /// A FIFO topic (group and deduplication ids are checked).
    pub fifo: bool,
}

impl LocalTopic {
    /// A topic that also appends bodies to `path` (created or truncated).
    pub fn to_file(path: PathBuf) -> std::io::Result<Self> {
        std::fs::write(&path, b"")?;
        Ok(LocalTopic { path: Some(path), ..Default::default() })
    }
}

#[async_trait]
impl TopicSink for LocalTopic {
    async fn publish(&self, messages: &[Message]) -> Result<Vec<EntryFailure>, SinkError> {
        let failed: Vec<EntryFailure> = check_publish_batch(messages, self.fifo)
            .map_err(|v| SinkError::Permanent { sink: "local topic", message: v.to_string() })?
            .into_iter()
            .map(|(index, v)| EntryFailure { index, sender_fault: true, reason: format!("InvalidParameter: {v}") })
            .collect();
        let published: Vec<Message> = messages
            .iter()
            .enumerate()
            .filter(|(i, _)| !failed.iter().any(|f| f.index == *i))
            .map(|(_, m)| m.clone())
            .collect();
        if let Some(p) = &self.path {
            append_lines(p, published.iter().map(|m| m.body.as_str()))
                .map_err(|e| SinkError::Permanent { sink: "local topic", message: e.to_string() })?;
        }
        self.messages.lock().map_err(|_| poisoned("local topic"))?.extend(published);
        *self.calls.lock().map_err(|_| poisoned("local topic"))? += 1;
        Ok(failed)
    }

    fn fifo(&self) -> bool {
        self.fifo
    }
}

fn poisoned(sink: &'static str) -> SinkError {
    SinkError::Permanent { sink, message: "lock poisoned".into() }
}

fn append_lines<'a>(path: &PathBuf, lines: impl Iterator<Item = &'a str>) -> std::io::Result<()> {
    use std::io::Write;
    let mut f = std::io::BufWriter::new(std::fs::OpenOptions::new().append(true).create(true).open(path)?);
    for l in lines {
        f.write_all(l.as_bytes())?;
        f.write_all(b"\n")?;
    }
    f.flush()
}
