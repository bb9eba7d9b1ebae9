//! What the `audit` function computes from a batch before any I/O: one log event per record (or
//! linked parts of an oversized one), the record each came from, and the metric counts.

use super::action::action_of;
use super::diff::diff;
use super::part::split_oversized;
use super::record::{changed_at, AuditRecord};
use crate::config::CoreConfig;
use crate::delivery::rules::{LOG_MAX_AGE_MS, LOG_MAX_AHEAD_MS};
use crate::delivery::{LogEvent, Outbox};
use crate::event::{decode_entry, Entry, StreamEvent};
use crate::integrity::{Seal, SealEntry};
use crate::metrics::{Counter, Metrics};

/// How far ahead of now an event's timestamp may be: PutLogEvents rejects more than 2 hours
/// ahead; an hour of margin.
pub const MAX_EVENT_AHEAD_MS: i64 = LOG_MAX_AHEAD_MS - 3600 * 1000;

/// How old an event's timestamp may be for a log group keeping events `retention_days`:
/// PutLogEvents rejects events older than 14 days or than the group's retention; an hour of margin.
pub fn max_event_age_ms(retention_days: Option<u32>) -> i64 {
    let limit = retention_days.map_or(LOG_MAX_AGE_MS, |d| LOG_MAX_AGE_MS.min(i64::from(d) * 24 * 3600 * 1000));
    (limit - 3600 * 1000).max(0)
}

/// The audit outputs of one batch.
#[derive(Debug, Default)]
pub struct AuditPlan {
    /// Log events in shard order, each covering the record it came from.
    pub events: Outbox<LogEvent>,
    /// Each log event's id in seals (`eventId`, or `eventId#part`).
    pub event_ids: Vec<String>,
    /// Each record's sequence number, when it has a valid one.
    pub sequence_numbers: Vec<Option<String>>,
    /// The stream the batch came from (`eventSourceARN` of its first decodable record).
    pub stream_arn: Option<String>,
    /// Counts of what the batch held.
    pub metrics: Metrics,
}

/// Plans the audit outputs of `event`; `now_ms` is the invocation's clock: event timestamps are
/// clamped into `[now - max_age_ms, now + MAX_EVENT_AHEAD_MS]` (see [`max_event_age_ms`]), what
/// PutLogEvents writes; the record keeps the true time in `changedAt`.
pub fn plan(event: &StreamEvent, config: &CoreConfig, now_ms: i64, max_age_ms: i64) -> AuditPlan {
    let n = event.records.len();
    let mut out = AuditPlan {
        events: Outbox::with_capacity(n),
        event_ids: Vec::with_capacity(n),
        sequence_numbers: Vec::with_capacity(n),
        stream_arn: None,
        metrics: Metrics::default(),
    };
    let mut last_ts = None;
    // One record at a time: a decoded change lives only until its audit JSON is written, so a
    // 6 MB batch never holds all decoded images at once.
    for (idx, raw) in event.records.iter().enumerate() {
        let entry = decode_entry(raw.get(), config);
        out.sequence_numbers.push(entry.sequence_number().map(str::to_owned));
        let (json, event_id, ts) = match &entry {
            Entry::Change(c) => {
                let changes = diff(c);
                let record = AuditRecord::new(c, changes.as_ref(), config);
                let production = config.is_production(c.key.environment.as_deref());
                let unattributed = c.attribution.source.is_unattributed();
                out.metrics.change(c.key.environment.as_deref(), action_of(c), production, unattributed);
                if out.stream_arn.is_none() {
                    out.stream_arn.clone_from(&c.event_source_arn);
                }
                if c.ttl_expiry {
                    out.metrics.count(Counter::TtlDeletions, 1);
                }
                (
                    record.to_json(),
                    c.event_id.as_str(),
                    changed_at(c).map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64),
                )
            }
            Entry::Quarantined(q) => {
                out.metrics.count(Counter::RecordsQuarantined, 1);
                (q.to_json(), q.event_id.as_str(), None)
            }
        };
        // A record without a time sits beside its predecessor, so sorting keeps shard order.
        let ts = ts.or(last_ts).unwrap_or(now_ms).clamp(now_ms - max_age_ms, now_ms + MAX_EVENT_AHEAD_MS);
        last_ts = Some(ts);
        let parts = split_oversized(json, event_id, entry.sequence_number());
        if parts.len() > 1 {
            out.metrics.count(Counter::RecordsSplit, 1);
            out.event_ids.extend((1..=parts.len()).map(|p| format!("{event_id}#{p}")));
        } else {
            out.event_ids.push(event_id.to_owned());
        }
        for message in parts {
            out.events.push(LogEvent { timestamp_ms: ts, message }, vec![idx]);
        }
    }
    out.metrics.count(Counter::RecordsProcessed, n as u64);
    out
}

impl AuditPlan {
    /// The seal over every planned log event (see docs/integrity.md), with the lowest record it
    /// covers (the record a lost seal part fails the batch from); `None` for an empty batch.
    pub fn seal(&self) -> Option<(Seal, usize)> {
        let lowest = self.events.covers.iter().flatten().copied().min()?;
        let mut seqs = self.sequence_numbers.iter().flatten();
        let first = seqs.next();
        let last = seqs.next_back().or(first);
        let seal = Seal {
            stream_arn: self.stream_arn.clone(),
            first_sequence_number: first.cloned(),
            last_sequence_number: last.cloned(),
            entries: self
                .events
                .items
                .iter()
                .zip(&self.event_ids)
                .map(|(event, id)| SealEntry::of(id, &event.message))
                .collect(),
        };
        Some((seal, lowest))
    }
}
