//! Planned outputs for one sink, each with the batch positions of the records it came from.

use super::ledger::Ledger;

/// Outputs for one sink; `covers[i]` lists the batch positions whose durability depends on
/// `items[i]` (one record for an audit event, several for a coalesced invalidation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outbox<T> {
    /// The outputs, in the order they must be sent.
    pub items: Vec<T>,
    /// For each output, the batch positions of the records behind it.
    pub covers: Vec<Vec<usize>>,
    /// For each output, how urgent it is (0 first: kill switches, pages; 1: the rest).
    pub priorities: Vec<u8>,
}

/// Priority of what must leave before anything else: a global kill switch in production (its
/// page, its environment-wide invalidation).
pub const CRITICAL: u8 = 0;
/// Priority of what on-call or a cache must hear first: kill switches, pages.
pub const URGENT: u8 = 1;
/// Priority of everything else.
pub const NORMAL: u8 = 2;

impl<T> Default for Outbox<T> {
    fn default() -> Self {
        Outbox { items: Vec::new(), covers: Vec::new(), priorities: Vec::new() }
    }
}

impl<T> Outbox<T> {
    /// An empty outbox with room for `n` outputs.
    pub fn with_capacity(n: usize) -> Self {
        Outbox { items: Vec::with_capacity(n), covers: Vec::with_capacity(n), priorities: Vec::with_capacity(n) }
    }

    /// Adds an output made from the records at `covers`.
    pub fn push(&mut self, item: T, covers: Vec<usize>) {
        self.push_with(item, covers, NORMAL);
    }

    /// Adds an output with a priority ([`CRITICAL`], [`URGENT`] or [`NORMAL`]).
    pub fn push_with(&mut self, item: T, covers: Vec<usize>, priority: u8) {
        self.items.push(item);
        self.covers.push(covers);
        self.priorities.push(priority);
    }

    /// Number of outputs.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when there is nothing to send.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Marks the records behind output `index` as not durable.
    pub fn fail(&self, index: usize, ledger: &mut Ledger) {
        self.covers[index].iter().for_each(|&r| ledger.fail(r));
    }
}
