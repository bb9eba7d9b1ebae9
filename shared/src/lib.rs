//! flagtrail: the audit and cache-invalidation pipeline of a DynamoDB feature-flag table.
//!
//! A pure core (decode a stream record → [`change::Change`] → [`audit::AuditRecord`], alerts,
//! invalidations, metrics) with no I/O, and thin sinks ([`sink`], [`aws`]) behind small traits.

pub mod audit;
pub mod aws;
pub mod batch;
pub mod change;
pub mod config;
pub mod consumer;
pub mod derive;
pub mod error;
pub mod esm;
pub mod metrics;
pub mod pipeline;
pub mod sample;
pub mod schema;
pub mod sink;
pub mod value;

pub use audit::{Action, AuditRecord, QuarantineRecord};
pub use batch::{BatchResponse, Entry, StreamEvent};
pub use change::Change;
pub use config::CoreConfig;
pub use derive::{Alert, Invalidation, Scope, Severity};
pub use error::{DecodeError, EventError, SinkError};
pub use pipeline::{AuditPipeline, Invocation, NotifyPipeline, Outcome};
