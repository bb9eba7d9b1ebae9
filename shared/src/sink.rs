//! Sinks behind small traits, and the one place where outputs are cut to the services' limits.
//!
//! The AWS implementations live in [`crate::aws`]; the local ones here write JSON lines for the CLI
//! and tests.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Mutex;

use async_trait::async_trait;
use sha2::{Digest, Sha256};

use crate::error::SinkError;

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
/// SNS PublishBatch: entries per call.
pub const SNS_BATCH_ENTRIES: usize = 10;
/// SNS: bytes per message, and per PublishBatch call, attributes included.
pub const SNS_BATCH_BYTES: usize = 262_144;

/// One CloudWatch Logs event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEvent {
    /// Event time, ms since the epoch.
    pub timestamp_ms: i64,
    /// The message (one JSON document).
    pub message: String,
}

impl LogEvent {
    fn cost(&self) -> usize {
        self.message.len() + LOG_EVENT_OVERHEAD
    }
}

/// Where audit records go (CloudWatch Logs in Lambda, a file locally).
#[async_trait]
pub trait LogSink: Send + Sync {
    /// Writes one batch that already fits PutLogEvents' limits, in chronological order.
    async fn put(&self, events: &[LogEvent]) -> Result<(), SinkError>;
}

/// One SNS message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Subject (e-mail subscribers see it), ≤ 100 characters.
    pub subject: Option<String>,
    /// Body.
    pub body: String,
    /// String message attributes, ≤ 10.
    pub attributes: BTreeMap<String, String>,
    /// FIFO topics: the ordering group (per flag, or per environment for global scope).
    pub group_id: String,
    /// FIFO topics: deduplication id derived from the stream eventID.
    pub dedup_id: String,
}

impl Message {
    /// Size as SNS counts it: body plus attribute names, types and values.
    pub fn size(&self) -> usize {
        self.body.len()
            + self.subject.as_ref().map_or(0, String::len)
            + self.attributes.iter().map(|(k, v)| k.len() + v.len() + "String".len()).sum::<usize>()
    }
}

/// Where alerts and invalidations go (an SNS topic in Lambda, a file locally).
#[async_trait]
pub trait TopicSink: Send + Sync {
    /// Publishes one batch that already fits PublishBatch's limits; returns the positions of the
    /// entries that failed (PublishBatch reports those with HTTP 200).
    async fn publish(&self, messages: &[Message]) -> Result<Vec<usize>, SinkError>;
}

/// Cuts `costs` (in order) into consecutive ranges of at most `max_items` items and `max_bytes`
/// total, also breaking wherever `fits` says an item cannot join the current range.
pub fn plan_batches(
    count: usize,
    cost: impl Fn(usize) -> usize,
    max_items: usize,
    max_bytes: usize,
    mut fits: impl FnMut(Range<usize>, usize) -> bool,
) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for i in 0..count {
        let c = cost(i);
        let full = i > start && (i - start >= max_items || bytes + c > max_bytes || !fits(start..i, i));
        if full {
            out.push(start..i);
            start = i;
            bytes = 0;
        }
        bytes += c;
    }
    if start < count {
        out.push(start..count);
    }
    out
}

/// PutLogEvents batches: by bytes (with the 26-byte overhead), event count, and 24-hour span.
pub fn plan_log_batches(events: &[LogEvent]) -> Vec<Range<usize>> {
    let mut current = usize::MAX;
    let (mut lo, mut hi) = (0, 0);
    plan_batches(
        events.len(),
        |i| events[i].cost(),
        LOG_BATCH_EVENTS,
        LOG_BATCH_BYTES,
        |range, i| {
            if range.start != current {
                current = range.start;
                lo = events[range.start].timestamp_ms;
                hi = lo;
            }
            let t = events[i].timestamp_ms;
            let (new_lo, new_hi) = (lo.min(t), hi.max(t));
            let ok = new_hi - new_lo <= LOG_BATCH_SPAN_MS;
            if ok {
                (lo, hi) = (new_lo, new_hi);
            }
            ok
        },
    )
}

/// PublishBatch batches: ≤ 10 entries and ≤ 256 KB.
pub fn plan_publish_batches(messages: &[Message]) -> Vec<Range<usize>> {
    plan_batches(messages.len(), |i| messages[i].size(), SNS_BATCH_ENTRIES, SNS_BATCH_BYTES, |_, _| true)
}

/// Splits a message over the event limit into linked parts (never dropped, never cut silently):
/// each part is a JSON document carrying the eventId, part number, count, the whole message's
/// SHA-256 and a chunk of its text; concatenating the chunks in order restores it.
pub fn split_oversized(message: String, event_id: &str, sequence_number: Option<&str>) -> Vec<String> {
    if message.len() <= LOG_EVENT_BYTES {
        return vec![message];
    }
    // JSON escaping can grow a chunk up to 6× (\u00XX); 160 KB of text stays under 1 MB escaped.
    const CHUNK: usize = 160 * 1024;
    let sha = hex::encode(Sha256::digest(message.as_bytes()));
    let mut chunks = Vec::new();
    let mut rest = message.as_str();
    while !rest.is_empty() {
        let mut end = CHUNK.min(rest.len());
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        chunks.push(&rest[..end]);
        rest = &rest[end..];
    }
    let parts = chunks.len();
    chunks
        .iter()
        .enumerate()
        .map(|(i, chunk)| {
            serde_json::json!({
                "schemaVersion": crate::audit::SCHEMA_VERSION,
                "recordType": "part",
                "eventId": event_id,
                "sequenceNumber": sequence_number,
                "part": i + 1,
                "parts": parts,
                "sha256": sha,
                "chunk": chunk,
            })
            .to_string()
        })
        .collect()
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(ts: i64, len: usize) -> LogEvent {
        LogEvent { timestamp_ms: ts, message: "x".repeat(len) }
    }

    #[test]
    fn log_batches_respect_bytes_with_overhead() {
        // 1,048,576 / (1000 + 26) = 1022.0: 1022 events (1,048,572 bytes) fit, a 1023rd does not.
        let events: Vec<_> = (0..3000).map(|i| ev(i, 1000)).collect();
        let plan = plan_log_batches(&events);
        assert_eq!(plan[0], 0..1022);
        assert!(plan.iter().all(|r| r.clone().map(|i| events[i].cost()).sum::<usize>() <= LOG_BATCH_BYTES));
        assert_eq!(plan.iter().map(|r| r.len()).sum::<usize>(), 3000);
    }

    #[test]
    fn log_batches_respect_count_and_span() {
        let events: Vec<_> = (0..25_000).map(|i| ev(i, 1)).collect();
        let plan = plan_log_batches(&events);
        assert_eq!(plan, vec![0..10_000, 10_000..20_000, 20_000..25_000]);
        let day = LOG_BATCH_SPAN_MS;
        let events = vec![ev(0, 1), ev(day, 1), ev(day + 1, 1), ev(10, 1)];
        let plan = plan_log_batches(&events);
        assert_eq!(plan, vec![0..2, 2..4]);
        // day + 1 and 5 are within a day of each other; 0 is not within a day of day + 1.
        let events = vec![ev(day + 1, 1), ev(5, 1), ev(0, 1)];
        assert_eq!(plan_log_batches(&events), vec![0..2, 2..3]);
        let events = vec![ev(day + 10, 1), ev(5, 1), ev(0, 1)];
        assert_eq!(plan_log_batches(&events), vec![0..1, 1..3]);
    }

    #[test]
    fn publish_batches_respect_entries_and_bytes() {
        let m = |n: usize| Message {
            subject: None,
            body: "b".repeat(n),
            attributes: BTreeMap::new(),
            group_id: String::new(),
            dedup_id: String::new(),
        };
        let msgs: Vec<_> = (0..25).map(|_| m(10)).collect();
        assert_eq!(plan_publish_batches(&msgs), vec![0..10, 10..20, 20..25]);
        let msgs: Vec<_> = (0..4).map(|_| m(100_000)).collect();
        assert_eq!(plan_publish_batches(&msgs), vec![0..2, 2..4]);
    }

    #[test]
    fn oversized_messages_split_into_linked_parts() {
        let big = format!("{{\"eventId\":\"e1\",\"x\":\"{}\"}}", "é\n".repeat(700_000));
        let parts = split_oversized(big.clone(), "e1", Some("42"));
        assert!(parts.len() > 1);
        let mut joined = String::new();
        for (i, p) in parts.iter().enumerate() {
            assert!(p.len() <= LOG_EVENT_BYTES);
            let v: serde_json::Value = serde_json::from_str(p).unwrap();
            assert_eq!(v["part"], i + 1);
            assert_eq!(v["parts"], parts.len());
            assert_eq!(v["eventId"], "e1");
            joined.push_str(v["chunk"].as_str().unwrap());
        }
        assert_eq!(joined, big);
        assert_eq!(split_oversized("{}".into(), "e", None), vec!["{}".to_string()]);
    }
}
