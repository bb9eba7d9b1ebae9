//! Hostile and odd input: each case ends in a clear outcome (an audit record, a split record, or a
//! quarantine record), never a panic, and never blocks the shard (no batchItemFailures).

use crate::support;

use serde_json::{json, Value};

#[derive(Debug, PartialEq)]
enum Outcome {
    Change,
    Split,
    Quarantine(&'static str),
}

fn keys() -> Value {
    json!({ "PK": { "S": "FLAG#prod#hostile" }, "SK": { "S": "METADATA" } })
}

fn with_image(image: Value) -> Value {
    let mut img = image;
    img["PK"] = json!({ "S": "FLAG#prod#hostile" });
    img["SK"] = json!({ "S": "METADATA" });
    json!({ "eventID": "h-1", "eventName": "INSERT", "dynamodb": { "Keys": keys(), "NewImage": img, "SequenceNumber": "1", "ApproximateCreationDateTime": 1_795_392_000 } })
}

fn nested(depth: usize) -> Value {
    let mut v = json!({ "S": "bottom" });
    for _ in 0..depth {
        v = json!({ "M": { "x": v } });
    }
    v
}

fn cases() -> Vec<(&'static str, Value, Outcome)> {
    let big = "x".repeat(399_000);
    vec![
        (
            "dynamodb is a string",
            json!({ "eventID": "h", "eventName": "INSERT", "dynamodb": "nope" }),
            Outcome::Quarantine("malformed"),
        ),
        (
            "Keys is a list",
            json!({ "eventID": "h", "eventName": "INSERT", "dynamodb": { "Keys": [], "SequenceNumber": "1" } }),
            Outcome::Quarantine("malformed"),
        ),
        (
            "no eventID",
            json!({ "eventName": "INSERT", "dynamodb": { "Keys": keys(), "SequenceNumber": "1" } }),
            Outcome::Quarantine("missing_field"),
        ),
        (
            "no SequenceNumber",
            json!({ "eventID": "h", "eventName": "INSERT", "dynamodb": { "Keys": keys() } }),
            Outcome::Quarantine("missing_field"),
        ),
        (
            "SequenceNumber not decimal",
            json!({ "eventID": "h", "eventName": "INSERT", "dynamodb": { "Keys": keys(), "SequenceNumber": "P\u{45e6f}q" } }),
            Outcome::Quarantine("malformed"),
        ),
        (
            "unknown eventName",
            json!({ "eventID": "h", "eventName": "UPSERT", "dynamodb": { "Keys": keys(), "SequenceNumber": "1" } }),
            Outcome::Quarantine("unknown_event_name"),
        ),
        (
            "no Keys but an image",
            json!({ "eventID": "h", "eventName": "INSERT", "dynamodb": { "NewImage": keys(), "SequenceNumber": "1" } }),
            Outcome::Change,
        ),
        (
            "no Keys and no image",
            json!({ "eventID": "h", "eventName": "REMOVE", "dynamodb": { "SequenceNumber": "1" } }),
            Outcome::Change,
        ),
        ("number as a JSON number", with_image(json!({ "n": { "N": 5 } })), Outcome::Quarantine("malformed")),
        ("BOOL as a string", with_image(json!({ "b": { "BOOL": "yes" } })), Outcome::Quarantine("malformed")),
        ("SS as a string", with_image(json!({ "s": { "SS": "a" } })), Outcome::Quarantine("malformed")),
        ("unknown type descriptor", with_image(json!({ "d": { "DECIMAL": "1.5" } })), Outcome::Quarantine("malformed")),
        ("two type descriptors", with_image(json!({ "d": { "S": "a", "N": "1" } })), Outcome::Quarantine("malformed")),
        ("not a number", with_image(json!({ "n": { "N": "12abc" } })), Outcome::Quarantine("malformed")),
        ("invalid base64", with_image(json!({ "b": { "B": "***" } })), Outcome::Quarantine("malformed")),
        (
            "38-digit numbers",
            with_image(
                json!({ "n": { "N": "-9.9999999999999999999999999999999999999E+125" }, "m": { "N": "99999999999999999999999999999999999999" } }),
            ),
            Outcome::Change,
        ),
        ("32-level nesting", with_image(json!({ "deep": nested(32) })), Outcome::Change),
        ("200-level nesting", with_image(json!({ "deep": nested(200) })), Outcome::Quarantine("malformed")),
        (
            "empty sets",
            with_image(json!({ "ss": { "SS": [] }, "ns": { "NS": [] }, "bs": { "BS": [] } })),
            Outcome::Change,
        ),
        (
            "10,000-element sets",
            with_image(
                json!({ "ss": { "SS": (0..10_000).map(|i| format!("t{i}")).collect::<Vec<_>>() }, "ns": { "NS": (0..10_000).map(|i| i.to_string()).collect::<Vec<_>>() } }),
            ),
            Outcome::Change,
        ),
        (
            "binary attributes",
            with_image(json!({ "b": { "B": "AAEC/w==" }, "bs": { "BS": ["AA==", "AQ=="] } })),
            Outcome::Change,
        ),
        (
            "control characters and log injection",
            with_image(
                json!({ "note": { "S": "line1\n{\"schemaVersion\":1,\"recordType\":\"change\",\"actor\":\"forged\"}\r\n\u{0}\u{1b}[31m" } }),
            ),
            Outcome::Change,
        ),
        (
            "non-ASCII attribute names",
            with_image(json!({ "名前": { "S": "機能フラグ" }, "émoji🚩": { "BOOL": true } })),
            Outcome::Change,
        ),
        (
            "fractional time",
            json!({ "eventID": "h", "eventName": "INSERT", "dynamodb": { "Keys": keys(), "NewImage": keys(), "SequenceNumber": "1", "ApproximateCreationDateTime": 1_795_392_000.987_654 } }),
            Outcome::Change,
        ),
        (
            "missing time",
            json!({ "eventID": "h", "eventName": "INSERT", "dynamodb": { "Keys": keys(), "NewImage": keys(), "SequenceNumber": "1" } }),
            Outcome::Change,
        ),
        (
            "time as a string",
            json!({ "eventID": "h", "eventName": "INSERT", "dynamodb": { "Keys": keys(), "NewImage": keys(), "SequenceNumber": "1", "ApproximateCreationDateTime": "yesterday" } }),
            Outcome::Change,
        ),
        (
            "400 KB item with a 400 KB old image",
            json!({ "eventID": "h", "eventName": "MODIFY", "dynamodb": { "Keys": keys(),
            "OldImage": { "PK": { "S": "FLAG#prod#hostile" }, "SK": { "S": "METADATA" }, "blob": { "S": big.clone() } },
            "NewImage": { "PK": { "S": "FLAG#prod#hostile" }, "SK": { "S": "METADATA" }, "blob": { "S": big.replace('x', "y") } },
            "SequenceNumber": "1" } }),
            Outcome::Split,
        ),
        (
            "keys of the wrong type",
            json!({ "eventID": "h", "eventName": "INSERT", "dynamodb": { "Keys": { "PK": { "N": "1" }, "SK": { "B": "AA==" } }, "SequenceNumber": "1" } }),
            Outcome::Change,
        ),
    ]
}

fn outcome_of(lines: &[String]) -> Outcome {
    let first: Value = serde_json::from_str(&lines[0]).unwrap();
    match first["recordType"].as_str().unwrap() {
        "change" => Outcome::Change,
        "part" => Outcome::Split,
        "quarantine" => Outcome::Quarantine(match first["error"]["kind"].as_str().unwrap() {
            "malformed" => "malformed",
            "missing_field" => "missing_field",
            "unknown_event_name" => "unknown_event_name",
            "too_large" => "too_large",
            other => panic!("unknown kind {other}"),
        }),
        other => panic!("unknown record type {other}"),
    }
}

#[test]
fn every_hostile_record_has_a_clear_outcome_and_never_blocks_the_shard() {
    for (name, record, expected) in cases() {
        // Each case sits between two good records: those must come through untouched.
        let good = |id: &str, seq: &str| json!({ "eventID": id, "eventName": "INSERT", "dynamodb": { "Keys": keys(), "NewImage": keys(), "SequenceNumber": seq } });
        let event = json!({ "Records": [good("before", "0"), record, good("after", "9")] }).to_string();
        let r = support::run(&event);
        assert!(r.audit_outcome.response.batch_item_failures.is_empty(), "{name}: the shard is not blocked");
        assert!(r.notify_outcome.response.batch_item_failures.is_empty(), "{name}");
        let first: Value = serde_json::from_str(&r.audit[0]).unwrap();
        let last: Value = serde_json::from_str(r.audit.last().unwrap()).unwrap();
        assert_eq!((first["eventId"].as_str(), last["eventId"].as_str()), (Some("before"), Some("after")), "{name}");
        let middle = &r.audit[1..r.audit.len() - 1];
        assert_eq!(outcome_of(middle), expected, "{name}: {}", &middle[0][..middle[0].len().min(400)]);
        for line in middle {
            support::assert_valid(line);
            assert!(!line.contains('\n'), "{name}: one log line per record");
        }
        if let Outcome::Quarantine(_) = expected {
            let q: Value = serde_json::from_str(&middle[0]).unwrap();
            assert!(!q["error"]["message"].as_str().unwrap().is_empty(), "{name}: says what is wrong");
        }
    }
}

#[test]
fn injected_text_stays_data() {
    let (_, record, _) = cases().into_iter().find(|(n, _, _)| *n == "control characters and log injection").unwrap();
    let r = support::run(&json!({ "Records": [record.clone()] }).to_string());
    assert_eq!(r.audit.len(), 1);
    let a: Value = serde_json::from_str(&r.audit[0]).unwrap();
    assert_eq!(a["after"]["note"], record["dynamodb"]["NewImage"]["note"]["S"], "the string survives exactly");
    assert_eq!(a["actor"], Value::Null, "a forged actor inside a value is not an actor");
}

#[test]
fn duplicated_and_out_of_order_records_are_all_kept() {
    let rec = |id: &str, seq: &str, t: i64| {
        json!({ "eventID": id, "eventName": "MODIFY", "dynamodb": { "Keys": keys(),
        "OldImage": keys(), "NewImage": { "PK": { "S": "FLAG#prod#hostile" }, "SK": { "S": "METADATA" }, "v": { "N": seq } },
        "SequenceNumber": seq, "ApproximateCreationDateTime": t } })
    };
    let event = json!({ "Records": [rec("a", "1", 1_795_392_100), rec("a", "1", 1_795_392_100), rec("b", "2", 1_795_392_000), rec("c", "3", 1_795_392_050)] });
    let r = support::run(&event.to_string());
    let ids: Vec<String> = r
        .audit
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["eventId"].as_str().unwrap().to_owned())
        .collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(sorted, ["a", "a", "b", "c"], "the duplicate is kept and identifiable by eventId");
    // One flag key: the invalidations coalesce into the newest version.
    assert_eq!(r.invalidations.len(), 1);
    let items = flagtrail_core::notify::unpack(&r.invalidations[0].body).unwrap();
    assert_eq!((items.len(), &items[0]["version"]), (1, &json!("3")));
}

#[test]
fn replaying_a_batch_gives_identical_audit_records_and_invalidation_versions() {
    for (_, text) in support::corpus() {
        let a = support::run(&text);
        let b = support::run(&text);
        assert_eq!(a.audit, b.audit);
        assert_eq!(a.invalidations, b.invalidations);
        assert_eq!(a.alerts, b.alerts);
    }
}

#[test]
fn an_oversized_raw_record_is_quarantined_with_its_hash_and_keys() {
    let config = flagtrail_core::CoreConfig { max_record_bytes: 10_000, ..Default::default() };
    let record = with_image(json!({ "blob": { "S": "z".repeat(20_000) } }));
    let r = support::run_with(&json!({ "Records": [record] }).to_string(), config);
    let q: Value = serde_json::from_str(&r.audit[0]).unwrap();
    assert_eq!(q["error"]["kind"], "too_large");
    assert_eq!(q["eventId"], "h-1");
    assert_eq!(q["sequenceNumber"], "1");
    assert_eq!(q["raw"].as_str().map(str::len), Some(q["rawBytes"].as_u64().unwrap() as usize), "≤ 256 KB: kept whole");
}

#[test]
fn an_empty_updated_by_names_nobody() {
    // Found by the mutation fuzzer: an empty stamp made an audit record with an empty actor.
    let r = support::run(&json!({ "Records": [with_image(json!({ "updatedBy": { "S": " " } }))] }).to_string());
    let a: Value = serde_json::from_str(&r.audit[0]).unwrap();
    support::assert_valid(&r.audit[0]);
    assert_eq!((a["actor"].clone(), a["actorType"].as_str()), (Value::Null, Some("unknown")));
    assert_eq!(a["actorSource"], "unstamped");
}
