//! CloudWatch Embedded Metric Format: metrics as JSON lines on stdout, no API calls.
//!
//! Dimensions are only Environment and Action (low cardinality); flag keys and tenants never are.

use std::collections::BTreeMap;

use serde_json::json;

use crate::audit::Action;

/// The pipeline's own counters (one EMF document per invocation, dimension Function).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Counter {
    /// Records in the batch.
    RecordsProcessed,
    /// Records kept as quarantine records.
    RecordsQuarantined,
    /// REMOVEs made by TTL expiry.
    TtlDeletions,
    /// Audit records split into parts (over the event size limit).
    RecordsSplit,
    /// PutLogEvents calls made.
    PutLogEventsCalls,
    /// Records reported for redelivery (the first failed one and every one after it).
    RecordsRetried,
    /// Invalidations absorbed by a later one for the same cache key.
    InvalidationsCoalesced,
    /// PublishBatch calls to the alert topic.
    AlertPublishCalls,
    /// Alert messages planned.
    AlertsPublished,
    /// PublishBatch calls to the invalidation topic.
    InvalidationPublishCalls,
    /// Invalidation messages planned.
    InvalidationsPublished,
    /// Messages SNS refused as the sender's fault, re-published in degraded form.
    MessagesDegraded,
    /// Log events CloudWatch Logs accepted the call for but did not write (`rejectedLogEventsInfo`).
    LogEventsRejected,
    /// Changes the trail does not account for (version gaps, reconcile disagreements).
    ReconcileFindings,
    /// The most sink calls in flight at once during the invocation.
    CallsInFlightMax,
    /// Log events covered by the seal this invocation wrote.
    RecordsSealed,
    /// Freshness marks raised (a newer invalidation applied to the mark).
    MarksRaised,
    /// Freshness marks already as new or newer (redelivery, reordering): nothing written.
    MarksUnchanged,
    /// Marks of a storm folded into their environment's mark.
    MarksFolded,
    /// Alerts of a flapping kill switch folded into its last alert of the batch.
    AlertsFolded,
}

impl Counter {
    /// The metric name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Counter::RecordsProcessed => "RecordsProcessed",
            Counter::RecordsQuarantined => "RecordsQuarantined",
            Counter::TtlDeletions => "TtlDeletions",
            Counter::RecordsSplit => "RecordsSplit",
            Counter::PutLogEventsCalls => "PutLogEventsCalls",
            Counter::RecordsRetried => "RecordsRetried",
            Counter::InvalidationsCoalesced => "InvalidationsCoalesced",
            Counter::AlertPublishCalls => "AlertPublishCalls",
            Counter::AlertsPublished => "AlertsPublished",
            Counter::InvalidationPublishCalls => "InvalidationPublishCalls",
            Counter::InvalidationsPublished => "InvalidationsPublished",
            Counter::MessagesDegraded => "MessagesDegraded",
            Counter::LogEventsRejected => "LogEventsRejected",
            Counter::ReconcileFindings => "ReconcileFindings",
            Counter::CallsInFlightMax => "CallsInFlightMax",
            Counter::RecordsSealed => "RecordsSealed",
            Counter::MarksRaised => "MarksRaised",
            Counter::MarksUnchanged => "MarksUnchanged",
            Counter::MarksFolded => "MarksFolded",
            Counter::AlertsFolded => "AlertsFolded",
        }
    }
}

// Ordered by name, so EMF documents list metrics alphabetically as before.
impl Ord for Counter {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl PartialOrd for Counter {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Counts gathered over one invocation, flushed as EMF documents once at its end.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Metrics {
    /// (environment, action) → changes.
    changes: BTreeMap<(String, Action), u64>,
    /// environment → production changes.
    production: BTreeMap<String, u64>,
    /// environment → kill-switch activations (switched on).
    kill_switches: BTreeMap<String, u64>,
    /// environment → changes the record cannot attribute (unstamped writes, deletes without stamp).
    unattributed: BTreeMap<String, u64>,
    /// Pipeline counter → value.
    pipeline: BTreeMap<Counter, u64>,
}

impl Metrics {
    /// Counts one audited change.
    pub fn change(&mut self, environment: Option<&str>, action: Action, production: bool, unattributed: bool) {
        let env = environment.unwrap_or("none").to_owned();
        if unattributed {
            *self.unattributed.entry(env.clone()).or_default() += 1;
        }
        if production {
            *self.production.entry(env.clone()).or_default() += 1;
        }
        if action == Action::KillSwitchEnabled {
            *self.kill_switches.entry(env.clone()).or_default() += 1;
        }
        *self.changes.entry((env, action)).or_default() += 1;
    }

    /// Adds to a pipeline counter.
    pub fn count(&mut self, counter: Counter, n: u64) {
        *self.pipeline.entry(counter).or_default() += n;
    }

    /// A pipeline counter's value.
    pub fn get(&self, counter: Counter) -> u64 {
        self.pipeline.get(&counter).copied().unwrap_or(0)
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
        for (env, n) in &self.unattributed {
            // Per environment only: the stack alarms on its production environments.
            docs.push(doc(
                json!([["Environment"]]),
                vec!["UnattributedChanges"],
                json!({
                    "Environment": env, "UnattributedChanges": n,
                }),
            ));
        }
        if !self.pipeline.is_empty() {
            let names: Vec<&str> = self.pipeline.keys().map(Counter::as_str).collect();
            let mut fields = serde_json::Map::new();
            fields.insert("Function".into(), json!(function));
            for (k, v) in &self.pipeline {
                fields.insert(k.as_str().into(), json!(v));
            }
            docs.push(doc(json!([["Function"]]), names, serde_json::Value::Object(fields)));
        }
        docs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emf_documents_carry_values_and_directives() {
        let mut m = Metrics::default();
        m.change(Some("prod"), Action::KillSwitchEnabled, true, false);
        m.change(Some("prod"), Action::KillSwitchEnabled, true, false);
        m.change(Some("dev"), Action::UpdateFlag, false, false);
        m.count(Counter::RecordsProcessed, 3);
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
