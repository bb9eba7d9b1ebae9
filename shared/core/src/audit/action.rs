//! What a change did ([`Action`]) and a kill switch's state across it.

use serde::Serialize;

use crate::change::{is_delete_stamp, Change, EventName};
use crate::key::ItemKind;
use crate::value::{AttributeValue, Item};

/// What a change did, in the names of the design (seed 000) plus generic and kill-switch updates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Action {
    /// A flag was created.
    CreateFlag,
    /// A flag was modified.
    UpdateFlag,
    /// A flag was deleted.
    DeleteFlag,
    /// A tenant override was set or changed.
    SetTenantOverride,
    /// A tenant override was removed.
    RemoveTenantOverride,
    /// A kill switch went on.
    KillSwitchEnabled,
    /// A kill switch went off (or was removed).
    KillSwitchDisabled,
    /// A kill switch item changed without a known flip (reason edited, or state not in the stream).
    UpdateKillSwitch,
    /// The writer stamped the item as about to be deleted (`deletedBy`, `deleteRequestId`): the
    /// delete follows; nothing about the item changed.
    DeleteRequested,
    /// An item outside the schema was created.
    CreateItem,
    /// An item outside the schema was modified.
    UpdateItem,
    /// An item outside the schema was deleted.
    DeleteItem,
    /// The record could not be decoded; it is kept in a quarantine record.
    Quarantined,
}

impl Action {
    /// The name as written in audit records and metrics.
    pub fn as_str(&self) -> &'static str {
        use Action::*;
        match self {
            CreateFlag => "CREATE_FLAG",
            UpdateFlag => "UPDATE_FLAG",
            DeleteFlag => "DELETE_FLAG",
            SetTenantOverride => "SET_TENANT_OVERRIDE",
            RemoveTenantOverride => "REMOVE_TENANT_OVERRIDE",
            KillSwitchEnabled => "KILL_SWITCH_ENABLED",
            KillSwitchDisabled => "KILL_SWITCH_DISABLED",
            UpdateKillSwitch => "UPDATE_KILL_SWITCH",
            DeleteRequested => "DELETE_REQUESTED",
            CreateItem => "CREATE_ITEM",
            UpdateItem => "UPDATE_ITEM",
            DeleteItem => "DELETE_ITEM",
            Quarantined => "QUARANTINED",
        }
    }
}

/// A kill switch's state before and after a change; `None` where the stream did not carry it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KillSwitchState {
    /// Before the write (an INSERT starts from off).
    pub before: Option<bool>,
    /// After the write (a REMOVE ends at off).
    pub after: Option<bool>,
}

impl KillSwitchState {
    /// Reads `enabled` from both images.
    pub fn of(change: &Change) -> Self {
        let enabled = |img: &Option<Item>| {
            img.as_ref().map(|i| i.get("enabled").and_then(AttributeValue::as_bool).unwrap_or(false))
        };
        let before = match change.event_name {
            EventName::Insert => Some(false),
            _ => enabled(&change.old),
        };
        let after = match change.event_name {
            EventName::Remove => Some(false),
            _ => enabled(&change.new),
        };
        KillSwitchState { before, after }
    }

    /// True when the switch flipped, or may have (the stream lacks the state): on-call must hear of it.
    pub fn alerts(&self) -> bool {
        self.before != self.after || self.after.is_none()
    }
}

/// The action a change performed.
pub fn action_of(change: &Change) -> Action {
    use EventName::*;
    if is_delete_stamp(change.event_name, change.old.as_ref(), change.new.as_ref()) {
        return Action::DeleteRequested;
    }
    match (change.key.kind, change.event_name) {
        (ItemKind::Flag, Insert) => Action::CreateFlag,
        (ItemKind::Flag, Modify) => Action::UpdateFlag,
        (ItemKind::Flag, Remove) => Action::DeleteFlag,
        (ItemKind::TenantOverride, Remove) => Action::RemoveTenantOverride,
        (ItemKind::TenantOverride, _) => Action::SetTenantOverride,
        (ItemKind::FlagKillSwitch | ItemKind::GlobalKillSwitch, _) => {
            let s = KillSwitchState::of(change);
            match (s.before, s.after) {
                (b, Some(true)) if b != Some(true) => Action::KillSwitchEnabled,
                (b, Some(false)) if b != Some(false) => Action::KillSwitchDisabled,
                _ => Action::UpdateKillSwitch,
            }
        }
        (ItemKind::Item, Insert) => Action::CreateItem,
        (ItemKind::Item, Modify) => Action::UpdateItem,
        (ItemKind::Item, Remove) => Action::DeleteItem,
    }
}
