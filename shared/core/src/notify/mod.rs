//! Alerts and cache invalidations: pure functions of a [`crate::change::Change`] following the
//! brief's table, their SNS messages, and the plan of messages for a batch.

mod alert;
mod invalidation;
mod mark;
mod message;
mod pack;
mod plan;

pub use alert::{alerts, fold_flapping, Alert, Severity};
pub use invalidation::{
    coalesce, invalidation, invalidation_priority, sequence_cmp, Coalesced, Invalidation, Scope, NON_EVALUATION_FIELDS,
};
pub use mark::{mark_key, mark_of, plan_marks, Mark, DEFAULT_MAX_MARKS_PER_BATCH, MARK_VERSION_DIGITS};
pub use message::{
    alert_message, attribute_value, fifo_group_id, invalidation_group_id, invalidation_message, sns_subject, Message,
};
pub use pack::{pack, unpack, Packing, PACK_BYTES};
pub use plan::{plan, NotifyPlan};
