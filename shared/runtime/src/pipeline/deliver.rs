//! Sending planned calls in order, with the partial-failure bookkeeping: one loop for every sink.

use std::future::Future;
use std::ops::Range;

use flagtrail_core::delivery::{Ledger, Outbox};

use super::Invocation;
use crate::sink::SinkError;

/// Sends `calls` (ranges of `outbox`) in order, marking the records behind every failed item in
/// the ledger; after a failed call (or when time is up) nothing more is sent: those records will
/// come again. Returns the number of calls made.
pub(crate) async fn deliver<T, F, Fut>(
    outbox: &Outbox<T>,
    calls: Vec<Range<usize>>,
    inv: &Invocation,
    ledger: &mut Ledger,
    errors: &mut Vec<SinkError>,
    mut send: F,
) -> usize
where
    F: FnMut(Range<usize>) -> Fut,
    Fut: Future<Output = Result<Vec<usize>, SinkError>>,
{
    let mut made = 0;
    for (n, range) in calls.iter().enumerate() {
        let failed_from = if inv.out_of_time() {
            errors.push(SinkError::Transient {
                sink: "invocation",
                message: "out of time; remaining records left for retry".into(),
            });
            Some(range.start)
        } else {
            made += 1;
            match send(range.clone()).await {
                Ok(failed) => {
                    for i in failed {
                        outbox.fail(range.start + i, ledger);
                    }
                    None
                }
                Err(e) => {
                    tracing::error!(error = %e, "sink call failed");
                    errors.push(e);
                    Some(range.start)
                }
            }
        };
        if let Some(from) = failed_from {
            for later in &calls[n..] {
                for i in later.clone().filter(|&i| i >= from) {
                    outbox.fail(i, ledger);
                }
            }
            break;
        }
    }
    made
}
