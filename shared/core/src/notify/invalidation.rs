//! Cache invalidations: which change calls for one, what it covers, and coalescing per cache key.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::audit::{
    action_of, changed_at, diff, is_no_op, rfc3339_ms, Action, FieldChange, KillSwitchState, BOOKKEEPING_FIELDS,
};
use crate::change::Change;
use crate::config::CoreConfig;
use crate::delivery::{CRITICAL, NORMAL, URGENT};
use crate::key::ItemKind;
use crate::value::AttributeValue;

/// Fields of a flag item that do not change how it evaluates; a change of only these sends no
/// invalidation. Everything else (including fields added later) does: the safe default.
pub const NON_EVALUATION_FIELDS: [&str; 8] =
    ["description", "owner", "teams", "createdAt", "createdBy", "tags", "name", "ttl"];

/// What an invalidation covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// One tenant's view of one flag.
    Tenant,
    /// One flag, all tenants.
    Flag,
    /// Everything in the environment (global kill switch).
    Environment,
}

/// A cache-invalidation message for the flag-evaluation services.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Invalidation {
    /// Message schema version.
    pub schema_version: u32,
    /// The stream eventID (dedupe key).
    pub event_id: String,
    /// What to drop.
    pub scope: Scope,
    /// Environment.
    pub environment: String,
    /// Flag (absent for environment scope).
    pub flag_key: Option<String>,
    /// Tenant (tenant scope only).
    pub tenant_id: Option<String>,
    /// Per-key version: the stream sequence number, which grows per item; consumers keep the
    /// highest seen per key and drop anything lower (compare with [`sequence_cmp`]).
    pub version: String,
    /// The writer's `version` counter, when the item has one.
    pub item_version: Option<String>,
    /// What happened.
    pub action: Action,
    /// When it happened (RFC 3339), if known.
    pub changed_at: Option<String>,
}

impl Scope {
    /// The scope as messages and attributes write it: `tenant`, `flag`, `environment`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Scope::Tenant => "tenant",
            Scope::Flag => "flag",
            Scope::Environment => "environment",
        }
    }
}

/// How urgent an invalidation (and its mark) is: a global kill switch in a production environment
/// before everything ([`CRITICAL`]), other kill switches next, the rest after them.
pub fn invalidation_priority(i: &Invalidation, config: &CoreConfig) -> u8 {
    let kill_switch = matches!(i.action, Action::KillSwitchEnabled | Action::KillSwitchDisabled);
    match (kill_switch, i.scope) {
        (true, Scope::Environment) if config.is_production(Some(&i.environment)) => CRITICAL,
        (true, _) => URGENT,
        _ => NORMAL,
    }
}

impl Invalidation {
    /// The cache key this invalidation addresses: `env`, `env/flag` or `env/flag/tenant`.
    pub fn key(&self) -> String {
        match (self.scope, &self.flag_key, &self.tenant_id) {
            (Scope::Tenant, Some(f), Some(t)) => format!("{}/{}/{}", self.environment, f, t),
            (Scope::Flag, Some(f), _) => format!("{}/{}", self.environment, f),
            _ => self.environment.clone(),
        }
    }
}

/// Orders stream sequence numbers (decimal strings of varying length) numerically.
pub fn sequence_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let a = a.trim_start_matches('0');
    let b = b.trim_start_matches('0');
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// The invalidation a change calls for, if any: only when something evaluation-relevant changed.
pub fn invalidation(change: &Change) -> Option<Invalidation> {
    let env = change.key.environment.clone()?;
    let changes = diff(change);
    let relevant = match change.key.kind {
        ItemKind::Item => false,
        ItemKind::FlagKillSwitch | ItemKind::GlobalKillSwitch => KillSwitchState::of(change).alerts(),
        ItemKind::Flag => evaluation_relevant(changes.as_ref(), &NON_EVALUATION_FIELDS),
        ItemKind::TenantOverride => evaluation_relevant(changes.as_ref(), &[]),
    };
    if !relevant || is_no_op(change, changes.as_ref()) {
        return None;
    }
    let scope = match change.key.kind {
        ItemKind::TenantOverride => Scope::Tenant,
        ItemKind::GlobalKillSwitch => Scope::Environment,
        _ => Scope::Flag,
    };
    Some(Invalidation {
        schema_version: 1,
        event_id: change.event_id.clone(),
        scope,
        environment: env,
        flag_key: change.key.flag_key.clone().filter(|_| scope != Scope::Environment),
        tenant_id: change.key.tenant_id.clone().filter(|_| scope == Scope::Tenant),
        version: change.sequence_number.clone(),
        item_version: change.attr("version").and_then(AttributeValue::as_text).map(str::to_owned),
        action: action_of(change),
        changed_at: changed_at(change).map(rfc3339_ms),
    })
}

/// Unknown diff (an image is missing) counts as relevant: a needless invalidation is cheap, a
/// missed one serves a stale flag for a whole TTL.
fn evaluation_relevant(changes: Option<&BTreeMap<&str, FieldChange>>, ignored: &[&str]) -> bool {
    match changes {
        None => true,
        Some(c) => c.keys().any(|k| !BOOKKEEPING_FIELDS.contains(k) && !ignored.contains(k)),
    }
}

/// Invalidations after coalescing, each with the batch positions it stands for.
pub struct Coalesced {
    /// The invalidations kept, each with the batch positions it stands for.
    pub kept: Vec<(Vec<usize>, Invalidation)>,
    /// How many were absorbed by a later one.
    pub dropped: usize,
}

/// Keeps the last invalidation per cache key (it carries the highest version), placed where that
/// last one was, so per-key order holds; an environment-wide one also absorbs earlier ones of its
/// environment.
pub fn coalesce(list: Vec<(usize, Invalidation)>) -> Coalesced {
    let total = list.len();
    let mut last_for: HashMap<String, usize> = HashMap::new();
    let mut env_wide_at: HashMap<&str, usize> = HashMap::new();
    for (pos, (_, inv)) in list.iter().enumerate() {
        last_for.insert(inv.key(), pos);
        if inv.scope == Scope::Environment {
            env_wide_at.insert(inv.environment.as_str(), pos);
        }
    }
    let mut covers: Vec<Vec<usize>> = vec![Vec::new(); total];
    let mut keep = vec![false; total];
    for (pos, (idx, inv)) in list.iter().enumerate() {
        let target = match env_wide_at.get(inv.environment.as_str()) {
            Some(&env_pos) if env_pos > pos => env_pos,
            _ => last_for[&inv.key()],
        };
        covers[target].push(*idx);
        keep[target] = true;
    }
    let kept: Vec<_> = list
        .into_iter()
        .enumerate()
        .filter(|(pos, _)| keep[*pos])
        .map(|(pos, (_, inv))| (std::mem::take(&mut covers[pos]), inv))
        .collect();
    Coalesced { dropped: total - kept.len(), kept }
}
