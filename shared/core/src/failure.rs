//! The invocation record Lambda writes to an on-failure destination when it discards stream
//! records (retries exhausted, record too old): metadata, and — for an Amazon S3 destination only —
//! the whole invocation event as an escaped JSON string in `payload`. `flagtrail redrive` reads it
//! back; the stream-mapping stand-in writes it.
//!
//! Shape and S3 key: "Retain discarded records for a DynamoDB event source in Lambda",
//! <https://docs.aws.amazon.com/lambda/latest/dg/services-dynamodb-errors.html>. The documented
//! `condition` is `RetryAttemptsExhausted`; AWS does not document the value for records discarded
//! for their age, so nothing here depends on it.

use serde::{Deserialize, Serialize};

use crate::event::{EventError, StreamEvent};

/// One invocation record of an on-failure destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailureRecord {
    /// Which function, why, and how often it was invoked.
    pub request_context: RequestContext,
    /// The last invocation's result, when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_context: Option<ResponseContext>,
    /// Record format version (`1.0`).
    pub version: String,
    /// When the records were discarded (RFC 3339).
    pub timestamp: String,
    /// The discarded records' place in the stream.
    #[serde(rename = "DDBStreamBatchInfo")]
    pub batch_info: BatchInfo,
    /// The invocation event as JSON text (S3 destinations only). Read from an escaped JSON string
    /// (the documentation's example shows only a placeholder string) or from the JSON object
    /// itself, whichever Lambda writes: misreading it would leave every saved batch unredriven.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "payload_text")]
    pub payload: Option<String>,
}

/// `payload` as text, from a JSON string or kept verbatim from any other JSON value (an object).
fn payload_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    use serde::de::Error;
    let raw: Option<Box<serde_json::value::RawValue>> = Option::deserialize(d)?;
    raw.map(|r| match r.get().trim_start().starts_with('"') {
        true => serde_json::from_str::<String>(r.get()).map_err(D::Error::custom),
        false => Ok(r.get().to_owned()),
    })
    .transpose()
}

/// `requestContext` of an invocation record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestContext {
    /// The last invocation's request id.
    pub request_id: String,
    /// The function the mapping invokes.
    pub function_arn: String,
    /// Why the records were discarded (`RetryAttemptsExhausted`, …).
    pub condition: String,
    /// Invocations of this batch.
    pub approximate_invoke_count: u32,
}

/// `responseContext` of an invocation record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResponseContext {
    /// HTTP status of the invocation.
    pub status_code: u16,
    /// Function version.
    pub executed_version: String,
    /// `Unhandled` etc. when the function failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_error: Option<String>,
}

/// `DDBStreamBatchInfo` of an invocation record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchInfo {
    /// The shard.
    pub shard_id: String,
    /// First discarded record.
    pub start_sequence_number: String,
    /// Last discarded record.
    pub end_sequence_number: String,
    /// Arrival of the first record (RFC 3339, seconds).
    pub approximate_arrival_of_first_record: String,
    /// Arrival of the last record.
    pub approximate_arrival_of_last_record: String,
    /// Records discarded.
    pub batch_size: u32,
    /// The stream.
    pub stream_arn: String,
}

/// An invocation record that cannot be redriven.
#[derive(Debug, thiserror::Error)]
pub enum FailureRecordError {
    /// Not JSON of the invocation-record shape.
    #[error("not a Lambda on-failure invocation record: {0}")]
    Shape(#[source] serde_json::Error),
    /// Metadata only: an SQS or SNS destination's record.
    #[error(
        "the record has no payload (an SQS/SNS destination keeps metadata only): read shard {shard} from {start} to {end} of the stream before it expires"
    )]
    NoPayload {
        /// Shard of the records.
        shard: String,
        /// First sequence number.
        start: String,
        /// Last sequence number.
        end: String,
    },
    /// The payload is not a stream event.
    #[error("payload: {0}")]
    Payload(#[from] EventError),
}

impl FailureRecord {
    /// Parses an invocation record.
    pub fn from_json(text: &str) -> Result<Self, FailureRecordError> {
        serde_json::from_str(text).map_err(FailureRecordError::Shape)
    }

    /// The discarded records as the stream event they were delivered in.
    pub fn event(&self) -> Result<StreamEvent, FailureRecordError> {
        let payload = self.payload.as_deref().ok_or_else(|| FailureRecordError::NoPayload {
            shard: self.batch_info.shard_id.clone(),
            start: self.batch_info.start_sequence_number.clone(),
            end: self.batch_info.end_sequence_number.clone(),
        })?;
        Ok(StreamEvent::from_json(payload)?)
    }

    /// The function name at the end of `functionArn`.
    pub fn function_name(&self) -> &str {
        function_name(&self.request_context.function_arn)
    }
}

/// A function's name from its name or ARN (qualified or not).
pub fn function_name(name_or_arn: &str) -> &str {
    name_or_arn.split(":function:").nth(1).map_or(name_or_arn, |f| f.split(':').next().unwrap_or(f))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The S3 example of the Lambda documentation, payload filled in.
    const DOC_EXAMPLE: &str = r#"{
        "requestContext": {"requestId": "316aa6d0-8154-xmpl-9af7-85d5f4a6bc81",
            "functionArn": "arn:aws:lambda:us-east-2:123456789012:function:myfunction",
            "condition": "RetryAttemptsExhausted", "approximateInvokeCount": 1},
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "version": "1.0", "timestamp": "2019-11-14T00:13:49.717Z",
        "DDBStreamBatchInfo": {"shardId": "shardId-00000001573689847184-864758bb",
            "startSequenceNumber": "800000000003126276362", "endSequenceNumber": "800000000003126276362",
            "approximateArrivalOfFirstRecord": "2019-11-14T00:13:19Z",
            "approximateArrivalOfLastRecord": "2019-11-14T00:13:19Z", "batchSize": 1,
            "streamArn": "arn:aws:dynamodb:us-east-2:123456789012:table/mytable/stream/2019-11-14T00:04:06.388"},
        "payload": "{\"Records\":[{\"eventID\":\"e1\"}]}"
    }"#;

    #[test]
    fn reads_the_documented_shape_and_its_payload() {
        let r = FailureRecord::from_json(DOC_EXAMPLE).unwrap();
        assert_eq!(r.function_name(), "myfunction");
        assert_eq!(r.event().unwrap().records.len(), 1);
        let mut meta = r.clone();
        meta.payload = None;
        let err = meta.event().unwrap_err().to_string();
        assert!(err.contains("shard shardId-00000001573689847184-864758bb from 800000000003126276362"), "{err}");
        let back: serde_json::Value = serde_json::to_value(&r).unwrap();
        assert_eq!(
            back,
            serde_json::from_str::<serde_json::Value>(DOC_EXAMPLE).unwrap(),
            "round-trips field for field"
        );
    }

    #[test]
    fn reads_a_payload_written_as_the_json_object_itself() {
        let object = DOC_EXAMPLE.replace(
            r#""payload": "{\"Records\":[{\"eventID\":\"e1\"}]}""#,
            r#""payload": {"Records": [{"eventID": "e1", "dynamodb": {"NewImage": {"n": {"N": "12345678901234567890123456789012345678"}}}}]}"#,
        );
        assert_ne!(object, DOC_EXAMPLE, "the fixture replaced the string payload");
        let r = FailureRecord::from_json(&object).unwrap();
        assert_eq!(r.event().unwrap().records.len(), 1);
        assert!(r.payload.unwrap().contains("12345678901234567890123456789012345678"), "numbers kept as written");
        let none = DOC_EXAMPLE.replace(r#""payload": "{\"Records\":[{\"eventID\":\"e1\"}]}""#, r#""payload": null"#);
        assert_eq!(FailureRecord::from_json(&none).unwrap().payload, None);
    }
}
