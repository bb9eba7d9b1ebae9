//! Large, realistic, deterministic Lambda stream events (`flagtrail gen-events`, benchmarks, load tests).

use serde_json::{json, Value};

/// xorshift64*: deterministic and dependency-free; quality is irrelevant here.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len() as u64) as usize]
    }
}

const ENVS: [&str; 3] = ["prod", "staging", "dev"];
const TEAMS: [&str; 6] = ["payments", "web", "mobile", "search", "growth", "platform"];
const PEOPLE: [&str; 5] =
    ["alice@example.com", "bob@example.com", "carol@example.com", "dave@example.com", "erin@example.com"];

fn s(v: &str) -> Value {
    json!({ "S": v })
}
fn n(v: impl ToString) -> Value {
    json!({ "N": v.to_string() })
}

fn flag_image(r: &mut Rng, env: &str, key: &str, version: u64, rollout: u64, small: bool) -> Value {
    let who = r.pick(&PEOPLE);
    if small {
        // The least a writer stores: keys, the value, and the stamps that attribute the change.
        return json!({
            "PK": s(&format!("FLAG#{env}#{key}")), "SK": s("METADATA"), "defaultEnabled": { "BOOL": rollout > 50 },
            "updatedBy": s(who), "version": n(version),
        });
    }
    json!({
        "PK": s(&format!("FLAG#{env}#{key}")), "SK": s("METADATA"), "flagKey": s(key),
        "defaultEnabled": { "BOOL": rollout > 50 }, "rolloutPercentage": n(rollout),
        "updatedBy": s(who), "updatedAt": s(&format!("2026-11-22T{:02}:{:02}:00.000Z", version % 24, version % 60)),
        "requestId": s(&format!("req-{:016x}", r.next())), "version": n(version),
        "description": s("Redesigned checkout page with saved cards"),
        "owner": s(&format!("{}-team", r.pick(&TEAMS))),
        "teams": { "SS": [r.pick(&TEAMS), r.pick(&["web", "ios", "android"])] },
        "createdAt": s("2026-10-01T08:30:00.000Z"),
        "targetSegments": { "L": [
            { "M": { "type": s("region"), "operator": s("in"), "value": { "SS": ["EU", "JP", "US"] } } } ] },
        "conditions": { "L": [
            { "M": { "field": s("appVersion"), "operator": s("gte"), "value": n("4.12") } } ] },
    })
}

/// What a generated batch is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Mix {
    /// 70 % flag updates over 500 flags in three environments, 15 % tenant overrides, 5 % kill switches.
    #[default]
    Realistic,
    /// Half the batch flips the kill switches of 30 flags of the `production` environment on and
    /// off (each flapping many times), 5 % flip the global kill switches; the rest realistic.
    /// (`production`, not `prod`: a global kill switch of `prod` would absorb the storm's
    /// invalidations, and the delivery benchmark ends every batch with one.)
    KillSwitchStorm,
    /// 90 % tenant overrides in `production`: thousands of tenants over 500 flags (a bulk import).
    OverrideStorm,
    /// 90 % flag updates spread over 5,000 flags (a bulk edit).
    ManyFlags,
}

/// One batch of `count` realistic records as a Lambda event.
pub fn event(count: usize, small: bool, seed: u64) -> Value {
    event_mix(count, small, seed, Mix::Realistic)
}

/// One batch of `count` records of `mix` as a Lambda event.
pub fn event_mix(count: usize, small: bool, seed: u64, mix: Mix) -> Value {
    let mut r = Rng(seed.max(1));
    let mut seq: u128 = 500_000_000_000_000_000_000_000;
    let mut records = Vec::with_capacity(count);
    for i in 0..count {
        seq += 1 + r.below(100) as u128;
        let mut env = r.pick(&ENVS);
        let mut key = format!("flag-{:04}", r.below(500));
        let version = 1 + r.below(50);
        let mut roll = r.below(100);
        let mut kind = r.below(100);
        let storm = r.below(100);
        match mix {
            Mix::Realistic => {}
            Mix::KillSwitchStorm if storm < 50 => {
                (env, key, kind) = ("production", format!("flag-{:04}", r.below(30)), 99);
                roll = i as u64; // flapping: on, off, on, … as the batch goes
            }
            Mix::KillSwitchStorm if storm < 55 => kind = 100,
            Mix::KillSwitchStorm => {}
            Mix::OverrideStorm if storm < 90 => (env, kind) = ("production", 80),
            Mix::OverrideStorm => {}
            Mix::ManyFlags if storm < 90 => (key, kind) = (format!("flag-{:04}", r.below(5_000)), 0),
            Mix::ManyFlags => {}
        }
        let (name, keys, old, new) = if kind == 100 {
            let keys = json!({"PK": s(&format!("KILLSWITCH#{env}")), "SK": s("GLOBAL")});
            let img = |enabled: bool, v: u64, r: &mut Rng| {
                let mut m = keys.clone();
                let extra = json!({"enabled": {"BOOL": enabled}, "reason": s("Incident drill"), "updatedBy": s(r.pick(&PEOPLE)),
                    "updatedAt": s("2026-11-22T10:00:00.000Z"), "requestId": s(&format!("req-{:016x}", r.next())), "version": n(v)});
                m.as_object_mut().expect("object").extend(extra.as_object().expect("object").clone());
                m
            };
            let on = i % 2 == 0;
            let old = img(!on, version, &mut r);
            let new = img(on, version + 1, &mut r);
            ("MODIFY", keys, Some(old), Some(new))
        } else if kind < 70 {
            let old = flag_image(&mut r, env, &key, version, roll, small);
            let new = flag_image(&mut r, env, &key, version + 1, (roll + 10) % 100, small);
            ("MODIFY", json!({"PK": old["PK"], "SK": old["SK"]}), Some(old), Some(new))
        } else if kind < 75 {
            let new = flag_image(&mut r, env, &key, 1, roll, small);
            ("INSERT", json!({"PK": new["PK"], "SK": new["SK"]}), None, Some(new))
        } else if kind < 80 {
            let old = flag_image(&mut r, env, &key, version, roll, small);
            ("REMOVE", json!({"PK": old["PK"], "SK": old["SK"]}), Some(old), None)
        } else if kind < 95 {
            let tenant = format!("tenant-{:05}", r.below(20_000));
            let keys = json!({"PK": s(&format!("FLAG#{env}#{key}")), "SK": s(&format!("TENANT#{tenant}"))});
            let img = |enabled: bool, v: u64, r: &mut Rng| {
                let mut m = keys.clone();
                let extra = json!({"tenantId": s(&tenant), "enabled": {"BOOL": enabled}, "updatedBy": s(r.pick(&PEOPLE)),
                    "updatedAt": s("2026-11-22T10:00:00.000Z"), "requestId": s(&format!("req-{:016x}", r.next())), "version": n(v)});
                m.as_object_mut().expect("object").extend(extra.as_object().expect("object").clone());
                m
            };
            let old = img(roll.is_multiple_of(2), version, &mut r);
            let new = img(roll % 2 == 1, version + 1, &mut r);
            ("MODIFY", keys, Some(old), Some(new))
        } else {
            let keys = json!({"PK": s(&format!("FLAG#{env}#{key}")), "SK": s("KILLSWITCH")});
            let img = |enabled: bool, v: u64, r: &mut Rng| {
                let mut m = keys.clone();
                let extra = json!({"enabled": {"BOOL": enabled}, "reason": s("Elevated error rate on checkout"), "updatedBy": s(r.pick(&PEOPLE)),
                    "updatedAt": s("2026-11-22T10:00:00.000Z"), "requestId": s(&format!("req-{:016x}", r.next())), "version": n(v)});
                m.as_object_mut().expect("object").extend(extra.as_object().expect("object").clone());
                m
            };
            let on = roll.is_multiple_of(2);
            let old = img(!on, version, &mut r);
            let new = img(on, version + 1, &mut r);
            ("MODIFY", keys, Some(old), Some(new))
        };
        let mut ddb = json!({
            "ApproximateCreationDateTime": 1_795_392_000 + i as u64,
            "Keys": keys, "SequenceNumber": seq.to_string(), "SizeBytes": 1400, "StreamViewType": "NEW_AND_OLD_IMAGES",
        });
        if let Some(o) = old {
            ddb["OldImage"] = o;
        }
        if let Some(nw) = new {
            ddb["NewImage"] = nw;
        }
        records.push(json!({
            "eventID": format!("{:032x}", (r.next() as u128) << 64 | r.next() as u128),
            "eventName": name, "eventVersion": "1.1", "eventSource": "aws:dynamodb", "awsRegion": "eu-west-1",
            "dynamodb": ddb,
            "eventSourceARN": format!("arn:aws:dynamodb:eu-west-1:123456789012:table/feature-flags-{env}/stream/2026-11-01T00:00:00.000"),
        }));
    }
    json!({ "Records": records })
}

/// Changes whose alerts and invalidations test the SNS rules: a kill switch on a 120-character
/// flag key, one on a Japanese key, one on a key with a space, reasons with control characters and
/// line breaks, a flag created with an empty owner and a blank team, and one with a 120-character
/// key. Every one of them must end published (see `flagtrail_core::delivery::rules`).
pub fn hostile_notifications() -> Value {
    let long = format!("flag-{}", "x".repeat(115));
    let stamp = |m: &mut Value, who: &str, req: &str| {
        let extra = json!({"updatedBy": s(who), "updatedAt": s("2026-11-22T10:00:00.000Z"), "requestId": s(req), "version": n(1)});
        m.as_object_mut().expect("object").extend(extra.as_object().expect("object").clone());
    };
    let kill_switch = |env: &str, key: &str, reason: &str, i: u32| {
        let keys = json!({"PK": s(&format!("FLAG#{env}#{key}")), "SK": s("KILLSWITCH")});
        let mut img = keys.clone();
        img["enabled"] = json!({"BOOL": true});
        img["reason"] = s(reason);
        stamp(&mut img, "carol@example.com", &format!("req-hostile-{i}"));
        ("INSERT", keys, img)
    };
    let flag = |env: &str, key: &str, owner: &str, teams: Value, i: u32| {
        let keys = json!({"PK": s(&format!("FLAG#{env}#{key}")), "SK": s("METADATA")});
        let mut img = keys.clone();
        img["flagKey"] = s(key);
        img["owner"] = s(owner);
        img["teams"] = teams;
        img["defaultEnabled"] = json!({"BOOL": false});
        stamp(&mut img, "alice@example.com", &format!("req-hostile-{i}"));
        ("INSERT", keys, img)
    };
    let changes = [
        kill_switch("prod", &long, "Elevated error rate", 1),
        kill_switch("prod", "チェックアウト-新規", "決済プロバイダ障害", 2),
        kill_switch("prod", "has space/and\u{7f}del", "\u{1}line one\nline two\r\n\tend", 3),
        kill_switch("staging", "reason-with-breaks", "first\nsecond\u{1b}[31m red", 4),
        flag("prod", "owner-blank", "", json!({"L": [s("")]}), 5),
        flag("dev", "owner-newline", "team\nlead", json!({"SS": ["a", " "]}), 6),
        flag("prod", &long, "payments", json!({"L": [s("payments")]}), 7),
    ];
    let records: Vec<Value> = changes
        .into_iter()
        .enumerate()
        .map(|(i, (name, keys, img))| {
            json!({
                "eventID": format!("hostile-{i:02}"), "eventName": name, "eventVersion": "1.1",
                "eventSource": "aws:dynamodb", "awsRegion": "eu-west-1",
                "dynamodb": {
                    "ApproximateCreationDateTime": 1_795_392_000 + i as u64, "Keys": keys, "NewImage": img,
                    "SequenceNumber": format!("{}", 700_000_000_000_000_000_000u128 + i as u128), "SizeBytes": 300,
                    "StreamViewType": "NEW_AND_OLD_IMAGES",
                },
                "eventSourceARN": "arn:aws:dynamodb:eu-west-1:123456789012:table/feature-flags/stream/2026-11-01T00:00:00.000",
            })
        })
        .collect();
    json!({ "Records": records })
}
