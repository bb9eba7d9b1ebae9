//! Delivery planning: the services' limits, outputs cut into calls that fit them, which records
//! each output came from, and the partial-batch response.

mod ledger;
mod limits;
mod log_event;
mod outbox;
mod plan;
pub mod rules;
mod schedule;

pub use ledger::{BatchItemFailure, BatchResponse, Ledger};
pub use limits::*;
pub use log_event::LogEvent;
pub use outbox::{Outbox, CRITICAL, NORMAL, URGENT};
pub use plan::{plan_batches, plan_log_batches, plan_publish_batches, plan_record_batches};
pub use schedule::{contiguous_by_key, effective_priorities, prioritize, schedule, starts_a_call, PlannedCall};
