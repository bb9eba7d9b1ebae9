//! Freshness marks (docs/freshness.md): per invalidation scope, a counter that Lambda-hosted
//! evaluators poll because nothing can push into a frozen instance. Which mark an invalidation
//! raises, and the marks of one batch within a call budget.

use std::collections::HashMap;

use super::invalidation::{Invalidation, Scope};
use crate::audit::Action;
use crate::delivery::{Outbox, DDB_PARTITION_KEY_BYTES, NORMAL};

/// Digits a mark's per-item version is left-padded to, so that DynamoDB's string `<` orders
/// sequence numbers numerically (DynamoDB Streams documents SequenceNumber as 21–40 characters).
pub const MARK_VERSION_DIGITS: usize = 40;

/// Default of `FLAGTRAIL_MAX_MARKS_PER_BATCH`: marks written per batch before a storm is folded
/// into its environment's mark (4 rounds of the default 16 calls in flight).
pub const DEFAULT_MAX_MARKS_PER_BATCH: usize = 64;

/// One conditional write to the marks table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    /// `E#{env}`, `F#{env}#{flagKey}` or `T#{env}#{tenantId}`.
    pub key: String,
    /// The item under the mark whose version guards the write (`METADATA`/`KILLSWITCH` under
    /// `F#`, the flag key under `T#`, `GLOBAL` under `E#`); `None` for a storm folded into its
    /// environment, raised without a guard (a redelivery then costs evaluators one extra flush).
    pub item: Option<String>,
    /// The stream sequence number of the invalidation (unpadded).
    pub version: String,
    /// Its stream eventID.
    pub event_id: String,
    /// When the change happened (RFC 3339), if known.
    pub changed_at: Option<String>,
}

impl Mark {
    /// The attribute holding the item's last applied version: `v:{item}`.
    pub fn guard_attribute(&self) -> Option<String> {
        self.item.as_ref().map(|i| format!("v:{i}"))
    }

    /// The version left-padded with zeros to [`MARK_VERSION_DIGITS`] (longer ones unchanged).
    pub fn padded_version(&self) -> String {
        let digits = self.version.trim_start_matches('0');
        format!("{digits:0>MARK_VERSION_DIGITS$}")
    }
}

/// The mark key of a scope.
pub fn mark_key(scope: Scope, environment: &str, flag_key: Option<&str>, tenant_id: Option<&str>) -> String {
    match (scope, flag_key, tenant_id) {
        (Scope::Tenant, _, Some(t)) => format!("T#{environment}#{t}"),
        (Scope::Flag, Some(f), _) | (Scope::Tenant, Some(f), None) => format!("F#{environment}#{f}"),
        _ => format!("E#{environment}"),
    }
}

/// The mark an invalidation raises.
pub fn mark_of(i: &Invalidation) -> Mark {
    let item = match i.scope {
        Scope::Environment => "GLOBAL".to_owned(),
        Scope::Tenant => i.flag_key.clone().unwrap_or_default(),
        Scope::Flag if matches!(i.action, Action::KillSwitchEnabled | Action::KillSwitchDisabled) => {
            "KILLSWITCH".to_owned()
        }
        Scope::Flag => "METADATA".to_owned(),
    };
    let key = mark_key(i.scope, &i.environment, i.flag_key.as_deref(), i.tenant_id.as_deref());
    // A flag or tenant name can make the key longer than DynamoDB allows a partition key (the
    // table's own keys allow 2048 + 1024 bytes): such a change raises its environment instead.
    let (key, item) = if key.len() > DDB_PARTITION_KEY_BYTES {
        (mark_key(Scope::Environment, &i.environment, None, None), None)
    } else {
        (key, Some(item))
    };
    Mark { key, item, version: i.version.clone(), event_id: i.event_id.clone(), changed_at: i.changed_at.clone() }
}

/// The marks of a batch's invalidations (already coalesced, in shard order), each with the
/// records it covers; kill switches are urgent. When more than `max` remain, the environments
/// with the most marks are folded, one at a time, into a single unguarded raise of their `E#`
/// mark: a bulk change then costs evaluators one flush of that environment instead of holding
/// the batch for thousands of writes. Returns the outbox and how many marks were folded away.
pub fn plan_marks(kept: &[(Vec<usize>, Invalidation, u8)], max: usize) -> (Outbox<Mark>, usize) {
    let mut marks: Vec<(Mark, Vec<usize>, u8, &str)> = kept
        .iter()
        .map(|(covers, i, priority)| (mark_of(i), covers.clone(), *priority, i.environment.as_str()))
        .collect();
    let mut folded = 0;
    while marks.len() > max.max(1) {
        let mut per_env: HashMap<&str, usize> = HashMap::new();
        for (m, .., env) in &marks {
            if m.item.is_some() {
                *per_env.entry(env).or_default() += 1;
            }
        }
        // The busiest environment (ties: the name, for a deterministic plan).
        let Some((&env, _)) = per_env.iter().max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0))) else { break };
        let (into, rest): (Vec<_>, Vec<_>) = marks.into_iter().partition(|(.., e)| *e == env);
        folded += into.len() - 1;
        let last = into.last().map(|(m, ..)| m.clone()).expect("the environment has marks");
        let mut covers: Vec<usize> = into.iter().flat_map(|(_, c, ..)| c.iter().copied()).collect();
        covers.sort_unstable();
        let priority = into.iter().map(|(_, _, p, _)| *p).min().unwrap_or(NORMAL);
        let fold = Mark { key: mark_key(Scope::Environment, env, None, None), item: None, ..last };
        marks = rest;
        marks.push((fold, covers, priority, env));
    }
    let mut out = Outbox::with_capacity(marks.len());
    for (m, covers, priority, _) in marks {
        out.push_with(m, covers, priority);
    }
    (out, folded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::URGENT;

    fn inv(
        scope: Scope,
        env: &str,
        flag: Option<&str>,
        tenant: Option<&str>,
        version: &str,
        action: Action,
    ) -> Invalidation {
        Invalidation {
            schema_version: 1,
            event_id: format!("ev-{version}"),
            scope,
            environment: env.into(),
            flag_key: flag.map(Into::into),
            tenant_id: tenant.map(Into::into),
            version: version.into(),
            item_version: None,
            action,
            changed_at: None,
        }
    }

    #[test]
    fn each_scope_raises_its_own_mark_guarded_by_its_item() {
        let ks = mark_of(&inv(Scope::Flag, "prod", Some("checkout"), None, "7", Action::KillSwitchEnabled));
        assert_eq!((ks.key.as_str(), ks.guard_attribute().as_deref()), ("F#prod#checkout", Some("v:KILLSWITCH")));
        let flag = mark_of(&inv(Scope::Flag, "prod", Some("checkout"), None, "8", Action::UpdateFlag));
        assert_eq!(flag.guard_attribute().as_deref(), Some("v:METADATA"));
        let t = mark_of(&inv(Scope::Tenant, "prod", Some("checkout"), Some("acme"), "9", Action::SetTenantOverride));
        assert_eq!((t.key.as_str(), t.guard_attribute().as_deref()), ("T#prod#acme", Some("v:checkout")));
        let g = mark_of(&inv(Scope::Environment, "prod", None, None, "10", Action::KillSwitchEnabled));
        assert_eq!((g.key.as_str(), g.guard_attribute().as_deref()), ("E#prod", Some("v:GLOBAL")));
    }

    #[test]
    fn padded_versions_order_as_numbers() {
        let m = |v: &str| Mark {
            key: String::new(),
            item: None,
            version: v.into(),
            event_id: String::new(),
            changed_at: None,
        };
        let forty = "1234567890123456789012345678901234567890";
        let thirty_nine = "999999999999999999999999999999999999999";
        assert_eq!(m(forty).padded_version(), forty);
        assert_eq!(m(thirty_nine).padded_version().len(), 40);
        assert!(m(thirty_nine).padded_version() < m(forty).padded_version(), "39 digits < 40 digits");
        assert!(m("0009").padded_version() < m("10").padded_version());
    }

    #[test]
    fn storms_fold_the_busiest_environment_into_one_unguarded_raise() {
        let mut kept = Vec::new();
        for t in 0..100 {
            let tenant = format!("t{t}");
            let i = inv(
                Scope::Tenant,
                "prod",
                Some("f"),
                Some(&tenant),
                &format!("{}", 100 + t),
                Action::SetTenantOverride,
            );
            kept.push((vec![t], i, NORMAL));
        }
        kept.push((vec![100], inv(Scope::Flag, "dev", Some("g"), None, "500", Action::KillSwitchEnabled), URGENT));
        let (out, folded) = plan_marks(&kept, 10);
        assert_eq!(out.len(), 2, "dev's mark kept, prod's hundred folded into one");
        assert_eq!(folded, 99);
        let prod = out.items.iter().position(|m| m.key == "E#prod").unwrap();
        assert_eq!(out.items[prod].item, None);
        assert_eq!(out.covers[prod], (0..100).collect::<Vec<_>>(), "the fold covers every folded record");
        let dev = out.items.iter().position(|m| m.key == "F#dev#g").unwrap();
        assert_eq!(out.priorities[dev], URGENT);
        let (out, folded) = plan_marks(&kept, 1000);
        assert_eq!((out.len(), folded), (101, 0), "under the budget nothing is folded");
    }
}
