//! The audit consumer: every record → one audit record (or quarantine record) in the log sink,
//! written together with one seal over all of them (see docs/integrity.md).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use flagtrail_core::delivery::{plan_log_batches, Ledger, LogEvent, PlannedCall, NORMAL};
use flagtrail_core::metrics::Counter;
use flagtrail_core::{audit, CoreConfig, StreamEvent};

use super::deliver::{deliver, Books};
use super::{within, Invocation, Outcome, Pipeline};
use crate::sink::{ArchiveSink, LogSink, SealSigner};

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
    /// Archives what the log accepted, where the group's subscription cannot (data protection masks
    /// subscription data); a call counts as written only once both have it.
    pub archive: Option<Arc<dyn ArchiveSink>>,
}

impl<L: LogSink> AuditPipeline<L> {
    /// The audit consumer writing to `log`: no retention clamp, digest-only seals, no archive of its own.
    pub fn new(config: CoreConfig, log: L) -> Self {
        AuditPipeline { config, log, retention_days: None, signer: None, archive: None }
    }

    /// Handles one batch. The seal over every planned record is signed first (one Sign call), then
    /// written with the records in the same calls: a Sign that fails writes nothing (no duplicates
    /// pile up while a key is unusable); a seal part that is not written fails the batch from its
    /// first record, so the redelivery writes the records again under a new seal. A record that is
    /// not written is reported as usual; its seal names it `missing` until the redelivery writes
    /// the same bytes.
    pub async fn handle(&self, event: &StreamEvent, inv: Invocation) -> Outcome {
        let max_age = audit::max_event_age_ms(self.retention_days);
        let mut plan = audit::plan(event, &self.config, inv.now_ms, max_age);
        let mut out = Outcome::default();
        let mut ledger = Ledger::default();
        let record_events = plan.events.len();
        if let Some((seal, lowest)) = plan.seal() {
            let signature = match &self.signer {
                Some(signer) => match within(inv.call_budget(), signer.sign(&seal.digest())).await {
                    Ok(s) => Some(s),
                    Err(e) => {
                        tracing::error!(error = %e, "seal not signed; the batch is left for retry, nothing written");
                        out.errors.push(e);
                        ledger.fail(lowest);
                        return Outcome::close(&ledger, &plan.sequence_numbers, plan.metrics, out.errors);
                    }
                },
                None => None,
            };
            // Dated like the newest record it covers, not "now": a reader's time window (or the
            // group's retention) then keeps or drops a seal together with its records.
            let timestamp_ms = plan.events.items.iter().map(|e| e.timestamp_ms).max().unwrap_or(inv.now_ms);
            for message in seal.to_parts(signature.as_ref()) {
                plan.events.push(LogEvent { timestamp_ms, message }, vec![lowest]);
            }
        }

        let items = &plan.events.items;
        let calls: Vec<PlannedCall> = plan_log_batches(items)
            .into_iter()
            .map(|r| PlannedCall { sink: 0, positions: r.collect(), priority: NORMAL, after: Vec::new() })
            .collect();
        let (rejected, seal_lost) = (AtomicU64::new(0), AtomicBool::new(false));
        let (rejected, seal_lost, log, archive) = (&rejected, &seal_lost, &self.log, &self.archive);
        let books = Books { inv: &inv, ledger: &mut ledger, errors: &mut out.errors };
        // Audit events have no order to keep across calls: every call may be in flight at once.
        let delivered = deliver(
            &[&plan.events],
            calls,
            self.config.max_calls_in_flight,
            books,
            unordered,
            |_, mut positions| async move {
                positions.sort_by_key(|&i| items[i].timestamp_ms); // stable: keeps shard order within a millisecond
                let batch: Vec<LogEvent> = positions.iter().map(|&i| items[i].clone()).collect();
                let has_seal = positions.iter().any(|&i| i >= record_events);
                let not_written = log.put(&batch).await.inspect_err(|_| {
                    seal_lost.fetch_or(has_seal, Ordering::Relaxed);
                })?;
                if let Some(archive) = archive {
                    let written: Vec<LogEvent> = batch
                        .iter()
                        .enumerate()
                        .filter(|(p, _)| !not_written.contains(p))
                        .map(|(_, e)| e.clone())
                        .collect();
                    // The log has them and the archive may not: the call fails whole and comes again
                    // (the log then holds duplicates with the same eventId, which readers fold).
                    archive.put(&written).await.inspect_err(|_| {
                        seal_lost.fetch_or(has_seal, Ordering::Relaxed);
                    })?;
                }
                rejected.fetch_add(not_written.len() as u64, Ordering::Relaxed);
                let not_written: Vec<usize> = not_written.into_iter().map(|p| positions[p]).collect();
                seal_lost.fetch_or(not_written.iter().any(|&i| i >= record_events), Ordering::Relaxed);
                Ok(not_written)
            },
        )
        .await;
        if plan.events.len() > record_events && !seal_lost.load(Ordering::Relaxed) {
            plan.metrics.count(Counter::RecordsSealed, record_events as u64);
        }
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
