//! The audit consumer: every record → one audit record (or quarantine record) in the log sink,
//! then one seal over what the invocation made durable (see docs/integrity.md).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use flagtrail_core::delivery::{plan_log_batches, Ledger, LogEvent, Outbox, PlannedCall, NORMAL};
use flagtrail_core::integrity::Seal;
use flagtrail_core::metrics::Counter;
use flagtrail_core::{audit, CoreConfig, StreamEvent};

use super::deliver::{deliver, Books, Delivered};
use super::{out_of_time, within, Invocation, Outcome, Pipeline};
use crate::sink::{LogSink, SealSigner, SinkError};

/// The audit consumer over a log sink.
pub struct AuditPipeline<L> {
    /// Core settings.
    pub config: CoreConfig,
    /// Where audit records go.
    pub log: L,
    /// The log group's retention, if shorter than CloudWatch Logs' 14-day window: timestamps are
    /// clamped inside it, since older events would be rejected.
    pub retention_days: Option<u32>,
    /// Signs each invocation's seal; without one, seals carry digests only.
    pub signer: Option<Arc<dyn SealSigner>>,
}

impl<L: LogSink> AuditPipeline<L> {
    /// Handles one batch: the records, then the seal over those that are durable. A seal that
    /// cannot be signed or written fails its records too: they come again and are sealed then.
    pub async fn handle(&self, event: &StreamEvent, inv: Invocation) -> Outcome {
        let max_age = audit::max_event_age_ms(self.retention_days);
        let mut plan = audit::plan(event, &self.config, inv.now_ms, max_age);
        let mut out = Outcome::default();
        let mut ledger = Ledger::default();
        let rejected = AtomicU64::new(0);
        let books = Books { inv: &inv, ledger: &mut ledger, errors: &mut out.errors };
        let delivered = self.put(&plan.events, books, &rejected).await;
        let mut calls = delivered.calls[0];
        let mut most_in_flight = delivered.most_in_flight;

        let durable_until = ledger.first_failed().unwrap_or(event.records.len());
        if let Some((seal, lowest)) = plan.seal(durable_until) {
            let sealed = seal.entries.len() as u64;
            match self.seal_events(&seal, lowest, &inv).await {
                Ok(parts) => {
                    let books = Books { inv: &inv, ledger: &mut ledger, errors: &mut out.errors };
                    let delivered = self.put(&parts, books, &rejected).await;
                    calls += delivered.calls[0];
                    most_in_flight = most_in_flight.max(delivered.most_in_flight);
                    if ledger.first_failed() != Some(lowest) {
                        plan.metrics.count(Counter::RecordsSealed, sealed);
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "seal not signed; its records are left for retry");
                    out.errors.push(e);
                    ledger.fail(lowest);
                }
            }
        }
        plan.metrics.count(Counter::PutLogEventsCalls, calls as u64);
        plan.metrics.count(Counter::CallsInFlightMax, most_in_flight as u64);
        plan.metrics.count(Counter::LogEventsRejected, rejected.load(Ordering::Relaxed));
        Outcome::close(&ledger, &plan.sequence_numbers, plan.metrics, out.errors)
    }

    /// The seal's parts as log events, signed when there is a signer (one Sign call); each part
    /// stands for the lowest record the seal covers, so a part not written fails them all.
    async fn seal_events(&self, seal: &Seal, lowest: usize, inv: &Invocation) -> Result<Outbox<LogEvent>, SinkError> {
        let signature = match &self.signer {
            Some(signer) => Some(within(inv.call_budget(), signer.sign(&seal.digest())).await?),
            None => None,
        };
        if inv.call_budget().is_some_and(|b| b.is_zero()) {
            return Err(out_of_time());
        }
        let parts = seal.to_parts(signature.as_ref());
        let mut outbox = Outbox::with_capacity(parts.len());
        for message in parts {
            outbox.push(LogEvent { timestamp_ms: inv.now_ms, message }, vec![lowest]);
        }
        Ok(outbox)
    }

    /// Writes `events` with up to the configured calls in flight; audit events have no order to
    /// keep across calls, and each call is sorted by time (PutLogEvents requires it).
    async fn put(&self, events: &Outbox<LogEvent>, books: Books<'_>, rejected: &AtomicU64) -> Delivered {
        let items = &events.items;
        let calls: Vec<PlannedCall> = plan_log_batches(items)
            .into_iter()
            .map(|r| PlannedCall { sink: 0, positions: r.collect(), priority: NORMAL, after: Vec::new() })
            .collect();
        let log = &self.log;
        deliver(&[events], calls, self.config.max_calls_in_flight, books, unordered, |_, mut positions| async move {
            positions.sort_by_key(|&i| items[i].timestamp_ms); // stable: keeps shard order within a millisecond
            let batch: Vec<LogEvent> = positions.iter().map(|&i| items[i].clone()).collect();
            let not_written = log.put(&batch).await?;
            rejected.fetch_add(not_written.len() as u64, Ordering::Relaxed);
            Ok(not_written.into_iter().map(|p| positions[p]).collect())
        })
        .await
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
