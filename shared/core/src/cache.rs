//! A reference consumer of invalidation messages: the small TTL cache an evaluation service keeps,
//! showing how to apply invalidations by version and how to refuse a stale refill.
//!
//! The race it closes: a read of the table starts, the flag changes, the invalidation arrives and
//! empties the cache, *then* the slow read finishes and would put the old value back for a whole
//! TTL. A [`ReadTicket`] taken before the read remembers how many invalidations had been applied;
//! a fill whose key was invalidated since is refused.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::notify::{sequence_cmp, Invalidation, Scope};

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
}

impl<V: Clone> FlagCache<V> {
    /// An empty cache whose entries live `ttl`.
    pub fn new(ttl: Duration) -> Self {
        FlagCache { ttl, entries: HashMap::new(), versions: HashMap::new(), epochs: HashMap::new(), epoch: 0 }
    }

    /// The cached value, if present and fresh at `now`.
    pub fn get(&self, key: &CacheKey, now: Instant) -> Option<V> {
        self.entries.get(key).filter(|(_, at)| now.duration_since(*at) < self.ttl).map(|(v, _)| v.clone())
    }

    /// Call before reading the table for `key`.
    pub fn begin_read(&self, key: CacheKey) -> ReadTicket {
        ReadTicket { key, epoch: self.epoch }
    }

    /// Stores what the read returned, unless an invalidation covering the key arrived since the
    /// read began (then the value may predate the change: refused, returns false).
    pub fn fill(&mut self, ticket: ReadTicket, value: V, now: Instant) -> bool {
        let invalidated_since =
            ticket.key.scopes().iter().any(|s| self.epochs.get(s).is_some_and(|&e| e > ticket.epoch));
        if invalidated_since {
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
    fn entries_expire_after_the_ttl() {
        let now = Instant::now();
        let mut cache = FlagCache::new(Duration::from_secs(60));
        let t = cache.begin_read(key("a", None));
        cache.fill(t, 7, now);
        assert_eq!(cache.get(&key("a", None), now + Duration::from_secs(59)), Some(7));
        assert_eq!(cache.get(&key("a", None), now + Duration::from_secs(60)), None);
    }
}
