//! The archive's objects as Firehose writes CloudWatch Logs subscription data to S3: each record
//! is a gzip-compressed JSON document (`messageType: DATA_MESSAGE` with `logEvents`, or a
//! `CONTROL_MESSAGE` CloudWatch Logs sends to check the destination), and Firehose concatenates
//! records into one object. With Firehose's decompression enabled the documents arrive as plain
//! JSON; both are read.
//! <https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/SubscriptionFilters.html#FirehoseExample>

use std::io::Read;

use serde::Deserialize;

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

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SubscriptionData {
    message_type: String,
    #[serde(default)]
    log_events: Vec<SubscriptionEvent>,
}

#[derive(Deserialize)]
struct SubscriptionEvent {
    message: String,
}

/// Every log event message of one archive object, in order.
pub fn archive_messages(object: &[u8]) -> Result<Vec<String>, ArchiveError> {
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
            "DATA_MESSAGE" => messages.extend(doc.log_events.into_iter().map(|e| e.message)),
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
    use std::io::Write;

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
}
