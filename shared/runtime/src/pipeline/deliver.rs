//! Sending planned calls with up to N in flight, and the partial-failure bookkeeping: one loop for
//! every sink.
//!
//! Rules, whatever order calls complete in:
//! - a call starts only after the earlier calls it shares an ordering key with (a FIFO group, a
//!   flag) have completed, so outputs of one key never overtake each other;
//! - once an output of a key failed, the key's later outputs are held back for the redelivery;
//! - after a call fails (or the invocation's time is up), no new call starts; those in flight
//!   finish and count;
//! - a call the service throttled (after the SDK's retries) halves the calls in flight and goes
//!   again once; every success raises the limit by one, up to the configured maximum;
//! - each call is cut off at the invocation's deadline less the margin to answer Lambda;
//! - every output not made durable marks the records behind it in the ledger, whose lowest
//!   record is what Lambda resumes from.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use flagtrail_core::delivery::{Ledger, Outbox, PlannedCall};
use futures_util::stream::{FuturesUnordered, StreamExt};

use super::{out_of_time, within, Invocation};
use crate::sink::SinkError;

/// What a delivery did, for metrics.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Delivered {
    /// Calls made, per sink.
    pub calls: [usize; 2],
    /// The most calls that were in flight at once.
    pub most_in_flight: usize,
}

/// Where one invocation's delivery keeps its books.
pub(crate) struct Books<'r> {
    /// The invocation (its deadline bounds every call).
    pub inv: &'r Invocation,
    /// Records whose outputs are not durable.
    pub ledger: &'r mut Ledger,
    /// Sink errors met, for logs.
    pub errors: &'r mut Vec<SinkError>,
}

type CallFuture<'a> = Pin<Box<dyn Future<Output = (usize, Result<Vec<usize>, SinkError>)> + Send + 'a>>;

/// Runs `calls` over `outboxes` (indexed by `PlannedCall::sink`, at most two); `send(sink,
/// positions)` makes one call and returns the positions not made durable.
pub(crate) async fn deliver<'a, T, K, F, Fut>(
    outboxes: &[&'a Outbox<T>],
    calls: Vec<PlannedCall>,
    max_in_flight: usize,
    books: Books<'_>,
    order_key: K,
    send: F,
) -> Delivered
where
    T: 'a,
    K: Fn(usize, &'a T) -> Option<&'a str>,
    F: Fn(usize, Vec<usize>) -> Fut,
    Fut: Future<Output = Result<Vec<usize>, SinkError>> + Send + 'a,
{
    let Books { inv, ledger, errors } = books;
    let max = max_in_flight.max(1);
    let mut limit = max;
    let mut out = Delivered::default();
    let mut started = vec![false; calls.len()];
    let mut done = vec![false; calls.len()];
    let mut requeued = vec![false; calls.len()];
    let mut held: HashSet<(usize, &str)> = HashSet::new();
    let mut stop = false;
    let mut in_flight: FuturesUnordered<CallFuture<'a>> = FuturesUnordered::new();
    let fail_all = |sink: usize, positions: &[usize], ledger: &mut Ledger| {
        for &p in positions {
            outboxes[sink].fail(p, ledger);
        }
    };
    loop {
        if !stop {
            for (i, call) in calls.iter().enumerate() {
                if in_flight.len() >= limit {
                    break;
                }
                if started[i] || !call.after.iter().all(|&j| done[j]) {
                    continue;
                }
                started[i] = true;
                let (now, later): (Vec<usize>, Vec<usize>) = call.positions.iter().partition(|&&p| {
                    order_key(call.sink, &outboxes[call.sink].items[p]).is_none_or(|k| !held.contains(&(call.sink, k)))
                });
                fail_all(call.sink, &later, ledger);
                if now.is_empty() {
                    done[i] = true;
                    continue;
                }
                let budget = inv.call_budget();
                if budget == Some(Duration::ZERO) {
                    errors.push(out_of_time());
                    started[i] = false;
                    stop = true;
                    break;
                }
                out.calls[call.sink.min(1)] += 1;
                let call_future = send(call.sink, now);
                in_flight.push(Box::pin(async move { (i, within(budget, call_future).await) }));
                out.most_in_flight = out.most_in_flight.max(in_flight.len());
            }
        }
        let Some((i, result)) = in_flight.next().await else { break };
        let call = &calls[i];
        match result {
            Ok(failed) => {
                limit = (limit + 1).min(max);
                for p in failed {
                    outboxes[call.sink].fail(p, ledger);
                    if let Some(k) = order_key(call.sink, &outboxes[call.sink].items[p]) {
                        held.insert((call.sink, k));
                    }
                }
                done[i] = true;
            }
            Err(e @ SinkError::Throttled { .. }) if !requeued[i] && !stop => {
                tracing::warn!(error = %e, limit, "sink throttled; fewer calls in flight, this one again");
                limit = (limit / 2).max(1);
                requeued[i] = true;
                started[i] = false;
            }
            Err(e) => {
                tracing::error!(error = %e, "sink call failed");
                errors.push(e);
                fail_all(call.sink, &call.positions, ledger);
                done[i] = true;
                stop = true;
            }
        }
    }
    for (i, call) in calls.iter().enumerate() {
        if !started[i] {
            fail_all(call.sink, &call.positions, ledger);
        }
    }
    out
}
