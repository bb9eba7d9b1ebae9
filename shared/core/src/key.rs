//! The flag table's keys (see docs/schema.md): which kind of item a key names.

use serde::Serialize;

use crate::value::{AttributeValue, Item};

/// What a table item is, derived from its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    /// `PK = FLAG#{env}#{flagKey}`, `SK = METADATA`.
    Flag,
    /// `PK = FLAG#{env}#{flagKey}`, `SK = TENANT#{tenantId}`.
    TenantOverride,
    /// `PK = FLAG#{env}#{flagKey}`, `SK = KILLSWITCH`.
    FlagKillSwitch,
    /// `PK = KILLSWITCH#{env}`, `SK = GLOBAL`.
    GlobalKillSwitch,
    /// Anything else: audited as a generic item change.
    Item,
}

/// An item's key and what it identifies.
#[derive(Debug, Clone)]
pub struct ItemKey {
    /// Kind derived from PK/SK.
    pub kind: ItemKind,
    /// Environment from the key (flag items and kill switches).
    pub environment: Option<String>,
    /// Flag key from PK (flag-scoped items).
    pub flag_key: Option<String>,
    /// Tenant from SK (tenant overrides).
    pub tenant_id: Option<String>,
    /// The raw key attributes as sent.
    pub keys: Item,
}

impl ItemKey {
    /// Classifies a key; a key that matches no pattern is [`ItemKind::Item`], never an error.
    pub fn from_keys(keys: Item) -> Self {
        let pk = keys.get("PK").and_then(AttributeValue::as_s);
        let sk = keys.get("SK").and_then(AttributeValue::as_s);
        let (kind, environment, flag_key, tenant_id) = classify(pk, sk);
        ItemKey {
            kind,
            environment: environment.map(str::to_owned),
            flag_key: flag_key.map(str::to_owned),
            tenant_id: tenant_id.map(str::to_owned),
            keys,
        }
    }
}

type Classified<'a> = (ItemKind, Option<&'a str>, Option<&'a str>, Option<&'a str>);

fn classify<'a>(pk: Option<&'a str>, sk: Option<&'a str>) -> Classified<'a> {
    let generic = (ItemKind::Item, None, None, None);
    let (Some(pk), Some(sk)) = (pk, sk) else { return generic };
    if let Some(rest) = pk.strip_prefix("FLAG#") {
        // The environment never contains '#'; a flag key may, so split on the first one only.
        let Some((env, flag)) = rest.split_once('#') else { return generic };
        if env.is_empty() || flag.is_empty() {
            return generic;
        }
        return match sk {
            "METADATA" => (ItemKind::Flag, Some(env), Some(flag), None),
            "KILLSWITCH" => (ItemKind::FlagKillSwitch, Some(env), Some(flag), None),
            _ => match sk.strip_prefix("TENANT#") {
                Some(t) if !t.is_empty() => (ItemKind::TenantOverride, Some(env), Some(flag), Some(t)),
                _ => generic,
            },
        };
    }
    match pk.strip_prefix("KILLSWITCH#") {
        Some(env) if !env.is_empty() && !env.contains('#') && sk == "GLOBAL" => {
            (ItemKind::GlobalKillSwitch, Some(env), None, None)
        }
        _ => generic,
    }
}

impl ItemKind {
    /// True for the two kill-switch kinds.
    pub fn is_kill_switch(&self) -> bool {
        matches!(self, ItemKind::FlagKillSwitch | ItemKind::GlobalKillSwitch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(pk: &str, sk: &str) -> Classified<'static> {
        let pk: &'static str = Box::leak(pk.to_owned().into_boxed_str());
        let sk: &'static str = Box::leak(sk.to_owned().into_boxed_str());
        classify(Some(pk), Some(sk))
    }

    #[test]
    fn classifies_every_key_shape() {
        assert_eq!(kind("FLAG#prod#new-ui", "METADATA"), (ItemKind::Flag, Some("prod"), Some("new-ui"), None));
        assert_eq!(kind("FLAG#dev#a#b", "KILLSWITCH"), (ItemKind::FlagKillSwitch, Some("dev"), Some("a#b"), None));
        assert_eq!(
            kind("FLAG#prod#x", "TENANT#acme"),
            (ItemKind::TenantOverride, Some("prod"), Some("x"), Some("acme"))
        );
        assert_eq!(kind("KILLSWITCH#prod", "GLOBAL"), (ItemKind::GlobalKillSwitch, Some("prod"), None, None));
        assert_eq!(kind("KILLSWITCH#prod", "OTHER").0, ItemKind::Item);
        assert_eq!(kind("FLAG#prod", "METADATA").0, ItemKind::Item);
        assert_eq!(kind("FLAG#prod#x", "TENANT#").0, ItemKind::Item);
        assert_eq!(kind("USER#1", "PROFILE").0, ItemKind::Item);
        assert_eq!(classify(None, Some("METADATA")).0, ItemKind::Item);
    }
}
