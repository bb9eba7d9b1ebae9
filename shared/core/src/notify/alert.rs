//! Alerts: kill-switch flips for on-call and flag-creation notices for teams, as AWS Chatbot
//! custom notifications.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use serde_json::json;

use crate::audit::{action_of, changed_at, rfc3339_ms, Action, KillSwitchState};
use crate::change::{ActorSource, Change};
use crate::config::CoreConfig;
use crate::key::ItemKind;
use crate::value::AttributeValue;

/// How urgent an alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Global kill switch in production: page now.
    Critical,
    /// A flag kill switch in production.
    High,
    /// Kill switches outside production.
    Warning,
    /// Team notifications (a flag was created).
    Info,
}

impl Severity {
    /// The name used in message attributes and subjects.
    pub fn as_str(&self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::High => "high",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

/// An alert for on-call or a team, published to the alert topic.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    /// The stream eventID this alert comes from (dedupe key).
    pub event_id: String,
    /// `KillSwitch` or `FlagCreated`.
    pub event_type: &'static str,
    /// How urgent.
    pub severity: Severity,
    /// The environment.
    pub environment: String,
    /// One-line title (also the SNS subject, ≤ 100 chars).
    pub title: String,
    /// Markdown description.
    pub description: String,
    /// Message attributes for SNS filter policies (≤ 10: raw-delivery SQS drops more).
    pub attributes: BTreeMap<&'static str, String>,
    /// The AWS Chatbot custom-notification body.
    pub body: serde_json::Value,
}

/// The alerts a change calls for: kill-switch flips (severity by environment) and flag creation.
pub fn alerts(change: &Change, config: &CoreConfig) -> Vec<Alert> {
    let Some(env) = change.key.environment.as_deref() else { return Vec::new() };
    let production = config.is_production(Some(env));
    let action = action_of(change);
    match change.key.kind {
        ItemKind::FlagKillSwitch | ItemKind::GlobalKillSwitch => {
            let state = KillSwitchState::of(change);
            if !state.alerts() {
                return Vec::new();
            }
            vec![kill_switch_alert(change, env, production, action, state)]
        }
        ItemKind::Flag if action == Action::CreateFlag => {
            let mut out = vec![flag_created_alert(change, env)];
            out.extend(unattributed_in_production(change, env, production, action));
            out
        }
        _ => unattributed_in_production(change, env, production, action).into_iter().collect(),
    }
}

/// The `high` alert for a change in production the record cannot attribute, when its images were
/// there to judge (a KEYS_ONLY stream would alert on every change). A kill-switch flip says it in
/// its own alert instead.
fn unattributed_in_production(change: &Change, env: &str, production: bool, action: Action) -> Option<Alert> {
    let judged = change.missing.is_empty();
    (production && judged && change.attribution.source.is_unattributed())
        .then(|| unattributed_alert(change, env, action))
}

fn kill_switch_alert(change: &Change, env: &str, production: bool, action: Action, state: KillSwitchState) -> Alert {
    let global = change.key.kind == ItemKind::GlobalKillSwitch;
    let severity = match (global, production) {
        (true, true) => Severity::Critical,
        (false, true) => Severity::High,
        _ => Severity::Warning,
    };
    let target = match &change.key.flag_key {
        Some(f) if !global => format!("flag `{f}`"),
        _ => format!("ALL flags in `{env}`"),
    };
    let what = match state.after {
        Some(true) => "ENABLED",
        Some(false) => "DISABLED",
        None => "CHANGED (state not in stream)",
    };
    let scope = if global { "Global kill switch" } else { "Kill switch" };
    let title = clip(
        &format!(
            "[{}] {scope} {what} in {env}: {}",
            severity.as_str().to_uppercase(),
            change.key.flag_key.as_deref().unwrap_or("all flags")
        ),
        100,
    );
    let reason = change.attr_text("reason").unwrap_or("(no reason given)");
    let description = format!(
        "{scope} *{what}* for {target}.\n*Reason:* {}\n{}\n*At:* {}  *Event:* `{}`",
        md_escape(reason),
        by_line(change),
        changed_at(change).map(rfc3339_ms).unwrap_or_else(|| "-".into()),
        change.event_id,
    );
    let mut attributes = base_attributes(change, "KillSwitch", severity, env, action);
    attributes.insert("scope", if global { "global".into() } else { "flag".into() });
    let next_steps = vec![
        format!("Audit trail: filter `eventId = \"{}\"` in the audit log group", change.event_id),
        "Confirm with the flag owner whether the switch should stay as it is".to_owned(),
    ];
    let body = chatbot_body(change, "KillSwitch", &title, &description, next_steps, severity, env);
    Alert {
        event_id: change.event_id.clone(),
        event_type: "KillSwitch",
        severity,
        environment: env.to_owned(),
        title,
        description,
        attributes,
        body,
    }
}

fn flag_created_alert(change: &Change, env: &str) -> Alert {
    let flag = change.key.flag_key.as_deref().unwrap_or("?");
    let owner = change.attr_text("owner").unwrap_or("unknown");
    let teams = teams_of(change);
    let title = clip(&format!("New flag `{flag}` in {env}"), 100);
    let description = format!(
        "Flag `{}` was created in `{env}`.\n{}\n*Owner:* {}  *Teams:* {}\n*Description:* {}\n*Enabled by default:* {}",
        md_escape(flag),
        by_line(change),
        md_escape(owner),
        if teams.is_empty() { "-".to_owned() } else { md_escape(&teams.join(", ")) },
        md_escape(change.attr_text("description").unwrap_or("-")),
        change.attr("defaultEnabled").and_then(AttributeValue::as_bool).map_or("-", |b| if b { "yes" } else { "no" }),
    );
    let mut attributes = base_attributes(change, "FlagCreated", Severity::Info, env, Action::CreateFlag);
    attributes.insert("owner", clip(owner, 256));
    if !teams.is_empty() {
        attributes.insert("teams", clip(&teams.join(","), 256));
    }
    let body = chatbot_body(change, "FlagCreated", &title, &description, Vec::new(), Severity::Info, env);
    Alert {
        event_id: change.event_id.clone(),
        event_type: "FlagCreated",
        severity: Severity::Info,
        environment: env.to_owned(),
        title,
        description,
        attributes,
        body,
    }
}

/// Who made the change, for an alert: the author and request, or — when the record cannot name
/// one — that it is unattributed, with the last writer labelled as not the author.
fn by_line(change: &Change) -> String {
    let a = &change.attribution;
    match &a.actor {
        Some(actor) => {
            format!("*By:* `{}`  *Request:* `{}`", md_escape(actor), md_escape(a.request_id.as_deref().unwrap_or("-")))
        }
        None => {
            let why = match a.source {
                ActorSource::Unstamped => "this write did not stamp itself (updatedBy/requestId unchanged)",
                _ => "the record cannot name the author (no delete stamp, or no images)",
            };
            let last = a.last_writer.as_ref().map_or(String::new(), |w| {
                format!(
                    "; last writer `{}` (request `{}`) is *not* known to be the author",
                    md_escape(w.updated_by.as_deref().unwrap_or("-")),
                    md_escape(w.request_id.as_deref().unwrap_or("-"))
                )
            });
            format!("*By:* UNATTRIBUTED — {why}{last}")
        }
    }
}

/// An unattributed change in production: someone wrote to the table outside the flag service
/// (a console edit, a script, a writer that does not stamp).
fn unattributed_alert(change: &Change, env: &str, action: Action) -> Alert {
    let target = match (&change.key.flag_key, &change.key.tenant_id) {
        (Some(f), Some(t)) => format!("{f} / tenant {t}"),
        (Some(f), None) => f.clone(),
        _ => "global".to_owned(),
    };
    let title = clip(&format!("[HIGH] Unattributed change in {env}: {} {target}", action.as_str()), 100);
    let description = format!(
        "`{}` on `{}` in `{env}` was written outside the stamping protocol.\n{}\n*At:* {}  *Event:* `{}`",
        action.as_str(),
        md_escape(&target),
        by_line(change),
        changed_at(change).map(rfc3339_ms).unwrap_or_else(|| "-".into()),
        change.event_id,
    );
    let mut attributes = base_attributes(change, "UnattributedChange", Severity::High, env, action);
    attributes.insert("actorSource", change.attribution.source.as_str().to_owned());
    let next_steps = vec![
        format!("Audit trail: filter `eventId = \"{}\"`; compare `before` and `after`", change.event_id),
        "Find who has write access to the table outside the flag service (CloudTrail data events)".to_owned(),
    ];
    let body = chatbot_body(change, "UnattributedChange", &title, &description, next_steps, Severity::High, env);
    Alert {
        event_id: change.event_id.clone(),
        event_type: "UnattributedChange",
        severity: Severity::High,
        environment: env.to_owned(),
        title,
        description,
        attributes,
        body,
    }
}

/// The flag's teams; blank names are no team (an empty attribute value is refused by SNS).
fn teams_of(change: &Change) -> Vec<String> {
    let teams = match change.attr("teams") {
        Some(AttributeValue::Ss(s)) => {
            let mut v = s.clone();
            v.sort();
            v
        }
        Some(AttributeValue::L(l)) => l.iter().filter_map(|v| v.as_s().map(str::to_owned)).collect(),
        Some(AttributeValue::S(s)) => vec![s.clone()],
        _ => Vec::new(),
    };
    teams.into_iter().filter(|t| !t.trim().is_empty()).collect()
}

fn base_attributes(
    change: &Change,
    event_type: &str,
    severity: Severity,
    env: &str,
    action: Action,
) -> BTreeMap<&'static str, String> {
    let mut a = BTreeMap::new();
    a.insert("eventType", event_type.to_owned());
    a.insert("severity", severity.as_str().to_owned());
    a.insert("environment", env.to_owned());
    a.insert("action", action.as_str().to_owned());
    a.insert("eventId", change.event_id.clone());
    if let Some(f) = &change.key.flag_key {
        a.insert("flagKey", clip(f, 256));
    }
    a
}

/// Folds a flapping kill switch: one that flipped more than twice in a batch sends its first
/// alert as it is and its last one carrying how many flips it stands for (and covering their
/// records), instead of a page per flip — dozens of pages in a second for one switch bury the
/// news, and would take as many chained calls to send. Every flip stays in the audit trail and in
/// the `KillSwitchActivations` metric. Returns the alerts kept, in order, and how many were folded.
pub fn fold_flapping(alerts: Vec<(Vec<usize>, Alert)>) -> (Vec<(Vec<usize>, Alert)>, usize) {
    let switch = |a: &Alert| {
        (a.event_type == "KillSwitch")
            .then(|| format!("{}/{}", a.environment, a.attributes.get("flagKey").map_or("", String::as_str)))
    };
    let mut count: HashMap<String, usize> = HashMap::new();
    for (_, a) in &alerts {
        if let Some(k) = switch(a) {
            *count.entry(k).or_default() += 1;
        }
    }
    let mut seen: HashMap<String, (usize, usize, Vec<usize>)> = HashMap::new(); // (index, on, folded covers)
    let mut kept = Vec::with_capacity(alerts.len());
    let mut folded = 0;
    for (covers, mut a) in alerts {
        let Some(k) = switch(&a).filter(|k| count[k] > 2) else {
            kept.push((covers, a));
            continue;
        };
        let on = usize::from(a.attributes.get("action").is_some_and(|x| x == "KILL_SWITCH_ENABLED"));
        let entry = seen.entry(k.clone()).or_default();
        entry.0 += 1;
        entry.1 += on;
        if entry.0 == 1 {
            kept.push((covers, a));
        } else if entry.0 < count[&k] {
            entry.2.extend(covers);
            folded += 1;
        } else {
            let flips = entry.0;
            let (ons, offs) = (entry.1, flips - entry.1);
            a.description.push_str(&format!(
                "\n\n**Flapping**: this switch flipped {flips} times in one batch ({ons} on, {offs} off); \
                 {} alerts in between were folded into this one. Every flip is in the audit trail.",
                flips - 2
            ));
            a.body["content"]["description"] = json!(a.description);
            let mut all = std::mem::take(&mut entry.2);
            all.extend(covers);
            all.sort_unstable();
            kept.push((all, a));
        }
    }
    (kept, folded)
}

/// The AWS Chatbot custom-notification format (version 1.0, source "custom").
fn chatbot_body(
    change: &Change,
    event_type: &str,
    title: &str,
    description: &str,
    next_steps: Vec<String>,
    severity: Severity,
    env: &str,
) -> serde_json::Value {
    // additionalContext is a string → string map: absent values are left out, not null.
    let mut context = serde_json::Map::new();
    for (k, v) in [
        ("environment", Some(env)),
        ("flagKey", change.key.flag_key.as_deref()),
        ("actor", Some(change.attribution.actor.as_deref().unwrap_or("unknown"))),
        ("actorSource", Some(change.attribution.source.as_str())),
        ("requestId", change.attribution.request_id.as_deref()),
        ("eventId", Some(change.event_id.as_str())),
    ] {
        if let Some(v) = v {
            context.insert(k.to_owned(), json!(v));
        }
    }
    json!({
        "version": "1.0",
        "source": "custom",
        "id": change.event_id,
        "content": {
            "textType": "client-markdown",
            "title": title,
            "description": description,
            "nextSteps": next_steps,
            "keywords": [event_type, env, severity.as_str()],
        },
        "metadata": {
            "threadId": format!("flagtrail/{}/{}", env, change.key.flag_key.as_deref().unwrap_or("global")),
            "summary": title,
            "eventType": event_type,
            "additionalContext": context,
        },
    })
}

/// Neutralises user-supplied text for Slack markdown: no control characters, and no `<…>` so it
/// cannot form links or mentions (`<@U…>`, `<!here>`).
fn md_escape(s: &str) -> String {
    let s: String = s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    clip(&s.replace('<', "‹").replace('>', "›").replace('`', "'"), 1000)
}

fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flapping_kill_switch_sends_its_first_and_last_alert_and_the_last_covers_every_flip() {
        let alert = |flag: &str, on: bool, n: usize| {
            let mut attributes = BTreeMap::new();
            attributes.insert("flagKey", flag.to_owned());
            attributes.insert("action", if on { "KILL_SWITCH_ENABLED" } else { "KILL_SWITCH_DISABLED" }.to_owned());
            let a = Alert {
                event_id: format!("e{n}"),
                event_type: "KillSwitch",
                severity: Severity::High,
                environment: "prod".into(),
                title: format!("flip {n}"),
                description: "d".into(),
                attributes,
                body: json!({"content": {"description": "d"}}),
            };
            (vec![n], a)
        };
        let list = vec![
            alert("a", true, 0),
            alert("a", false, 1),
            alert("b", true, 2),
            alert("a", true, 3),
            alert("a", false, 4),
        ];
        let (kept, folded) = fold_flapping(list);
        assert_eq!(folded, 2);
        let titles: Vec<&str> = kept.iter().map(|(_, a)| a.title.as_str()).collect();
        assert_eq!(titles, ["flip 0", "flip 2", "flip 4"]);
        assert_eq!(kept[2].0, vec![1, 3, 4], "the last alert covers the folded flips' records");
        let text = kept[2].1.body["content"]["description"].as_str().unwrap();
        assert!(text.contains("flipped 4 times in one batch (2 on, 2 off)"), "{text}");
        let (two, none) = fold_flapping(vec![alert("c", true, 0), alert("c", false, 1)]);
        assert_eq!((two.len(), none), (2, 0), "on then off is not flapping");
    }
}
