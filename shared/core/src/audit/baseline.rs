//! Baseline records: the state of an item the trail has no record of (written before the trail
//! existed, or before a gap that has been accepted), stated once and sealed like any batch, so that
//! from then on every item has a record to continue from.
//!
//! A baseline proves what the table held when it was taken, not who wrote it or when: its
//! `itemDigest` (SHA-256 of the item in canonical DynamoDB JSON, see [`item_digest`]) lets anyone
//! holding a copy of the item at that time check it, without the trail holding the values.

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::record::SCHEMA_VERSION;
use crate::completeness::text_of;
use crate::delivery::LogEvent;
use crate::integrity::{Seal, SealEntry};

/// Baseline records sealed together (one KMS Sign each): 5,000 records of ~400 bytes are two
/// PutLogEvents calls and three seal parts.
pub const RECORDS_PER_SEAL: usize = 5_000;

/// One item as a baseline states it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaselineItem {
    /// `PK`.
    pub pk: String,
    /// `SK`.
    pub sk: String,
    /// `version`, as text.
    pub version: Option<String>,
    /// `requestId`.
    pub request_id: Option<String>,
    /// `sha256:<hex>` of the whole item (see [`item_digest`]).
    pub item_digest: String,
}

impl BaselineItem {
    /// From an item in DynamoDB JSON (`{"PK": {"S": "…"}, …}`, a stream image's form).
    pub fn from_dynamodb_json(item: &Value) -> Self {
        let text = |name: &str| item[name].as_object().and_then(|v| v.values().next()).and_then(text_of);
        BaselineItem {
            pk: text("PK").unwrap_or_default(),
            sk: text("SK").unwrap_or_default(),
            version: text("version"),
            request_id: text("requestId"),
            item_digest: item_digest(item),
        }
    }
}

/// `sha256:<hex>` of an item in DynamoDB JSON, canonical: object keys sorted at every level, the
/// members of sets (`SS`, `NS`, `BS`, unordered in DynamoDB) sorted, no whitespace.
pub fn item_digest(item: &Value) -> String {
    fn canonical(v: &Value, set: bool) -> Value {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                let mut out = serde_json::Map::new();
                for k in keys {
                    out.insert(k.clone(), canonical(&m[k], matches!(k.as_str(), "SS" | "NS" | "BS")));
                }
                Value::Object(out)
            }
            Value::Array(a) => {
                let mut items: Vec<Value> = a.iter().map(|x| canonical(x, false)).collect();
                if set {
                    items.sort_by_key(|x| x.to_string());
                }
                Value::Array(items)
            }
            other => other.clone(),
        }
    }
    format!("sha256:{}", hex::encode(Sha256::digest(canonical(item, false).to_string().as_bytes())))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BaselineRecord<'a> {
    schema_version: u32,
    record_type: &'static str,
    event_id: String,
    baseline_at: &'a str,
    environment: Option<String>,
    keys: Keys<'a>,
    item_version: Option<u64>,
    version: Option<&'a str>,
    request_id: Option<&'a str>,
    item_digest: &'a str,
}

#[derive(Serialize)]
struct Keys<'a> {
    #[serde(rename = "PK")]
    pk: &'a str,
    #[serde(rename = "SK")]
    sk: &'a str,
}

/// The id of a baseline of this state: the same state always gets the same id.
fn baseline_id(item: &BaselineItem) -> String {
    let mut h = Sha256::new();
    for part in
        [Some(&item.pk), Some(&item.sk), item.version.as_ref(), item.request_id.as_ref(), Some(&item.item_digest)]
    {
        match part {
            Some(p) => h.update(format!("{}:{p};", p.len())),
            None => h.update("-;"),
        }
    }
    format!("baseline-{}", &hex::encode(h.finalize())[..32])
}

/// The environment of a flag table key (`FLAG#{env}#…`, `KILLSWITCH#{env}`).
fn environment(pk: &str) -> Option<String> {
    let rest = pk.strip_prefix("FLAG#").or_else(|| pk.strip_prefix("KILLSWITCH#"))?;
    let env = rest.split('#').next()?;
    (!env.is_empty()).then(|| env.to_owned())
}

/// The baseline record of `item` taken at `at` (RFC 3339), with its id.
pub fn baseline_record(item: &BaselineItem, at: &str) -> (String, String) {
    let id = baseline_id(item);
    let record = BaselineRecord {
        schema_version: SCHEMA_VERSION,
        record_type: "baseline",
        event_id: id.clone(),
        baseline_at: at,
        environment: environment(&item.pk),
        keys: Keys { pk: &item.pk, sk: &item.sk },
        item_version: item.version.as_deref().and_then(|v| v.parse().ok()),
        version: item.version.as_deref(),
        request_id: item.request_id.as_deref(),
        item_digest: &item.item_digest,
    };
    (id, serde_json::to_string(&record).expect("a baseline record serializes"))
}

/// One sealed batch of baseline records, before signing: the records as log events at
/// `timestamp_ms`, and the seal over them (its parts are added once signed).
pub fn plan_baseline(items: &[BaselineItem], at: &str, timestamp_ms: i64) -> (Vec<LogEvent>, Seal) {
    let mut events = Vec::with_capacity(items.len());
    let mut entries = Vec::with_capacity(items.len());
    for item in items {
        let (id, message) = baseline_record(item, at);
        entries.push(SealEntry::of(id, &message));
        events.push(LogEvent { timestamp_ms, message });
    }
    (events, Seal { stream_arn: None, first_sequence_number: None, last_sequence_number: None, entries })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::completeness::{reconcile, ItemKey, TableItem, TrailRecord};
    use serde_json::json;

    fn item() -> Value {
        json!({"PK": {"S": "FLAG#prod#checkout"}, "SK": {"S": "METADATA"}, "version": {"N": "7"},
               "requestId": {"S": "r7"}, "tags": {"SS": ["b", "a"]}, "rules": {"M": {"z": {"N": "1"}, "a": {"BOOL": true}}}})
    }

    #[test]
    fn the_digest_ignores_key_and_set_order_and_nothing_else() {
        let a = item_digest(&item());
        let reordered = json!({"rules": {"M": {"a": {"BOOL": true}, "z": {"N": "1"}}}, "tags": {"SS": ["a", "b"]},
            "requestId": {"S": "r7"}, "version": {"N": "7"}, "SK": {"S": "METADATA"}, "PK": {"S": "FLAG#prod#checkout"}});
        assert_eq!(a, item_digest(&reordered));
        let mut changed = item();
        changed["rules"]["M"]["z"]["N"] = json!("2");
        assert_ne!(a, item_digest(&changed));
        assert!(a.starts_with("sha256:") && a.len() == 7 + 64);
    }

    #[test]
    fn a_baseline_record_is_read_back_as_the_state_it_states() {
        let b = BaselineItem::from_dynamodb_json(&item());
        assert_eq!(
            (b.pk.as_str(), b.version.as_deref(), b.request_id.as_deref()),
            ("FLAG#prod#checkout", Some("7"), Some("r7"))
        );
        let (id, text) = baseline_record(&b, "2026-12-02T10:00:00Z");
        assert_eq!(id, baseline_record(&b, "2027-01-01T00:00:00Z").0, "the same state, the same id");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            (v["recordType"].as_str(), v["environment"].as_str(), v["itemVersion"].as_u64()),
            (Some("baseline"), Some("prod"), Some(7))
        );
        let r = TrailRecord::from_json(&v).unwrap();
        let table = TableItem {
            key: ItemKey::new("FLAG#prod#checkout", "METADATA"),
            version: Some("7".into()),
            request_id: Some("r7".into()),
        };
        assert_eq!(reconcile(std::slice::from_ref(&table), &[r]), vec![]);
        let (events, seal) = plan_baseline(&[b], "2026-12-02T10:00:00Z", 5);
        assert_eq!((events.len(), seal.entries.len(), seal.entries[0].id.as_str()), (1, 1, id.as_str()));
    }
}
