//! The order calls go out in when several may be in flight: urgent outputs first, and nothing
//! overtaking an earlier output of its ordering key (a FIFO group, a flag).

/// One planned call: a sink, the outbox positions it carries in send order, how urgent it is,
/// and the earlier calls it must wait for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedCall {
    /// Which sink (index into the caller's list of outboxes).
    pub sink: usize,
    /// Outbox positions, in the order they are sent.
    pub positions: Vec<usize>,
    /// 0 is the most urgent.
    pub priority: u8,
    /// Indices (in the schedule) of earlier calls of the same sink that share an ordering key:
    /// this call starts only after they completed.
    pub after: Vec<usize>,
}

/// The send order of outputs by their [`effective_priorities`] (0 first): no output moves ahead of
/// an earlier output with the same key — those move up with it. Stable otherwise.
pub fn prioritize(effective: &[u8]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..effective.len()).collect();
    order.sort_by_key(|&i| effective[i]);
    order
}

/// Each output's effective priority: the most urgent of its own and its key's later outputs.
pub fn effective_priorities<'a>(
    n: usize,
    key: impl Fn(usize) -> Option<&'a str>,
    priority: impl Fn(usize) -> u8,
) -> Vec<u8> {
    let mut effective: Vec<u8> = (0..n).map(&priority).collect();
    let mut most_urgent_later: std::collections::HashMap<&str, u8> = std::collections::HashMap::new();
    for i in (0..n).rev() {
        if let Some(k) = key(i) {
            let e = most_urgent_later.entry(k).or_insert(u8::MAX);
            *e = (*e).min(effective[i]);
            effective[i] = *e;
        }
    }
    effective
}

/// `order` with each key's outputs moved together to its first position (outputs without a key
/// stay where they are). Pass the key with the output's effective priority
/// ([`effective_priorities`]) so that a key's less urgent tail stays behind other keys' urgent
/// outputs. Why: a storm interleaves many keys (kill switches of many flags
/// flapping); cut in send order, every call would share a key with the call before it and the
/// calls would wait on each other in one long chain. Grouped, calls of different keys go at once.
pub fn contiguous_by_key<K: Eq + std::hash::Hash>(order: Vec<usize>, key: impl Fn(usize) -> Option<K>) -> Vec<usize> {
    let mut slots: Vec<Vec<usize>> = Vec::with_capacity(order.len());
    let mut slot_of: std::collections::HashMap<K, usize> = std::collections::HashMap::new();
    for i in order {
        match key(i) {
            Some(k) => {
                let at = *slot_of.entry(k).or_insert_with(|| {
                    slots.push(Vec::new());
                    slots.len() - 1
                });
                slots[at].push(i);
            }
            None => slots.push(vec![i]),
        }
    }
    slots.into_iter().flatten().collect()
}

/// Whether output `k` of `keys` (outputs in send order, already [`contiguous_by_key`]) must start
/// a new call rather than join the call spanning `range`. Calls of one key wait on each other, so a
/// call holding two keys chains them: cut carelessly, one flapping flag after another becomes one
/// long chain of calls. Hence a key's run starts a call when it would straddle two calls, when it
/// is longer than a call itself, or when the current call holds the rest of such a long run: a
/// long run then waits only on itself, and short runs never wait on a long one.
pub fn starts_a_call(keys: &[Option<&str>], range: std::ops::Range<usize>, k: usize, max_items: usize) -> bool {
    let starts_run = keys[k].is_some() && (k == 0 || keys[k - 1] != keys[k]);
    if !starts_run || range.is_empty() {
        return false;
    }
    let run = keys[k..].iter().take_while(|x| **x == keys[k]).count();
    let call_inside_a_run =
        range.start > 0 && keys[range.start].is_some() && keys[range.start - 1] == keys[range.start];
    let call_holds_a_long_run =
        call_inside_a_run || keys[range.clone()].iter().all(|x| *x == keys[range.start]) && range.len() >= max_items;
    run > max_items || (k - range.start) + run > max_items || call_holds_a_long_run
}

/// Orders the calls of several sinks by priority (stable: a sink's calls keep their order among
/// equals) and links each call to the earlier calls of its sink that share a key with it.
pub fn schedule<'a>(mut calls: Vec<PlannedCall>, key: impl Fn(usize, usize) -> Option<&'a str>) -> Vec<PlannedCall> {
    calls.sort_by_key(|c| c.priority);
    let keys: Vec<Vec<&str>> =
        calls.iter().map(|c| c.positions.iter().filter_map(|&p| key(c.sink, p)).collect()).collect();
    for i in 0..calls.len() {
        calls[i].after =
            (0..i).filter(|&j| calls[j].sink == calls[i].sink && keys[j].iter().any(|k| keys[i].contains(k))).collect();
    }
    calls
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urgent_outputs_go_first_without_overtaking_their_key() {
        // keys: a a b c a ; priorities: 1 1 1 0 0
        let keys = ["a", "a", "b", "c", "a"];
        let prio = [1, 1, 1, 0, 0];
        let order = prioritize(&effective_priorities(5, |i| Some(keys[i]), |i| prio[i]));
        // c (urgent) and all of a (its last is urgent) move up in their order; b stays behind.
        assert_eq!(order, vec![0, 1, 3, 4, 2]);
        let pos = |x: usize| order.iter().position(|&o| o == x).unwrap();
        assert!(pos(0) < pos(1) && pos(1) < pos(4), "a keeps its order");
    }

    #[test]
    fn a_key_travels_together_and_long_runs_never_chain_other_keys() {
        let keys = ["a", "b", "a", "c", "b", "a"];
        let order = contiguous_by_key((0..6).collect(), |i| Some(keys[i]));
        assert_eq!(order, vec![0, 2, 5, 1, 4, 3]);
        // a's less urgent tail does not overtake b: [a:0, b:0, a:1] keeps b second.
        let (k, p) = (["a", "b", "a"], [0u8, 0, 1]);
        let tiers = effective_priorities(3, |i| Some(k[i]), |i| p[i]);
        let tiered = prioritize(&tiers);
        assert_eq!(contiguous_by_key(tiered, |i| Some((tiers[i], k[i]))), vec![0, 1, 2]);
        let sent: Vec<Option<&str>> = order.iter().map(|&i| Some(keys[i])).collect();
        let cut = |keys: &[Option<&str>], max| {
            crate::delivery::plan_batches(keys.len(), |_| 1, max, usize::MAX, |r, k| !starts_a_call(keys, r, k, max))
        };
        // Runs a a a | b b | c with calls of 4: b's run starts the second call rather than straddle.
        assert_eq!(cut(&sent, 4), vec![0..3, 3..6]);
        let naive = crate::delivery::plan_batches(6, |_| 1, 4, usize::MAX, |_, _| true);
        assert_eq!(naive, vec![0..4, 4..6], "without the rule b would be in both calls");
        // A run longer than a call starts its own calls, and its last piece is not shared: x y and
        // z never wait on a's chain, and b's long run does not continue a's.
        let mixed = [
            Some("x"),
            Some("y"),
            Some("a"),
            Some("a"),
            Some("a"),
            Some("a"),
            Some("a"),
            Some("b"),
            Some("b"),
            Some("b"),
            Some("b"),
            Some("b"),
            Some("z"),
        ];
        assert_eq!(cut(&mixed, 4), vec![0..2, 2..6, 6..7, 7..11, 11..12, 12..13]);
    }

    #[test]
    fn calls_wait_only_for_earlier_calls_of_their_sink_and_key() {
        let call = |sink, positions: Vec<usize>, priority| PlannedCall { sink, positions, priority, after: vec![] };
        let keys = [["a", "b", "a", "c"], ["a", "x", "y", "z"]];
        let calls = vec![call(0, vec![0, 1], 1), call(0, vec![2, 3], 1), call(1, vec![0], 0), call(0, vec![3], 1)];
        let s = schedule(calls, |sink, p| Some(keys[sink][p]));
        assert_eq!(s[0].sink, 1, "the urgent call first");
        assert_eq!(s[1].after, Vec::<usize>::new());
        assert_eq!(s[2].after, vec![1], "shares a with the first call of sink 0, not with sink 1's a");
        assert_eq!(s[3].after, vec![2], "shares c");
    }
}
