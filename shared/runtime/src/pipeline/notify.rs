//! The notify consumer: kill-switch and flag-created alerts, and cache invalidations.

use async_trait::async_trait;
use flagtrail_core::delivery::{plan_publish_batches, Ledger};
use flagtrail_core::metrics::Counter;
use flagtrail_core::{notify, CoreConfig, StreamEvent};

use super::deliver::deliver;
use super::{Invocation, Outcome, Pipeline};
use crate::sink::TopicSink;

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
        for (outbox, topic, calls_counter) in [
            (&plan.alerts, &self.alerts as &dyn TopicSink, Counter::AlertPublishCalls),
            (&plan.invalidations, &self.invalidations as &dyn TopicSink, Counter::InvalidationPublishCalls),
        ] {
            let items = &outbox.items;
            let calls = deliver(outbox, plan_publish_batches(items), &inv, &mut ledger, &mut out.errors, |range| {
                topic.publish(&items[range])
            })
            .await;
            plan.metrics.count(calls_counter, calls as u64);
        }
        out.response = ledger.finish(&plan.sequence_numbers, &mut plan.metrics);
        out.metrics = plan.metrics;
        out
    }
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
