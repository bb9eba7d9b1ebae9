//! Property tests of the core: diffs, exact numbers, sets, and no panic on any image or record.

mod support;

use flagtrail::audit::{diff_items, AuditRecord};
use flagtrail::batch::{decode_entry, Entry};
use flagtrail::value::{AttributeValue, Item, Number};
use flagtrail::CoreConfig;
use proptest::prelude::*;
use serde_json::{json, Value};

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
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

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
        let changes = flagtrail::audit::diff(&c);
        let line = AuditRecord::new(&c, changes.as_ref(), &CoreConfig::default()).to_json();
        prop_assert!(!line.contains('\n'));
    }
}
