//! The notify consumer: kill-switch and flag-created alerts, and cache invalidations.

use async_trait::async_trait;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use flagtrail_core::delivery::{
    contiguous_by_key, effective_priorities, plan_batches, prioritize, schedule, starts_a_call, Ledger, Outbox,
    PlannedCall, NORMAL, SNS_BATCH_BYTES, SNS_BATCH_ENTRIES,
};
use flagtrail_core::metrics::Counter;
use flagtrail_core::notify::{Mark, Message, Packing};
use flagtrail_core::{notify, CoreConfig, StreamEvent};

use super::deliver::{deliver, Books};
use super::{Invocation, Outcome, Pipeline};
use crate::sink::{EntryFailure, MarkSink, Raised, SinkError, TopicSink, ITEM_TOO_LARGE};

/// The notify consumer over two topics.
pub struct NotifyPipeline<A, I> {
    /// Core settings.
    pub config: CoreConfig,
    /// The alert topic.
    pub alerts: A,
    /// The invalidation topic.
    pub invalidations: I,
    /// The freshness marks Lambda-hosted evaluators poll (docs/freshness.md); `None`: not kept.
    pub marks: Option<Arc<dyn MarkSink>>,
}

impl<A: TopicSink, I: TopicSink> NotifyPipeline<A, I> {
    /// Handles one batch: calls to both topics with up to `max_calls_in_flight` at once, and
    /// beside them the marks table with as many again (another service, another quota); kill
    /// switches and critical/high alerts first; a flag's messages in order.
    pub async fn handle(&self, event: &StreamEvent, inv: Invocation) -> Outcome {
        let mut config = self.config.clone();
        if self.invalidations.fifo() && config.invalidation_packing != Packing::Single {
            // FIFO topics keep order per message group: a packed message must stay within one.
            config.invalidation_packing = Packing::PerGroup;
        }
        let mut plan = notify::plan(event, &config);
        let mut out = Outcome::default();
        let mut ledger = Ledger::default();
        let mut mark_ledger = Ledger::default();
        let mut mark_errors = Vec::new();
        let raised = [&AtomicU64::new(0), &AtomicU64::new(0)];
        let degraded = &AtomicU64::new(0);
        let outboxes = [&plan.alerts, &plan.invalidations];
        let topics: [&dyn TopicSink; 2] = [&self.alerts, &self.invalidations];
        // What must not overtake what: on a FIFO topic, a message group (one per flag); on a
        // standard topic SNS keeps no order anyway, so alerts keep their flag's order (a kill switch
        // ON→OFF) and invalidations none: after coalescing a batch has one per cache key, and
        // consumers order by `version`.
        let fifo = [self.alerts.fifo(), self.invalidations.fifo()];
        let key = ordering_key(fifo);
        let mut calls = Vec::new();
        for (sink, outbox) in outboxes.iter().enumerate() {
            let items = &outbox.items;
            let tiers = effective_priorities(items.len(), |i| key(sink, &items[i]), |i| outbox.priorities[i]);
            let order = contiguous_by_key(prioritize(&tiers), |i| key(sink, &items[i]).map(|k| (tiers[i], k)));
            let keys: Vec<Option<&str>> = order.iter().map(|&i| key(sink, &items[i])).collect();
            let cost = |k: usize| items[order[k]].size();
            let fits = |range, k| !starts_a_call(&keys, range, k, SNS_BATCH_ENTRIES);
            for range in plan_batches(order.len(), cost, SNS_BATCH_ENTRIES, SNS_BATCH_BYTES, fits) {
                let positions: Vec<usize> = range.map(|k| order[k]).collect();
                let priority = positions.iter().map(|&p| outbox.priorities[p]).min().unwrap_or(NORMAL);
                calls.push(PlannedCall { sink, positions, priority, after: Vec::new() });
            }
        }
        let calls = schedule(calls, |sink, p| key(sink, &outboxes[sink].items[p]));
        let max = self.config.max_calls_in_flight;
        let marks = self.raise_marks(
            &plan.marks,
            Books { inv: &inv, ledger: &mut mark_ledger, errors: &mut mark_errors },
            raised,
        );
        let topics_delivered = deliver(
            &outboxes,
            calls,
            max,
            Books { inv: &inv, ledger: &mut ledger, errors: &mut out.errors },
            key,
            |sink, positions| {
                let (items, topic) = (&outboxes[sink].items, topics[sink]);
                async move {
                    let batch: Vec<Message> = positions.iter().map(|&i| items[i].clone()).collect();
                    let failed = publish_or_degrade(topic, &batch, degraded).await?;
                    Ok(failed.into_iter().map(|p| positions[p]).collect())
                }
            },
        );
        let (delivered, _) = futures_util::join!(topics_delivered, marks);
        if let Some(first) = mark_ledger.first_failed() {
            ledger.fail(first);
        }
        out.errors.extend(mark_errors);
        plan.metrics.count(Counter::MarksRaised, raised[0].load(Ordering::Relaxed));
        plan.metrics.count(Counter::MarksUnchanged, raised[1].load(Ordering::Relaxed));
        plan.metrics.count(Counter::AlertPublishCalls, delivered.calls[0] as u64);
        plan.metrics.count(Counter::InvalidationPublishCalls, delivered.calls[1] as u64);
        plan.metrics.count(Counter::CallsInFlightMax, delivered.most_in_flight as u64);
        plan.metrics.count(Counter::MessagesDegraded, degraded.load(Ordering::Relaxed));
        Outcome::close(&ledger, &plan.sequence_numbers, plan.metrics, out.errors)
    }
}

impl<A: TopicSink, I: TopicSink> NotifyPipeline<A, I> {
    /// Raises the batch's marks, one call each, urgent ones first (`schedule` orders by priority)
    /// and no order among them otherwise: each write is conditional on its own item's version, so
    /// any order ends in the same state.
    async fn raise_marks(&self, marks: &Outbox<Mark>, books: Books<'_>, raised: [&AtomicU64; 2]) {
        let Some(sink) = self.marks.as_deref() else { return };
        let calls = (0..marks.len())
            .map(|p| PlannedCall { sink: 0, positions: vec![p], priority: marks.priorities[p], after: Vec::new() })
            .collect();
        let calls = schedule(calls, |_, _| None);
        deliver(&[marks], calls, self.config.max_calls_in_flight, books, |_, _| None, |_, positions| {
            let mark = &marks.items[positions[0]];
            async move {
                let done = match sink.raise(mark).await {
                    // A mark with a guard per item can reach DynamoDB's 400 KB item limit (a tenant
                    // with overrides on thousands of flags): raise it without the guard rather than
                    // fail its records forever; a redelivery then costs one extra flush.
                    Err(SinkError::Permanent { message, .. }) if message.contains(ITEM_TOO_LARGE) => {
                        tracing::warn!(mark = %mark.key, "mark item at the size limit; raised without its per-item guard");
                        sink.raise(&Mark { item: None, ..mark.clone() }).await?
                    }
                    other => other?,
                };
                raised[usize::from(done == Raised::Unchanged)].fetch_add(1, Ordering::Relaxed);
                Ok(Vec::new())
            }
        })
        .await;
    }
}

/// The ordering key of a message of sink 0 (alerts) or 1 (invalidations), given which are FIFO.
fn ordering_key<'a>(fifo: [bool; 2]) -> impl Fn(usize, &'a Message) -> Option<&'a str> + Copy {
    move |sink, m| (sink == 0 || fifo[sink]).then_some(m.group_id.as_str())
}

/// Publishes `batch`; entries SNS refuses as the sender's fault are published once more in
/// degraded form ([`Message::degraded`]) rather than left to fail on every retry and block the
/// shard. Returns the positions still not published.
async fn publish_or_degrade(
    topic: &dyn TopicSink,
    batch: &[Message],
    degraded: &AtomicU64,
) -> Result<Vec<usize>, SinkError> {
    let failures = topic.publish(batch).await?;
    let (refused, other): (Vec<EntryFailure>, Vec<EntryFailure>) = failures.into_iter().partition(|f| f.sender_fault);
    let mut failed: Vec<usize> = other.iter().map(|f| f.index).collect();
    if !refused.is_empty() {
        for f in &refused {
            tracing::warn!(reason = %f.reason, "SNS refused a message as the sender's fault; publishing it degraded");
        }
        let retry: Vec<Message> = refused.iter().map(|f| batch[f.index].degraded()).collect();
        degraded.fetch_add(retry.len() as u64, Ordering::Relaxed);
        match topic.publish(&retry).await {
            Ok(again) => failed.extend(again.iter().map(|f| refused[f.index].index)),
            Err(_) => failed.extend(refused.iter().map(|f| f.index)),
        }
    }
    failed.sort_unstable();
    Ok(failed)
}

#[async_trait]
impl<A: TopicSink, I: TopicSink> Pipeline for NotifyPipeline<A, I> {
    fn name(&self) -> &'static str {
        "notify"
    }
    async fn handle(&self, event: &StreamEvent, inv: Invocation) -> Outcome {
        NotifyPipeline::handle(self, event, inv).await
    }
}
