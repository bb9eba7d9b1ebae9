//! The audit record (schema version 2, see docs/audit-record.md and docs/audit-record.schema.json):
//! what auditors read in CloudWatch Logs for every change.

use std::collections::BTreeMap;

use serde::Serialize;
use time::OffsetDateTime;

use super::action::{action_of, Action, KillSwitchState};
use super::diff::{is_no_op, FieldChange};
use super::redact::{collect_redacted, Changes, RedactedItem};
use crate::change::{ActorKind, ActorSource, Change, EventName, LastWriter};
use crate::config::CoreConfig;
use crate::key::ItemKind;
use crate::value::{AttributeValue, Item};

/// Version of the audit-record schema this code writes.
pub const SCHEMA_VERSION: u32 = 2;

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
    actor: Option<&'a str>,
    actor_type: ActorKind,
    actor_source: ActorSource,
    request_id: Option<&'a str>,
    last_writer: Option<&'a LastWriter>,
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
            actor: change.attribution.actor.as_deref(),
            actor_type: change.attribution.source.into(),
            actor_source: change.attribution.source,
            request_id: change.attribution.request_id.as_deref(),
            last_writer: change.attribution.last_writer.as_ref(),
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
            format!("{{\"schemaVersion\":{SCHEMA_VERSION},\"recordType\":\"error\",\"error\":{:?}}}", e.to_string())
        })
    }
}
