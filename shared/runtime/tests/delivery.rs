//! Partial-batch bookkeeping: which sequence number a failing sink makes the pipeline report, that
//! everything before it is durable, and that a redelivery from there completes the trail.

use crate::support;

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use flagtrail_core::delivery::LogEvent;
use flagtrail_core::metrics::Counter;
use flagtrail_core::notify::Message;
use flagtrail_core::{CoreConfig, StreamEvent};
use flagtrail_runtime::sink::{EntryFailure, LocalLog, LocalTopic, LogSink, TopicSink};
use flagtrail_runtime::{AuditPipeline, Invocation, NotifyPipeline, SinkError};
use serde_json::Value;

/// Fails the calls whose (1-based) numbers are listed, passes the rest to an in-memory sink.
struct Flaky<S> {
    inner: S,
    fail_calls: Vec<usize>,
    calls: Mutex<usize>,
}

impl<S> Flaky<S> {
    fn new(inner: S, fail_calls: &[usize]) -> Self {
        Flaky { inner, fail_calls: fail_calls.to_vec(), calls: Mutex::new(0) }
    }
    fn should_fail(&self) -> bool {
        let mut c = self.calls.lock().unwrap();
        *c += 1;
        self.fail_calls.contains(&c)
    }
}

#[async_trait]
impl LogSink for Flaky<LocalLog> {
    async fn put(&self, events: &[LogEvent]) -> Result<Vec<usize>, SinkError> {
        if self.should_fail() {
            return Err(SinkError::Transient { sink: "test log", message: "ThrottlingException".into() });
        }
        self.inner.put(events).await
    }
}

/// Reports the listed entry positions of every call as failed (PublishBatch's HTTP-200 failures).
struct PartialTopic {
    inner: LocalTopic,
    failed_entries: Vec<usize>,
}

#[async_trait]
impl TopicSink for PartialTopic {
    async fn publish(&self, messages: &[Message]) -> Result<Vec<EntryFailure>, SinkError> {
        let ok: Vec<Message> = messages
            .iter()
            .enumerate()
            .filter(|(i, _)| !self.failed_entries.contains(i))
            .map(|(_, m)| m.clone())
            .collect();
        self.inner.publish(&ok).await?;
        Ok(self
            .failed_entries
            .iter()
            .filter(|&&i| i < messages.len())
            .map(|&index| EntryFailure { index, sender_fault: false, reason: "InternalError".into() })
            .collect())
    }
}

fn inv() -> Invocation {
    Invocation { now_ms: support::NOW_MS, deadline: None }
}

fn records(event: &Value) -> Vec<Value> {
    event["Records"].as_array().unwrap().clone()
}

fn event_of(records: &[Value]) -> StreamEvent {
    StreamEvent::from_json(&serde_json::json!({ "Records": records }).to_string()).unwrap()
}

fn ids(log: &LocalLog) -> Vec<String> {
    log.events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| serde_json::from_str::<Value>(&e.message).unwrap()["eventId"].as_str().map(str::to_owned))
        .collect()
}

/// Every message written, seals included.
fn messages(log: &LocalLog) -> Vec<String> {
    log.events.lock().unwrap().iter().map(|e| e.message.clone()).collect()
}

#[tokio::test]
async fn a_failed_put_reports_the_first_record_of_its_batch_and_a_retry_completes_the_trail() {
    // 3,000 realistic records make several 1 MB PutLogEvents calls.
    let generated = flagtrail_devtools::sample::event(3000, false, 11);
    let recs = records(&generated);
    let audit = AuditPipeline::new(CoreConfig::default(), Flaky::new(support::local_log(), &[2]));
    let out = audit.handle(&event_of(&recs), inv()).await;
    let calls = out.metrics.get(Counter::PutLogEventsCalls);
    assert!(calls >= 2, "the batch needs several calls, made {calls}");
    let resume = out.response.resume_from().expect("a failure is reported").to_owned();
    let pos = recs
        .iter()
        .position(|r| r["dynamodb"]["SequenceNumber"] == resume.as_str())
        .expect("a sequence number of the batch");
    let durable: BTreeSet<String> = ids(&audit.log.inner).into_iter().collect();
    // Everything before the reported record is durable; the reported one is not. Calls after the
    // failed one may have been in flight already: their records come again as duplicates.
    let id = |r: &Value| r["eventID"].as_str().unwrap().to_owned();
    assert!(recs[..pos].iter().all(|r| durable.contains(&id(r))));
    assert!(!durable.contains(&id(&recs[pos])));
    assert!(pos > 0 && pos < recs.len());

    // Lambda redelivers from the reported record: the trail is then complete; duplicates carry the
    // same eventId.
    let retry = audit.handle(&event_of(&recs[pos..]), inv()).await;
    assert!(retry.response.batch_item_failures.is_empty());
    let all: BTreeSet<String> = ids(&audit.log.inner).into_iter().collect();
    let want: BTreeSet<String> = recs.iter().map(id).collect();
    assert_eq!(all, want);
    // And every record, duplicates included, is covered by a seal, and no seal names a record that
    // is not there: the first invocation's seal covers the whole batch (the records of the failed
    // call were `missing` until the redelivery wrote the same bytes under a second seal).
    let report = flagtrail_core::integrity::verify(&messages(&audit.log.inner), None);
    let sealing: Vec<_> = report.seal_findings().collect();
    assert!(sealing.is_empty(), "{sealing:?}");
    assert_eq!(report.seals, 2);
    assert!(report.duplicates > 0, "calls in flight at the failure wrote records that came again");
}

#[tokio::test]
async fn api_calls_are_the_minimum_the_limits_allow() {
    let generated = flagtrail_devtools::sample::event(10_000, true, 5);
    let event = event_of(&records(&generated));
    let audit = AuditPipeline::new(CoreConfig::default(), support::local_log());
    let out = audit.handle(&event, inv()).await;
    let events = audit.log.events.lock().unwrap().clone();
    let (seals, records): (Vec<_>, Vec<_>) = events.iter().partition(|e| e.message.contains(r#""recordType":"seal""#));
    let bytes: usize = records.iter().map(|e| e.message.len() + 26).sum();
    let seal_bytes: usize = seals.iter().map(|e| e.message.len() + 26).sum();
    let calls = out.metrics.get(Counter::PutLogEventsCalls) as usize;
    // The time span of the generated batch is 10,000 s, under 24 h: only bytes and counts cut batches;
    // the seal (10,000 entries in 5 parts) travels in the same calls as the records.
    assert_eq!(seals.len(), 5);
    let minimum = (bytes + seal_bytes).div_ceil(1_048_576).max((records.len() + seals.len()).div_ceil(10_000));
    assert_eq!(calls, minimum, "{bytes} + {seal_bytes} bytes in {calls} calls");
    let notify = NotifyPipeline {
        config: CoreConfig::default(),
        alerts: LocalTopic::default(),
        invalidations: LocalTopic::default(),
        marks: None,
    };
    let out = notify.handle(&event, inv()).await;
    // Packed messages: the 256 KB per call binds before the 10 entries do.
    let sent = notify.invalidations.messages.lock().unwrap().clone();
    let sent_bytes: usize = sent.iter().map(|m| m.size()).sum();
    assert!(sent.len() < 100, "thousands of invalidations travel in {} packed messages", sent.len());
    // Cut in send order: a call is closed only when the next message (≤ 64 KB) does not fit its
    // 256 KB, so every call but the last carries more than 192 KB.
    let minimum = sent.len().div_ceil(10).max(sent_bytes.div_ceil(262_144));
    let calls = out.metrics.get(Counter::InvalidationPublishCalls) as usize;
    let at_most = sent.len().div_ceil(10).max(sent_bytes / (262_144 - 65_536) + 1);
    assert!(calls >= minimum && calls <= at_most, "{calls} calls for {sent_bytes} bytes in {} messages", sent.len());
    // Alerts: a flag's alerts share a call rather than straddle two that would wait on each other,
    // so calls are not all full. A call is closed early only when the next flag's run does not fit
    // it, so two neighbouring calls hold more than 10 alerts: never more than twice the minimum.
    let alerts = notify.alerts.messages.lock().unwrap().len();
    let calls = out.metrics.get(Counter::AlertPublishCalls) as usize;
    let minimum = alerts.div_ceil(10);
    assert!(calls >= minimum && calls <= 2 * minimum, "{calls} calls for {alerts} alerts");
}

#[tokio::test]
async fn a_failed_publish_entry_reports_the_earliest_record_it_covers() {
    let (_, text) = support::corpus().into_iter().find(|(n, _)| n == "batch-mixed").unwrap();
    let recs = records(&serde_json::from_str(&text).unwrap());
    // Entry 0 of the invalidation batch is the coalesced flag invalidation covering the INSERT (record 0),
    // the MODIFY (1) and the REMOVE (6) of the same flag, plus the kill switch (5) of that flag.
    // One v1 message per invalidation (`single`), so that entry 3 is one invalidation.
    let single = CoreConfig { invalidation_packing: flagtrail_core::notify::Packing::Single, ..Default::default() };
    let notify = NotifyPipeline {
        config: single.clone(),
        alerts: LocalTopic::default(),
        invalidations: PartialTopic { inner: LocalTopic::default(), failed_entries: vec![3] },
        marks: None,
    };
    let out = notify.handle(&event_of(&recs), inv()).await;
    let published: Vec<Value> = notify
        .invalidations
        .inner
        .messages
        .lock()
        .unwrap()
        .iter()
        .map(|m| serde_json::from_str(&m.body).unwrap())
        .collect();
    assert_eq!(out.metrics.get(Counter::InvalidationsCoalesced), 3, "4 changes of one flag key became 1 message");
    let failed_seq = out.response.resume_from().unwrap();
    assert_eq!(published.len(), 3);
    // Entry 3 is the flag-level invalidation: its earliest record is record 0.
    assert_eq!(failed_seq, recs[0]["dynamodb"]["SequenceNumber"].as_str().unwrap());
    // The kept flag-level message carries the newest version of its key.
    let notify2 = NotifyPipeline {
        config: single,
        alerts: LocalTopic::default(),
        invalidations: LocalTopic::default(),
        marks: None,
    };
    notify2.handle(&event_of(&recs), inv()).await;
    let msgs = notify2.invalidations.messages.lock().unwrap();
    let flag_msg: Value = msgs
        .iter()
        .flat_map(|m| flagtrail_core::notify::unpack(&m.body).unwrap())
        .find(|v| v["scope"] == "flag")
        .unwrap();
    assert_eq!(flag_msg["version"], recs[6]["dynamodb"]["SequenceNumber"]);
    assert_eq!(flag_msg["action"], "DELETE_FLAG");
}

#[tokio::test]
async fn a_failed_packed_message_fails_every_record_behind_its_invalidations() {
    let (_, text) = support::corpus().into_iter().find(|(n, _)| n == "batch-mixed").unwrap();
    let recs = records(&serde_json::from_str(&text).unwrap());
    let event = event_of(&recs);
    let plan = flagtrail_core::notify::plan(&event, &CoreConfig::default());
    assert!(plan.invalidations.covers.iter().any(|c| c.len() > 1), "a message carries several records");
    let notify = NotifyPipeline {
        config: CoreConfig::default(),
        alerts: LocalTopic::default(),
        invalidations: PartialTopic { inner: LocalTopic::default(), failed_entries: vec![0] },
        marks: None,
    };
    let out = notify.handle(&event, inv()).await;
    let published: Vec<String> =
        notify.invalidations.inner.messages.lock().unwrap().iter().map(|m| m.dedup_id.clone()).collect();
    let earliest_lost = (0..plan.invalidations.len())
        .filter(|&i| !published.contains(&plan.invalidations.items[i].dedup_id))
        .flat_map(|i| plan.invalidations.covers[i].iter().copied())
        .min()
        .expect("the first entry was refused");
    assert_eq!(out.response.resume_from(), recs[earliest_lost]["dynamodb"]["SequenceNumber"].as_str());
}

#[tokio::test]
async fn an_exhausted_time_budget_leaves_the_rest_for_redelivery() {
    let (_, text) = support::corpus().into_iter().find(|(n, _)| n == "batch-mixed").unwrap();
    let event = StreamEvent::from_json(&text).unwrap();
    let audit = AuditPipeline::new(CoreConfig::default(), support::local_log());
    let late = Invocation { now_ms: support::NOW_MS, deadline: Some(Instant::now() + Duration::from_millis(10)) };
    let out = audit.handle(&event, late).await;
    assert_eq!(*audit.log.calls.lock().unwrap(), 0, "no call is started without time to finish it");
    let first: Value = serde_json::from_str(event.records[0].get()).unwrap();
    assert_eq!(out.response.resume_from(), first["dynamodb"]["SequenceNumber"].as_str());
}

#[test]
fn an_oversized_record_is_split_into_linked_parts_not_dropped() {
    // A 400 KB item with a 400 KB old image: the audit record (images + changes) is over 1 MB.
    let big = "x".repeat(390_000);
    let big2 = "y".repeat(390_000);
    let img = |v: &str| serde_json::json!({ "PK": {"S": "FLAG#prod#huge"}, "SK": {"S": "METADATA"}, "payload": {"S": v}, "updatedBy": {"S": "zoe"} });
    let rec = serde_json::json!({ "eventID": "big-1", "eventName": "MODIFY", "dynamodb": {
        "Keys": {"PK": {"S": "FLAG#prod#huge"}, "SK": {"S": "METADATA"}}, "OldImage": img(&big), "NewImage": img(&big2),
        "SequenceNumber": "777", "ApproximateCreationDateTime": 1_795_392_000 } });
    let r = support::run(&serde_json::json!({ "Records": [rec] }).to_string());
    assert!(r.audit.len() >= 2, "split into parts");
    let mut joined = String::new();
    for line in &r.audit {
        support::assert_valid(line);
        assert!(line.len() <= flagtrail_core::delivery::LOG_EVENT_BYTES);
        let v: Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["recordType"], "part");
        assert_eq!(v["eventId"], "big-1");
        joined.push_str(v["chunk"].as_str().unwrap());
    }
    let whole: Value = serde_json::from_str(&joined).unwrap();
    assert_eq!(whole["changes"]["payload"]["after"].as_str().unwrap().len(), 390_000);
    support::assert_valid(&joined);
}

/// Fails its first signature, then signs with a fixed local key.
struct FailsOnce {
    inner: flagtrail_runtime::sink::LocalSigner,
    failed: Mutex<bool>,
}

#[async_trait]
impl flagtrail_runtime::sink::SealSigner for FailsOnce {
    async fn sign(&self, digest: &[u8; 32]) -> Result<flagtrail_core::integrity::SealSignature, SinkError> {
        let first = !std::mem::replace(&mut *self.failed.lock().unwrap(), true);
        if first {
            return Err(SinkError::Transient { sink: "kms", message: "KMSInternalException".into() });
        }
        self.inner.sign(digest).await
    }
}

#[tokio::test]
async fn a_seal_not_signed_or_not_written_fails_its_records_and_the_redelivery_seals_them() {
    let (_, text) = support::corpus().into_iter().find(|(n, _)| n == "batch-mixed").unwrap();
    let recs = records(&serde_json::from_str(&text).unwrap());
    let first_seq = recs[0]["dynamodb"]["SequenceNumber"].as_str().unwrap();
    let key = p256::ecdsa::SigningKey::from_bytes(&[9u8; 32].into()).unwrap();
    let keys = flagtrail_core::integrity::SealKeys(vec![flagtrail_core::integrity::SealKey::from_key(
        "test",
        *key.verifying_key(),
    )]);
    let sealing_findings = |log: &LocalLog| {
        let report = flagtrail_core::integrity::verify(&messages(log), Some(&keys));
        let r: Vec<String> = report.seal_findings().map(|f| f.to_string()).collect();
        (r, report.signatures_verified)
    };

    // KMS fails once: nothing is written (no unsealed copies pile up while a key is unusable) and
    // the whole batch is reported.
    let signer =
        FailsOnce { inner: flagtrail_runtime::sink::LocalSigner::from_key(key.clone()), failed: Mutex::new(false) };
    let audit = AuditPipeline {
        config: CoreConfig::default(),
        log: support::local_log(),
        retention_days: None,
        signer: Some(std::sync::Arc::new(signer)),
        archive: None,
    };
    let out = audit.handle(&event_of(&recs), inv()).await;
    assert_eq!(out.response.resume_from(), Some(first_seq));
    assert!(matches!(&out.errors[..], [SinkError::Transient { sink: "kms", .. }]), "{:?}", out.errors);
    assert!(messages(&audit.log).is_empty(), "nothing written without a signature");
    let retry = audit.handle(&event_of(&recs), inv()).await;
    assert!(retry.response.batch_item_failures.is_empty());
    assert_eq!(sealing_findings(&audit.log), (vec![], 1));

    // The call carrying the seal fails (once): the records of other calls may be durable, but the
    // batch is reported from its first record, and the redelivery seals them.
    let audit = AuditPipeline {
        config: CoreConfig::default(),
        log: LosesSealOnce { inner: support::local_log(), lost: Mutex::new(false) },
        retention_days: None,
        signer: Some(std::sync::Arc::new(flagtrail_runtime::sink::LocalSigner::from_key(key.clone()))),
        archive: None,
    };
    let out = audit.handle(&event_of(&recs), inv()).await;
    assert_eq!(out.response.resume_from(), Some(first_seq));
    assert_eq!(out.metrics.get(Counter::RecordsSealed), 0);
    let retry = audit.handle(&event_of(&recs), inv()).await;
    assert!(retry.response.batch_item_failures.is_empty());
    assert_eq!(retry.metrics.get(Counter::RecordsSealed) as usize, recs.len());
    assert_eq!(sealing_findings(&audit.log.inner), (vec![], 1));
}

/// Fails the first call that carries a seal part.
struct LosesSealOnce {
    inner: LocalLog,
    lost: Mutex<bool>,
}

#[async_trait]
impl LogSink for LosesSealOnce {
    async fn put(&self, events: &[LogEvent]) -> Result<Vec<usize>, SinkError> {
        let has_seal = events.iter().any(|e| e.message.contains(r#""recordType":"seal""#));
        if has_seal && !std::mem::replace(&mut *self.lost.lock().unwrap(), true) {
            return Err(SinkError::Transient { sink: "test log", message: "ServiceUnavailableException".into() });
        }
        self.inner.put(events).await
    }
}

/// An archive that fails its first call and keeps what the others bring.
#[derive(Default)]
struct ArchiveFailsOnce {
    calls: Mutex<usize>,
    kept: Mutex<Vec<LogEvent>>,
}

#[async_trait]
impl flagtrail_runtime::sink::ArchiveSink for ArchiveFailsOnce {
    async fn put(&self, events: &[LogEvent]) -> Result<(), SinkError> {
        let mut calls = self.calls.lock().unwrap();
        *calls += 1;
        if *calls == 1 {
            return Err(SinkError::Transient { sink: "archive stream", message: "503".into() });
        }
        self.kept.lock().unwrap().extend_from_slice(events);
        Ok(())
    }
}

/// With an archive (data protection): a call the log took but the archive did not fails the batch
/// from its first record, and the redelivery archives every record and the seal.
#[tokio::test]
async fn a_call_counts_as_written_only_once_the_archive_has_it() {
    let recs = records(&flagtrail_devtools::sample::event(20, false, 3));
    let archive = std::sync::Arc::new(ArchiveFailsOnce::default());
    let audit = AuditPipeline {
        config: CoreConfig::default(),
        log: support::local_log(),
        retention_days: None,
        signer: None,
        archive: Some(archive.clone()),
    };
    let out = audit.handle(&event_of(&recs), inv()).await;
    assert!(out.response.resume_from().is_some(), "the batch is reported failed");
    assert!(matches!(&out.errors[..], [SinkError::Transient { sink: "archive stream", .. }]), "{:?}", out.errors);
    assert_eq!(out.metrics.get(Counter::RecordsSealed), 0);
    assert!(archive.kept.lock().unwrap().is_empty());
    let retry = audit.handle(&event_of(&recs), inv()).await;
    assert!(retry.response.batch_item_failures.is_empty());
    let kept: Vec<String> = archive.kept.lock().unwrap().iter().map(|e| e.message.clone()).collect();
    let report = flagtrail_core::integrity::verify(&kept, None);
    assert!(report.intact(), "{:?}", report.findings);
    assert_eq!((report.records, report.seals), (recs.len(), 1));
}
