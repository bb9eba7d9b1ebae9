//! The audit record (schema version 1, see docs/audit-record.md and docs/audit-record.schema.json):
//! what auditors read in CloudWatch Logs for every change, and the quarantine record for input that
//! could not be decoded.

use std::collections::BTreeMap;

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::change::{Change, EventName, SalvagedRecord};
use crate::config::CoreConfig;
use crate::error::DecodeError;
use crate::schema::ItemKind;
use crate::value::{AttributeValue, Item};

/// Version of the audit-record schema this code writes.
pub const SCHEMA_VERSION: u32 = 1;

/// Attributes every writer stamps; a change of only these is a no-op for evaluation and audit.
pub const BOOKKEEPING_FIELDS: [&str; 4] = ["updatedBy", "updatedAt", "requestId", "version"];

/// Raw records up to this size are kept whole inside their quarantine record.
pub const QUARANTINE_INLINE_BYTES: usize = 256 * 1024;

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

/// One field's values before and after.
#[derive(Debug, Clone, Copy)]
pub struct FieldChange<'a> {
    /// Value before (absent: the field did not exist).
    pub before: Option<&'a AttributeValue>,
    /// Value after (absent: the field was removed).
    pub after: Option<&'a AttributeValue>,
}

/// Field-level diff of the two images; `None` when an image the event needs is missing.
pub fn diff<'a>(change: &'a Change) -> Option<BTreeMap<&'a str, FieldChange<'a>>> {
    static EMPTY: Item = Item::new();
    let empty = &EMPTY;
    let old = match (change.event_name, &change.old) {
        (EventName::Insert, _) => empty,
        (_, Some(o)) => o,
        (_, None) => return None,
    };
    let new = match (change.event_name, &change.new) {
        (EventName::Remove, _) => empty,
        (_, Some(n)) => n,
        (_, None) => return None,
    };
    Some(diff_items(old, new))
}

/// Field-level diff of two items (semantic equality: numbers by value, sets unordered).
pub fn diff_items<'a>(old: &'a Item, new: &'a Item) -> BTreeMap<&'a str, FieldChange<'a>> {
    let mut out = BTreeMap::new();
    for (k, before) in old {
        let after = new.get(k);
        if after != Some(before) {
            out.insert(k.as_str(), FieldChange { before: Some(before), after });
        }
    }
    for (k, after) in new {
        if !old.contains_key(k) {
            out.insert(k.as_str(), FieldChange { before: None, after: Some(after) });
        }
    }
    out
}

/// True when a MODIFY changed nothing but the writers' bookkeeping stamps.
pub fn is_no_op(change: &Change, changes: Option<&BTreeMap<&str, FieldChange>>) -> bool {
    change.event_name == EventName::Modify && changes.is_some_and(|c| c.keys().all(|k| BOOKKEEPING_FIELDS.contains(k)))
}

/// Serializes values with configured attributes replaced by `[REDACTED sha256:…]`, at any depth.
struct Redacted<'a> {
    value: &'a AttributeValue,
    config: &'a CoreConfig,
}

impl Serialize for Redacted<'_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        if self.config.redacted_attributes.is_empty() {
            return self.value.serialize(ser);
        }
        match self.value {
            AttributeValue::M(m) => RedactedItem { item: m, config: self.config }.serialize(ser),
            AttributeValue::L(l) => ser.collect_seq(l.iter().map(|v| Redacted { value: v, config: self.config })),
            v => v.serialize(ser),
        }
    }
}

struct RedactedItem<'a> {
    item: &'a Item,
    config: &'a CoreConfig,
}

impl Serialize for RedactedItem<'_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let mut map = ser.serialize_map(Some(self.item.len()))?;
        for (k, v) in self.item {
            if self.config.is_redacted(k) {
                map.serialize_entry(k, &redaction_marker(v, self.config))?;
            } else {
                map.serialize_entry(k, &Redacted { value: v, config: self.config })?;
            }
        }
        map.end()
    }
}

/// The marker that replaces a redacted value: equal values give equal markers, so a change shows.
pub fn redaction_marker(value: &AttributeValue, config: &CoreConfig) -> String {
    let mut h = Sha256::new();
    h.update(config.redaction_salt.as_bytes());
    h.update(value.to_typed_json().to_string().as_bytes());
    format!("[REDACTED sha256:{}]", &hex::encode(h.finalize())[..16])
}

fn redacted_value<'a>(name: &str, v: &'a AttributeValue, config: &'a CoreConfig) -> RedactedField<'a> {
    if config.is_redacted(name) {
        RedactedField::Marker(redaction_marker(v, config))
    } else {
        RedactedField::Value(Redacted { value: v, config })
    }
}

enum RedactedField<'a> {
    Marker(String),
    Value(Redacted<'a>),
}

impl Serialize for RedactedField<'_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        match self {
            RedactedField::Marker(m) => ser.serialize_str(m),
            RedactedField::Value(v) => v.serialize(ser),
        }
    }
}

struct Changes<'a> {
    changes: &'a BTreeMap<&'a str, FieldChange<'a>>,
    config: &'a CoreConfig,
}

impl Serialize for Changes<'_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Pair<'a> {
            before: Option<RedactedField<'a>>,
            after: Option<RedactedField<'a>>,
        }
        let mut map = ser.serialize_map(Some(self.changes.len()))?;
        for (k, c) in self.changes {
            let pair = Pair {
                before: c.before.map(|v| redacted_value(k, v, self.config)),
                after: c.after.map(|v| redacted_value(k, v, self.config)),
            };
            map.serialize_entry(k, &pair)?;
        }
        map.end()
    }
}

/// Formats a time as RFC 3339 UTC with milliseconds (what Logs Insights parses).
pub fn rfc3339_ms(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    let fmt = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    t.format(&fmt).unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// The audit record of one change, borrowing from it; serialize it with [`AuditRecord::to_json`].
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditRecord<'a> {
    schema_version: u32,
    record_type: &'static str,
    event_id: &'a str,
    sequence_number: &'a str,
    event_name: EventName,
    action: Action,
    item_kind: ItemKind,
    scope: &'static str,
    environment: Option<&'a str>,
    production: bool,
    flag_key: Option<&'a str>,
    tenant_id: Option<&'a str>,
    actor: &'a str,
    actor_type: crate::change::ActorKind,
    request_id: Option<&'a str>,
    reason: Option<&'a str>,
    changed_at: Option<String>,
    writer_timestamp: Option<&'a str>,
    item_version: Option<&'a AttributeValue>,
    kill_switch_enabled: Option<bool>,
    no_op: bool,
    ttl_expiry: bool,
    source_table: Option<&'a str>,
    source_stream: Option<&'a str>,
    region: Option<&'a str>,
    stream_view_type: Option<&'a str>,
    missing: &'a [&'static str],
    redacted_fields: Vec<&'a str>,
    changed_fields: Vec<&'a str>,
    keys: RedactedItem<'a>,
    changes: Option<Changes<'a>>,
    before: Option<RedactedItem<'a>>,
    after: Option<RedactedItem<'a>>,
}

/// The scope a change applies to, as written in `scope`.
pub fn scope_of(kind: ItemKind) -> &'static str {
    match kind {
        ItemKind::Flag | ItemKind::FlagKillSwitch => "flag",
        ItemKind::TenantOverride => "tenant",
        ItemKind::GlobalKillSwitch => "global",
        ItemKind::Item => "item",
    }
}

/// The time a change happened: DynamoDB's approximate time, else the writer's `updatedAt`.
pub fn changed_at(change: &Change) -> Option<OffsetDateTime> {
    change.approximate_time.or_else(|| {
        let s = change.attr_text("updatedAt")?;
        OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
    })
}

impl<'a> AuditRecord<'a> {
    /// Builds the record; `changes` is the diff of the change (see [`diff`]).
    pub fn new(
        change: &'a Change,
        changes: Option<&'a BTreeMap<&'a str, FieldChange<'a>>>,
        config: &'a CoreConfig,
    ) -> Self {
        let item = |i: &'a Item| RedactedItem { item: i, config };
        let mut redacted_fields: Vec<&str> = Vec::new();
        if !config.redacted_attributes.is_empty() {
            for img in [&change.old, &change.new].into_iter().flatten() {
                collect_redacted(img, config, &mut redacted_fields);
            }
            redacted_fields.sort_unstable();
            redacted_fields.dedup();
        }
        let kind = change.key.kind;
        AuditRecord {
            schema_version: SCHEMA_VERSION,
            record_type: "change",
            event_id: &change.event_id,
            sequence_number: &change.sequence_number,
            event_name: change.event_name,
            action: action_of(change),
            item_kind: kind,
            scope: scope_of(kind),
            environment: change.key.environment.as_deref(),
            production: config.is_production(change.key.environment.as_deref()),
            flag_key: change.key.flag_key.as_deref(),
            tenant_id: change.key.tenant_id.as_deref(),
            actor: &change.actor.id,
            actor_type: change.actor.kind,
            request_id: change.request_id.as_deref(),
            reason: change.attr_text("reason"),
            changed_at: changed_at(change).map(rfc3339_ms),
            writer_timestamp: change.attr_text("updatedAt"),
            item_version: change.attr("version"),
            kill_switch_enabled: kind.is_kill_switch().then(|| KillSwitchState::of(change).after).flatten(),
            no_op: is_no_op(change, changes),
            ttl_expiry: change.ttl_expiry,
            source_table: change.table_name(),
            source_stream: change.event_source_arn.as_deref(),
            region: change.region.as_deref(),
            stream_view_type: change.stream_view_type.as_deref(),
            missing: &change.missing,
            redacted_fields,
            changed_fields: changes.map(|c| c.keys().copied().collect()).unwrap_or_default(),
            keys: item(&change.key.keys),
            changes: changes.map(|changes| Changes { changes, config }),
            before: change.old.as_ref().map(item),
            after: change.new.as_ref().map(item),
        }
    }

    /// One line of JSON (serde_json escapes control characters, so a value cannot forge a line).
    pub fn to_json(&self) -> String {
        // Sized for the two images plus their diff, so the buffer rarely grows.
        let mut buf = Vec::with_capacity(2048);
        serde_json::to_writer(&mut buf, self).map(|_| String::from_utf8(buf).unwrap_or_default()).unwrap_or_else(|e| {
            format!("{{\"schemaVersion\":1,\"recordType\":\"error\",\"error\":{:?}}}", e.to_string())
        })
    }
}

fn collect_redacted<'a>(item: &'a Item, config: &CoreConfig, out: &mut Vec<&'a str>) {
    for (k, v) in item {
        if config.is_redacted(k) {
            out.push(k);
        }
        match v {
            AttributeValue::M(m) => collect_redacted(m, config, out),
            AttributeValue::L(l) => {
                for v in l {
                    if let AttributeValue::M(m) = v {
                        collect_redacted(m, config, out);
                    }
                }
            }
            _ => {}
        }
    }
}

/// A record that could not be decoded, kept in the trail so nothing is lost.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QuarantineRecord {
    schema_version: u32,
    record_type: &'static str,
    /// The stream eventID, or `sha256:<hash of the raw record>` when even that is unreadable.
    pub event_id: String,
    sequence_number: Option<String>,
    event_name: Option<String>,
    action: Action,
    source_stream: Option<String>,
    error: QuarantineError,
    raw_sha256: String,
    raw_bytes: usize,
    /// The raw record, when small enough to keep inline.
    raw: Option<String>,
    /// The record's keys as sent, when the raw record is too large to keep.
    keys: Option<Box<serde_json::value::RawValue>>,
}

#[derive(Serialize)]
struct QuarantineError {
    kind: &'static str,
    message: String,
}

impl QuarantineRecord {
    /// Builds the quarantine record of `raw`, which failed with `error`.
    pub fn new(raw: &str, error: &DecodeError) -> Self {
        let salvaged = if raw.len() <= QUARANTINE_INLINE_BYTES * 8 {
            SalvagedRecord::from_raw(raw)
        } else {
            SalvagedRecord::default()
        };
        let sha = hex::encode(Sha256::digest(raw.as_bytes()));
        let inline = raw.len() <= QUARANTINE_INLINE_BYTES;
        let (sequence_number, keys) = match salvaged.dynamodb {
            Some(d) => (d.sequence_number, if inline { None } else { d.keys }),
            None => (None, None),
        };
        QuarantineRecord {
            schema_version: SCHEMA_VERSION,
            record_type: "quarantine",
            event_id: salvaged.event_id.filter(|s| !s.is_empty()).unwrap_or_else(|| format!("sha256:{sha}")),
            sequence_number,
            event_name: salvaged.event_name,
            action: Action::Quarantined,
            source_stream: salvaged.event_source_arn,
            error: QuarantineError { kind: error.kind(), message: error.to_string() },
            raw_sha256: sha,
            raw_bytes: raw.len(),
            raw: inline.then(|| raw.to_owned()),
            keys,
        }
    }

    /// The stream sequence number, if the record still told a valid one (only those can be
    /// reported to Lambda as a batch item failure).
    pub fn sequence_number(&self) -> Option<&str> {
        self.sequence_number.as_deref().filter(|s| crate::change::is_sequence_number(s))
    }

    /// What was wrong with the record.
    pub fn error_message(&self) -> &str {
        &self.error.message
    }

    /// One line of JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}
