//! Cutting outputs into calls that fit the services' limits: one place for batching.

use std::ops::Range;

use super::limits::{
    FIREHOSE_BATCH_BYTES, FIREHOSE_BATCH_RECORDS, LOG_BATCH_BYTES, LOG_BATCH_EVENTS, LOG_BATCH_SPAN_MS,
    SNS_BATCH_BYTES, SNS_BATCH_ENTRIES,
};
use super::log_event::LogEvent;
use crate::notify::Message;

/// Cuts `costs` (in order) into consecutive ranges of at most `max_items` items and `max_bytes`
/// total, also breaking wherever `fits` says an item cannot join the current range.
pub fn plan_batches(
    count: usize,
    cost: impl Fn(usize) -> usize,
    max_items: usize,
    max_bytes: usize,
    mut fits: impl FnMut(Range<usize>, usize) -> bool,
) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for i in 0..count {
        let c = cost(i);
        let full = i > start && (i - start >= max_items || bytes + c > max_bytes || !fits(start..i, i));
        if full {
            out.push(start..i);
            start = i;
            bytes = 0;
        }
        bytes += c;
    }
    if start < count {
        out.push(start..count);
    }
    out
}

/// PutLogEvents batches: by bytes (with the 26-byte overhead), event count, and 24-hour span.
pub fn plan_log_batches(events: &[LogEvent]) -> Vec<Range<usize>> {
    let mut current = usize::MAX;
    let (mut lo, mut hi) = (0, 0);
    plan_batches(
        events.len(),
        |i| events[i].cost(),
        LOG_BATCH_EVENTS,
        LOG_BATCH_BYTES,
        |range, i| {
            if range.start != current {
                current = range.start;
                lo = events[range.start].timestamp_ms;
                hi = lo;
            }
            let t = events[i].timestamp_ms;
            let (new_lo, new_hi) = (lo.min(t), hi.max(t));
            let ok = new_hi - new_lo <= LOG_BATCH_SPAN_MS;
            if ok {
                (lo, hi) = (new_lo, new_hi);
            }
            ok
        },
    )
}

/// PublishBatch batches: ≤ 10 entries and ≤ 256 KB.
pub fn plan_publish_batches(messages: &[Message]) -> Vec<Range<usize>> {
    plan_batches(messages.len(), |i| messages[i].size(), SNS_BATCH_ENTRIES, SNS_BATCH_BYTES, |_, _| true)
}

/// Firehose PutRecordBatch calls over records of `sizes` bytes: by record count and bytes.
pub fn plan_record_batches(sizes: &[usize]) -> Vec<Range<usize>> {
    plan_batches(sizes.len(), |i| sizes[i], FIREHOSE_BATCH_RECORDS, FIREHOSE_BATCH_BYTES, |_, _| true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::LOG_BATCH_SPAN_MS;
    use std::collections::BTreeMap;

    fn ev(ts: i64, len: usize) -> LogEvent {
        LogEvent { timestamp_ms: ts, message: "x".repeat(len) }
    }

    #[test]
    fn log_batches_respect_bytes_with_overhead() {
        // 1,048,576 / (1000 + 26) = 1022.0: 1022 events (1,048,572 bytes) fit, a 1023rd does not.
        let events: Vec<_> = (0..3000).map(|i| ev(i, 1000)).collect();
        let plan = plan_log_batches(&events);
        assert_eq!(plan[0], 0..1022);
        assert!(plan.iter().all(|r| r.clone().map(|i| events[i].cost()).sum::<usize>() <= LOG_BATCH_BYTES));
        assert_eq!(plan.iter().map(|r| r.len()).sum::<usize>(), 3000);
    }

    #[test]
    fn record_batches_respect_count_and_bytes() {
        let plan = plan_record_batches(&[1; 1200]);
        assert_eq!(plan, vec![0..500, 500..1000, 1000..1200]);
        // Four records of 999,999 bytes do not fit in 4,000,000; three do.
        assert_eq!(plan_record_batches(&[999_999; 5]), vec![0..4, 4..5]);
        assert_eq!(plan_record_batches(&[1_000_000; 5]), vec![0..4, 4..5]);
        assert_eq!(plan_record_batches(&[1_000_001, 3_000_000]), vec![0..1, 1..2]);
    }

    #[test]
    fn log_batches_respect_count_and_span() {
        let events: Vec<_> = (0..25_000).map(|i| ev(i, 1)).collect();
        let plan = plan_log_batches(&events);
        assert_eq!(plan, vec![0..10_000, 10_000..20_000, 20_000..25_000]);
        let day = LOG_BATCH_SPAN_MS;
        let events = vec![ev(0, 1), ev(day, 1), ev(day + 1, 1), ev(10, 1)];
        let plan = plan_log_batches(&events);
        assert_eq!(plan, vec![0..2, 2..4]);
        // day + 1 and 5 are within a day of each other; 0 is not within a day of day + 1.
        let events = vec![ev(day + 1, 1), ev(5, 1), ev(0, 1)];
        assert_eq!(plan_log_batches(&events), vec![0..2, 2..3]);
        let events = vec![ev(day + 10, 1), ev(5, 1), ev(0, 1)];
        assert_eq!(plan_log_batches(&events), vec![0..1, 1..3]);
    }

    #[test]
    fn publish_batches_respect_entries_and_bytes() {
        let m = |n: usize| Message {
            subject: None,
            body: "b".repeat(n),
            attributes: BTreeMap::new(),
            group_id: String::new(),
            dedup_id: String::new(),
            ..Default::default()
        };
        let msgs: Vec<_> = (0..25).map(|_| m(10)).collect();
        assert_eq!(plan_publish_batches(&msgs), vec![0..10, 10..20, 20..25]);
        let msgs: Vec<_> = (0..4).map(|_| m(100_000)).collect();
        assert_eq!(plan_publish_batches(&msgs), vec![0..2, 2..4]);
    }
}
