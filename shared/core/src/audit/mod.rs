//! The audit trail: what a change did, its diff, the audit/quarantine/part records auditors read,
//! and the plan of log events for a batch.

mod action;
pub mod baseline;
mod diff;
mod part;
mod plan;
mod quarantine;
mod record;
mod redact;

pub use action::{action_of, Action, KillSwitchState};
pub use diff::{diff, diff_items, is_no_op, FieldChange, BOOKKEEPING_FIELDS};
pub use part::split_oversized;
pub use plan::{max_event_age_ms, plan, AuditPlan, MAX_EVENT_AHEAD_MS};
pub use quarantine::{QuarantineRecord, QUARANTINE_INLINE_BYTES};
pub use record::{changed_at, rfc3339_ms, scope_of, AuditRecord, SCHEMA_VERSION};
pub use redact::redaction_marker;
