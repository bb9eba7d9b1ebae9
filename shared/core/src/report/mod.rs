//! The evidence report of a period: one pass over the trail, aggregated as it goes (bounded memory:
//! per distinct change an 8-byte hash of its `eventId` for de-duplication, per day, actor and
//! kill switch a counter, at most `max_rows` rows kept for the HTML), then rendered as one
//! self-contained HTML file ([`html`]) while the caller streams every row to CSV ([`ChangeRow`]).

use std::collections::{BTreeMap, HashSet};
use std::hash::{Hash, Hasher};

use serde_json::Value;

mod html;
mod row;

pub use html::{render_html, VerificationResult};
pub use row::ChangeRow;

/// What the report covers: a time window on `changedAt` and optionally one environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Period {
    /// Earliest `changedAt`, ms since the epoch (inclusive).
    pub since_ms: Option<i64>,
    /// Latest `changedAt`, ms since the epoch (exclusive).
    pub until_ms: Option<i64>,
    /// Only this environment.
    pub environment: Option<String>,
}

impl Period {
    fn contains(&self, at_ms: Option<i64>, environment: Option<&str>) -> bool {
        let in_time = match at_ms {
            Some(t) => self.since_ms.is_none_or(|s| t >= s) && self.until_ms.is_none_or(|u| t < u),
            None => self.since_ms.is_none() && self.until_ms.is_none(),
        };
        in_time && self.environment.as_deref().is_none_or(|e| environment == Some(e))
    }
}

/// One use of a kill switch: when it was enabled and, if it was in the period, disabled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KillSwitchUse {
    /// `environment` and flag (or `global`).
    pub switch: String,
    /// When it was enabled (`changedAt`, ms).
    pub enabled_ms: i64,
    /// When it was disabled again, if within the period.
    pub disabled_ms: Option<i64>,
    /// Who enabled it, if the record says.
    pub actor: Option<String>,
}

/// The aggregates of a period.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// The window asked for.
    pub period: Period,
    /// Earliest and latest `changedAt` seen in the period.
    pub first_ms: Option<i64>,
    /// See `first_ms`.
    pub last_ms: Option<i64>,
    /// Distinct change records in the period.
    pub changes: u64,
    /// Change records read again (same `eventId`), not counted twice.
    pub duplicates: u64,
    /// Records the pipeline could not decode (kept as `quarantine` records) in the period.
    pub quarantined: u64,
    /// Changes without a provable author (`actor` null).
    pub unattributed: u64,
    /// environment → action → changes.
    pub by_environment: BTreeMap<String, BTreeMap<String, u64>>,
    /// day (`YYYY-MM-DD`) → environment → changes.
    pub per_day: BTreeMap<String, BTreeMap<String, u64>>,
    /// actor → changes (unattributed ones under `(unattributed)`).
    pub actors: BTreeMap<String, u64>,
    /// Kill-switch uses in order of enabling.
    pub kill_switches: Vec<KillSwitchUse>,
    /// The first `max_rows` production changes, in trail order.
    pub production_rows: Vec<ChangeRow>,
    /// All production changes in the period (the rows above may be fewer).
    pub production_changes: u64,
}

/// Builds a [`Report`] one record at a time.
pub struct ReportBuilder {
    report: Report,
    max_rows: usize,
    seen: HashSet<u64>,
    /// Every kill-switch change: (time, switch, enabled, actor); a few per day at most.
    switch_changes: Vec<(i64, String, bool, Option<String>)>,
}

/// The name of the group of changes nobody can be named for.
pub const UNATTRIBUTED: &str = "(unattributed)";

impl ReportBuilder {
    /// A report of `period` keeping at most `max_rows` production rows for the HTML.
    pub fn new(period: Period, max_rows: usize) -> Self {
        ReportBuilder {
            report: Report { period, ..Default::default() },
            max_rows,
            seen: HashSet::new(),
            switch_changes: Vec::new(),
        }
    }

    /// Takes one audit record; returns its row when it is a change of the period seen for the first
    /// time (the CSV gets exactly these). Seals, parts and other bookkeeping return `None`.
    pub fn push(&mut self, record: &Value) -> Option<ChangeRow> {
        let kind = record["recordType"].as_str().unwrap_or("");
        let at_ms = record["changedAt"].as_str().and_then(epoch_ms);
        let environment = record["environment"].as_str();
        if kind == "quarantine" {
            self.report.quarantined += u64::from(self.report.period.contains(at_ms, environment));
            return None;
        }
        if kind != "change" || !self.report.period.contains(at_ms, environment) {
            return None;
        }
        let event_id = record["eventId"].as_str().unwrap_or("");
        let mut h = std::collections::hash_map::DefaultHasher::new();
        event_id.hash(&mut h);
        if !self.seen.insert(h.finish()) {
            self.report.duplicates += 1;
            return None;
        }
        let row = ChangeRow::of(record);
        let r = &mut self.report;
        r.changes += 1;
        if let Some(t) = at_ms {
            r.first_ms = Some(r.first_ms.map_or(t, |f| f.min(t)));
            r.last_ms = Some(r.last_ms.map_or(t, |l| l.max(t)));
        }
        let env = row.environment.clone().unwrap_or_else(|| "(none)".into());
        *r.by_environment.entry(env.clone()).or_default().entry(row.action.clone()).or_default() += 1;
        if let Some(day) = row.changed_at.as_deref().and_then(|t| t.get(..10)) {
            *r.per_day.entry(day.to_owned()).or_default().entry(env.clone()).or_default() += 1;
        }
        let actor = row.actor.clone().unwrap_or_else(|| UNATTRIBUTED.into());
        r.unattributed += u64::from(row.actor.is_none());
        *r.actors.entry(actor).or_default() += 1;
        if let (Some(enabled), Some(t)) = (record["killSwitchEnabled"].as_bool(), at_ms) {
            // Paired in time order at the end: batches of different shards arrive in any order.
            let switch = format!("{env} {}", row.flag_key.as_deref().unwrap_or("global"));
            self.switch_changes.push((t, switch, enabled, row.actor.clone()));
        }
        if row.production {
            r.production_changes += 1;
            if r.production_rows.len() < self.max_rows {
                r.production_rows.push(row.clone());
            }
        }
        Some(row)
    }

    /// The aggregates.
    pub fn finish(mut self) -> Report {
        self.switch_changes.sort_by_key(|c| c.0);
        let mut open: BTreeMap<String, usize> = BTreeMap::new();
        let uses = &mut self.report.kill_switches;
        for (t, switch, enabled, actor) in self.switch_changes {
            match (enabled, open.get(&switch)) {
                (true, None) => {
                    open.insert(switch.clone(), uses.len());
                    uses.push(KillSwitchUse { switch, enabled_ms: t, disabled_ms: None, actor });
                }
                (false, Some(&i)) => {
                    uses[i].disabled_ms = Some(t);
                    open.remove(&switch);
                }
                _ => {}
            }
        }
        self.report
    }
}

/// An RFC 3339 time as ms since the epoch.
pub fn epoch_ms(text: &str) -> Option<i64> {
    let t = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// ms since the epoch as RFC 3339 (UTC, seconds).
pub fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| ms.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn change(id: &str, at: &str, env: &str, action: &str, actor: Option<&str>, ks: Option<bool>) -> Value {
        json!({
            "recordType": "change", "eventId": id, "changedAt": at, "environment": env,
            "production": env == "prod", "action": action, "flagKey": "checkout", "actor": actor,
            "killSwitchEnabled": ks, "changedFields": ["enabled"],
            "changes": {"enabled": {"before": false, "after": true}}, "keys": {"PK": "F#checkout", "SK": env}
        })
    }

    #[test]
    fn counts_each_change_once_and_only_in_its_period() {
        let period = Period {
            since_ms: epoch_ms("2026-10-01T00:00:00Z"),
            until_ms: epoch_ms("2027-01-01T00:00:00Z"),
            environment: None,
        };
        let mut b = ReportBuilder::new(period, 1);
        let rows: Vec<_> = [
            change("e1", "2026-10-02T10:00:00Z", "prod", "UPDATE_FLAG", Some("alice"), None),
            change("e1", "2026-10-02T10:00:00Z", "prod", "UPDATE_FLAG", Some("alice"), None), // redelivered
            change("e2", "2026-09-30T23:59:59Z", "prod", "UPDATE_FLAG", Some("alice"), None), // before
            change("e3", "2026-10-03T10:00:00Z", "dev", "CREATE_FLAG", None, None),
            // Read in another order than they happened (another shard's batch first).
            change("e5", "2026-10-04T10:30:00Z", "prod", "KILL_SWITCH_DISABLED", Some("bob"), Some(false)),
            change("e4", "2026-10-04T10:00:00Z", "prod", "KILL_SWITCH_ENABLED", Some("bob"), Some(true)),
            json!({"recordType": "seal", "sealId": "x"}),
            json!({"recordType": "quarantine", "eventId": "q1"}),
        ]
        .iter()
        .filter_map(|r| b.push(r))
        .collect();
        let r = b.finish();
        assert_eq!(rows.iter().map(|r| r.event_id.as_str()).collect::<Vec<_>>(), ["e1", "e3", "e5", "e4"]);
        assert_eq!((r.changes, r.duplicates, r.unattributed, r.production_changes), (4, 1, 1, 3));
        assert_eq!(r.production_rows.len(), 1, "at most max_rows kept for the HTML");
        assert_eq!(r.by_environment["prod"]["UPDATE_FLAG"], 1);
        assert_eq!(r.per_day["2026-10-04"]["prod"], 2);
        assert_eq!(r.actors[UNATTRIBUTED], 1);
        assert_eq!(r.kill_switches.len(), 1);
        let ks = &r.kill_switches[0];
        assert_eq!(ks.disabled_ms.unwrap() - ks.enabled_ms, 30 * 60 * 1000);
        assert_eq!(r.quarantined, 0, "a quarantine record without a time is outside a bounded period");
    }
}
