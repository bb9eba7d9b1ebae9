//! The notify consumer: kill-switch and flag-created alerts, and cache invalidations.

use async_trait::async_trait;
use std::sync::atomic::{AtomicU64, Ordering};

use flagtrail_core::delivery::{plan_publish_batches, Ledger};
use flagtrail_core::metrics::Counter;
use flagtrail_core::notify::Message;
use flagtrail_core::{notify, CoreConfig, StreamEvent};

use super::deliver::deliver;
use super::{Invocation, Outcome, Pipeline};
use crate::sink::{EntryFailure, SinkError, TopicSink};

/// The notify consumer over two topics.
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
        let mut plan = notify::plan(event, &self.config);
        let mut out = Outcome::default();
        let mut ledger = Ledger::default();
        let degraded = &AtomicU64::new(0);
        for (outbox, topic, calls_counter) in [
            (&plan.alerts, &self.alerts as &dyn TopicSink, Counter::AlertPublishCalls),
            (&plan.invalidations, &self.invalidations as &dyn TopicSink, Counter::InvalidationPublishCalls),
        ] {
            let items = &outbox.items;
            let calls = plan_publish_batches(items);
            let calls = deliver(outbox, calls, &inv, &mut ledger, &mut out.errors, group_of, |positions| async move {
                let batch: Vec<Message> = positions.iter().map(|&i| items[i].clone()).collect();
                let failed = publish_or_degrade(topic, &batch, degraded).await?;
                Ok(failed.into_iter().map(|p| positions[p]).collect())
            })
            .await;
            plan.metrics.count(calls_counter, calls as u64);
        }
        plan.metrics.count(Counter::MessagesDegraded, degraded.load(Ordering::Relaxed));
        out.response = ledger.finish(&plan.sequence_numbers, &mut plan.metrics);
        out.metrics = plan.metrics;
        out
    }
}

/// The ordering key of a message: its FIFO group (one per flag, or per environment for
/// environment-wide messages), whether or not the topic is FIFO, so a later change of a flag
/// never overtakes a failed one.
fn group_of(m: &Message) -> Option<&str> {
    Some(&m.group_id)
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
