//! The events/ corpus through both pipelines: golden outputs (reviewed by hand), the schema, and
//! each derivation rule of the brief asserted on its own.

use crate::support;

use serde_json::Value;
use support::{assert_valid, corpus, run, run_with};

fn parse(line: &str) -> Value {
    serde_json::from_str(line).unwrap()
}

/// The first invalidation a message carries (v1 or packed v2).
fn first_invalidation(body: &str) -> Value {
    flagtrail_core::notify::unpack(body).expect("an invalidation message")[0].clone()
}

fn pretty(lines: impl IntoIterator<Item = String>) -> String {
    lines.into_iter().map(|l| serde_json::to_string_pretty(&parse(&l)).unwrap()).collect::<Vec<_>>().join("\n")
}

#[test]
fn golden_outputs_of_every_sample_event() {
    for (name, text) in corpus() {
        let r = run(&text);
        let alerts = r.alerts.iter().map(|m| {
            format!(
                "subject: {:?}\nattributes: {:?}\n{}",
                m.subject,
                m.attributes,
                serde_json::to_string_pretty(&parse(&m.body)).unwrap()
            )
        });
        let snapshot = format!(
            "## audit\n{}\n## alerts\n{}\n## invalidations\n{}\n",
            pretty(r.audit.clone()),
            alerts.collect::<Vec<_>>().join("\n"),
            pretty(r.invalidations.iter().map(|m| m.body.clone()))
        );
        insta::assert_snapshot!(name, snapshot);
    }
}

#[test]
fn every_record_yields_exactly_one_valid_audit_record_with_its_event_id() {
    let mut total = 0;
    for (name, text) in corpus() {
        let input: Value = serde_json::from_str(&text).unwrap();
        let ids: Vec<&str> =
            input["Records"].as_array().unwrap().iter().map(|r| r["eventID"].as_str().unwrap()).collect();
        let r = run(&text);
        let out: Vec<Value> = r.audit.iter().map(|l| parse(l)).collect();
        let out_ids: Vec<&str> = out.iter().map(|v| v["eventId"].as_str().unwrap()).collect();
        assert_eq!(out_ids, ids, "{name}: one audit record per input record, in order");
        for l in &r.audit {
            assert_valid(l);
        }
        assert!(r.audit_outcome.response.batch_item_failures.is_empty(), "{name}");
        assert!(r.notify_outcome.response.batch_item_failures.is_empty(), "{name}");
        total += ids.len();
    }
    assert!(total >= 30, "the corpus has {total} records");
}

fn only(name: &str) -> support::Run {
    let (_, text) = corpus().into_iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("no events/{name}.json"));
    run(&text)
}

fn attr<'a>(m: &'a flagtrail_core::notify::Message, k: &str) -> &'a str {
    m.attributes.get(k).map(String::as_str).unwrap_or("")
}

#[test]
fn global_kill_switch_in_production_pages_and_invalidates_the_environment() {
    let r = only("killswitch-global-on-prod");
    let a = parse(&r.audit[0]);
    assert_eq!(a["action"], "KILL_SWITCH_ENABLED");
    assert_eq!(a["scope"], "global");
    assert_eq!(a["production"], true);
    assert_eq!(a["killSwitchEnabled"], true);
    assert_eq!(a["reason"], "Payment provider outage INC-4711");
    assert_eq!(r.alerts.len(), 1);
    assert_eq!(attr(&r.alerts[0], "severity"), "critical");
    let body = parse(&r.alerts[0].body);
    assert_eq!(body["version"], "1.0");
    assert_eq!(body["source"], "custom");
    assert_eq!(body["content"]["textType"], "client-markdown");
    assert!(body["content"]["description"].as_str().unwrap().contains("carol@example.com"));
    let inv = first_invalidation(&r.invalidations[0].body);
    assert_eq!(inv["scope"], "environment");
    assert_eq!(inv["flagKey"], Value::Null);
}

#[test]
fn kill_switch_severity_depends_on_environment_and_scope() {
    let sev = |n: &str| attr(&only(n).alerts[0], "severity").to_owned();
    assert_eq!(sev("killswitch-flag-on-prod"), "high");
    assert_eq!(sev("killswitch-flag-off-prod"), "high");
    assert_eq!(sev("killswitch-flag-on-dev"), "warning");
    assert_eq!(sev("killswitch-global-off-prod"), "critical");
    assert_eq!(sev("killswitch-global-on-dev"), "warning");
    assert_eq!(parse(&only("killswitch-flag-off-dev").audit[0])["action"], "KILL_SWITCH_DISABLED");
    let inv = first_invalidation(&only("killswitch-flag-on-dev").invalidations[0].body);
    assert_eq!((inv["scope"].as_str(), inv["flagKey"].as_str()), (Some("flag"), Some("checkout-v2")));
}

#[test]
fn flag_creation_notifies_the_owning_teams() {
    let r = only("flag-insert-prod");
    assert_eq!(parse(&r.audit[0])["action"], "CREATE_FLAG");
    assert_eq!(r.alerts.len(), 1);
    assert_eq!(attr(&r.alerts[0], "eventType"), "FlagCreated");
    assert_eq!(attr(&r.alerts[0], "owner"), "payments-team");
    assert_eq!(attr(&r.alerts[0], "teams"), "payments,web");
    assert!(r.alerts[0].attributes.len() <= 10, "raw-delivery SQS drops messages with > 10 attributes");
}

#[test]
fn flag_update_diff_lists_what_changed_and_invalidates() {
    let r = only("flag-modify-prod");
    let a = parse(&r.audit[0]);
    assert_eq!(a["action"], "UPDATE_FLAG");
    let fields: Vec<&str> = a["changedFields"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(fields, ["defaultEnabled", "requestId", "rolloutPercentage", "updatedAt", "updatedBy", "version"]);
    assert_eq!(a["changes"]["rolloutPercentage"]["before"], 10);
    assert_eq!(a["changes"]["rolloutPercentage"]["after"], 50);
    assert_eq!(a["actor"], "bob@example.com");
    assert_eq!(a["requestId"], "req-prod-rollout");
    assert!(r.alerts.is_empty());
    assert_eq!(first_invalidation(&r.invalidations[0].body)["scope"], "flag");
}

#[test]
fn no_op_and_metadata_only_changes_send_no_invalidation() {
    let r = only("flag-modify-noop");
    let a = parse(&r.audit[0]);
    assert_eq!(a["noOp"], true, "25 → 25.0 and a reordered set are not changes");
    assert!(!a["changedFields"].as_array().unwrap().iter().any(|f| f == "rolloutPercentage" || f == "teams"));
    assert!(r.invalidations.is_empty());
    let r = only("flag-modify-description-only");
    let a = parse(&r.audit[0]);
    assert_eq!(a["noOp"], false);
    assert!(a["changedFields"].as_array().unwrap().iter().any(|f| f == "description"));
    assert!(r.invalidations.is_empty(), "description and owner do not change evaluation");
}

#[test]
fn overrides_invalidate_one_tenant() {
    for (name, action) in [
        ("override-set", "SET_TENANT_OVERRIDE"),
        ("override-changed", "SET_TENANT_OVERRIDE"),
        ("override-removed", "REMOVE_TENANT_OVERRIDE"),
    ] {
        let r = only(name);
        let a = parse(&r.audit[0]);
        assert_eq!(a["action"], action, "{name}");
        assert_eq!(a["tenantId"], "acme-corp");
        let inv = first_invalidation(&r.invalidations[0].body);
        assert_eq!((inv["scope"].as_str(), inv["tenantId"].as_str()), (Some("tenant"), Some("acme-corp")));
        if name == "override-removed" {
            // The old image names the last writer, not the deleter: nobody is named, and production pages.
            assert_eq!((a["actor"].clone(), a["actorSource"].as_str()), (Value::Null, Some("unknown")));
            assert_eq!(a["lastWriter"]["updatedBy"], "erin@example.com");
            assert_eq!(r.alerts.len(), 1);
            assert_eq!(attr(&r.alerts[0], "eventType"), "UnattributedChange");
        } else {
            assert_eq!(a["actor"], "erin@example.com", "{name}");
            assert!(r.alerts.is_empty());
        }
    }
}

#[test]
fn ttl_expiry_is_attributed_to_the_service() {
    let a = parse(&only("ttl-delete").audit[0]);
    assert_eq!(a["ttlExpiry"], true);
    assert_eq!(a["actor"], "dynamodb.amazonaws.com");
    assert_eq!(a["actorType"], "service");
    assert_eq!(a["requestId"], Value::Null);
}

#[test]
fn keys_only_records_say_what_is_missing_and_still_alert() {
    let r = only("keys-only-killswitch");
    let a = parse(&r.audit[0]);
    assert_eq!(a["missing"], serde_json::json!(["old", "new"]));
    assert_eq!(a["changes"], Value::Null);
    assert_eq!((a["actor"].clone(), a["actorSource"].as_str()), (Value::Null, Some("unknown")));
    assert_eq!(a["lastWriter"], Value::Null, "KEYS_ONLY: no image, no stamp at all");
    assert_eq!(r.alerts.len(), 1, "a kill switch whose state is unknown still reaches on-call");
    assert_eq!(r.invalidations.len(), 1);
    let a = parse(&only("new-image-only-flag").audit[0]);
    assert_eq!(a["missing"], serde_json::json!(["old"]));
    assert_eq!(a["changedAt"], "2026-11-23T00:28:00.250Z", "fractional ApproximateCreationDateTime is read exactly");
}

#[test]
fn unknown_items_are_generic_changes_without_alerts_or_invalidations() {
    let r = only("unknown-item-insert");
    let a = parse(&r.audit[0]);
    assert_eq!((a["action"].as_str(), a["itemKind"].as_str()), (Some("CREATE_ITEM"), Some("item")));
    assert_eq!(a["after"]["blob"], "AAECAwQ=");
    assert!(r.alerts.is_empty() && r.invalidations.is_empty());
}

#[test]
fn numbers_keep_all_38_digits() {
    let r = only("exact-numbers");
    assert!(r.audit[0].contains("\"rolloutPercentage\":12345678901234567890123456789012345678"), "{}", r.audit[0]);
    assert!(r.audit[0].contains("0.000000000000000000000000000000000001"));
}

#[test]
fn an_undecodable_record_is_quarantined_and_the_others_processed() {
    let r = only("batch-with-undecodable-record");
    let kinds: Vec<String> = r.audit.iter().map(|l| parse(l)["recordType"].as_str().unwrap().to_owned()).collect();
    assert_eq!(kinds, ["change", "quarantine", "change"]);
    let q = parse(&r.audit[1]);
    assert_eq!(q["error"]["kind"], "malformed");
    let msg = q["error"]["message"].as_str().unwrap();
    assert!(msg.contains("dynamodb.NewImage.rolloutPercentage") && msg.contains("DECIMAL"), "{msg}");
    assert!(q["raw"].as_str().unwrap().contains("DECIMAL"), "the raw record is kept");
    assert_eq!(r.audit_outcome.metrics.get(flagtrail_core::metrics::Counter::RecordsQuarantined), 1);
    assert!(r.audit_outcome.response.batch_item_failures.is_empty(), "a poison record never blocks the shard");
}

#[test]
fn production_changes_are_counted_for_the_alarm() {
    let r = only("batch-mixed");
    let docs = r.audit_outcome.metrics.to_emf("Flagtrail", "audit", support::NOW_MS);
    let prod: Vec<Value> = docs.iter().map(|d| parse(d)).filter(|d| d.get("ProductionFlagChange").is_some()).collect();
    assert_eq!(prod.len(), 1);
    assert_eq!(prod[0]["ProductionFlagChange"], 7);
    let ks: Vec<Value> = docs.iter().map(|d| parse(d)).filter(|d| d.get("KillSwitchActivations").is_some()).collect();
    assert_eq!(ks[0]["KillSwitchActivations"], 1);
    assert_eq!(
        r.audit_outcome.metrics.get(flagtrail_core::metrics::Counter::PutLogEventsCalls),
        1,
        "one call for the whole batch and its seal"
    );
}

#[test]
fn redaction_hides_values_but_shows_that_they_changed() {
    let (_, text) = corpus().into_iter().find(|(n, _)| n == "flag-modify-prod").unwrap();
    let config = flagtrail_core::CoreConfig {
        redacted_attributes: vec!["rolloutPercentage".into(), "value".into()],
        redaction_salt: "s3cret".into(),
        ..Default::default()
    };
    let r = run_with(&text, config);
    let a = parse(&r.audit[0]);
    assert_valid(&r.audit[0]);
    let before = a["changes"]["rolloutPercentage"]["before"].as_str().unwrap();
    let after = a["changes"]["rolloutPercentage"]["after"].as_str().unwrap();
    assert!(before.starts_with("[REDACTED sha256:") && after.starts_with("[REDACTED sha256:"));
    assert_ne!(before, after, "auditors still see that it changed");
    assert_eq!(a["after"]["rolloutPercentage"], after);
    assert!(
        a["after"]["targetSegments"][0]["value"].as_str().unwrap().starts_with("[REDACTED"),
        "nested attributes too"
    );
    assert!(!r.audit[0].contains("\"EU\""));
    assert_eq!(a["redactedFields"], serde_json::json!(["rolloutPercentage", "value"]));
    assert!(a["changedFields"].as_array().unwrap().iter().any(|f| f == "rolloutPercentage"));
}

#[test]
fn events_written_outside_the_project_replay_as_generic_changes() {
    let dir = support::root().join("tests/fixtures/external");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        seen += 1;
        let text = std::fs::read_to_string(&path).unwrap();
        let n = serde_json::from_str::<Value>(&text).unwrap()["Records"].as_array().unwrap().len();
        let r = run(&text);
        assert_eq!(r.audit.len(), n, "{}", path.display());
        for l in &r.audit {
            assert_valid(l);
            let a = parse(l);
            assert_eq!(a["recordType"], "change", "{}: {l}", path.display());
            assert_eq!(a["itemKind"], "item");
        }
        assert!(r.audit_outcome.response.batch_item_failures.is_empty());
    }
    assert_eq!(seen, 3);
}

#[test]
fn every_change_is_attributed_truthfully_or_not_at_all() {
    let source = |name: &str, i: usize| {
        let a = parse(&only(name).audit[i]);
        (
            a["action"].as_str().unwrap().to_owned(),
            a["actorSource"].as_str().unwrap().to_owned(),
            a["actor"].clone(),
            a["requestId"].clone(),
        )
    };
    // The write stamped itself.
    assert_eq!(
        source("flag-modify-prod", 0),
        ("UPDATE_FLAG".into(), "stamp".into(), "bob@example.com".into(), "req-prod-rollout".into())
    );
    // The delete stamp, and the delete right after it: both name the deleter, and the stamp-only
    // MODIFY is its own action, never a content change (no invalidation, no alert).
    let r = only("delete-with-stamp");
    assert_eq!(
        source("delete-with-stamp", 0),
        ("DELETE_REQUESTED".into(), "deleteStamp".into(), "nina@example.com".into(), "req-del-nina".into())
    );
    assert_eq!(
        source("delete-with-stamp", 1),
        ("DELETE_FLAG".into(), "deleteStamp".into(), "nina@example.com".into(), "req-del-nina".into())
    );
    assert_eq!(r.invalidations.len(), 1, "only the delete invalidates");
    assert!(first_invalidation(&r.invalidations[0].body)["action"] == "DELETE_FLAG");
    assert!(r.alerts.is_empty(), "an attributed delete does not page");
    // A MODIFY that kept the previous writer's requestId: nobody is named, the last writer is labelled.
    let r = only("modify-unstamped-prod");
    let a = parse(&r.audit[0]);
    assert_eq!(
        (a["actor"].clone(), a["actorSource"].as_str(), a["requestId"].clone()),
        (Value::Null, Some("unstamped"), Value::Null)
    );
    assert_eq!(a["lastWriter"], serde_json::json!({"updatedBy": "frank@example.com", "requestId": "req-rank-1"}));
    assert_eq!(attr(&r.alerts[0], "severity"), "high");
    assert_eq!(attr(&r.alerts[0], "eventType"), "UnattributedChange");
    let body = parse(&r.alerts[0].body);
    assert!(body["content"]["description"].as_str().unwrap().contains("UNATTRIBUTED"));
    let unattributed: u64 = r
        .audit_outcome
        .metrics
        .to_emf("Flagtrail", "audit", 0)
        .iter()
        .map(|d| parse(d))
        .filter_map(|d| d["UnattributedChanges"].as_u64())
        .sum();
    assert_eq!(unattributed, 1, "UnattributedChanges by Environment");
    // A delete without the stamp.
    assert_eq!(source("remove-unstamped-prod", 0).1, "unknown");
    // TTL, and streams that cannot tell.
    assert_eq!(source("ttl-delete", 0).1, "service");
    assert_eq!(source("keys-only-killswitch", 0).1, "unknown");
    assert_eq!(
        source("new-image-only-flag", 0).1,
        "unknown",
        "NEW_IMAGE: was requestId restamped? no old image to tell"
    );
    // A kill switch flipped by an unstamped write says so in its own alert (not a second page).
    let sw = parse(&only("killswitch-flag-on-prod").alerts[0].body);
    assert!(sw["content"]["description"].as_str().unwrap().contains("*By:* `carol@example.com`"));
}

#[test]
fn every_sample_events_trail_is_sealed_and_verifies() {
    for (name, text) in corpus() {
        let r = run(&text);
        assert_eq!(r.seals.len(), 1, "{name}: one seal (one part) per invocation");
        let seal = parse(&r.seals[0]);
        assert_eq!(seal["count"].as_u64().unwrap() as usize, r.audit.len(), "{name}: the seal covers every record");
        assert_valid(&r.seals[0]);
        let trail: Vec<String> = r.audit.iter().chain(&r.seals).cloned().collect();
        let report = flagtrail_core::integrity::verify(&trail, None);
        // Continuity is not the point here (single sample changes start mid-history).
        let broken: Vec<_> = report.seal_findings().collect();
        assert!(broken.is_empty(), "{name}: {broken:?}");
        assert_eq!(
            r.audit_outcome.metrics.get(flagtrail_core::metrics::Counter::RecordsSealed) as usize,
            r.audit.len()
        );
    }
}

#[test]
fn baseline_records_and_their_seal_match_the_schema() {
    use flagtrail_core::audit::baseline::{plan_baseline, BaselineItem};
    let items = [
        serde_json::json!({"PK": {"S": "FLAG#prod#old"}, "SK": {"S": "METADATA"}, "version": {"N": "7"}, "requestId": {"S": "r7"}}),
        serde_json::json!({"PK": {"S": "legacy"}, "SK": {"S": "x"}}),
    ]
    .map(|i| BaselineItem::from_dynamodb_json(&i));
    let (events, seal) = plan_baseline(&items, "2026-12-02T10:00:00.000Z", 0);
    for e in &events {
        assert_valid(&e.message);
    }
    assert_eq!(parse(&events[1].message)["environment"], Value::Null, "a key outside the schema has no environment");
    for part in seal.to_parts(None) {
        assert_valid(&part);
    }
    // The schema refuses what a baseline must have.
    let mut bad = parse(&events[0].message);
    bad.as_object_mut().unwrap().remove("itemDigest");
    assert!(!support::schema().is_valid(&bad));
}
