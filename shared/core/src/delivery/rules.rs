//! The services' documented request constraints, as checks: what real SNS and CloudWatch Logs
//! refuse, so that our local sinks and the strict stand-in refuse it too (moto accepts all of it),
//! and what the core's messages are built to satisfy.
//!
//! - SNS Publish/PublishBatch: <https://docs.aws.amazon.com/sns/latest/api/API_PublishBatch.html>,
//!   <https://docs.aws.amazon.com/sns/latest/api/API_Publish.html> (subject "UTF-8 text with no
//!   line breaks or control characters, and less than 100 characters long"; MessageGroupId and
//!   MessageDeduplicationId "up to 128 alphanumeric characters and punctuation"; "up to 10
//!   messages"; message and batch ≤ 262,144 bytes, attribute names, types and values included;
//!   attribute "name, type, and value must not be empty").
//! - SNS message attributes: <https://docs.aws.amazon.com/sns/latest/dg/sns-message-attributes.html>
//!   (names of A-Z a-z 0-9 `_` `-` `.`, not starting or ending with `.`, no `..`, ≤ 256, not
//!   `AWS.`/`Amazon.`; "a maximum of 10 message attributes" reach a raw-delivery SQS subscriber,
//!   which discards messages with more).
//! - SQS message characters (what an SQS subscriber accepts in bodies and attribute values):
//!   `#x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF`.
//! - PutLogEvents: <https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutLogEvents.html>
//!   (≤ 10,000 events; ≤ 1,048,576 bytes counting 26 per event; chronological order; ≤ 24 h span;
//!   events > 2 h ahead, > 14 days old or older than the group's retention "are rejected while
//!   processing remaining valid events" and come back in `rejectedLogEventsInfo`).
//! - Firehose PutRecordBatch: <https://docs.aws.amazon.com/firehose/latest/APIReference/API_PutRecordBatch.html>
//!   ("up to 500 records", each "as large as 1,000 KB (before base64 encoding), up to a limit of
//!   4 MB for the entire request. These limits cannot be changed.").

use std::fmt;

use super::limits::{
    FIREHOSE_BATCH_BYTES, FIREHOSE_BATCH_RECORDS, FIREHOSE_RECORD_BYTES, LOG_BATCH_BYTES, LOG_BATCH_EVENTS,
    LOG_BATCH_SPAN_MS, LOG_EVENT_BYTES, SNS_BATCH_BYTES, SNS_BATCH_ENTRIES,
};
use super::log_event::LogEvent;
use crate::notify::Message;

/// SNS: a subject must be shorter than this many characters.
pub const SNS_SUBJECT_CHARS: usize = 100;
/// SNS → raw-delivery SQS: more attributes than this and the subscriber discards the message.
pub const SNS_MAX_ATTRIBUTES: usize = 10;
/// SNS: attribute name length.
pub const SNS_ATTRIBUTE_NAME_CHARS: usize = 256;
/// SNS FIFO: group and deduplication id length.
pub const SNS_FIFO_ID_CHARS: usize = 128;
/// PutLogEvents: events more than this far ahead are rejected.
pub const LOG_MAX_AHEAD_MS: i64 = 2 * 3600 * 1000;
/// PutLogEvents: events older than this are rejected (or older than the group's retention).
pub const LOG_MAX_AGE_MS: i64 = 14 * 24 * 3600 * 1000;

/// Something SNS would refuse in one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageViolation {
    /// Subject of 100 characters or more.
    SubjectTooLong(usize),
    /// Subject with a line break or control character.
    SubjectControlCharacter,
    /// Subject present but empty.
    SubjectEmpty,
    /// Empty body.
    BodyEmpty,
    /// A character SQS subscribers refuse, in the body or an attribute value.
    InvalidCharacter(&'static str),
    /// An attribute name outside SNS's rules.
    AttributeName(String),
    /// An attribute with an empty value.
    AttributeEmpty(String),
    /// A `String.Array` attribute whose value is not a JSON array of strings.
    AttributeArray(String),
    /// More than 10 attributes.
    TooManyAttributes(usize),
    /// Body + subject + attributes over 262,144 bytes.
    TooLarge(usize),
    /// A FIFO group id that is empty, too long or has characters outside alphanumerics and punctuation.
    GroupId(String),
    /// A FIFO deduplication id likewise.
    DeduplicationId(String),
}

impl fmt::Display for MessageViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MessageViolation::SubjectTooLong(n) => write!(f, "subject of {n} characters (SNS needs fewer than 100)"),
            MessageViolation::SubjectControlCharacter => write!(f, "subject with a line break or control character"),
            MessageViolation::SubjectEmpty => write!(f, "empty subject"),
            MessageViolation::BodyEmpty => write!(f, "empty message body"),
            MessageViolation::InvalidCharacter(at) => write!(f, "character SQS refuses in {at}"),
            MessageViolation::AttributeName(n) => write!(f, "invalid message attribute name {n:?}"),
            MessageViolation::AttributeEmpty(n) => write!(f, "message attribute {n:?} has an empty value"),
            MessageViolation::AttributeArray(n) => {
                write!(f, "String.Array attribute {n:?} is not a JSON array of strings")
            }
            MessageViolation::TooManyAttributes(n) => write!(f, "{n} message attributes (raw SQS delivery drops > 10)"),
            MessageViolation::TooLarge(n) => write!(f, "message of {n} bytes (SNS allows 262,144)"),
            MessageViolation::GroupId(g) => write!(f, "invalid FIFO MessageGroupId {g:?}"),
            MessageViolation::DeduplicationId(d) => write!(f, "invalid FIFO MessageDeduplicationId {d:?}"),
        }
    }
}

/// Something SNS would refuse in a whole PublishBatch call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchViolation {
    /// No entries (EmptyBatchRequest).
    Empty,
    /// More than 10 entries (TooManyEntriesInBatchRequest).
    TooManyEntries(usize),
    /// Over 262,144 bytes in total (BatchRequestTooLong).
    TooLong(usize),
}

impl fmt::Display for BatchViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BatchViolation::Empty => write!(f, "PublishBatch with no entries"),
            BatchViolation::TooManyEntries(n) => write!(f, "PublishBatch with {n} entries (at most 10)"),
            BatchViolation::TooLong(n) => write!(f, "PublishBatch of {n} bytes (at most 262,144)"),
        }
    }
}

/// True for characters an SQS subscriber accepts (SNS forwards bodies and attributes to SQS).
pub fn sqs_char(c: char) -> bool {
    matches!(c, '\u{9}' | '\u{A}' | '\u{D}' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// True for a valid SNS message attribute name.
pub fn attribute_name_ok(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    !name.is_empty()
        && name.chars().count() <= SNS_ATTRIBUTE_NAME_CHARS
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        && !name.starts_with('.')
        && !name.ends_with('.')
        && !name.contains("..")
        && !lower.starts_with("aws.")
        && !lower.starts_with("amazon.")
}

/// True for a valid FIFO group or deduplication id: 1–128 ASCII alphanumerics and punctuation.
pub fn fifo_id_ok(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= SNS_FIFO_ID_CHARS
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b.is_ascii_punctuation())
}

/// Every rule one message breaks (empty: SNS and its SQS subscribers accept it).
pub fn check_message(m: &Message, fifo: bool) -> Vec<MessageViolation> {
    let mut out = Vec::new();
    if let Some(s) = &m.subject {
        let n = s.chars().count();
        if n == 0 {
            out.push(MessageViolation::SubjectEmpty);
        }
        if n >= SNS_SUBJECT_CHARS {
            out.push(MessageViolation::SubjectTooLong(n));
        }
        if s.chars().any(char::is_control) {
            out.push(MessageViolation::SubjectControlCharacter);
        }
    }
    if m.body.is_empty() {
        out.push(MessageViolation::BodyEmpty);
    }
    if !m.body.chars().all(sqs_char) {
        out.push(MessageViolation::InvalidCharacter("the body"));
    }
    if m.attributes.len() > SNS_MAX_ATTRIBUTES {
        out.push(MessageViolation::TooManyAttributes(m.attributes.len()));
    }
    for (k, v) in &m.attributes {
        if !attribute_name_ok(k) {
            out.push(MessageViolation::AttributeName(k.clone()));
        }
        if v.is_empty() {
            out.push(MessageViolation::AttributeEmpty(k.clone()));
        }
        if !v.chars().all(sqs_char) {
            out.push(MessageViolation::InvalidCharacter("an attribute value"));
        }
        // SNS refuses a String.Array value that is not a JSON array (of strings, here).
        if m.string_arrays.contains(k) && serde_json::from_str::<Vec<String>>(v).is_err() {
            out.push(MessageViolation::AttributeArray(k.clone()));
        }
    }
    if m.size() > SNS_BATCH_BYTES {
        out.push(MessageViolation::TooLarge(m.size()));
    }
    if fifo {
        if !fifo_id_ok(&m.group_id) {
            out.push(MessageViolation::GroupId(m.group_id.clone()));
        }
        if !fifo_id_ok(&m.dedup_id) {
            out.push(MessageViolation::DeduplicationId(m.dedup_id.clone()));
        }
    }
    out
}

/// Checks a PublishBatch call: `Err` when SNS refuses the whole call, otherwise the entries it
/// would fail (position, first violation), each a sender fault.
pub fn check_publish_batch(messages: &[Message], fifo: bool) -> Result<Vec<(usize, MessageViolation)>, BatchViolation> {
    if messages.is_empty() {
        return Err(BatchViolation::Empty);
    }
    if messages.len() > SNS_BATCH_ENTRIES {
        return Err(BatchViolation::TooManyEntries(messages.len()));
    }
    let total: usize = messages.iter().map(Message::size).sum();
    if total > SNS_BATCH_BYTES {
        return Err(BatchViolation::TooLong(total));
    }
    Ok(messages
        .iter()
        .enumerate()
        .filter_map(|(i, m)| check_message(m, fifo).into_iter().next().map(|v| (i, v)))
        .collect())
}

/// Why CloudWatch Logs refuses a whole PutLogEvents call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogBatchViolation {
    /// No events.
    Empty,
    /// More than 10,000 events.
    TooManyEvents(usize),
    /// Over 1,048,576 bytes counting 26 per event.
    TooLarge(usize),
    /// An event message that is empty or over the event size limit.
    EventSize {
        /// Position in the call.
        index: usize,
        /// Its size in bytes.
        bytes: usize,
    },
    /// Events not in chronological order.
    NotChronological {
        /// The first event earlier than its predecessor.
        index: usize,
    },
    /// Accepted events spanning more than 24 hours.
    SpanTooLong(i64),
}

impl fmt::Display for LogBatchViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LogBatchViolation::Empty => write!(f, "PutLogEvents with no events"),
            LogBatchViolation::TooManyEvents(n) => write!(f, "PutLogEvents with {n} events (at most 10,000)"),
            LogBatchViolation::TooLarge(n) => write!(f, "PutLogEvents of {n} bytes with overhead (at most 1,048,576)"),
            LogBatchViolation::EventSize { index, bytes } => write!(f, "log event {index} of {bytes} bytes"),
            LogBatchViolation::NotChronological { index } => {
                write!(f, "log event {index} is out of chronological order")
            }
            LogBatchViolation::SpanTooLong(ms) => write!(f, "log events span {ms} ms (at most 24 hours)"),
        }
    }
}

/// The events of an accepted call that CloudWatch Logs did not write, as `rejectedLogEventsInfo`
/// reports them (positions in the call; ends exclusive, start inclusive).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RejectedEvents {
    /// Events `[0, end)` older than 14 days.
    pub too_old_end: Option<usize>,
    /// Events `[0, end)` older than the group's retention.
    pub expired_end: Option<usize>,
    /// Events `[start, n)` more than 2 hours ahead.
    pub too_new_start: Option<usize>,
}

impl RejectedEvents {
    /// True when every event was written.
    pub fn is_empty(&self) -> bool {
        *self == RejectedEvents::default()
    }

    /// Positions of the rejected events in a call of `n` events.
    pub fn positions(&self, n: usize) -> Vec<usize> {
        let old = self.too_old_end.unwrap_or(0).max(self.expired_end.unwrap_or(0)).min(n);
        let new = self.too_new_start.unwrap_or(n).min(n);
        (0..old).chain(new.max(old)..n).collect()
    }
}

/// Checks a PutLogEvents call made at `now_ms` to a group keeping events `retention_days` (if
/// set): `Err` when the whole call fails, otherwise which events would be rejected.
pub fn check_log_batch(
    events: &[LogEvent],
    now_ms: i64,
    retention_days: Option<u32>,
) -> Result<RejectedEvents, LogBatchViolation> {
    if events.is_empty() {
        return Err(LogBatchViolation::Empty);
    }
    if events.len() > LOG_BATCH_EVENTS {
        return Err(LogBatchViolation::TooManyEvents(events.len()));
    }
    let bytes: usize = events.iter().map(LogEvent::cost).sum();
    if bytes > LOG_BATCH_BYTES {
        return Err(LogBatchViolation::TooLarge(bytes));
    }
    for (index, e) in events.iter().enumerate() {
        if e.message.is_empty() || e.message.len() > LOG_EVENT_BYTES {
            return Err(LogBatchViolation::EventSize { index, bytes: e.message.len() });
        }
        if index > 0 && e.timestamp_ms < events[index - 1].timestamp_ms {
            return Err(LogBatchViolation::NotChronological { index });
        }
    }
    let too_old = |t: i64| t < now_ms - LOG_MAX_AGE_MS;
    let expired = |t: i64| retention_days.is_some_and(|d| t < now_ms - i64::from(d) * 24 * 3600 * 1000);
    let too_new = |t: i64| t > now_ms + LOG_MAX_AHEAD_MS;
    let old_end = events.iter().take_while(|e| too_old(e.timestamp_ms)).count();
    let expired_end = events.iter().take_while(|e| too_old(e.timestamp_ms) || expired(e.timestamp_ms)).count();
    let new_start = events.len() - events.iter().rev().take_while(|e| too_new(e.timestamp_ms)).count();
    let valid = &events[expired_end.max(old_end)..new_start.max(expired_end)];
    if let (Some(first), Some(last)) = (valid.first(), valid.last()) {
        let span = last.timestamp_ms - first.timestamp_ms;
        if span > LOG_BATCH_SPAN_MS {
            return Err(LogBatchViolation::SpanTooLong(span));
        }
    }
    Ok(RejectedEvents {
        too_old_end: (old_end > 0).then_some(old_end),
        expired_end: (expired_end > old_end).then_some(expired_end),
        too_new_start: (new_start < events.len()).then_some(new_start),
    })
}

/// Why Firehose refuses a PutRecordBatch call whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordBatchViolation {
    /// No records, or more than 500.
    RecordCount(usize),
    /// A record that is empty or over 1,000 KB.
    RecordSize {
        /// Position in the call.
        index: usize,
        /// Its size in bytes.
        bytes: usize,
    },
    /// Over 4 MB in all.
    TooLarge(usize),
}

impl fmt::Display for RecordBatchViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::RecordCount(n) => write!(f, "{n} records (1 to {FIREHOSE_BATCH_RECORDS})"),
            Self::RecordSize { index, bytes } => {
                write!(f, "record {index} is {bytes} bytes (1 to {FIREHOSE_RECORD_BYTES})")
            }
            Self::TooLarge(n) => write!(f, "{n} bytes in all (at most {FIREHOSE_BATCH_BYTES})"),
        }
    }
}

/// Checks a PutRecordBatch call over records of `sizes` bytes (before base64).
pub fn check_record_batch(sizes: &[usize]) -> Result<(), RecordBatchViolation> {
    if sizes.is_empty() || sizes.len() > FIREHOSE_BATCH_RECORDS {
        return Err(RecordBatchViolation::RecordCount(sizes.len()));
    }
    if let Some((index, &bytes)) = sizes.iter().enumerate().find(|(_, &b)| b == 0 || b > FIREHOSE_RECORD_BYTES) {
        return Err(RecordBatchViolation::RecordSize { index, bytes });
    }
    let total: usize = sizes.iter().sum();
    if total > FIREHOSE_BATCH_BYTES {
        return Err(RecordBatchViolation::TooLarge(total));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn msg(subject: Option<&str>, attrs: &[(&str, &str)]) -> Message {
        Message {
            subject: subject.map(str::to_owned),
            body: "{}".into(),
            attributes: attrs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect::<BTreeMap<_, _>>(),
            group_id: "prod/flag".into(),
            dedup_id: "abc".into(),
            ..Default::default()
        }
    }

    #[test]
    fn subjects_must_be_short_and_single_line() {
        assert!(check_message(&msg(Some(&"a".repeat(99)), &[]), false).is_empty());
        assert_eq!(
            check_message(&msg(Some(&"a".repeat(100)), &[]), false),
            vec![MessageViolation::SubjectTooLong(100)]
        );
        assert_eq!(check_message(&msg(Some("a\nb"), &[]), false), vec![MessageViolation::SubjectControlCharacter]);
        assert!(check_message(&msg(Some("キルスイッチ"), &[]), false).is_empty(), "UTF-8 is allowed");
    }

    #[test]
    fn attributes_need_names_values_and_a_count_sqs_keeps() {
        assert_eq!(
            check_message(&msg(None, &[("owner", "")]), false),
            vec![MessageViolation::AttributeEmpty("owner".into())]
        );
        for bad in ["", ".a", "a.", "a..b", "AWS.x", "amazon.y", "a b", "ä"] {
            assert!(!attribute_name_ok(bad), "{bad:?}");
        }
        assert!(attribute_name_ok("flag.key_1-x"));
        let many: Vec<(String, String)> = (0..11).map(|i| (format!("a{i}"), "v".into())).collect();
        let refs: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(check_message(&msg(None, &refs), false), vec![MessageViolation::TooManyAttributes(11)]);
        assert_eq!(
            check_message(&msg(None, &[("k", "a\u{1}")]), false),
            vec![MessageViolation::InvalidCharacter("an attribute value")]
        );
    }

    #[test]
    fn fifo_ids_are_ascii_alphanumerics_and_punctuation() {
        assert!(fifo_id_ok("prod/checkout-v2"));
        assert!(!fifo_id_ok("prod/チェックアウト"));
        assert!(!fifo_id_ok("prod/a b"));
        assert!(!fifo_id_ok(&"a".repeat(129)));
        let mut m = msg(None, &[]);
        m.group_id = "prod/a b".into();
        assert!(check_message(&m, false).is_empty(), "standard topics ignore the group id");
        assert_eq!(check_message(&m, true), vec![MessageViolation::GroupId("prod/a b".into())]);
    }

    #[test]
    fn publish_batches_are_refused_whole_or_per_entry() {
        let ok = msg(None, &[]);
        assert_eq!(check_publish_batch(&[], false), Err(BatchViolation::Empty));
        assert_eq!(check_publish_batch(&vec![ok.clone(); 11], false), Err(BatchViolation::TooManyEntries(11)));
        let bad = msg(Some(""), &[]);
        assert_eq!(check_publish_batch(&[ok.clone(), bad], false), Ok(vec![(1, MessageViolation::SubjectEmpty)]));
    }

    fn ev(t: i64) -> LogEvent {
        LogEvent { timestamp_ms: t, message: "x".into() }
    }

    #[test]
    fn log_batches_reject_events_outside_the_window_and_fail_on_order_or_span() {
        let now = 100 * 24 * 3600 * 1000;
        let day = 24 * 3600 * 1000;
        assert_eq!(
            check_log_batch(&[ev(now), ev(now - 1)], now, None),
            Err(LogBatchViolation::NotChronological { index: 1 })
        );
        assert_eq!(
            check_log_batch(&[ev(now - day - 2), ev(now)], now, None),
            Err(LogBatchViolation::SpanTooLong(day + 2))
        );
        let r =
            check_log_batch(&[ev(now - 15 * day), ev(now - 2 * day), ev(now), ev(now + 3 * 3600 * 1000)], now, Some(1))
                .unwrap();
        assert_eq!(r, RejectedEvents { too_old_end: Some(1), expired_end: Some(2), too_new_start: Some(3) });
        assert_eq!(r.positions(4), vec![0, 1, 3]);
        assert!(check_log_batch(&[ev(now - 2 * day), ev(now - 2 * day + 5)], now, None).unwrap().is_empty());
        assert_eq!(check_log_batch(&[], now, None), Err(LogBatchViolation::Empty));
    }

    #[test]
    fn record_batches_firehose_refuses() {
        assert_eq!(check_record_batch(&[]), Err(RecordBatchViolation::RecordCount(0)));
        assert_eq!(check_record_batch(&[1; 501]), Err(RecordBatchViolation::RecordCount(501)));
        assert!(check_record_batch(&[1; 500]).is_ok());
        assert_eq!(
            check_record_batch(&[10, 1_000_001]),
            Err(RecordBatchViolation::RecordSize { index: 1, bytes: 1_000_001 })
        );
        assert_eq!(check_record_batch(&[5, 0]), Err(RecordBatchViolation::RecordSize { index: 1, bytes: 0 }));
        assert_eq!(check_record_batch(&[1_000_000; 5]), Err(RecordBatchViolation::TooLarge(5_000_000)));
        assert!(check_record_batch(&[1_000_000; 4]).is_ok());
    }
}
