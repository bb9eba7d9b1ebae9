//! The two stream consumers a shard allows, independent of where their outputs go:
//! `audit` (audit records + metrics) and `notify` (alerts + invalidations).
//!
//! Both follow one rule: records are handled in order; a sink failure marks every record whose
//! outputs were in the failed call, and the batch response names the lowest of them.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::audit::{action_of, changed_at, diff, AuditRecord};
use crate::batch::{decode_entry, BatchResponse, Entry, Ledger, StreamEvent};
use crate::config::CoreConfig;
use crate::derive::{alerts, invalidation, Alert, Invalidation, Scope};
use crate::error::SinkError;
use crate::metrics::Metrics;
use crate::sink::{plan_log_batches, plan_publish_batches, split_oversized, LogEvent, LogSink, Message, TopicSink};

/// CloudWatch Logs rejects events older than 14 days or more than 2 hours ahead.
const MAX_EVENT_AGE_MS: i64 = 14 * 24 * 3600 * 1000 - 3600 * 1000;
const MAX_EVENT_AHEAD_MS: i64 = 3600 * 1000;

/// Stop calling sinks when less than this is left of the invocation; the rest is retried.
pub const DEADLINE_MARGIN: Duration = Duration::from_millis(1500);

/// What one invocation produced besides its outputs.
#[derive(Debug, Default)]
pub struct Outcome {
    /// The partial batch response for Lambda.
    pub response: BatchResponse,
    /// Counters for EMF.
    pub metrics: Metrics,
    /// Sink errors met, in order (for logs).
    pub errors: Vec<SinkError>,
}

/// Per-invocation context: the current time and when the invocation must be done.
#[derive(Debug, Clone, Copy)]
pub struct Invocation {
    /// Now, ms since the epoch (log timestamps are clamped around it).
    pub now_ms: i64,
    /// When sink calls must stop; `None` for no limit (CLI).
    pub deadline: Option<Instant>,
}

impl Invocation {
    /// No deadline, the wall clock's now.
    pub fn unbounded() -> Self {
        Invocation { now_ms: now_ms(), deadline: None }
    }

    /// From a Lambda context's deadline (ms since the epoch).
    pub fn with_deadline_ms(deadline_ms: u64) -> Self {
        let now = now_ms();
        let remaining = (deadline_ms as i64 - now).max(0) as u64;
        Invocation { now_ms: now, deadline: Some(Instant::now() + Duration::from_millis(remaining)) }
    }

    fn out_of_time(&self) -> bool {
        self.deadline.is_some_and(|d| d.saturating_duration_since(Instant::now()) < DEADLINE_MARGIN)
    }
}

/// Milliseconds since the epoch, from the system clock.
pub fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// Outputs for one sink together with the batch positions of the records each came from.
struct Pending<T> {
    items: Vec<T>,
    covers: Vec<Vec<usize>>,
}

/// Sends planned batches in order, marking the records behind every failed item in the ledger;
/// after a failed call (or when time is up) nothing more is sent: those records will come again.
async fn deliver<T, F, Fut>(
    pending: &Pending<T>,
    plan: Vec<std::ops::Range<usize>>,
    inv: &Invocation,
    ledger: &mut Ledger,
    errors: &mut Vec<SinkError>,
    mut send: F,
) -> usize
where
    F: FnMut(std::ops::Range<usize>) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<usize>, SinkError>>,
{
    let mut calls = 0;
    for (n, range) in plan.iter().enumerate() {
        let failed_from = if inv.out_of_time() {
            errors.push(SinkError::Transient {
                sink: "invocation",
                message: "out of time; remaining records left for retry".into(),
            });
            Some(range.start)
        } else {
            calls += 1;
            match send(range.clone()).await {
                Ok(failed) => {
                    for i in failed {
                        pending.covers[range.start + i].iter().for_each(|&r| ledger.fail(r));
                    }
                    None
                }
                Err(e) => {
                    tracing::error!(error = %e, "sink call failed");
                    errors.push(e);
                    Some(range.start)
                }
            }
        };
        if let Some(from) = failed_from {
            for later in &plan[n..] {
                for i in later.clone().filter(|&i| i >= from) {
                    pending.covers[i].iter().for_each(|&r| ledger.fail(r));
                }
            }
            break;
        }
    }
    calls
}

/// The audit consumer: every record → one audit record (or quarantine record) in the log sink.
pub struct AuditPipeline<L> {
    /// Core settings.
    pub config: CoreConfig,
    /// Where audit records go.
    pub log: L,
}

impl<L: LogSink> AuditPipeline<L> {
    /// Handles one batch.
    pub async fn handle(&self, event: &StreamEvent, inv: Invocation) -> Outcome {
        let n = event.records.len();
        let mut out = Outcome::default();
        let mut pending = Pending { items: Vec::with_capacity(n), covers: Vec::with_capacity(n) };
        let mut seqs = Vec::with_capacity(n);
        let mut last_ts = None;
        // One record at a time: a decoded change lives only until its audit JSON is written, so a
        // 6 MB batch never holds all decoded images at once.
        for (idx, raw) in event.records.iter().enumerate() {
            let entry = decode_entry(raw.get(), &self.config);
            seqs.push(entry.sequence_number().map(str::to_owned));
            let (json, event_id, ts) = match &entry {
                Entry::Change(c) => {
                    let changes = diff(c);
                    let record = AuditRecord::new(c, changes.as_ref(), &self.config);
                    let production = self.config.is_production(c.key.environment.as_deref());
                    out.metrics.change(c.key.environment.as_deref(), action_of(c), production);
                    if c.ttl_expiry {
                        out.metrics.count("TtlDeletions", 1);
                    }
                    (
                        record.to_json(),
                        c.event_id.as_str(),
                        changed_at(c).map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64),
                    )
                }
                Entry::Quarantined(q) => {
                    out.metrics.count("RecordsQuarantined", 1);
                    (q.to_json(), q.event_id.as_str(), None)
                }
            };
            // A record without a time sits beside its predecessor, so sorting keeps shard order.
            // Clamp into what PutLogEvents accepts; the record keeps the true time in changedAt.
            let ts = ts
                .or(last_ts)
                .unwrap_or(inv.now_ms)
                .clamp(inv.now_ms - MAX_EVENT_AGE_MS, inv.now_ms + MAX_EVENT_AHEAD_MS);
            last_ts = Some(ts);
            let parts = split_oversized(json, event_id, entry.sequence_number());
            if parts.len() > 1 {
                out.metrics.count("RecordsSplit", 1);
            }
            for message in parts {
                pending.items.push(LogEvent { timestamp_ms: ts, message });
                pending.covers.push(vec![idx]);
            }
        }
        out.metrics.count("RecordsProcessed", n as u64);
        let plan = plan_log_batches(&pending.items);
        let mut ledger = Ledger::default();
        let items = &pending.items;
        let calls = deliver(&pending, plan, &inv, &mut ledger, &mut out.errors, |range| async move {
            let mut batch = items[range].to_vec();
            batch.sort_by_key(|e| e.timestamp_ms); // stable: keeps shard order within a millisecond
            self.log.put(&batch).await.map(|_| Vec::new())
        })
        .await;
        out.metrics.count("PutLogEventsCalls", calls as u64);
        finish(&mut out, &ledger, &seqs);
        out
    }
}

fn finish(out: &mut Outcome, ledger: &Ledger, seqs: &[Option<String>]) {
    out.response = ledger.response(seqs);
    if let Some(first) = ledger.first_failed() {
        out.metrics.count("RecordsRetried", seqs.len().saturating_sub(first) as u64);
    }
}

/// The notify consumer: kill-switch and flag-created alerts, and cache invalidations.
pub struct NotifyPipeline<A, I> {
    /// Core settings.
    pub config: CoreConfig,
    /// The alert topic.
    pub alerts: A,
    /// The invalidation topic.
    pub invalidations: I,
}

impl<A: TopicSink, I: TopicSink> NotifyPipeline<A, I> {
    /// Handles one batch: alerts first (on-call matters most), then invalidations.
    pub async fn handle(&self, event: &StreamEvent, inv: Invocation) -> Outcome {
        let mut out = Outcome::default();
        let mut alert_msgs = Pending { items: Vec::new(), covers: Vec::new() };
        let mut invalidations: Vec<(usize, Invalidation)> = Vec::new();
        let mut seqs = Vec::with_capacity(event.records.len());
        for (idx, raw) in event.records.iter().enumerate() {
            let entry = decode_entry(raw.get(), &self.config);
            seqs.push(entry.sequence_number().map(str::to_owned));
            let Entry::Change(c) = entry else { continue };
            for a in alerts(&c, &self.config) {
                alert_msgs.items.push(alert_message(&a));
                alert_msgs.covers.push(vec![idx]);
            }
            if let Some(i) = invalidation(&c) {
                invalidations.push((idx, i));
            }
        }
        let coalesced = coalesce(invalidations);
        out.metrics.count("InvalidationsCoalesced", coalesced.dropped as u64);
        let inval_msgs = Pending {
            items: coalesced.kept.iter().map(|(_, i)| invalidation_message(i)).collect(),
            covers: coalesced.kept.into_iter().map(|(covers, _)| covers).collect(),
        };
        let mut ledger = Ledger::default();
        for (name, pending, topic) in [
            ("Alerts", &alert_msgs, &self.alerts as &dyn TopicSink),
            ("Invalidations", &inval_msgs, &self.invalidations as &dyn TopicSink),
        ] {
            let items = &pending.items;
            let plan = plan_publish_batches(items);
            let calls = deliver(pending, plan, &inv, &mut ledger, &mut out.errors, |range| async move {
                topic.publish(&items[range]).await
            })
            .await;
            let (calls_metric, sent_metric) = if name == "Alerts" {
                ("AlertPublishCalls", "AlertsPublished")
            } else {
                ("InvalidationPublishCalls", "InvalidationsPublished")
            };
            out.metrics.count(calls_metric, calls as u64);
            out.metrics.count(sent_metric, items.len() as u64);
        }
        out.metrics.count("RecordsProcessed", seqs.len() as u64);
        finish(&mut out, &ledger, &seqs);
        out
    }
}

/// Invalidations after coalescing, each with the batch positions it stands for.
struct Coalesced {
    kept: Vec<(Vec<usize>, Invalidation)>,
    dropped: usize,
}

/// Keeps the last invalidation per cache key (it carries the highest version), placed where that
/// last one was, so per-key order holds; an environment-wide one also absorbs earlier ones of its
/// environment.
fn coalesce(list: Vec<(usize, Invalidation)>) -> Coalesced {
    let total = list.len();
    let mut last_for: HashMap<String, usize> = HashMap::new();
    let mut env_wide_at: HashMap<&str, usize> = HashMap::new();
    for (pos, (_, inv)) in list.iter().enumerate() {
        last_for.insert(inv.key(), pos);
        if inv.scope == Scope::Environment {
            env_wide_at.insert(inv.environment.as_str(), pos);
        }
    }
    let mut covers: Vec<Vec<usize>> = vec![Vec::new(); total];
    let mut keep = vec![false; total];
    for (pos, (idx, inv)) in list.iter().enumerate() {
        let target = match env_wide_at.get(inv.environment.as_str()) {
            Some(&env_pos) if env_pos > pos => env_pos,
            _ => last_for[&inv.key()],
        };
        covers[target].push(*idx);
        keep[target] = true;
    }
    let kept: Vec<_> = list
        .into_iter()
        .enumerate()
        .filter(|(pos, _)| keep[*pos])
        .map(|(pos, (_, inv))| (std::mem::take(&mut covers[pos]), inv))
        .collect();
    Coalesced { dropped: total - kept.len(), kept }
}

fn dedup_id(event_id: &str, kind: &str) -> String {
    hex::encode(Sha256::digest(format!("{kind}:{event_id}").as_bytes()))
}

/// The SNS message of an alert: Chatbot body, subject, filterable attributes.
pub fn alert_message(a: &Alert) -> Message {
    Message {
        subject: Some(a.title.chars().filter(|c| !c.is_control()).take(100).collect()),
        body: a.body.to_string(),
        attributes: a.attributes.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect(),
        group_id: format!("{}/{}", a.environment, a.attributes.get("flagKey").map_or("global", String::as_str)),
        dedup_id: dedup_id(&a.event_id, "alert"),
    }
}

/// The SNS message of an invalidation: JSON body, attributes for per-environment/scope filtering.
pub fn invalidation_message(i: &Invalidation) -> Message {
    let mut attributes = std::collections::BTreeMap::new();
    attributes.insert("environment".to_owned(), i.environment.clone());
    attributes.insert(
        "scope".to_owned(),
        serde_json::to_value(i.scope).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default(),
    );
    attributes.insert("eventType".to_owned(), "Invalidation".to_owned());
    if let Some(f) = &i.flag_key {
        attributes.insert("flagKey".to_owned(), f.clone());
    }
    if let Some(t) = &i.tenant_id {
        attributes.insert("tenantId".to_owned(), t.clone());
    }
    Message {
        subject: None,
        body: serde_json::to_string(i).unwrap_or_default(),
        attributes,
        // Per-flag ordering on FIFO topics; an environment-wide message orders within its environment.
        group_id: match &i.flag_key {
            Some(f) => format!("{}/{}", i.environment, f),
            None => i.environment.clone(),
        },
        dedup_id: dedup_id(&i.event_id, "invalidation"),
    }
}
