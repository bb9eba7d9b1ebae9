//! A local stand-in for Lambda's DynamoDB event source mapping (`flagtrail tail`, end-to-end tests).
//! Dev tooling: never compiled into the Lambda binaries.
//!
//! Polls a stream, turns records into the Lambda event shape, runs each consumer with its own
//! position (as two mappings on one shard would), and honours `batchItemFailures`: a consumer that
//! reports a sequence number is re-fed from that record on, after a backoff.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodbstreams::types::{AttributeValue as SdkValue, Record, ShardIteratorType};
use base64::Engine;
use flagtrail_core::metrics::Metrics;
use flagtrail_core::StreamEvent;
use flagtrail_runtime::{Invocation, Pipeline};
use serde_json::{json, Map, Value};

/// How the mapping polls and retries.
#[derive(Debug, Clone)]
pub struct MappingOptions {
    /// Records per batch (Lambda's BatchSize; GetRecords returns at most 1,000).
    pub batch_size: i32,
    /// Stop after this many consecutive empty polls of every shard (`None`: poll forever).
    pub stop_after_idle_polls: Option<u32>,
    /// Wait between empty polls.
    pub poll_interval: Duration,
    /// Retries of one failing batch before giving up (Lambda's MaximumRetryAttempts).
    pub max_retries: u32,
    /// First backoff after a failed batch; doubles up to 8×.
    pub retry_backoff: Duration,
    /// Time budget per invocation (Lambda's timeout).
    pub invocation_timeout: Duration,
}

impl Default for MappingOptions {
    fn default() -> Self {
        MappingOptions {
            batch_size: 100,
            stop_after_idle_polls: Some(3),
            poll_interval: Duration::from_millis(300),
            max_retries: 10,
            retry_backoff: Duration::from_millis(200),
            invocation_timeout: Duration::from_secs(30),
        }
    }
}

/// What a drain did, per consumer.
#[derive(Debug, Default)]
pub struct DrainStats {
    /// consumer → invocations.
    pub invocations: HashMap<&'static str, usize>,
    /// consumer → records delivered (counting redeliveries).
    pub records: HashMap<&'static str, usize>,
    /// consumer → batches that reported a failure (and were redelivered).
    pub failed_batches: HashMap<&'static str, usize>,
    /// consumer → sequence numbers it reported, in order.
    pub reported: HashMap<&'static str, Vec<String>>,
    /// Metrics of all invocations, per consumer.
    pub metrics: HashMap<&'static str, Vec<Metrics>>,
}

/// Errors of the mapping itself (not of a consumer's sinks, which it retries).
#[derive(Debug, thiserror::Error)]
pub enum MappingError {
    /// A DynamoDB Streams call failed.
    #[error("DynamoDB Streams: {0}")]
    Streams(String),
    /// A consumer kept failing on the same record.
    #[error("consumer {consumer} still fails at sequence number {sequence} after {retries} retries")]
    RetriesExhausted {
        /// Which consumer.
        consumer: &'static str,
        /// Where it fails.
        sequence: String,
        /// How often it was retried.
        retries: u32,
    },
}

fn streams_err<E: std::fmt::Debug>(e: E) -> MappingError {
    MappingError::Streams(format!("{e:?}"))
}

/// Runs every consumer over every shard of `stream_arn` from TRIM_HORIZON until idle.
pub async fn drain(
    client: &aws_sdk_dynamodbstreams::Client,
    stream_arn: &str,
    consumers: &[&dyn Pipeline],
    opts: &MappingOptions,
) -> Result<DrainStats, MappingError> {
    let mut stats = DrainStats::default();
    let desc = client.describe_stream().stream_arn(stream_arn).send().await.map_err(streams_err)?;
    let shards: Vec<String> = desc
        .stream_description()
        .map(|d| d.shards().iter().filter_map(|s| s.shard_id().map(str::to_owned)).collect())
        .unwrap_or_default();
    for consumer in consumers {
        for shard in &shards {
            drain_shard(client, stream_arn, shard, *consumer, opts, &mut stats).await?;
        }
    }
    Ok(stats)
}

async fn iterator(
    client: &aws_sdk_dynamodbstreams::Client,
    arn: &str,
    shard: &str,
    at: Option<&str>,
) -> Result<Option<String>, MappingError> {
    let mut req = client.get_shard_iterator().stream_arn(arn).shard_id(shard);
    req = match at {
        Some(seq) => req.shard_iterator_type(ShardIteratorType::AtSequenceNumber).sequence_number(seq),
        None => req.shard_iterator_type(ShardIteratorType::TrimHorizon),
    };
    Ok(req.send().await.map_err(streams_err)?.shard_iterator().map(str::to_owned))
}

async fn drain_shard(
    client: &aws_sdk_dynamodbstreams::Client,
    arn: &str,
    shard: &str,
    consumer: &dyn Pipeline,
    opts: &MappingOptions,
    stats: &mut DrainStats,
) -> Result<(), MappingError> {
    let name = consumer.name();
    let mut it = iterator(client, arn, shard, None).await?;
    let mut idle = 0;
    let mut retries = 0;
    while let Some(current) = it.take() {
        let out =
            client.get_records().shard_iterator(&current).limit(opts.batch_size).send().await.map_err(streams_err)?;
        let records = out.records();
        if records.is_empty() {
            it = out.next_shard_iterator().map(str::to_owned);
            idle += 1;
            if opts.stop_after_idle_polls.is_some_and(|n| idle >= n) {
                break;
            }
            tokio::time::sleep(opts.poll_interval).await;
            continue;
        }
        idle = 0;
        let event = lambda_event(records, arn);
        let text = serde_json::to_string(&event).map_err(streams_err)?;
        let event = StreamEvent::from_json(&text).map_err(streams_err)?;
        let inv = Invocation::with_timeout(opts.invocation_timeout);
        let outcome = consumer.handle(&event, inv).await;
        *stats.invocations.entry(name).or_default() += 1;
        *stats.records.entry(name).or_default() += records.len();
        stats.metrics.entry(name).or_default().push(outcome.metrics);
        match outcome.response.resume_from() {
            None => {
                retries = 0;
                it = out.next_shard_iterator().map(str::to_owned);
            }
            Some(seq) => {
                *stats.failed_batches.entry(name).or_default() += 1;
                stats.reported.entry(name).or_default().push(seq.to_owned());
                retries += 1;
                if retries > opts.max_retries {
                    return Err(MappingError::RetriesExhausted {
                        consumer: name,
                        sequence: seq.to_owned(),
                        retries: opts.max_retries,
                    });
                }
                let backoff = opts.retry_backoff * 2u32.pow((retries - 1).min(3));
                tracing::warn!(
                    consumer = name,
                    sequence = seq,
                    retries,
                    ?backoff,
                    "batch reported a failure; redelivering from it"
                );
                tokio::time::sleep(backoff).await;
                // An empty identifier means the whole batch failed: resume at its first record.
                let resume = if seq.is_empty() {
                    records[0].dynamodb().and_then(|d| d.sequence_number()).unwrap_or_default()
                } else {
                    seq
                };
                it = iterator(client, arn, shard, Some(resume)).await?;
            }
        }
    }
    Ok(())
}

/// The Lambda event for a slice of stream records, exactly as Lambda shapes it.
pub fn lambda_event(records: &[Record], stream_arn: &str) -> Value {
    let records: Vec<Value> = records.iter().map(|r| lambda_record(r, stream_arn)).collect();
    json!({ "Records": records })
}

fn lambda_record(r: &Record, stream_arn: &str) -> Value {
    let mut ddb = Map::new();
    if let Some(d) = r.dynamodb() {
        if let Some(t) = d.approximate_creation_date_time() {
            // Lambda sends whole epoch seconds.
            ddb.insert("ApproximateCreationDateTime".into(), json!(t.secs()));
        }
        for (field, image) in [("Keys", d.keys()), ("NewImage", d.new_image()), ("OldImage", d.old_image())] {
            if let Some(img) = image {
                ddb.insert(field.into(), Value::Object(img.iter().map(|(k, v)| (k.clone(), typed_json(v))).collect()));
            }
        }
        if let Some(s) = d.sequence_number() {
            ddb.insert("SequenceNumber".into(), json!(s));
        }
        if let Some(s) = d.size_bytes() {
            ddb.insert("SizeBytes".into(), json!(s));
        }
        if let Some(v) = d.stream_view_type() {
            ddb.insert("StreamViewType".into(), json!(v.as_str()));
        }
    }
    let mut rec = json!({
        "eventID": r.event_id(),
        "eventName": r.event_name().map(|e| e.as_str()),
        "eventVersion": r.event_version().unwrap_or("1.1"),
        "eventSource": r.event_source().unwrap_or("aws:dynamodb"),
        "awsRegion": r.aws_region(),
        "dynamodb": ddb,
        "eventSourceARN": stream_arn,
    });
    if let Some(u) = r.user_identity() {
        rec["userIdentity"] = json!({ "type": u.r#type(), "principalId": u.principal_id() });
    }
    rec
}

/// SDK attribute value → DynamoDB typed JSON (`{"N": "1"}`), numbers kept as text.
pub fn typed_json(v: &SdkValue) -> Value {
    let b64 = |b: &aws_smithy_types::Blob| base64::engine::general_purpose::STANDARD.encode(b.as_ref());
    match v {
        SdkValue::S(s) => json!({ "S": s }),
        SdkValue::N(n) => json!({ "N": n }),
        SdkValue::B(b) => json!({ "B": b64(b) }),
        SdkValue::Bool(b) => json!({ "BOOL": b }),
        SdkValue::Null(_) => json!({ "NULL": true }),
        SdkValue::Ss(s) => json!({ "SS": s }),
        SdkValue::Ns(n) => json!({ "NS": n }),
        SdkValue::Bs(b) => json!({ "BS": b.iter().map(b64).collect::<Vec<_>>() }),
        SdkValue::L(l) => json!({ "L": l.iter().map(typed_json).collect::<Vec<_>>() }),
        SdkValue::M(m) => json!({ "M": m.iter().map(|(k, v)| (k.clone(), typed_json(v))).collect::<Map<_, _>>() }),
        _ => json!({ "NULL": true }),
    }
}
