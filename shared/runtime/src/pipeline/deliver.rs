//! Sending planned calls in order, with the partial-failure bookkeeping: one loop for every sink.

use std::collections::HashSet;
use std::future::Future;
use std::ops::Range;
use std::time::Duration;

use flagtrail_core::delivery::{Ledger, Outbox};

use super::Invocation;
use crate::sink::SinkError;

/// Sends `calls` (ranges of `outbox`) in order; `send` gets the outbox positions to send and
/// returns those that were not made durable. Marks the records behind every failed output in the
/// ledger. After a failed call, or when the invocation's time is up, nothing more is sent: those
/// records come again. Each call is cut off at the invocation's deadline (less the margin to
/// answer Lambda), so no call outlives the invocation.
///
/// `order_key` names outputs that must not overtake each other (a FIFO group, a cache key): once
/// one fails, the later outputs of its key are held back for the redelivery instead of being sent
/// ahead of it. Returns the number of calls made.
pub(crate) async fn deliver<T, K, F, Fut>(
    outbox: &Outbox<T>,
    calls: Vec<Range<usize>>,
    inv: &Invocation,
    ledger: &mut Ledger,
    errors: &mut Vec<SinkError>,
    order_key: K,
    mut send: F,
) -> usize
where
    K: Fn(&T) -> Option<&str>,
    F: FnMut(Vec<usize>) -> Fut,
    Fut: Future<Output = Result<Vec<usize>, SinkError>>,
{
    let mut held: HashSet<&str> = HashSet::new();
    let mut made = 0;
    for (n, range) in calls.iter().enumerate() {
        let (now, later): (Vec<usize>, Vec<usize>) =
            range.clone().partition(|&i| order_key(&outbox.items[i]).is_none_or(|k| !held.contains(k)));
        for i in later {
            outbox.fail(i, ledger);
        }
        if now.is_empty() {
            continue;
        }
        let budget = inv.call_budget();
        let result = if budget == Some(Duration::ZERO) {
            Err(SinkError::Transient {
                sink: "invocation",
                message: "out of time; remaining records left for retry".into(),
            })
        } else {
            made += 1;
            let call = send(now.clone());
            match budget {
                None => call.await,
                Some(b) => tokio::time::timeout(b, call).await.unwrap_or_else(|_| {
                    Err(SinkError::Transient {
                        sink: "invocation",
                        message: format!("sink call cut off after {b:?} at the invocation's deadline"),
                    })
                }),
            }
        };
        match result {
            Ok(failed) => {
                for i in failed {
                    outbox.fail(i, ledger);
                    if let Some(k) = order_key(&outbox.items[i]) {
                        held.insert(k);
                    }
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "sink call failed");
                errors.push(e);
                for i in calls[n..].iter().flat_map(Clone::clone) {
                    outbox.fail(i, ledger);
                }
                break;
            }
        }
    }
    made
}
