//! The audit consumer: every record → one audit record (or quarantine record) in the log sink.

use async_trait::async_trait;
use std::sync::atomic::{AtomicU64, Ordering};

use flagtrail_core::delivery::{plan_log_batches, Ledger, LogEvent, PlannedCall, NORMAL};
use flagtrail_core::metrics::Counter;
use flagtrail_core::{audit, CoreConfig, StreamEvent};

use super::deliver::{deliver, Books};
use super::{Invocation, Outcome, Pipeline};
use crate::sink::LogSink;

/// The audit consumer over a log sink.
pub struct AuditPipeline<L> {
    /// Core settings.
    pub config: CoreConfig,
    /// Where audit records go.
    pub log: L,
    /// The log group's retention, if shorter than CloudWatch Logs' 14-day window: timestamps are
    /// clamped inside it, since older events would be rejected.
    pub retention_days: Option<u32>,
}

impl<L: LogSink> AuditPipeline<L> {
    /// Handles one batch.
    pub async fn handle(&self, event: &StreamEvent, inv: Invocation) -> Outcome {
        let max_age = audit::max_event_age_ms(self.retention_days);
        let mut plan = audit::plan(event, &self.config, inv.now_ms, max_age);
        let mut out = Outcome::default();
        let mut ledger = Ledger::default();
        let items = &plan.events.items;
        let rejected = &AtomicU64::new(0);
        // Audit events have no order to keep across calls: every call may be in flight at once.
        let calls: Vec<PlannedCall> = plan_log_batches(items)
            .into_iter()
            .map(|r| PlannedCall { sink: 0, positions: r.collect(), priority: NORMAL, after: Vec::new() })
            .collect();
        let log = &self.log;
        let max = self.config.max_calls_in_flight;
        let delivered = deliver(
            &[&plan.events],
            calls,
            max,
            Books { inv: &inv, ledger: &mut ledger, errors: &mut out.errors },
            unordered,
            |_, mut positions| async move {
                positions.sort_by_key(|&i| items[i].timestamp_ms); // stable: keeps shard order within a millisecond
                let batch: Vec<LogEvent> = positions.iter().map(|&i| items[i].clone()).collect();
                let not_written = log.put(&batch).await?;
                rejected.fetch_add(not_written.len() as u64, Ordering::Relaxed);
                Ok(not_written.into_iter().map(|p| positions[p]).collect())
            },
        )
        .await;
        plan.metrics.count(Counter::PutLogEventsCalls, delivered.calls[0] as u64);
        plan.metrics.count(Counter::CallsInFlightMax, delivered.most_in_flight as u64);
        plan.metrics.count(Counter::LogEventsRejected, rejected.load(Ordering::Relaxed));
        Outcome::close(&ledger, &plan.sequence_numbers, plan.metrics, out.errors)
    }
}

/// Audit records have no order across calls to keep: each is its own item, sorted by time.
fn unordered(_: usize, _: &LogEvent) -> Option<&str> {
    None
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
