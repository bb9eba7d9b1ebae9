//! `flagtrail replay`: the Lambda code paths over files, with local sinks.

use flagtrail_core::integrity::tlog::DEFAULT_ORIGIN;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use flagtrail_core::audit::action_of;
use flagtrail_core::event::{decode_batch, Entry};
use flagtrail_core::metrics::{Counter, Metrics};
use flagtrail_core::notify::{alerts, invalidation};
use flagtrail_core::{CoreConfig, StreamEvent};
use flagtrail_runtime::build::{audit_pipeline, local_pipelines, notify_pipeline};
use flagtrail_runtime::config::env_vars;
use flagtrail_runtime::sink::LocalSigner;
use flagtrail_runtime::{AuditConfig, Invocation, NotifyConfig, Pipeline, SdkSettings};

/// Expands directories into their `*.json` files, sorted, so runs are reproducible.
pub fn expand(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut inner: Vec<PathBuf> = std::fs::read_dir(p)
                .with_context(|| format!("reading directory {}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "json"))
                .collect();
            inner.sort();
            files.extend(inner);
        } else {
            files.push(p.clone());
        }
    }
    Ok(files)
}

/// Where replayed outputs go.
pub enum Target<'a> {
    /// Local JSON-lines files (or nowhere), seals signed with a PEM private key if given.
    Local {
        /// The folder.
        out: Option<&'a Path>,
        /// The seal signing key.
        seal_key: Option<&'a Path>,
        /// The transparency log's checkpoint key and the local witness's key (Ed25519 PEM): with
        /// them the folder also gets the log of its seals (`log/`).
        log_keys: Option<(&'a Path, &'a Path)>,
    },
    /// The AWS sinks named by the Lambdas' variables (re-driving records, load tests against moto).
    Aws,
}

/// Runs both pipelines over every file; returns false if any file was not a stream event or any
/// output could not be made durable.
pub async fn run(paths: &[PathBuf], target: Target<'_>, quiet: bool) -> anyhow::Result<bool> {
    let vars = env_vars();
    let config = CoreConfig::from_vars(&vars)?;
    match target {
        Target::Local { out, seal_key, log_keys } => {
            let (mut audit, notify) = local_pipelines(&config, out).with_context(|| {
                format!("creating the outputs in {}", out.map_or("-".into(), |d| d.display().to_string()))
            })?;
            if let Some(path) = seal_key {
                let pem = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
                let signer = LocalSigner::from_pem(&pem).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
                audit.signer = Some(Arc::new(signer));
            }
            let ok = replay(paths, &config, [&audit, &notify], out, quiet).await?;
            if let (Some(dir), Some((log_key, witness_key))) = (out, log_keys) {
                let size = crate::transparency::write_log(dir, log_key, witness_key, DEFAULT_ORIGIN)?;
                println!("transparency log: {size} seal(s) in {}, checkpoint cosigned", dir.join("log").display());
            }
            Ok(ok)
        }
        Target::Aws => {
            let (a, n) = (AuditConfig::from_vars(&vars)?, NotifyConfig::from_vars(&vars)?);
            let sdk = SdkSettings::default().load().await;
            let (audit, notify) = (audit_pipeline(&sdk, &a), notify_pipeline(&sdk, &n));
            replay(paths, &config, [&audit, &notify], None, quiet).await
        }
    }
}

async fn replay(
    paths: &[PathBuf],
    config: &CoreConfig,
    [audit, notify]: [&dyn Pipeline; 2],
    out: Option<&Path>,
    quiet: bool,
) -> anyhow::Result<bool> {
    let mut metrics_lines = Vec::new();
    let mut totals: BTreeMap<String, usize> = BTreeMap::new();
    let (mut ok, mut files_ok, mut files_bad, mut records) = (true, 0, 0, 0);
    let (mut audit_time, mut notify_time) = (std::time::Duration::ZERO, std::time::Duration::ZERO);
    for file in expand(paths)? {
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: {}: cannot read: {e}", file.display());
                ok = false;
                files_bad += 1;
                continue;
            }
        };
        let event = match StreamEvent::from_json(&text) {
            Ok(ev) => ev,
            Err(e) => {
                eprintln!("error: {}: {e}", file.display());
                ok = false;
                files_bad += 1;
                continue;
            }
        };
        files_ok += 1;
        records += event.records.len();
        if !quiet {
            println!("{}", file.display());
            for entry in decode_batch(&event, config) {
                println!("  {}", describe(&entry, config));
            }
        }
        let inv = Invocation::unbounded();
        let t = std::time::Instant::now();
        let a = audit.handle(&event, inv).await;
        audit_time += t.elapsed();
        let t = std::time::Instant::now();
        let n = notify.handle(&event, inv).await;
        notify_time += t.elapsed();
        for outcome in [&a, &n] {
            if let Some(seq) = outcome.response.resume_from() {
                eprintln!("error: {}: outputs not durable from sequence number {seq}", file.display());
                for e in &outcome.errors {
                    eprintln!("  {e}");
                }
                ok = false;
            }
        }
        tally(&mut totals, &a.metrics, &n.metrics);
        metrics_lines.extend(a.metrics.to_emf("Flagtrail", "audit", inv.now_ms));
        metrics_lines.extend(n.metrics.to_emf("Flagtrail", "notify", inv.now_ms));
    }
    if let Some(dir) = out {
        let mut text = metrics_lines.join("\n");
        text.push('\n');
        std::fs::write(dir.join("metrics.jsonl"), text)?;
    }
    println!("\n{files_ok} file(s), {records} record(s); {files_bad} file(s) rejected");
    for (k, v) in &totals {
        println!("  {k:<24} {v}");
    }
    println!("  audit pipeline time      {audit_time:.2?}\n  notify pipeline time     {notify_time:.2?}");
    if let Some(dir) = out {
        println!("outputs in {}: audit.jsonl alerts.jsonl invalidations.jsonl metrics.jsonl", dir.display());
    }
    Ok(ok)
}

fn tally(totals: &mut BTreeMap<String, usize>, audit: &Metrics, notify: &Metrics) {
    for (name, m) in [
        ("audit records", audit.get(Counter::RecordsProcessed)),
        ("quarantined", audit.get(Counter::RecordsQuarantined)),
        ("alerts", notify.get(Counter::AlertsPublished)),
        ("invalidations", notify.get(Counter::InvalidationsPublished)),
        ("PutLogEvents calls", audit.get(Counter::PutLogEventsCalls)),
        ("PublishBatch calls", notify.get(Counter::AlertPublishCalls) + notify.get(Counter::InvalidationPublishCalls)),
    ] {
        *totals.entry(name.to_owned()).or_default() += m as usize;
    }
}

/// One readable line per record: what happened, where, by whom, and what it triggers.
pub fn describe(entry: &Entry, config: &CoreConfig) -> String {
    match entry {
        Entry::Quarantined(q) => format!("QUARANTINED  {}  ({})", q.event_id, q.error_message()),
        Entry::Change(c) => {
            let mut triggers = Vec::new();
            for a in alerts(c, config) {
                triggers.push(format!("alert[{}]", a.severity.as_str()));
            }
            if let Some(i) = invalidation(c) {
                triggers.push(format!("invalidate[{}]", i.key()));
            }
            if config.is_production(c.key.environment.as_deref()) {
                triggers.push("ProductionFlagChange".into());
            }
            let what = match (&c.key.flag_key, &c.key.tenant_id) {
                (Some(f), Some(t)) => format!("{f} / tenant {t}"),
                (Some(f), None) => f.clone(),
                _ => c.key.keys.get("PK").and_then(|v| v.as_text()).unwrap_or("-").to_owned(),
            };
            format!(
                "{:<22} {:<5} {:<32} by {:<22} {}",
                action_of(c).as_str(),
                c.key.environment.as_deref().unwrap_or("-"),
                what,
                c.attribution.actor.clone().unwrap_or_else(|| format!("({})", c.attribution.source.as_str())),
                if triggers.is_empty() { "-".to_owned() } else { triggers.join(" ") }
            )
        }
    }
}
