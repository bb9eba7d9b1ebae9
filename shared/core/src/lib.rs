//! flagtrail's pure core: decode a DynamoDB stream record → a typed [`change::Change`] → audit
//! record, alerts, invalidations, metric counts, and the delivery plan of a batch.
//!
//! No I/O, no clock, no environment: time and settings are passed in. The runtime crate sends
//! what this crate plans.

pub mod audit;
pub mod cache;
pub mod change;
pub mod completeness;
pub mod config;
pub mod delivery;
pub mod event;
pub mod failure;
pub mod integrity;
pub mod key;
pub mod metrics;
pub mod notify;
pub mod report;
pub mod value;

pub use audit::{Action, AuditRecord, QuarantineRecord};
pub use change::{Change, DecodeError};
pub use config::{ConfigError, CoreConfig, Vars};
pub use delivery::BatchResponse;
pub use event::{Entry, EventError, StreamEvent};
pub use notify::{Alert, Invalidation, Message, Scope, Severity};
