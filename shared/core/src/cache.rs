//! A reference consumer of invalidation messages: the small TTL cache an evaluation service keeps,
//! showing how to apply invalidations by version and how to refuse a stale refill.
//!
//! The race it closes: a read of the table starts, the flag changes, the invalidation arrives and
//! empties the cache, *then* the slow read finishes and would put the old value back for a whole
//! TTL. A [`ReadTicket`] taken before the read remembers how many invalidations had been applied;
//! a fill whose key was invalidated since is refused.
//!
//! Evaluators that cannot receive messages (Lambda functions: a frozen instance runs nothing)
//! read the freshness marks instead (docs/freshness.md) and hand them to [`FlagCache::apply_marks`];
//! a cache made [`FlagCache::with_marks`] fills only keys whose marks it has read, so a change
//! between the fill and the first read of a mark cannot go unnoticed.

use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use crate::notify::{mark_key, sequence_cmp, Invalidation, Scope};

/// What a cached evaluation is keyed by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey {
    /// Environment.
    pub environment: String,
    /// Flag.
    pub flag_key: String,
    /// Tenant, for per-tenant evaluations.
    pub tenant_id: Option<String>,
}

impl CacheKey {
    /// The invalidation keys that cover this entry, broadest first: env, env/flag, env/flag/tenant.
    fn scopes(&self) -> Vec<String> {
        let mut v = vec![self.environment.clone(), format!("{}/{}", self.environment, self.flag_key)];
        if let Some(t) = &self.tenant_id {
            v.push(format!("{}/{}/{}", self.environment, self.flag_key, t));
        }
        v
    }

    /// The freshness marks that cover this entry: `E#env`, `F#env#flag`, and `T#env#tenant`.
    pub fn marks(&self) -> Vec<String> {
        let env = &self.environment;
        let mut v =
            vec![mark_key(Scope::Environment, env, None, None), mark_key(Scope::Flag, env, Some(&self.flag_key), None)];
        if let Some(t) = &self.tenant_id {
            v.push(mark_key(Scope::Tenant, env, Some(&self.flag_key), Some(t)));
        }
        v
    }
}

/// Taken before reading the table; a fill with it is refused if the key was invalidated since.
#[derive(Debug, Clone)]
pub struct ReadTicket {
    key: CacheKey,
    epoch: u64,
}

/// What applying an invalidation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// Entries were dropped (count).
    Invalidated(usize),
    /// A message with this or a newer version was already applied (duplicate or reordered).
    Stale,
}

/// A TTL cache of flag evaluations kept fresh by invalidation messages.
pub struct FlagCache<V> {
    ttl: Duration,
    entries: HashMap<CacheKey, (V, Instant)>,
    /// Invalidation key → highest version applied.
    versions: HashMap<String, String>,
    /// Invalidation key → epoch of its last applied invalidation.
    epochs: HashMap<String, u64>,
    epoch: u64,
    /// Mark key → counter last read; `Some` map when the cache is kept fresh by marks.
    marks: Option<HashMap<String, u64>>,
}

impl<V: Clone> FlagCache<V> {
    /// An empty cache whose entries live `ttl`.
    pub fn new(ttl: Duration) -> Self {
        FlagCache {
            ttl,
            entries: HashMap::new(),
            versions: HashMap::new(),
            epochs: HashMap::new(),
            epoch: 0,
            marks: None,
        }
    }

    /// A cache kept fresh by reading freshness marks: it fills a key only once every mark
    /// covering it has been read ([`FlagCache::marks_to_read`] names them).
    pub fn with_marks(ttl: Duration) -> Self {
        FlagCache { marks: Some(HashMap::new()), ..FlagCache::new(ttl) }
    }

    /// The marks a check should read: those covering every cached entry and `wanted`.
    pub fn marks_to_read<'k>(&'k self, wanted: impl IntoIterator<Item = &'k CacheKey>) -> BTreeSet<String> {
        self.entries.keys().chain(wanted).flat_map(CacheKey::marks).collect()
    }

    /// Applies a read of the marks table (a mark absent from the table reads as 0): a counter
    /// that differs from the one last read drops every entry the mark covers and refuses fills
    /// begun before; a mark read for the first time also refuses fills begun before (the read
    /// may predate a change the counter already includes). "Differs", not "greater": a
    /// re-created table restarts its counters. Returns the entries dropped.
    pub fn apply_marks(&mut self, read: impl IntoIterator<Item = (String, u64)>) -> usize {
        let before = self.entries.len();
        let seen = self.marks.get_or_insert_with(HashMap::new);
        let mut changed = Vec::new();
        for (key, n) in read {
            if seen.insert(key.clone(), n).is_none_or(|last| last != n) {
                changed.push(key);
            }
        }
        for key in changed {
            self.epoch += 1;
            self.entries.retain(|k, _| !k.marks().contains(&key));
            self.epochs.insert(key, self.epoch);
        }
        before - self.entries.len()
    }

    /// True when every mark covering `key` has been read (always, for a cache without marks).
    pub fn marks_known(&self, key: &CacheKey) -> bool {
        self.marks.as_ref().is_none_or(|seen| key.marks().iter().all(|m| seen.contains_key(m)))
    }

    /// The cached value, if present and fresh at `now`.
    pub fn get(&self, key: &CacheKey, now: Instant) -> Option<V> {
        self.entries.get(key).filter(|(_, at)| now.duration_since(*at) < self.ttl).map(|(v, _)| v.clone())
    }

    /// Call before reading the table for `key`.
    pub fn begin_read(&self, key: CacheKey) -> ReadTicket {
        ReadTicket { key, epoch: self.epoch }
    }

    /// Stores what the read returned, unless an invalidation or a mark covering the key arrived
    /// since the read began (then the value may predate the change), or, with marks, a covering
    /// mark was never read: refused, returns false.
    pub fn fill(&mut self, ticket: ReadTicket, value: V, now: Instant) -> bool {
        let invalidated_since = ticket
            .key
            .scopes()
            .iter()
            .chain(&ticket.key.marks())
            .any(|s| self.epochs.get(s).is_some_and(|&e| e > ticket.epoch));
        if invalidated_since || !self.marks_known(&ticket.key) {
            return false;
        }
        self.entries.insert(ticket.key, (value, now));
        true
    }

    /// Applies one message; messages older than one already applied for the same key are ignored.
    pub fn apply(&mut self, inv: &Invalidation) -> Applied {
        let key = inv.key();
        if let Some(seen) = self.versions.get(&key) {
            if sequence_cmp(&inv.version, seen) != Ordering::Greater {
                return Applied::Stale;
            }
        }
        self.versions.insert(key.clone(), inv.version.clone());
        self.epoch += 1;
        self.epochs.insert(key, self.epoch);
        let before = self.entries.len();
        self.entries.retain(|k, _| {
            let hit = k.environment == inv.environment
                && match inv.scope {
                    Scope::Environment => true,
                    Scope::Flag => Some(&k.flag_key) == inv.flag_key.as_ref(),
                    Scope::Tenant => Some(&k.flag_key) == inv.flag_key.as_ref() && k.tenant_id == inv.tenant_id,
                };
            !hit
        });
        Applied::Invalidated(before - self.entries.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::Action;

    fn key(flag: &str, tenant: Option<&str>) -> CacheKey {
        CacheKey { environment: "prod".into(), flag_key: flag.into(), tenant_id: tenant.map(str::to_owned) }
    }

    fn inv(scope: Scope, flag: Option<&str>, tenant: Option<&str>, version: &str) -> Invalidation {
        Invalidation {
            schema_version: 1,
            event_id: format!("e{version}"),
            scope,
            environment: "prod".into(),
            flag_key: flag.map(str::to_owned),
            tenant_id: tenant.map(str::to_owned),
            version: version.into(),
            item_version: None,
            action: Action::UpdateFlag,
            changed_at: None,
        }
    }

    #[test]
    fn a_slow_read_that_began_before_the_change_cannot_put_the_old_value_back() {
        let now = Instant::now();
        let mut cache = FlagCache::new(Duration::from_secs(300));
        let k = key("checkout", Some("acme"));
        let slow_read = cache.begin_read(k.clone()); // reads "off" from the table…
                                                     // …meanwhile the flag is switched on and its invalidation arrives.
        assert_eq!(cache.apply(&inv(Scope::Flag, Some("checkout"), None, "200")), Applied::Invalidated(0));
        assert!(!cache.fill(slow_read, "off", now), "the stale value is refused");
        assert_eq!(cache.get(&k, now), None);
        // A read that starts after the invalidation fills normally.
        let fresh = cache.begin_read(k.clone());
        assert!(cache.fill(fresh, "on", now));
        assert_eq!(cache.get(&k, now), Some("on"));
    }

    #[test]
    fn invalidations_apply_by_version_and_scope() {
        let now = Instant::now();
        let mut cache = FlagCache::new(Duration::from_secs(300));
        for (f, t) in [("a", Some("x")), ("a", Some("y")), ("a", None), ("b", None)] {
            let ticket = cache.begin_read(key(f, t));
            assert!(cache.fill(ticket, 1, now));
        }
        assert_eq!(cache.apply(&inv(Scope::Tenant, Some("a"), Some("x"), "10")), Applied::Invalidated(1));
        assert_eq!(cache.apply(&inv(Scope::Tenant, Some("a"), Some("x"), "10")), Applied::Stale, "duplicate");
        assert_eq!(cache.apply(&inv(Scope::Tenant, Some("a"), Some("x"), "9")), Applied::Stale, "reordered");
        assert_eq!(cache.apply(&inv(Scope::Flag, Some("a"), None, "11")), Applied::Invalidated(2));
        assert_eq!(cache.get(&key("b", None), now), Some(1));
        assert_eq!(
            cache.apply(&inv(Scope::Environment, None, None, "100000000000000000000012")),
            Applied::Invalidated(1)
        );
        assert_eq!(
            cache.apply(&inv(Scope::Environment, None, None, "99999999999999999999999")),
            Applied::Stale,
            "numeric, not lexical, order"
        );
    }

    #[test]
    fn marks_drop_what_they_cover_once_their_counter_moves() {
        let now = Instant::now();
        let mut cache = FlagCache::with_marks(Duration::from_secs(300));
        let (a_x, a_y, b_x) = (key("a", Some("x")), key("a", Some("y")), key("b", Some("x")));
        let t = cache.begin_read(a_x.clone());
        assert!(!cache.fill(t, 1, now), "no fill before the marks covering the key were read");
        let wanted = [a_x.clone(), a_y.clone(), b_x.clone()];
        let to_read = cache.marks_to_read(&wanted);
        assert_eq!(
            to_read.iter().map(String::as_str).collect::<Vec<_>>(),
            ["E#prod", "F#prod#a", "F#prod#b", "T#prod#x", "T#prod#y"]
        );
        assert_eq!(cache.apply_marks(to_read.iter().map(|m| (m.clone(), 3))), 0, "first sight only");
        for k in &wanted {
            let t = cache.begin_read(k.clone());
            assert!(cache.fill(t, 1, now));
        }
        // A slow read begun now, then tenant x's mark moves: x's entries go, y's stay, the slow fill is refused.
        // A read begun before a mark was first read cannot fill under it either.
        let early = cache.begin_read(key("c", None));
        cache.apply_marks([("F#prod#c".to_owned(), 9)]);
        assert!(!cache.fill(early, 1, now), "the read may predate a change counted in the first read");
        let slow = cache.begin_read(a_x.clone());
        let moved = [("E#prod".to_owned(), 3), ("F#prod#a".into(), 3), ("T#prod#x".into(), 4), ("T#prod#y".into(), 3)];
        assert_eq!(cache.apply_marks(moved.clone()), 2);
        assert_eq!((cache.get(&a_x, now), cache.get(&a_y, now), cache.get(&b_x, now)), (None, Some(1), None));
        assert!(!cache.fill(slow, 0, now), "a read begun before the mark moved cannot fill");
        assert_eq!(cache.apply_marks(moved), 0, "the same counters again change nothing");
        // A re-created marks table restarts counters: lower is a change too.
        assert_eq!(cache.apply_marks([("E#prod".to_owned(), 0)]), 1);
        assert_eq!(cache.get(&a_y, now), None);
    }

    #[test]
    fn entries_expire_after_the_ttl() {
        let now = Instant::now();
        let mut cache = FlagCache::new(Duration::from_secs(60));
        let t = cache.begin_read(key("a", None));
        cache.fill(t, 7, now);
        assert_eq!(cache.get(&key("a", None), now + Duration::from_secs(59)), Some(7));
        assert_eq!(cache.get(&key("a", None), now + Duration::from_secs(60)), None);
    }
}
