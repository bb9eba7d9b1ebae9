//! Shared helpers of the library's integration tests.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::OnceLock;

use flagtrail_core::notify::Message;
use flagtrail_core::{CoreConfig, StreamEvent};
use flagtrail_runtime::build::local_pipelines;
use flagtrail_runtime::sink::LocalLog;
use flagtrail_runtime::{Invocation, Outcome};

/// 2026-11-23T12:00:00Z, half a day after the corpus' changes: a fixed "now" for deterministic output.
pub const NOW_MS: i64 = 1_795_521_600_000;

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every file of events/, sorted.
pub fn corpus() -> Vec<(String, String)> {
    let mut files: Vec<_> = std::fs::read_dir(root().join("events"))
        .expect("events/ exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| (p.file_stem().unwrap().to_string_lossy().into_owned(), std::fs::read_to_string(&p).unwrap()))
        .collect()
}

/// What both pipelines produced for one event.
pub struct Run {
    /// Audit records (seals apart).
    pub audit: Vec<String>,
    /// Seal parts, after the records.
    pub seals: Vec<String>,
    pub alerts: Vec<Message>,
    pub invalidations: Vec<Message>,
    pub audit_outcome: Outcome,
    pub notify_outcome: Outcome,
}

/// Runs both pipelines over `text` with in-memory sinks.
pub fn run_with(text: &str, config: CoreConfig) -> Run {
    let event = StreamEvent::from_json(text).expect("a stream event");
    let (mut audit, notify) = local_pipelines(&config, None).expect("in-memory sinks");
    audit.log = local_log();
    let inv = Invocation { now_ms: NOW_MS, deadline: None };
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let audit_outcome = rt.block_on(audit.handle(&event, inv));
    let notify_outcome = rt.block_on(notify.handle(&event, inv));
    let (seals, records): (Vec<String>, Vec<String>) = audit
        .log
        .events
        .into_inner()
        .unwrap()
        .into_iter()
        .map(|e| e.message)
        .partition(|m| m.contains(r#""recordType":"seal""#));
    Run {
        audit: records,
        seals,
        alerts: notify.alerts.messages.into_inner().unwrap(),
        invalidations: notify.invalidations.messages.into_inner().unwrap(),
        audit_outcome,
        notify_outcome,
    }
}

/// An in-memory log sink whose clock is [`NOW_MS`], so its too-old/too-new rules give the same
/// answer on any day.
pub fn local_log() -> LocalLog {
    let mut log = LocalLog::default();
    log.clock_ms = Some(NOW_MS);
    log
}

/// Runs with the default configuration.
pub fn run(text: &str) -> Run {
    run_with(text, CoreConfig::default())
}

/// The compiled audit-record JSON Schema (docs/audit-record.schema.json).
pub fn schema() -> &'static jsonschema::Validator {
    static V: OnceLock<jsonschema::Validator> = OnceLock::new();
    V.get_or_init(|| {
        let text = std::fs::read_to_string(root().join("docs/audit-record.schema.json")).unwrap();
        let schema: serde_json::Value = serde_json::from_str(&text).unwrap();
        jsonschema::options().should_validate_formats(true).build(&schema).expect("schema compiles")
    })
}

/// Panics with every schema violation of `line`.
pub fn assert_valid(line: &str) {
    let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
    let errors: Vec<String> = schema().iter_errors(&v).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "schema violations: {errors:#?}\nrecord: {line}");
}
