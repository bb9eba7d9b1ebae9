//! Local sinks: JSON-lines files (or memory) for the CLI and tests.

use std::path::PathBuf;
use std::sync::Mutex;

use async_trait::async_trait;
use flagtrail_core::delivery::LogEvent;
use flagtrail_core::notify::Message;

use super::{LogSink, SinkError, TopicSink};

/// Local log sink: appends messages to a JSON-lines file, or keeps them in memory.
#[derive(Debug, Default)]
pub struct LocalLog {
    path: Option<PathBuf>,
    /// Everything written, in order.
    pub events: Mutex<Vec<LogEvent>>,
    /// Number of `put` calls.
    pub calls: Mutex<usize>,
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
    async fn put(&self, events: &[LogEvent]) -> Result<(), SinkError> {
        if let Some(p) = &self.path {
            append_lines(p, events.iter().map(|e| e.message.as_str()))
                .map_err(|e| SinkError::Permanent { sink: "local log", message: e.to_string() })?;
        }
        self.events.lock().map_err(|_| poisoned("local log"))?.extend_from_slice(events);
        *self.calls.lock().map_err(|_| poisoned("local log"))? += 1;
        Ok(())
    }
}

/// Local topic: appends message bodies to a JSON-lines file, or keeps them in memory.
#[derive(Debug, Default)]
pub struct LocalTopic {
    path: Option<PathBuf>,
    /// Everything published, in order.
    pub messages: Mutex<Vec<Message>>,
    /// Number of `publish` calls.
    pub calls: Mutex<usize>,
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
    async fn publish(&self, messages: &[Message]) -> Result<Vec<usize>, SinkError> {
        if let Some(p) = &self.path {
            append_lines(p, messages.iter().map(|m| m.body.as_str()))
                .map_err(|e| SinkError::Permanent { sink: "local topic", message: e.to_string() })?;
        }
        self.messages.lock().map_err(|_| poisoned("local topic"))?.extend_from_slice(messages);
        *self.calls.lock().map_err(|_| poisoned("local topic"))? += 1;
        Ok(Vec::new())
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
