//! What the `notify` function computes from a batch before any I/O: alert and invalidation
//! messages (invalidations coalesced per cache key), the records each came from, metric counts.

use super::alert::{alerts, fold_flapping, Severity};
use super::invalidation::{coalesce, invalidation, invalidation_priority, Invalidation};
use super::mark::{plan_marks, Mark};
use super::message::{alert_message, Message};
use super::pack::pack;
use crate::config::CoreConfig;
use crate::delivery::{Outbox, CRITICAL, NORMAL, URGENT};
use crate::event::{decode_entry, Entry, StreamEvent};
use crate::metrics::{Counter, Metrics};

/// The notify outputs of one batch.
#[derive(Debug, Default)]
pub struct NotifyPlan {
    /// Alert messages, in shard order.
    pub alerts: Outbox<Message>,
    /// Invalidation messages after coalescing (packed per environment or FIFO group unless
    /// configured `single`), in shard order of the last change per key.
    pub invalidations: Outbox<Message>,
    /// Freshness marks to raise, one per scope and item (docs/freshness.md).
    pub marks: Outbox<Mark>,
    /// Each record's sequence number, when it has a valid one.
    pub sequence_numbers: Vec<Option<String>>,
    /// Counts of what the batch held.
    pub metrics: Metrics,
}

/// Plans the notify outputs of `event`.
pub fn plan(event: &StreamEvent, config: &CoreConfig) -> NotifyPlan {
    let mut out = NotifyPlan { sequence_numbers: Vec::with_capacity(event.records.len()), ..Default::default() };
    let mut invalidations: Vec<(usize, Invalidation)> = Vec::new();
    let mut alert_list = Vec::new();
    for (idx, raw) in event.records.iter().enumerate() {
        let entry = decode_entry(raw.get(), config);
        out.sequence_numbers.push(entry.sequence_number().map(str::to_owned));
        let Entry::Change(c) = entry else { continue };
        alert_list.extend(alerts(&c, config).into_iter().map(|a| (vec![idx], a)));
        if let Some(i) = invalidation(&c) {
            invalidations.push((idx, i));
        }
    }
    let (kept_alerts, folded) = fold_flapping(alert_list);
    out.metrics.count(Counter::AlertsFolded, folded as u64);
    for (covers, a) in kept_alerts {
        let priority = match a.severity {
            Severity::Critical => CRITICAL,
            Severity::High => URGENT,
            _ => NORMAL,
        };
        out.alerts.push_with(alert_message(&a), covers, priority);
    }
    let coalesced = coalesce(invalidations);
    out.metrics.count(Counter::InvalidationsCoalesced, coalesced.dropped as u64);
    // A kill switch must reach the evaluation services before ordinary changes do.
    let kept: Vec<_> = coalesced
        .kept
        .into_iter()
        .map(|(covers, i)| {
            let priority = invalidation_priority(&i, config);
            (covers, i, priority)
        })
        .collect();
    let (marks, folded) = plan_marks(&kept, config.max_marks_per_batch);
    out.marks = marks;
    out.metrics.count(Counter::MarksFolded, folded as u64);
    let invalidations = kept.len();
    out.invalidations = pack(kept, config.invalidation_packing);
    out.metrics.count(Counter::AlertsPublished, out.alerts.len() as u64);
    out.metrics.count(Counter::InvalidationsPublished, invalidations as u64);
    out.metrics.count(Counter::RecordsProcessed, out.sequence_numbers.len() as u64);
    out
}
