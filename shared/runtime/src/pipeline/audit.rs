//! The audit consumer: every record → one audit record (or quarantine record) in the log sink.

use async_trait::async_trait;
use flagtrail_core::delivery::{plan_log_batches, Ledger};
use flagtrail_core::metrics::Counter;
use flagtrail_core::{audit, CoreConfig, StreamEvent};

use super::deliver::deliver;
use super::{Invocation, Outcome, Pipeline};
use crate::sink::LogSink;

/// The audit consumer over a log sink.
pub struct AuditPipeline<L> {
    /// Core settings.
    pub config: CoreConfig,
    /// Where audit records go.
    pub log: L,
}

impl<L: LogSink> AuditPipeline<L> {
    /// Handles one batch.
    pub async fn handle(&self, event: &StreamEvent, inv: Invocation) -> Outcome {
        let mut plan = audit::plan(event, &self.config, inv.now_ms);
        let mut out = Outcome::default();
        let mut ledger = Ledger::default();
        let items = &plan.events.items;
        let calls =
            deliver(&plan.events, plan_log_batches(items), &inv, &mut ledger, &mut out.errors, |range| async move {
                let mut batch = items[range].to_vec();
                batch.sort_by_key(|e| e.timestamp_ms); // stable: keeps shard order within a millisecond
                self.log.put(&batch).await.map(|_| Vec::new())
            })
            .await;
        plan.metrics.count(Counter::PutLogEventsCalls, calls as u64);
        out.response = ledger.finish(&plan.sequence_numbers, &mut plan.metrics);
        out.metrics = plan.metrics;
        out
    }
}

#[async_trait]
impl<L: LogSink> Pipeline for AuditPipeline<L> {
    fn name(&self) -> &'static str {
        "audit"
    }
    async fn handle(&self, event: &StreamEvent, inv: Invocation) -> Outcome {
        AuditPipeline::handle(self, event, inv).await
    }
}
