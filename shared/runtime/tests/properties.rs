//! Property tests of the core: diffs, exact numbers, sets, and no panic on any image or record.

use crate::support;

use flagtrail_core::audit::{diff_items, AuditRecord};
use flagtrail_core::event::{decode_entry, Entry};
use flagtrail_core::value::{AttributeValue, Item, Number};
use flagtrail_core::CoreConfig;
use proptest::prelude::*;
use serde_json::{json, Value};

/// A fixed seed keeps CI deterministic; `PROPTEST_RNG_SEED` and `PROPTEST_CASES` override it for
/// long fuzzing runs with fresh inputs.
fn config(cases: u32) -> ProptestConfig {
    let from_env = ProptestConfig::default();
    ProptestConfig {
        cases: if std::env::var_os("PROPTEST_CASES").is_some() { from_env.cases } else { cases },
        rng_seed: if std::env::var_os("PROPTEST_RNG_SEED").is_some() {
            from_env.rng_seed
        } else {
            proptest::test_runner::RngSeed::Fixed(0x5eed_f1a9)
        },
        ..from_env
    }
}

/// Decimal text as DynamoDB may send it: up to 38 significant digits, optional fraction/exponent.
fn decimal() -> impl Strategy<Value = String> {
    ("-?", "[1-9][0-9]{0,37}", proptest::option::of("[0-9]{1,10}"), proptest::option::of(-30i32..30)).prop_map(
        |(sign, int, frac, exp)| {
            let mut s = format!("{sign}{int}");
            if let Some(f) = frac {
                s.push('.');
                s.push_str(&f);
            }
            if let Some(e) = exp {
                s.push_str(&format!("E{e}"));
            }
            s
        },
    )
}

/// Any typed attribute value as JSON, up to a few levels deep.
fn typed_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        any::<String>().prop_map(|s| json!({ "S": s })),
        decimal().prop_map(|n| json!({ "N": n })),
        any::<bool>().prop_map(|b| json!({ "BOOL": b })),
        Just(json!({ "NULL": true })),
        proptest::collection::vec(any::<u8>(), 0..16).prop_map(|b| {
            use base64::Engine;
            json!({ "B": base64::engine::general_purpose::STANDARD.encode(b) })
        }),
        proptest::collection::btree_set("[a-z]{1,6}", 1..5).prop_map(|s| json!({ "SS": s })),
        proptest::collection::btree_set(decimal(), 1..5).prop_map(|s| json!({ "NS": s })),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(|l| json!({ "L": l })),
            proptest::collection::btree_map("[a-zA-Z0-9_é]{1,8}", inner, 0..5).prop_map(|m| json!({ "M": m })),
        ]
    })
}

fn typed_item() -> impl Strategy<Value = serde_json::Map<String, Value>> {
    proptest::collection::btree_map("[a-zA-Z]{1,10}", typed_value(), 0..8).prop_map(|m| m.into_iter().collect())
}

fn record(name: &str, keys: Value, old: Option<Value>, new: Option<Value>) -> String {
    let mut ddb = json!({ "Keys": keys, "SequenceNumber": "100", "StreamViewType": "NEW_AND_OLD_IMAGES", "ApproximateCreationDateTime": 1_795_392_000 });
    if let Some(o) = old {
        ddb["OldImage"] = o;
    }
    if let Some(n) = new {
        ddb["NewImage"] = n;
    }
    json!({ "eventID": "e-1", "eventName": name, "dynamodb": ddb }).to_string()
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn the_diff_of_an_item_with_itself_is_empty(item in typed_item()) {
        let item: Item = serde_json::from_value(Value::Object(item)).unwrap();
        prop_assert!(diff_items(&item, &item).is_empty());
    }

    #[test]
    fn numbers_round_trip_exactly(n in decimal()) {
        let v: AttributeValue = serde_json::from_value(json!({ "N": n })).unwrap();
        let AttributeValue::N(num) = &v else { panic!("not a number") };
        prop_assert_eq!(num.as_str(), n.as_str());
        // Written back as DynamoDB JSON, the text is untouched; written to the trail, all digits survive.
        prop_assert_eq!(v.to_typed_json(), json!({ "N": n }));
        let text = serde_json::to_string(&v).unwrap();
        let digits = |s: &str| s.chars().filter(char::is_ascii_digit).collect::<String>();
        prop_assert_eq!(digits(&text), digits(&n));
        prop_assert_eq!(Number::parse(&text).unwrap(), num.clone());
    }

    #[test]
    fn set_order_never_produces_a_change(mut set in proptest::collection::vec("[a-z]{1,4}", 1..10), mut nums in proptest::collection::vec(decimal(), 1..10), seed in any::<u64>()) {
        set.sort();
        set.dedup();
        nums.sort();
        nums.dedup();
        let old: Item = serde_json::from_value(json!({ "s": { "SS": set }, "n": { "NS": nums } })).unwrap();
        let rotate = |v: &mut Vec<String>| { let k = (seed as usize) % v.len(); v.rotate_left(k); v.reverse(); };
        rotate(&mut set);
        rotate(&mut nums);
        let new: Item = serde_json::from_value(json!({ "s": { "SS": set }, "n": { "NS": nums } })).unwrap();
        prop_assert!(diff_items(&old, &new).is_empty());
    }

    #[test]
    fn no_image_makes_the_core_panic(old in typed_item(), new in typed_item(), name in prop_oneof![Just("INSERT"), Just("MODIFY"), Just("REMOVE")], pk in "(FLAG#|KILLSWITCH#)?[a-z#]{0,12}", sk in prop_oneof![Just("METADATA".to_owned()), Just("KILLSWITCH".to_owned()), Just("GLOBAL".to_owned()), "TENANT#[a-z]{0,5}"]) {
        let raw = record(name, json!({ "PK": { "S": pk }, "SK": { "S": sk } }), Some(Value::Object(old)), Some(Value::Object(new)));
        let config = CoreConfig { redacted_attributes: vec!["a".into()], ..Default::default() };
        let r = support::run_with(&format!("{{\"Records\":[{raw}]}}"), config);
        prop_assert_eq!(r.audit.len(), 1);
        support::assert_valid(&r.audit[0]);
        prop_assert!(r.audit[0].contains("\"recordType\":\"change\""));
    }

    #[test]
    fn no_record_text_makes_decoding_panic(raw in ".{0,300}") {
        let entry = decode_entry(&raw, &CoreConfig::default());
        if let Entry::Quarantined(q) = entry {
            support::assert_valid(&q.to_json());
        }
    }

    #[test]
    fn strings_cannot_forge_log_lines(s in ".*\n.*") {
        let raw = record("INSERT", json!({ "PK": { "S": "X" }, "SK": { "S": "Y" } }), None, Some(json!({ "note": { "S": s }, "PK": { "S": "X" }, "SK": { "S": "Y" } })));
        let Entry::Change(c) = decode_entry(&raw, &CoreConfig::default()) else { panic!("decodes") };
        let changes = flagtrail_core::audit::diff(&c);
        let line = AuditRecord::new(&c, changes.as_ref(), &CoreConfig::default()).to_json();
        prop_assert!(!line.contains('\n'));
    }
}

/// Any JSON value, for mutations.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| json!(f)),
        ".{0,20}".prop_map(Value::String),
        prop_oneof![
            Just("S"),
            Just("N"),
            Just("B"),
            Just("M"),
            Just("L"),
            Just("SS"),
            Just("NS"),
            Just("BOOL"),
            Just("NULL"),
            Just("X")
        ]
        .prop_flat_map(|t| ".{0,8}".prop_map(move |v| json!({ t: v }))),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map("[A-Za-z]{1,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Replaces (or deletes) the value at a pseudo-random path chosen by `steps`.
fn mutate(v: &mut Value, steps: &[usize], replacement: &Option<Value>) {
    let Some((step, rest)) = steps.split_first() else {
        if let Some(r) = replacement {
            *v = r.clone();
        }
        return;
    };
    let is_container = matches!(v, Value::Object(m) if !m.is_empty()) || matches!(v, Value::Array(a) if !a.is_empty());
    if !is_container {
        if let Some(r) = replacement {
            *v = r.clone();
        }
        return;
    }
    match v {
        Value::Object(m) => {
            let k = m.keys().nth(step % m.len()).unwrap().clone();
            match (rest.is_empty(), replacement) {
                (true, None) => {
                    m.remove(&k);
                }
                _ => mutate(m.get_mut(&k).unwrap(), rest, replacement),
            }
        }
        Value::Array(a) => {
            let n = step % a.len();
            match (rest.is_empty(), replacement) {
                (true, None) => {
                    a.remove(n);
                }
                _ => mutate(&mut a[n], rest, replacement),
            }
        }
        _ => {}
    }
}

fn corpus_records() -> &'static [Value] {
    static RECORDS: std::sync::OnceLock<Vec<Value>> = std::sync::OnceLock::new();
    RECORDS.get_or_init(|| {
        support::corpus()
            .into_iter()
            .flat_map(|(_, t)| serde_json::from_str::<Value>(&t).unwrap()["Records"].as_array().unwrap().clone())
            .collect()
    })
}

proptest! {
    #![proptest_config(config(512))]

    /// The fuzz target (cargo fuzz needs a nightly toolchain, which this machine cannot fetch): real
    /// records, structurally mutated, through decoding and every derivation. Run it longer with
    /// `PROPTEST_CASES=200000 cargo test --release -p flagtrail-runtime --test runtime properties::mutated`.
    #[test]
    fn mutated_corpus_records_never_panic_and_always_yield_a_valid_record(
        pick in any::<usize>(),
        mutations in proptest::collection::vec((proptest::collection::vec(any::<usize>(), 1..6), proptest::option::of(any_json())), 1..4),
    ) {
        let records = corpus_records();
        let mut record = records[pick % records.len()].clone();
        for (path, replacement) in mutations {
            mutate(&mut record, &path, &replacement);
        }
        let r = support::run(&json!({ "Records": [record] }).to_string());
        prop_assert!(!r.audit.is_empty());
        for l in &r.audit {
            support::assert_valid(l);
        }
        prop_assert!(r.audit_outcome.response.batch_item_failures.is_empty());
        prop_assert!(r.notify_outcome.response.batch_item_failures.is_empty());
    }
}
