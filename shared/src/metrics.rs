//! CloudWatch Embedded Metric Format: metrics as JSON lines on stdout, no API calls.
//!
//! Dimensions are only Environment and Action (low cardinality); flag keys and tenants never are.

use std::collections::BTreeMap;

use serde_json::json;

use crate::audit::Action;

/// Counts gathered over one invocation, flushed as EMF documents once at its end.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Metrics {
    /// (environment, action) → changes.
    changes: BTreeMap<(String, Action), u64>,
    /// environment → production changes.
    production: BTreeMap<String, u64>,
    /// environment → kill-switch activations (switched on).
    kill_switches: BTreeMap<String, u64>,
    /// Pipeline counter name → value (RecordsProcessed, RecordsQuarantined, …).
    pipeline: BTreeMap<&'static str, u64>,
}

impl Metrics {
    /// Counts one audited change.
    pub fn change(&mut self, environment: Option<&str>, action: Action, production: bool) {
        let env = environment.unwrap_or("none").to_owned();
        if production {
            *self.production.entry(env.clone()).or_default() += 1;
        }
        if action == Action::KillSwitchEnabled {
            *self.kill_switches.entry(env.clone()).or_default() += 1;
        }
        *self.changes.entry((env, action)).or_default() += 1;
    }

    /// Adds to a pipeline counter.
    pub fn count(&mut self, name: &'static str, n: u64) {
        *self.pipeline.entry(name).or_default() += n;
    }

    /// A pipeline counter's value.
    pub fn get(&self, name: &str) -> u64 {
        self.pipeline.get(name).copied().unwrap_or(0)
    }

    /// EMF documents: one per (environment, action), one per environment with production changes,
    /// and one for the pipeline counters; each well under the 100-metrics limit.
    pub fn to_emf(&self, namespace: &str, function: &str, timestamp_ms: i64) -> Vec<String> {
        let mut docs = Vec::new();
        let doc = |dims: serde_json::Value, metrics: Vec<&str>, fields: serde_json::Value| {
            let mut v = json!({
                "_aws": {
                    "Timestamp": timestamp_ms,
                    "CloudWatchMetrics": [{
                        "Namespace": namespace,
                        "Dimensions": dims,
                        "Metrics": metrics.iter().map(|m| json!({"Name": m, "Unit": "Count"})).collect::<Vec<_>>(),
                    }],
                },
            });
            if let (Some(o), Some(f)) = (v.as_object_mut(), fields.as_object()) {
                o.extend(f.clone());
            }
            v.to_string()
        };
        for ((env, action), n) in &self.changes {
            docs.push(doc(
                json!([["Environment", "Action"], ["Environment"]]),
                vec!["FlagChanges"],
                json!({
                    "Environment": env, "Action": action.as_str(), "FlagChanges": n,
                }),
            ));
        }
        for (env, n) in &self.production {
            // The alarm watches the dimensionless series; the per-environment one is for dashboards.
            docs.push(doc(
                json!([["Environment"], []]),
                vec!["ProductionFlagChange"],
                json!({
                    "Environment": env, "ProductionFlagChange": n,
                }),
            ));
        }
        for (env, n) in &self.kill_switches {
            docs.push(doc(
                json!([["Environment"], []]),
                vec!["KillSwitchActivations"],
                json!({
                    "Environment": env, "KillSwitchActivations": n,
                }),
            ));
        }
        if !self.pipeline.is_empty() {
            let names: Vec<&str> = self.pipeline.keys().copied().collect();
            let mut fields = serde_json::Map::new();
            fields.insert("Function".into(), json!(function));
            for (k, v) in &self.pipeline {
                fields.insert((*k).into(), json!(v));
            }
            docs.push(doc(json!([["Function"]]), names, serde_json::Value::Object(fields)));
        }
        docs
    }
}

/// Prints the EMF documents to stdout, one line each, bypassing the tracing formatter (CloudWatch
/// only extracts metrics from lines that are exactly an EMF document).
pub fn emit(metrics: &Metrics, namespace: &str, function: &str) {
    use std::io::Write;
    let docs = metrics.to_emf(namespace, function, crate::pipeline::now_ms());
    let mut out = std::io::stdout().lock();
    for d in docs {
        // A closed stdout must not fail the batch: the outputs are already durable.
        let _ = writeln!(out, "{d}");
    }
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emf_documents_carry_values_and_directives() {
        let mut m = Metrics::default();
        m.change(Some("prod"), Action::KillSwitchEnabled, true);
        m.change(Some("prod"), Action::KillSwitchEnabled, true);
        m.change(Some("dev"), Action::UpdateFlag, false);
        m.count("RecordsProcessed", 3);
        let docs: Vec<serde_json::Value> = m
            .to_emf("Flagtrail", "audit", 1_700_000_000_000)
            .iter()
            .map(|d| serde_json::from_str(d).unwrap())
            .collect();
        assert_eq!(docs.len(), 5);
        let prod = docs.iter().find(|d| d.get("ProductionFlagChange").is_some()).unwrap();
        assert_eq!(prod["ProductionFlagChange"], 2);
        assert_eq!(prod["_aws"]["CloudWatchMetrics"][0]["Dimensions"], json!([["Environment"], []]));
        let dev = docs.iter().find(|d| d["Environment"] == "dev").unwrap();
        assert_eq!(dev["Action"], "UPDATE_FLAG");
        assert_eq!(dev["FlagChanges"], 1);
        assert!(docs.iter().all(|d| d.get("flagKey").is_none()));
        assert_eq!(docs.last().unwrap()["RecordsProcessed"], 3);
    }
}
