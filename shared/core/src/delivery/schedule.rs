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

/// The send order of `n` outputs: by priority (0 first), except that no output moves ahead of an
/// earlier output with the same key — those move up with it (an output's effective priority is the
/// most urgent of its own and its key's later outputs). Stable otherwise.
pub fn prioritize<'a>(n: usize, key: impl Fn(usize) -> Option<&'a str>, priority: impl Fn(usize) -> u8) -> Vec<usize> {
    let mut effective: Vec<u8> = (0..n).map(&priority).collect();
    let mut most_urgent_later: std::collections::HashMap<&str, u8> = std::collections::HashMap::new();
    for i in (0..n).rev() {
        if let Some(k) = key(i) {
            let e = most_urgent_later.entry(k).or_insert(u8::MAX);
            *e = (*e).min(effective[i]);
            effective[i] = *e;
        }
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| effective[i]);
    order
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
        let order = prioritize(5, |i| Some(keys[i]), |i| prio[i]);
        // c (urgent) and all of a (its last is urgent) move up in their order; b stays behind.
        assert_eq!(order, vec![0, 1, 3, 4, 2]);
        let pos = |x: usize| order.iter().position(|&o| o == x).unwrap();
        assert!(pos(0) < pos(1) && pos(1) < pos(4), "a keeps its order");
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
