//! flagtrail's runtime: the sinks behind their traits (CloudWatch Logs, SNS, local files), the SDK
//! settings, the two pipelines that send what the core plans, the one builder that wires them, and
//! the Lambda `serve` loop.

pub mod build;
pub mod config;
pub mod pace;
pub mod pipeline;
pub mod reconcile;
pub mod sdk;
pub mod serve;
pub mod sink;
pub mod tlog_writer;
pub mod trail;
pub mod witness;

pub use config::{AuditConfig, LogWriterConfig, NotifyConfig, ReconcileConfig, WitnessConfig};
pub use pipeline::{AuditPipeline, Invocation, NotifyPipeline, Outcome, Pipeline};
pub use sdk::{CredentialSource, SdkSettings};
pub use serve::{init_tracing, serve, serve_check, serve_log_writer, serve_witness};
pub use sink::SinkError;
