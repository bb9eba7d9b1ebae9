//! The report as one self-contained HTML file: styles inline, charts as inline SVG, no script, no
//! font, no link to anything outside it, so it opens offline and can be attached to a ticket.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::row::COLUMNS;
use super::{rfc3339, Report, UNATTRIBUTED};
use crate::integrity::VerifyReport;

/// What `verify` said about the same trail and period.
pub struct VerificationResult<'a> {
    /// The trail read (folder, log group, archive).
    pub source: &'a str,
    /// The result.
    pub report: &'a VerifyReport,
    /// Whether signatures were checked against trusted keys.
    pub signed: bool,
}

const PALETTE: [&str; 8] = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"];
const STYLE: &str = "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:2rem auto;max-width:1100px;color:#1a1a1a;padding:0 1rem}\
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}\
.wide{overflow-x:auto}table{border-collapse:collapse;width:100%;margin:.5rem 0;font-size:12.5px}\
th,td{border:1px solid #ddd;padding:.25rem .45rem;text-align:left;vertical-align:top;overflow-wrap:break-word}\
th{background:#f4f4f4}td.n{text-align:right;font-variant-numeric:tabular-nums}.muted{color:#666}\
.ok{color:#1a7f37;font-weight:600}.bad{color:#b42318;font-weight:600}.cards{display:flex;flex-wrap:wrap;gap:.8rem}\
.card{border:1px solid #ddd;border-radius:6px;padding:.6rem .9rem;min-width:8rem}.card b{display:block;font-size:1.4rem}\
svg text{font:11px system-ui,sans-serif;fill:#333}code{font-size:12px}td.changes{font-family:ui-monospace,monospace;font-size:11.5px;white-space:pre-wrap;min-width:26rem}";

/// Escapes text for HTML element content and attribute values.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

fn duration(ms: i64) -> String {
    let m = ms / 60_000;
    match m {
        0 => format!("{} s", ms / 1000),
        1..=119 => format!("{m} min"),
        _ => format!("{} h {} min", m / 60, m % 60),
    }
}

/// The whole HTML document.
pub fn render_html(r: &Report, verification: &VerificationResult) -> String {
    let mut h = String::with_capacity(64 * 1024);
    let period = |ms: Option<i64>, open: &str| ms.map_or(open.to_owned(), rfc3339);
    let _ = write!(
        h,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>flagtrail evidence report</title>\
         <style>{STYLE}</style></head><body><h1>Feature-flag change evidence</h1>\
         <p class=\"muted\">Period {} to {}{}; trail: <code>{}</code>. Changes dated by <code>changedAt</code> \
         (when DynamoDB applied the write); each change counted once by <code>eventId</code>.</p>",
        esc(&period(r.period.since_ms, "the beginning")),
        esc(&period(r.period.until_ms, "the end")),
        r.period.environment.as_deref().map(|e| format!(", environment {}", esc(e))).unwrap_or_default(),
        esc(verification.source),
    );
    summary(&mut h, r, verification);
    h.push_str("<h2>Changes per day by environment</h2>");
    per_day_chart(&mut h, r);
    h.push_str("<h2>Busiest actors</h2>");
    actors_chart(&mut h, r);
    h.push_str("<h2>Kill switches</h2>");
    kill_switches(&mut h, r);
    h.push_str("<h2>Production changes</h2>");
    production_table(&mut h, r);
    h.push_str("<h2>Verification</h2>");
    verification_section(&mut h, verification);
    h.push_str("</body></html>\n");
    h
}

fn summary(h: &mut String, r: &Report, v: &VerificationResult) {
    let intact = v.report.intact();
    let attributed = r.changes - r.unattributed;
    let _ = write!(
        h,
        "<h2>Summary</h2><div class=\"cards\">\
         <div class=\"card\"><b id=\"total-changes\">{}</b>changes</div>\
         <div class=\"card\"><b id=\"production-changes\">{}</b>in production</div>\
         <div class=\"card\"><b id=\"attributed\">{attributed}</b>attributed</div>\
         <div class=\"card\"><b id=\"unattributed\">{}</b>unattributed</div>\
         <div class=\"card\"><b id=\"kill-switch-uses\">{}</b>kill-switch activations</div>\
         <div class=\"card\"><b class=\"{}\">{}</b>trail {}</div></div>\
         <p class=\"muted\">{} record(s) read again after a redelivery were counted once; {} record(s) the \
         pipeline could not decode were kept as quarantine records{}.</p>",
        r.changes,
        r.production_changes,
        r.unattributed,
        r.kill_switches.len(),
        if intact { "ok" } else { "bad" },
        if intact { "intact" } else { "NOT intact" },
        if intact { "verified" } else { "has findings" },
        r.duplicates,
        r.quarantined,
        match (r.first_ms, r.last_ms) {
            (Some(a), Some(b)) => format!("; first change {}, last {}", rfc3339(a), rfc3339(b)),
            _ => String::new(),
        },
    );
    // Actions down, environments across: there are a dozen actions and a handful of environments.
    let actions: std::collections::BTreeSet<&String> = r.by_environment.values().flat_map(|m| m.keys()).collect();
    h.push_str("<div class=\"wide\"><table id=\"by-environment\"><tr><th>action</th>");
    for env in r.by_environment.keys() {
        let _ = write!(h, "<th>{}</th>", esc(env));
    }
    h.push_str("</tr>");
    for a in &actions {
        let _ = write!(h, "<tr><td>{}</td>", esc(a));
        for counts in r.by_environment.values() {
            let _ = write!(h, "<td class=\"n\">{}</td>", counts.get(*a).copied().unwrap_or(0));
        }
        h.push_str("</tr>");
    }
    h.push_str("<tr><th>total</th>");
    for counts in r.by_environment.values() {
        let _ = write!(h, "<th class=\"n\">{}</th>", counts.values().sum::<u64>());
    }
    h.push_str("</tr></table></div>");
}

fn colors(r: &Report) -> BTreeMap<&str, &'static str> {
    r.by_environment.keys().enumerate().map(|(i, e)| (e.as_str(), PALETTE[i % PALETTE.len()])).collect()
}

fn per_day_chart(h: &mut String, r: &Report) {
    if r.per_day.is_empty() {
        h.push_str("<p class=\"muted\">No changes in the period.</p>");
        return;
    }
    let colors = colors(r);
    let max = r.per_day.values().map(|m| m.values().sum::<u64>()).max().unwrap_or(1).max(1);
    let (width, height, left, bottom) = (1000.0_f64, 220.0_f64, 40.0_f64, 30.0_f64);
    // A quarter is ~92 days; a short period still gets bars of a readable width.
    let slot = ((width - left) / r.per_day.len() as f64).min(40.0);
    let scale = (height - bottom - 10.0) / max as f64;
    let _ = write!(
        h,
        "<svg role=\"img\" aria-label=\"changes per day\" viewBox=\"0 0 {width} {height}\" width=\"100%\">\
         <text x=\"0\" y=\"14\">{max}</text><text x=\"0\" y=\"{}\">0</text>",
        height - bottom
    );
    let label_every = (r.per_day.len() / 12).max(1);
    for (i, (day, envs)) in r.per_day.iter().enumerate() {
        let x = left + i as f64 * slot;
        let mut y = height - bottom;
        for (env, n) in envs {
            let bar = *n as f64 * scale;
            y -= bar;
            let _ = write!(
                h,
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{bar:.1}\" fill=\"{}\"><title>{} {}: {n}</title></rect>",
                (slot * 0.8).max(1.0),
                colors.get(env.as_str()).copied().unwrap_or("#999"),
                esc(day),
                esc(env)
            );
        }
        if i % label_every == 0 {
            let _ = write!(h, "<text x=\"{x:.1}\" y=\"{}\">{}</text>", height - 10.0, esc(&day[5..]));
        }
    }
    h.push_str("</svg><p>");
    for (env, c) in &colors {
        let _ = write!(h, "<span style=\"color:{c}\">■</span> {} &nbsp; ", esc(env));
    }
    h.push_str("</p>");
}

fn actors_chart(h: &mut String, r: &Report) {
    let mut actors: Vec<(&String, &u64)> = r.actors.iter().collect();
    actors.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    actors.truncate(10);
    if actors.is_empty() {
        h.push_str("<p class=\"muted\">No changes in the period.</p>");
        return;
    }
    let max = *actors[0].1 as f64;
    let row = 22.0;
    let _ = write!(
        h,
        "<svg role=\"img\" aria-label=\"busiest actors\" viewBox=\"0 0 1000 {}\" width=\"100%\">",
        row * actors.len() as f64 + 4.0
    );
    for (i, (actor, n)) in actors.iter().enumerate() {
        let y = i as f64 * row;
        let w = (**n as f64 / max * 640.0).max(1.0);
        let fill = if actor.as_str() == UNATTRIBUTED { "#b42318" } else { "#1f77b4" };
        let _ = write!(
            h,
            "<text x=\"0\" y=\"{:.1}\">{}</text><rect x=\"260\" y=\"{:.1}\" width=\"{w:.1}\" height=\"{:.1}\" fill=\"{fill}\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\">{n}</text>",
            y + 15.0,
            esc(&truncate(actor, 40)),
            y + 3.0,
            row - 6.0,
            265.0 + w,
            y + 15.0
        );
    }
    h.push_str("</svg>");
}

fn truncate(s: &str, chars: usize) -> String {
    if s.chars().count() <= chars {
        s.to_owned()
    } else {
        format!("{}…", s.chars().take(chars - 1).collect::<String>())
    }
}

fn kill_switches(h: &mut String, r: &Report) {
    if r.kill_switches.is_empty() {
        h.push_str("<p class=\"muted\">No kill switch was enabled in the period.</p>");
        return;
    }
    let end = r.period.until_ms.or(r.last_ms).unwrap_or(0);
    let start = r.period.since_ms.or(r.first_ms).unwrap_or(0);
    let span = (end - start).max(1) as f64;
    let row = 20.0;
    let shown = r.kill_switches.iter().take(50);
    let _ = write!(
        h,
        "<svg role=\"img\" aria-label=\"kill-switch timeline\" viewBox=\"0 0 1000 {}\" width=\"100%\">",
        row * shown.len() as f64 + 4.0
    );
    for (i, k) in shown.enumerate() {
        let y = i as f64 * row;
        let x0 = 260.0 + (k.enabled_ms - start) as f64 / span * 720.0;
        let x1 = 260.0 + (k.disabled_ms.unwrap_or(end) - start) as f64 / span * 720.0;
        let _ = write!(
            h,
            "<text x=\"0\" y=\"{:.1}\">{}</text><rect x=\"{x0:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"#d62728\">\
             <title>{} from {}</title></rect>",
            y + 14.0,
            esc(&truncate(&k.switch, 40)),
            y + 3.0,
            (x1 - x0).max(2.0),
            row - 6.0,
            esc(&k.switch),
            rfc3339(k.enabled_ms)
        );
    }
    h.push_str("</svg><table id=\"kill-switches\"><tr><th>switch</th><th>enabled</th><th>by</th><th>lasted</th></tr>");
    for k in &r.kill_switches {
        let lasted = match k.disabled_ms {
            Some(d) => duration(d - k.enabled_ms),
            None => "still enabled at the end of the period".into(),
        };
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&k.switch),
            rfc3339(k.enabled_ms),
            esc(k.actor.as_deref().unwrap_or(UNATTRIBUTED)),
            esc(&lasted)
        );
    }
    h.push_str("</table>");
}

fn production_table(h: &mut String, r: &Report) {
    let _ = write!(
        h,
        "<p>{} production change(s) in the period; the first <span id=\"rows-shown\">{}</span> are listed \
         (the CSV lists every change of every environment).</p><div class=\"wide\"><table id=\"production\"><tr>",
        r.production_changes,
        r.production_rows.len()
    );
    for c in COLUMNS {
        let _ = write!(h, "<th>{c}</th>");
    }
    h.push_str("</tr>");
    for row in &r.production_rows {
        h.push_str("<tr>");
        for (i, cell) in row.cells().iter().enumerate() {
            let class = if COLUMNS[i] == "changes" { " class=\"changes\"" } else { "" };
            let _ = write!(h, "<td{class}>{}</td>", esc(cell));
        }
        h.push_str("</tr>");
    }
    h.push_str("</table></div>");
}

fn verification_section(h: &mut String, v: &VerificationResult) {
    let r = v.report;
    let _ = write!(
        h,
        "<p>Trail <code>{}</code>: {} record(s) ({} duplicate(s)), {} seal(s), {}; \
         <span class=\"{}\">{} finding(s)</span>.</p>",
        esc(v.source),
        r.records,
        r.duplicates,
        r.seals,
        if v.signed {
            format!("{} signature(s) verified against the trusted keys", r.signatures_verified)
        } else {
            "signatures <b>not</b> checked (no trusted key was given)".into()
        },
        if r.intact() { "ok" } else { "bad" },
        r.findings.len()
    );
    h.push_str(
        "<p>Checked: every record against its seal's SHA-256 (edited, missing, inserted records), every seal \
         whole and consistent, signatures (when keys were given), and per-item version continuity. \
         <b>Not</b> checked here: that the trail holds every change the table received (run \
         <code>flagtrail reconcile</code> against the table), and a cut-off tail or a forked history \
         (seals are not yet linked in a transparency log).</p>",
    );
    if !r.findings.is_empty() {
        h.push_str("<ul id=\"findings\">");
        for f in r.findings.iter().take(200) {
            let _ = write!(h, "<li>{}</li>", esc(&f.to_string()));
        }
        if r.findings.len() > 200 {
            let _ = write!(h, "<li>… and {} more (run <code>flagtrail verify</code>)</li>", r.findings.len() - 200);
        }
        h.push_str("</ul>");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Period, ReportBuilder};
    use serde_json::json;

    #[test]
    fn escapes_what_the_table_holds_and_refers_to_nothing_outside() {
        let mut b = ReportBuilder::new(Period::default(), 10);
        b.push(&json!({
            "recordType": "change", "eventId": "e1", "changedAt": "2026-10-02T10:00:00Z", "environment": "prod",
            "production": true, "action": "UPDATE_FLAG", "actor": "<script>alert(1)</script>",
            "changes": {"x": {"before": "<img src=https://evil>", "after": 1}}
        }));
        let v = VerifyReport::default();
        let html = render_html(&b.finish(), &VerificationResult { source: "dir", report: &v, signed: false });
        assert!(!html.contains("<script") && !html.contains("<img"), "{html}");
        assert!(html.contains("&lt;script&gt;"));
        for outside in [" src=\"", " href=\"", "url(", "@import", "<link", "<script", "<iframe", "<object"] {
            assert!(!html.contains(outside), "refers outside itself: {outside}");
        }
        assert!(html.contains("<b id=\"total-changes\">1</b>"));
    }
}
