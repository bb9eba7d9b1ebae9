//! The archive's objects as Firehose writes CloudWatch Logs subscription data to S3: each record
//! is a gzip-compressed JSON document (`messageType: DATA_MESSAGE` with `logEvents`, or a
//! `CONTROL_MESSAGE` CloudWatch Logs sends to check the destination), and Firehose concatenates
//! records into one object. With Firehose's decompression enabled the documents arrive as plain
//! JSON; both are read.
//! <https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/SubscriptionFilters.html#FirehoseExample>
//!
//! With a data-protection policy on the audit group, the subscription path cannot feed the
//! archive: CloudWatch Logs masks "at all egress points, including CloudWatch Logs Insights,
//! metric filters, and subscription filters" (user guide, "Help protect sensitive log data with
//! masking"), so the archive would keep masked bytes the seals do not cover. The audit function
//! then writes the archive itself ([`archive_records`]): the same documents, built from the exact
//! bytes it wrote to the group, so there is one archive format whichever path wrote it.

use std::io::{Read, Write};

use serde::Deserialize;
use serde_json::json;

use crate::delivery::{plan_batches, LogEvent, FIREHOSE_RECORD_BYTES};

/// An archive object that is not subscription data.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// The gzip stream is corrupt.
    #[error("not a readable gzip stream: {0}")]
    Gzip(String),
    /// A document is not subscription data.
    #[error("document {index}: {message}")]
    Document {
        /// Position of the document in the object, from 0.
        index: usize,
        /// What is wrong.
        message: String,
    },
}

/// An event too large for one Firehose record even alone and compressed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("archive record for the event at {timestamp_ms} is {bytes} bytes compressed, over Firehose's {FIREHOSE_RECORD_BYTES}")]
pub struct RecordTooLarge {
    /// The event's timestamp, to find it.
    pub timestamp_ms: i64,
    /// The compressed record's size.
    pub bytes: usize,
}

/// Uncompressed bytes of one document: compressed it stays under Firehose's record limit, since
/// gzip adds at most a few bytes per 16 KB block to data it cannot compress.
const DOCUMENT_BYTES: usize = FIREHOSE_RECORD_BYTES * 9 / 10;

/// The Firehose records that archive `events` of `log_group`: gzip'd subscription-data documents,
/// each under Firehose's record limit, events in order. An event whose document alone exceeds
/// the target is compressed alone and refused only if that is still too large.
pub fn archive_records(log_group: &str, events: &[LogEvent]) -> Result<Vec<Vec<u8>>, RecordTooLarge> {
    let document = |events: &[serde_json::Value]| {
        json!({
            "messageType": "DATA_MESSAGE",
            "owner": "flagtrail-audit",
            "logGroup": log_group,
            "logStream": "",
            "subscriptionFilters": [],
            "logEvents": events,
        })
        .to_string()
    };
    let base = document(&[]).len();
    // Cut into documents by uncompressed size; a group over the target is a lone event.
    let values: Vec<serde_json::Value> =
        events.iter().map(|e| json!({ "id": "", "timestamp": e.timestamp_ms, "message": e.message })).collect();
    let costs: Vec<usize> = values.iter().map(|v| v.to_string().len() + 1).collect();
    plan_batches(values.len(), |i| costs[i], usize::MAX, DOCUMENT_BYTES - base, |_, _| true)
        .into_iter()
        .map(|r| {
            let record = gzip(&document(&values[r.clone()]));
            if record.len() > FIREHOSE_RECORD_BYTES {
                return Err(RecordTooLarge { timestamp_ms: events[r.start].timestamp_ms, bytes: record.len() });
            }
            Ok(record)
        })
        .collect()
}

fn gzip(text: &str) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(text.as_bytes()).expect("writing to memory");
    e.finish().expect("writing to memory")
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SubscriptionData {
    message_type: String,
    #[serde(default)]
    log_events: Vec<SubscriptionEvent>,
}

#[derive(Deserialize)]
struct SubscriptionEvent {
    #[serde(default)]
    timestamp: i64,
    message: String,
}

/// Every log event message of one archive object, in order.
pub fn archive_messages(object: &[u8]) -> Result<Vec<String>, ArchiveError> {
    Ok(archive_events(object)?.into_iter().map(|e| e.message).collect())
}

/// Every log event of one archive object (message and timestamp), in order.
pub fn archive_events(object: &[u8]) -> Result<Vec<LogEvent>, ArchiveError> {
    let text = if object.starts_with(&[0x1f, 0x8b]) {
        let mut out = String::new();
        flate2::read::MultiGzDecoder::new(object)
            .read_to_string(&mut out)
            .map_err(|e| ArchiveError::Gzip(e.to_string()))?;
        out
    } else {
        String::from_utf8(object.to_vec()).map_err(|e| ArchiveError::Gzip(format!("neither gzip nor UTF-8: {e}")))?
    };
    let mut messages = Vec::new();
    for (index, doc) in serde_json::Deserializer::from_str(&text).into_iter::<SubscriptionData>().enumerate() {
        let doc = doc.map_err(|e| ArchiveError::Document { index, message: e.to_string() })?;
        match doc.message_type.as_str() {
            "DATA_MESSAGE" => messages
                .extend(doc.log_events.into_iter().map(|e| LogEvent { timestamp_ms: e.timestamp, message: e.message })),
            "CONTROL_MESSAGE" => {}
            other => {
                return Err(ArchiveError::Document { index, message: format!("unknown messageType {other}") });
            }
        }
    }
    Ok(messages)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gz(s: &str) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(s.as_bytes()).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn reads_concatenated_gzip_records_and_skips_control_messages() {
        let a = r#"{"messageType":"DATA_MESSAGE","owner":"1","logGroup":"g","logStream":"s","subscriptionFilters":["f"],"logEvents":[{"id":"1","timestamp":1,"message":"{\"a\":1}"},{"id":"2","timestamp":2,"message":"two"}]}"#;
        let c = r#"{"messageType":"CONTROL_MESSAGE","owner":"CloudwatchLogs","logGroup":"","logStream":"","subscriptionFilters":[],"logEvents":[{"id":"","timestamp":1,"message":"CWL CONTROL MESSAGE: Checking health of destination Firehose."}]}"#;
        let b = r#"{"messageType":"DATA_MESSAGE","logEvents":[{"id":"3","timestamp":3,"message":"three"}]}"#;
        let mut object = gz(a);
        object.extend(gz(c));
        object.extend(gz(b));
        assert_eq!(archive_messages(&object).unwrap(), vec!["{\"a\":1}", "two", "three"]);
        // Decompressed by Firehose: the same documents back to back.
        assert_eq!(archive_messages(format!("{a}\n{b}").as_bytes()).unwrap(), vec!["{\"a\":1}", "two", "three"]);
    }

    #[test]
    fn names_what_is_not_subscription_data() {
        let err = archive_messages(br#"{"messageType":"DATA_MESSAGE","logEvents":[]} {"nope":1}"#).unwrap_err();
        assert!(err.to_string().starts_with("document 1:"), "{err}");
        let mut broken = gz(r#"{"messageType":"DATA_MESSAGE","logEvents":[]}"#);
        broken.truncate(broken.len() - 6);
        assert!(matches!(archive_messages(&broken), Err(ArchiveError::Gzip(_))));
    }

    #[test]
    fn archive_records_read_back_as_the_exact_messages() {
        let events: Vec<LogEvent> = (0..50)
            .map(|i| LogEvent { timestamp_ms: i, message: format!(r#"{{"actor":"a{i}@example.com","q":"\"x\""}}"#) })
            .collect();
        let records = archive_records("/flagtrail/audit", &events).unwrap();
        assert_eq!(records.len(), 1);
        // Firehose concatenates records into one object; the reader gets the messages back byte for byte.
        let object: Vec<u8> = records.concat();
        let messages: Vec<String> = events.iter().map(|e| e.message.clone()).collect();
        assert_eq!(archive_messages(&object).unwrap(), messages);
    }

    #[test]
    fn archive_records_stay_under_firehose_record_limit() {
        // Incompressible messages of ~1 MB each (the CloudWatch Logs event limit): one record each.
        let mut x: u64 = 88172645463325252;
        let mut noise = |n: usize| -> String {
            (0..n)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    char::from(b'!' + (x % 90) as u8)
                })
                .collect()
        };
        let events: Vec<LogEvent> =
            (0..3).map(|i| LogEvent { timestamp_ms: i, message: noise(crate::delivery::LOG_EVENT_BYTES) }).collect();
        let records = archive_records("g", &events).unwrap();
        assert_eq!(records.len(), 3);
        assert!(
            records.iter().all(|r| r.len() <= FIREHOSE_RECORD_BYTES),
            "{:?}",
            records.iter().map(Vec::len).collect::<Vec<_>>()
        );
        let messages: Vec<String> = events.iter().map(|e| e.message.clone()).collect();
        assert_eq!(archive_messages(&records.concat()).unwrap(), messages);
        // Many small events fill documents up to the target, never past the limit.
        let small: Vec<LogEvent> = (0..4000).map(|i| LogEvent { timestamp_ms: i, message: noise(1000) }).collect();
        let records = archive_records("g", &small).unwrap();
        assert!(records.len() >= 4 && records.iter().all(|r| r.len() <= FIREHOSE_RECORD_BYTES));
        assert_eq!(archive_messages(&records.concat()).unwrap().len(), 4000);
    }
}
