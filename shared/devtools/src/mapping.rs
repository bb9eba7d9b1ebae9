//! A local stand-in for Lambda's DynamoDB event source mapping (`flagtrail tail`, end-to-end tests).
//! Dev tooling: never compiled into the Lambda binaries.
//!
//! It behaves as Lambda documents it (<https://docs.aws.amazon.com/lambda/latest/dg/services-dynamodb-errors.html>,
//! <https://docs.aws.amazon.com/lambda/latest/dg/services-ddb-batchfailurereporting.html>,
//! <https://docs.aws.amazon.com/lambda/latest/dg/invocation-eventfiltering.html>), so tests meet
//! what production meets:
//! - shards listed with DescribeStream's pagination (100 a page), parents drained before children;
//! - filter criteria: records that match no filter are skipped (the iterator moves past them);
//! - `batchItemFailures`: the batch is retried from the lowest reported sequence number;
//! - a function error (here: the invocation timeout) bisects the batch when
//!   `BisectBatchOnFunctionError` is on (not counted as a retry), else retries it whole;
//! - after `MaximumRetryAttempts` retries, or once a record is older than
//!   `MaximumRecordAgeInSeconds`, the records are **discarded** and the invocation record (with
//!   the payload, as for an S3 destination) goes to the on-failure destination, if any.
//!
//! Each mapping keeps its own position, as two mappings on one shard do.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use aws_sdk_dynamodbstreams::types::{AttributeValue as SdkValue, Record, Shard, ShardIteratorType};
use base64::Engine;
use flagtrail_core::audit::rfc3339_ms;
use flagtrail_core::failure::{BatchInfo, FailureRecord, RequestContext, ResponseContext};
use flagtrail_core::metrics::Metrics;
use flagtrail_core::StreamEvent;
use flagtrail_runtime::{Invocation, Pipeline};
use serde_json::{json, Map, Value};

use crate::failure_store::{object_key, FailureStore};

/// How the mapping polls and retries (the event source mapping's settings).
#[derive(Debug, Clone)]
pub struct MappingOptions {
    /// Records per batch (Lambda's BatchSize; GetRecords returns at most 1,000).
    pub batch_size: i32,
    /// Stop after this many consecutive empty polls of an open shard (`None`: poll forever).
    pub stop_after_idle_polls: Option<u32>,
    /// Wait between empty polls.
    pub poll_interval: Duration,
    /// MaximumRetryAttempts; `None` is Lambda's -1 (retry until the record expires).
    pub max_retries: Option<u32>,
    /// MaximumRecordAgeInSeconds; `None` is -1 (no limit).
    pub max_record_age: Option<Duration>,
    /// BisectBatchOnFunctionError.
    pub bisect_on_error: bool,
    /// First backoff after a failed batch; doubles up to 8×.
    pub retry_backoff: Duration,
    /// The function's timeout: an invocation that takes longer is a function error.
    pub invocation_timeout: Duration,
    /// Filter criteria on the key: a record passes when its `PK` starts with one of these;
    /// `None` passes every record.
    pub pk_prefixes: Option<Vec<String>>,
    /// The function's ARN, for invocation records.
    pub function_arn: String,
    /// The mapping's UUID, for invocation-record keys.
    pub uuid: String,
}

impl Default for MappingOptions {
    fn default() -> Self {
        MappingOptions {
            batch_size: 100,
            stop_after_idle_polls: Some(3),
            // Lambda polls each shard at a base rate of 4 times a second ("Polling and batching streams").
            poll_interval: Duration::from_millis(250),
            max_retries: Some(10),
            max_record_age: Some(Duration::from_secs(6 * 3600)),
            bisect_on_error: true,
            retry_backoff: Duration::from_millis(200),
            invocation_timeout: Duration::from_secs(30),
            pk_prefixes: None,
            function_arn: "arn:aws:lambda:us-east-1:000000000000:function:flagtrail-local".into(),
            uuid: "00000000-0000-4000-8000-000000000000".into(),
        }
    }
}

/// The filter of the notify mapping in the stack: only flag-table keys.
pub fn notify_filter() -> Vec<String> {
    vec!["FLAG#".into(), "KILLSWITCH#".into()]
}

/// One event source mapping: a function, its settings, and where discarded records go.
pub struct Mapping<'a> {
    /// The function.
    pub pipeline: &'a dyn Pipeline,
    /// Its settings.
    pub options: MappingOptions,
    /// The on-failure destination.
    pub on_failure: Option<&'a dyn FailureStore>,
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
    /// consumer → records discarded (after retries or for their age).
    pub discarded: HashMap<&'static str, usize>,
    /// Keys of the invocation records written to the on-failure destination.
    pub destination_keys: Vec<String>,
    /// consumer → function errors (invocation timeouts).
    pub function_errors: HashMap<&'static str, usize>,
    /// consumer → records skipped by the filter criteria.
    pub filtered: HashMap<&'static str, usize>,
}

impl DrainStats {
    /// Adds another mapping's stats (each mapping counts under its own consumer name).
    fn absorb(&mut self, o: DrainStats) {
        fn merge<V: Default + Extend<V::Item> + IntoIterator>(
            into: &mut HashMap<&'static str, V>,
            from: HashMap<&'static str, V>,
        ) {
            for (k, v) in from {
                into.entry(k).or_default().extend(v);
            }
        }
        fn sum(into: &mut HashMap<&'static str, usize>, from: HashMap<&'static str, usize>) {
            for (k, v) in from {
                *into.entry(k).or_default() += v;
            }
        }
        sum(&mut self.invocations, o.invocations);
        sum(&mut self.records, o.records);
        sum(&mut self.failed_batches, o.failed_batches);
        sum(&mut self.discarded, o.discarded);
        sum(&mut self.function_errors, o.function_errors);
        sum(&mut self.filtered, o.filtered);
        merge(&mut self.reported, o.reported);
        merge(&mut self.metrics, o.metrics);
        self.destination_keys.extend(o.destination_keys);
    }
}

/// Errors of the mapping itself (not of a consumer's sinks, which it retries).
#[derive(Debug, thiserror::Error)]
pub enum MappingError {
    /// A DynamoDB Streams call failed.
    #[error("DynamoDB Streams: {0}")]
    Streams(String),
    /// The on-failure destination could not take an invocation record.
    #[error("on-failure destination: {0}")]
    Destination(#[from] crate::failure_store::StoreError),
}

fn streams_err<E: std::fmt::Debug>(e: E) -> MappingError {
    MappingError::Streams(format!("{e:?}"))
}

/// Runs every consumer over every shard of `stream_arn` with the same settings and no on-failure
/// destination.
pub async fn drain(
    client: &aws_sdk_dynamodbstreams::Client,
    stream_arn: &str,
    consumers: &[&dyn Pipeline],
    opts: &MappingOptions,
) -> Result<DrainStats, MappingError> {
    let mappings: Vec<Mapping> =
        consumers.iter().map(|&pipeline| Mapping { pipeline, options: opts.clone(), on_failure: None }).collect();
    drain_mappings(client, stream_arn, &mappings).await
}

/// Runs each mapping over every shard of `stream_arn` from TRIM_HORIZON until idle (or closed).
/// The mappings run side by side, as Lambda's do, and so do the shards of a mapping, each only once
/// its parent is read to its end: with `--follow` an open shard never ends, and neither the other
/// mapping nor a sibling shard may wait for it.
pub async fn drain_mappings(
    client: &aws_sdk_dynamodbstreams::Client,
    stream_arn: &str,
    mappings: &[Mapping<'_>],
) -> Result<DrainStats, MappingError> {
    let listed = list_shards(client, stream_arn).await?;
    let parent: HashMap<String, String> =
        listed.iter().filter_map(|s| Some((s.shard_id()?.to_owned(), s.parent_shard_id()?.to_owned()))).collect();
    let shards = parents_first(listed);
    let stats = std::sync::Mutex::new(DrainStats::default());
    let failed: std::sync::Mutex<Option<MappingError>> = std::sync::Mutex::new(None);
    let mut all = Vec::new();
    for m in mappings {
        // Shard id → its drain, shared so that its children can wait for it.
        let mut drains: HashMap<&str, futures_util::future::Shared<futures_util::future::LocalBoxFuture<'_, ()>>> =
            HashMap::new();
        for shard in &shards {
            let after = parent.get(shard).and_then(|p| drains.get(p.as_str())).cloned();
            let (stats, failed) = (&stats, &failed);
            let drain = async move {
                if let Some(parent) = after {
                    parent.await;
                }
                if failed.lock().map_or(true, |f| f.is_some()) {
                    return;
                }
                let mut mine = DrainStats::default();
                let result = ShardReader { client, arn: stream_arn, shard, mapping: m }.drain(&mut mine).await;
                if let Ok(mut s) = stats.lock() {
                    s.absorb(mine);
                }
                if let (Err(e), Ok(mut f)) = (result, failed.lock()) {
                    f.get_or_insert(e);
                }
            };
            let drain = futures_util::FutureExt::shared(futures_util::FutureExt::boxed_local(drain));
            drains.insert(shard.as_str(), drain.clone());
            all.push(drain);
        }
    }
    futures_util::future::join_all(all).await;
    if let Some(e) = failed.into_inner().ok().flatten() {
        return Err(e);
    }
    Ok(stats.into_inner().unwrap_or_default())
}

/// Every shard of the stream, following DescribeStream's pages (at most 100 shards each).
async fn list_shards(client: &aws_sdk_dynamodbstreams::Client, arn: &str) -> Result<Vec<Shard>, MappingError> {
    let mut shards = Vec::new();
    let mut start: Option<String> = None;
    loop {
        let out = client
            .describe_stream()
            .stream_arn(arn)
            .limit(100)
            .set_exclusive_start_shard_id(start.take())
            .send()
            .await
            .map_err(streams_err)?;
        let Some(d) = out.stream_description() else { break };
        shards.extend(d.shards().iter().cloned());
        match d.last_evaluated_shard_id() {
            Some(last) => start = Some(last.to_owned()),
            None => break,
        }
    }
    Ok(shards)
}

/// Orders shards so that a parent comes before its children ("an application must always process
/// a parent shard before it processes a child shard").
pub fn parents_first(shards: Vec<Shard>) -> Vec<String> {
    let ids: HashSet<String> = shards.iter().filter_map(|s| s.shard_id().map(str::to_owned)).collect();
    let mut done: HashSet<String> = HashSet::new();
    let mut out = Vec::new();
    let mut rest = shards;
    while !rest.is_empty() {
        let before = rest.len();
        rest.retain(|s| {
            let id = s.shard_id().unwrap_or_default().to_owned();
            let ready = s.parent_shard_id().is_none_or(|p| !ids.contains(p) || done.contains(p));
            if ready {
                done.insert(id.clone());
                out.push(id);
            }
            !ready
        });
        if rest.len() == before {
            // A cycle cannot happen in a real stream; keep whatever is left in listing order.
            out.extend(rest.drain(..).filter_map(|s| s.shard_id().map(str::to_owned)));
        }
    }
    out
}

struct ShardReader<'a> {
    client: &'a aws_sdk_dynamodbstreams::Client,
    arn: &'a str,
    shard: &'a str,
    mapping: &'a Mapping<'a>,
}

/// How one invocation ended, for the mapping.
enum Invoked {
    Done,
    /// `batchItemFailures` named this position of the batch.
    ResumeAt(usize),
    /// The function failed (timeout).
    FunctionError,
}

impl ShardReader<'_> {
    async fn iterator(&self, kind: ShardIteratorType, at: Option<&str>) -> Result<Option<String>, MappingError> {
        let req = self
            .client
            .get_shard_iterator()
            .stream_arn(self.arn)
            .shard_id(self.shard)
            .shard_iterator_type(kind)
            .set_sequence_number(at.map(str::to_owned));
        Ok(req.send().await.map_err(streams_err)?.shard_iterator().map(str::to_owned))
    }

    async fn drain(&self, stats: &mut DrainStats) -> Result<(), MappingError> {
        let opts = &self.mapping.options;
        let name = self.mapping.pipeline.name();
        let mut it = self.iterator(ShardIteratorType::TrimHorizon, None).await?;
        let mut idle = 0;
        while let Some(current) = it.take() {
            let out = self
                .client
                .get_records()
                .shard_iterator(&current)
                .limit(opts.batch_size)
                .send()
                .await
                .map_err(streams_err)?;
            // None: the shard is closed and read to its end; its children come next.
            it = out.next_shard_iterator().map(str::to_owned);
            let records: Vec<Record> = out.records().to_vec();
            if records.is_empty() {
                idle += 1;
                if opts.stop_after_idle_polls.is_some_and(|n| idle >= n) {
                    break;
                }
                tokio::time::sleep(opts.poll_interval).await;
                continue;
            }
            idle = 0;
            let total = records.len();
            let batch: Vec<Record> = records.into_iter().filter(|r| self.passes(r)).collect();
            *stats.filtered.entry(name).or_default() += total - batch.len();
            if !batch.is_empty() {
                Box::pin(self.process(batch, stats)).await?;
            }
        }
        Ok(())
    }

    fn passes(&self, r: &Record) -> bool {
        let Some(prefixes) = &self.mapping.options.pk_prefixes else { return true };
        let pk = r.dynamodb().and_then(|d| d.keys()).and_then(|k| k.get("PK")).and_then(|v| v.as_s().ok());
        pk.is_some_and(|pk| prefixes.iter().any(|p| pk.starts_with(p.as_str())))
    }

    /// Delivers one batch until it succeeds or its records are discarded.
    async fn process(&self, batch: Vec<Record>, stats: &mut DrainStats) -> Result<(), MappingError> {
        let opts = &self.mapping.options;
        let name = self.mapping.pipeline.name();
        let mut start = 0;
        let mut retries = 0u32;
        let mut invocations = 0u32;
        loop {
            if let Some(max_age) = opts.max_record_age {
                let now = time::OffsetDateTime::now_utc().unix_timestamp();
                let too_old = batch[start..]
                    .iter()
                    .take_while(|r| arrival(r).is_some_and(|t| now - t > max_age.as_secs() as i64))
                    .count();
                if too_old > 0 {
                    self.discard(&batch[start..start + too_old], "RecordAgeExceeded", invocations, None, stats).await?;
                    start += too_old;
                }
            }
            if start >= batch.len() {
                return Ok(());
            }
            invocations += 1;
            match self.invoke(&batch[start..], stats).await? {
                Invoked::Done => return Ok(()),
                Invoked::ResumeAt(at) => {
                    start += at;
                    *stats.failed_batches.entry(name).or_default() += 1;
                }
                Invoked::FunctionError => {
                    *stats.function_errors.entry(name).or_default() += 1;
                    let rest = &batch[start..];
                    if opts.bisect_on_error && rest.len() > 1 {
                        // Splitting does not consume the retry quota.
                        let (a, b) = rest.split_at(rest.len() / 2);
                        Box::pin(self.process(a.to_vec(), stats)).await?;
                        return Box::pin(self.process(b.to_vec(), stats)).await;
                    }
                }
            }
            retries += 1;
            if opts.max_retries.is_some_and(|m| retries > m) {
                let error = Some("Unhandled".to_owned());
                return self.discard(&batch[start..], "RetryAttemptsExhausted", invocations, error, stats).await;
            }
            let backoff = opts.retry_backoff * 2u32.pow((retries - 1).min(3));
            tracing::warn!(consumer = name, retries, ?backoff, "batch failed; redelivering");
            tokio::time::sleep(backoff).await;
        }
    }

    async fn invoke(&self, records: &[Record], stats: &mut DrainStats) -> Result<Invoked, MappingError> {
        let opts = &self.mapping.options;
        let name = self.mapping.pipeline.name();
        let text = serde_json::to_string(&lambda_event(records, self.arn)).map_err(streams_err)?;
        let event = StreamEvent::from_json(&text).map_err(streams_err)?;
        let inv = Invocation::with_timeout(opts.invocation_timeout);
        *stats.invocations.entry(name).or_default() += 1;
        *stats.records.entry(name).or_default() += records.len();
        let Ok(outcome) =
            tokio::time::timeout(opts.invocation_timeout, self.mapping.pipeline.handle(&event, inv)).await
        else {
            // Lambda stops the function; its response and metrics are lost.
            return Ok(Invoked::FunctionError);
        };
        stats.metrics.entry(name).or_default().push(outcome.metrics);
        let Some(seq) = outcome.response.resume_from() else { return Ok(Invoked::Done) };
        stats.reported.entry(name).or_default().push(seq.to_owned());
        // An empty or unknown identifier fails the whole batch.
        let at = records.iter().position(|r| r.dynamodb().and_then(|d| d.sequence_number()) == Some(seq)).unwrap_or(0);
        Ok(Invoked::ResumeAt(at))
    }

    /// Discards `records` as Lambda does, sending the invocation record (with its payload, as an
    /// S3 destination receives it) to the on-failure destination.
    async fn discard(
        &self,
        records: &[Record],
        condition: &str,
        invocations: u32,
        function_error: Option<String>,
        stats: &mut DrainStats,
    ) -> Result<(), MappingError> {
        let name = self.mapping.pipeline.name();
        *stats.discarded.entry(name).or_default() += records.len();
        tracing::error!(consumer = name, records = records.len(), condition, "discarding records");
        let Some(store) = self.mapping.on_failure else { return Ok(()) };
        let seq = |r: &Record| r.dynamodb().and_then(|d| d.sequence_number()).unwrap_or_default().to_owned();
        let at = |r: &Record| {
            arrival(r)
                .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok())
                .map(|t| rfc3339_ms(t).replace(".000Z", "Z"))
                .unwrap_or_default()
        };
        let (first, last) = (&records[0], &records[records.len() - 1]);
        let now = time::OffsetDateTime::now_utc();
        let unique =
            format!("{:032x}", now.unix_timestamp_nanos() as u128 ^ (stats.destination_keys.len() as u128) << 100);
        let record = FailureRecord {
            request_context: RequestContext {
                request_id: unique.clone(),
                function_arn: self.mapping.options.function_arn.clone(),
                condition: condition.to_owned(),
                approximate_invoke_count: invocations,
            },
            response_context: Some(ResponseContext {
                status_code: 200,
                executed_version: "$LATEST".into(),
                function_error,
            }),
            version: "1.0".into(),
            timestamp: rfc3339_ms(now),
            batch_info: BatchInfo {
                shard_id: self.shard.to_owned(),
                start_sequence_number: seq(first),
                end_sequence_number: seq(last),
                approximate_arrival_of_first_record: at(first),
                approximate_arrival_of_last_record: at(last),
                batch_size: records.len() as u32,
                stream_arn: self.arn.to_owned(),
            },
            payload: Some(lambda_event(records, self.arn).to_string()),
        };
        let key = object_key(&self.mapping.options.uuid, self.shard, now, &unique);
        let body = serde_json::to_string(&record).map_err(streams_err)?;
        store.put(&key, &body).await?;
        stats.destination_keys.push(key);
        Ok(())
    }
}

/// A record's ApproximateCreationDateTime in epoch seconds.
fn arrival(r: &Record) -> Option<i64> {
    r.dynamodb().and_then(|d| d.approximate_creation_date_time()).map(|t| t.secs())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn shard(id: &str, parent: Option<&str>) -> Shard {
        Shard::builder().shard_id(id).set_parent_shard_id(parent.map(str::to_owned)).build()
    }

    #[test]
    fn parents_are_read_before_their_children() {
        // Listed child-first, as a DescribeStream page may return them after a split.
        let shards = vec![
            shard("c2", Some("b")),
            shard("c1", Some("b")),
            shard("b", Some("a")),
            shard("a", None),
            shard("x", Some("gone")),
        ];
        let order = parents_first(shards);
        let at = |id: &str| order.iter().position(|s| s == id).unwrap();
        assert!(at("a") < at("b") && at("b") < at("c1") && at("b") < at("c2"), "{order:?}");
        assert!(order.contains(&"x".to_owned()), "a parent past the stream's retention does not hold its child back");
        assert_eq!(order.len(), 5);
    }
}
