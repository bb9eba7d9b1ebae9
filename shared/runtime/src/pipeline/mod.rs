//! The two stream consumers a shard allows, independent of where their outputs go:
//! `audit` (audit records + metrics) and `notify` (alerts + invalidations).
//!
//! Both follow one rule: the core plans the outputs of a batch; [`deliver`] sends them in order;
//! a sink failure marks every record whose outputs were in the failed call, and the batch
//! response names the lowest of them.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use flagtrail_core::delivery::Ledger;
use flagtrail_core::metrics::Metrics;
use flagtrail_core::{BatchResponse, StreamEvent};

use crate::sink::SinkError;

mod audit;
mod deliver;
mod notify;

pub use audit::AuditPipeline;
pub use notify::NotifyPipeline;

/// Stop calling sinks when less than this is left of the invocation; the rest is retried.
pub const DEADLINE_MARGIN: Duration = Duration::from_millis(1500);

/// A stream consumer: what a Lambda function is to an event source mapping.
#[async_trait]
pub trait Pipeline: Send + Sync {
    /// Its name in logs, metrics and stats (`audit`, `notify`).
    fn name(&self) -> &'static str;
    /// Handles one batch.
    async fn handle(&self, event: &StreamEvent, inv: Invocation) -> Outcome;
}

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

impl Outcome {
    /// Closes the books of one invocation: the partial batch response (counting the records that
    /// will come again) and the metrics, with the sink errors met.
    pub(crate) fn close(
        ledger: &Ledger,
        sequence_numbers: &[Option<String>],
        mut metrics: Metrics,
        errors: Vec<SinkError>,
    ) -> Outcome {
        let response = ledger.finish(sequence_numbers, &mut metrics);
        Outcome { response, metrics, errors }
    }
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

    /// A budget of `timeout` from now (the stream-mapping stand-in's invocation timeout).
    pub fn with_timeout(timeout: Duration) -> Self {
        Invocation { now_ms: now_ms(), deadline: Some(Instant::now() + timeout) }
    }

    /// From a Lambda context's deadline (ms since the epoch).
    pub fn with_deadline_ms(deadline_ms: u64) -> Self {
        let now = now_ms();
        let remaining = (deadline_ms as i64 - now).max(0) as u64;
        Invocation { now_ms: now, deadline: Some(Instant::now() + Duration::from_millis(remaining)) }
    }

    /// Time a sink call may still take, keeping [`DEADLINE_MARGIN`] to answer Lambda; `None`
    /// without a deadline, zero when out of time.
    pub fn call_budget(&self) -> Option<Duration> {
        self.deadline.map(|d| d.saturating_duration_since(Instant::now()).saturating_sub(DEADLINE_MARGIN))
    }
}

/// Runs one sink call within `budget` (from [`Invocation::call_budget`]): cut off, as a transient
/// failure, when the invocation's time is up.
pub(crate) async fn within<T>(
    budget: Option<Duration>,
    call: impl std::future::Future<Output = Result<T, SinkError>>,
) -> Result<T, SinkError> {
    match budget {
        None => call.await,
        Some(b) if b.is_zero() => Err(out_of_time()),
        Some(b) => tokio::time::timeout(b, call).await.unwrap_or_else(|_| {
            Err(SinkError::Transient {
                sink: "invocation",
                message: format!("sink call cut off after {b:?} at the invocation's deadline"),
            })
        }),
    }
}

/// The error of a call not started because the invocation is out of time.
pub(crate) fn out_of_time() -> SinkError {
    SinkError::Transient { sink: "invocation", message: "out of time; remaining records left for retry".into() }
}

/// Milliseconds since the epoch, from the system clock.
pub fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}
