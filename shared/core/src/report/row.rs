//! One change as a row of the report's table and CSV.

use serde_json::Value;

/// One change record, flattened for people: the HTML table and the CSV have the same columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeRow {
    /// `eventId`.
    pub event_id: String,
    /// `changedAt`.
    pub changed_at: Option<String>,
    /// `environment`.
    pub environment: Option<String>,
    /// `production`.
    pub production: bool,
    /// `action`.
    pub action: String,
    /// `flagKey`.
    pub flag_key: Option<String>,
    /// `tenantId`.
    pub tenant_id: Option<String>,
    /// `actor` (null when the record cannot prove who).
    pub actor: Option<String>,
    /// `actorSource`.
    pub actor_source: String,
    /// `requestId`.
    pub request_id: Option<String>,
    /// `reason`.
    pub reason: Option<String>,
    /// `field: before → after` for each changed field, `; `-separated.
    pub changes: String,
}

/// The CSV's columns, in order.
pub const COLUMNS: [&str; 12] = [
    "eventId",
    "changedAt",
    "environment",
    "production",
    "action",
    "flagKey",
    "tenantId",
    "actor",
    "actorSource",
    "requestId",
    "reason",
    "changes",
];

fn text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

impl ChangeRow {
    /// The row of a `change` record.
    pub fn of(record: &Value) -> Self {
        let side = |v: &Value| text(v).unwrap_or_else(|| "∅".into());
        let changes = record["changes"]
            .as_object()
            .map(|c| {
                c.iter()
                    .map(|(field, d)| format!("{field}: {} → {}", side(&d["before"]), side(&d["after"])))
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .unwrap_or_default();
        ChangeRow {
            event_id: text(&record["eventId"]).unwrap_or_default(),
            changed_at: text(&record["changedAt"]),
            environment: text(&record["environment"]),
            production: record["production"].as_bool().unwrap_or(false),
            action: text(&record["action"]).unwrap_or_default(),
            flag_key: text(&record["flagKey"]),
            tenant_id: text(&record["tenantId"]),
            actor: text(&record["actor"]),
            actor_source: text(&record["actorSource"]).unwrap_or_default(),
            request_id: text(&record["requestId"]),
            reason: text(&record["reason"]),
            changes,
        }
    }

    /// The cells in [`COLUMNS`] order.
    pub fn cells(&self) -> [String; 12] {
        let o = |v: &Option<String>| v.clone().unwrap_or_default();
        [
            self.event_id.clone(),
            o(&self.changed_at),
            o(&self.environment),
            self.production.to_string(),
            self.action.clone(),
            o(&self.flag_key),
            o(&self.tenant_id),
            o(&self.actor),
            self.actor_source.clone(),
            o(&self.request_id),
            o(&self.reason),
            self.changes.clone(),
        ]
    }

    /// The CSV header line (with its line break).
    pub fn csv_header() -> String {
        format!("{}\r\n", COLUMNS.join(","))
    }

    /// One CSV line (RFC 4180, CRLF). A cell a spreadsheet would run as a formula (starting with
    /// `=`, `+`, `-`, `@`, tab or CR; values come from whoever wrote the table) gets a leading `'`.
    pub fn to_csv(&self) -> String {
        let cells: Vec<String> = self.cells().iter().map(|c| csv_cell(c)).collect();
        format!("{}\r\n", cells.join(","))
    }
}

fn csv_cell(c: &str) -> String {
    let c = if c.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{c}") } else { c.to_owned() };
    if c.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", c.replace('"', "\"\""))
    } else {
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn csv_quotes_and_defuses_formulas() {
        let row = ChangeRow::of(&json!({
            "eventId": "e1", "action": "UPDATE_FLAG", "actor": "=HYPERLINK(\"x\")", "reason": "a, b",
            "changes": {"rolloutPercentage": {"before": 10, "after": 50}, "note": {"after": "line\nbreak"}}
        }));
        let line = row.to_csv();
        assert!(line.starts_with("e1,,,false,UPDATE_FLAG,,,\"'=HYPERLINK(\"\"x\"\")\",,,\"a, b\","), "{line}");
        assert!(line.ends_with(",\"rolloutPercentage: 10 → 50; note: ∅ → line\nbreak\"\r\n"), "{line}");
        assert_eq!(ChangeRow::csv_header().split(',').count(), COLUMNS.len());
    }
}
