//! Invalidations packed into v2 messages: `{"schemaVersion":2,"invalidations":[…]}`, one
//! environment (or, on a FIFO topic, one message group) per message, at most [`PACK_BYTES`].
//!
//! Why: a batch of thousands of tenant overrides is thousands of invalidations; one SNS message
//! each is hundreds of PublishBatch calls (10 entries each), several round trips behind the first.
//! Packed, the same batch is a few calls. Filter policies keep working: on a standard topic a
//! message holds one environment and one scope, both plain `String` attributes as in v1, and
//! `flagKey` and `tenantId` become `String.Array` attributes listing every value in the message
//! (SNS matches a policy when any element matches; a flag-level message has no `tenantId`). A
//! subscriber filtering on a flag then also receives the other invalidations packed with it:
//! dropping more than needed is safe, missing one is not. Consumers read v1 and v2
//! (`consumers/node`, docs/freshness.md).

use std::collections::{BTreeSet, HashMap};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::invalidation::Invalidation;
use super::message::{attribute_value, fifo_group_id, invalidation_group_id, invalidation_message, Message};
use crate::delivery::Outbox;

/// Largest packed message: SNS bills each 64 KB chunk of a message as one request, and four of
/// them still fit one PublishBatch call (256 KB).
pub const PACK_BYTES: usize = 64 * 1024;

/// How notify turns invalidations into SNS messages (`FLAGTRAIL_INVALIDATION_MESSAGES`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Packing {
    /// One v1 message per invalidation (`single`): for consumers that only read v1.
    Single,
    /// v2 messages, one priority, environment and scope each (`packed`, the default on a standard topic).
    #[default]
    PerEnvironment,
    /// v2 messages, one FIFO message group each (`packed` on a FIFO topic: order per group holds).
    PerGroup,
}

/// An invalidation with the batch positions of the records behind it and its v2 item's JSON text
/// (serialized once: it sizes the chunk and then goes into the body).
type Covered = (Vec<usize>, Invalidation, String);

/// The messages for `kept` (coalesced invalidations with the records they cover and their
/// priority), in order: a bucket (priority, environment or group) is placed where its first
/// invalidation was.
pub fn pack(kept: Vec<(Vec<usize>, Invalidation, u8)>, packing: Packing) -> Outbox<Message> {
    let mut out = Outbox::with_capacity(kept.len());
    if packing == Packing::Single {
        for (covers, i, priority) in kept {
            out.push_with(invalidation_message(&i), covers, priority);
        }
        return out;
    }
    // Standard topics: one bucket per priority, environment and scope, so `environment` and
    // `scope` stay plain strings and a policy on a missing attribute (`tenantId` absent: flag-level
    // only) still tells messages apart. FIFO topics: one bucket per message group, whatever the
    // priorities inside, so that the group's shard order holds; the bucket takes the most urgent.
    let mut buckets: Vec<(u8, Vec<Covered>)> = Vec::new();
    let mut index: HashMap<(u8, String, &'static str), usize> = HashMap::new();
    for (covers, i, priority) in kept {
        let by = match packing {
            Packing::PerGroup => (0, invalidation_group_id(&i), ""),
            _ => (priority, i.environment.clone(), i.scope.as_str()),
        };
        let at = *index.entry(by).or_insert_with(|| {
            buckets.push((priority, Vec::new()));
            buckets.len() - 1
        });
        buckets[at].0 = buckets[at].0.min(priority);
        let text = item_json(&i);
        buckets[at].1.push((covers, i, text));
    }
    for (priority, items) in buckets {
        let mut chunk: Vec<Covered> = Vec::new();
        let mut bytes = 0;
        for (covers, i, text) in items {
            // The item in the body and, at worst, its flag and tenant in the attributes.
            let cost = text.len()
                + 1
                + i.flag_key.as_ref().map_or(0, |f| f.len() + 3)
                + i.tenant_id.as_ref().map_or(0, |t| t.len() + 3);
            if !chunk.is_empty() && bytes + cost > PACK_BYTES - 512 {
                emit(&mut out, std::mem::take(&mut chunk), priority, packing);
                bytes = 0;
            }
            bytes += cost;
            chunk.push((covers, i, text));
        }
        if !chunk.is_empty() {
            emit(&mut out, chunk, priority, packing);
        }
    }
    out
}

/// The invalidations a message body carries, v1 (one object) or v2 (packed), as JSON objects;
/// `None` if the body is neither.
pub fn unpack(body: &str) -> Option<Vec<Value>> {
    let v: Value = serde_json::from_str(body).ok()?;
    match v.get("schemaVersion").and_then(Value::as_u64) {
        Some(1) => Some(vec![v]),
        Some(2) => v.get("invalidations")?.as_array().cloned(),
        _ => None,
    }
}

/// One invalidation inside a v2 message, as JSON text: the v1 object without its `schemaVersion`.
fn item_json(i: &Invalidation) -> String {
    let mut v = serde_json::to_value(i).unwrap_or(Value::Null);
    if let Some(o) = v.as_object_mut() {
        o.remove("schemaVersion");
    }
    v.to_string()
}

/// Adds the v2 message of `chunk`; one that turns out over [`PACK_BYTES`] once escaped (the
/// estimate cannot see JSON escapes in keys) is cut in two, so the bound holds.
fn emit(out: &mut Outbox<Message>, mut chunk: Vec<Covered>, priority: u8, packing: Packing) {
    let (message, covers) = packed_message(&chunk, packing);
    if message.size() > PACK_BYTES && chunk.len() > 1 {
        let second = chunk.split_off(chunk.len() / 2);
        emit(out, chunk, priority, packing);
        emit(out, second, priority, packing);
        return;
    }
    out.push_with(message, covers, priority);
}

/// The v2 message carrying `chunk`, and the records it covers.
fn packed_message(chunk: &[Covered], packing: Packing) -> (Message, Vec<usize>) {
    let first = &chunk[0].1;
    let group_id = match packing {
        Packing::PerGroup => invalidation_group_id(first),
        _ => fifo_group_id(&first.environment),
    };
    let values = |f: &dyn Fn(&Invalidation) -> Option<&str>| -> BTreeSet<String> {
        chunk.iter().filter_map(|(_, i, _)| f(i)).filter_map(attribute_value).collect()
    };
    let scopes = values(&|i| Some(i.scope.as_str()));
    let mut attributes = std::collections::BTreeMap::new();
    let mut string_arrays = BTreeSet::new();
    if let Some(env) = attribute_value(&first.environment) {
        attributes.insert("environment".to_owned(), env);
    }
    attributes.insert("eventType".to_owned(), "Invalidation".to_owned());
    let mut arrays =
        vec![("flagKey", values(&|i| i.flag_key.as_deref())), ("tenantId", values(&|i| i.tenant_id.as_deref()))];
    match scopes.len() {
        // One scope (always, on a standard topic): a plain string, as in v1.
        1 => {
            attributes.insert("scope".to_owned(), scopes.into_iter().next().unwrap_or_default());
        }
        _ => arrays.push(("scope", scopes)),
    }
    for (name, set) in arrays {
        if !set.is_empty() {
            attributes.insert(name.to_owned(), json!(set).to_string());
            string_arrays.insert(name.to_owned());
        }
    }
    let ids: Vec<&str> = chunk.iter().map(|(_, i, _)| i.event_id.as_str()).collect();
    let dedup_id = hex::encode(Sha256::digest(format!("invalidations:{}", ids.join(",")).as_bytes()));
    let mut covers: Vec<usize> = chunk.iter().flat_map(|(c, ..)| c.iter().copied()).collect();
    covers.sort_unstable();
    let items: Vec<&str> = chunk.iter().map(|(.., text)| text.as_str()).collect();
    let body = format!(r#"{{"schemaVersion":2,"invalidations":[{}]}}"#, items.join(","));
    let message = Message {
        subject: None,
        body: super::message::sqs_safe_json(body),
        attributes,
        string_arrays,
        group_id,
        dedup_id,
    };
    (message, covers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::Action;
    use crate::delivery::rules::check_message;
    use crate::delivery::{NORMAL, URGENT};
    use crate::notify::Scope;

    fn inv(env: &str, flag: &str, tenant: Option<&str>, n: usize) -> Invalidation {
        Invalidation {
            schema_version: 1,
            event_id: format!("ev-{env}-{n}"),
            scope: if tenant.is_some() { Scope::Tenant } else { Scope::Flag },
            environment: env.into(),
            flag_key: Some(flag.into()),
            tenant_id: tenant.map(Into::into),
            version: format!("{}", 1000 + n),
            item_version: None,
            action: Action::SetTenantOverride,
            changed_at: None,
        }
    }

    #[test]
    fn thousands_of_overrides_fit_a_few_messages_per_environment_with_array_attributes() {
        let mut kept = Vec::new();
        for n in 0..3000 {
            let env = if n % 3 == 0 { "dev" } else { "prod" };
            kept.push((vec![n], inv(env, &format!("flag-{:04}", n % 400), Some(&format!("tenant-{n:05}")), n), NORMAL));
        }
        let out = pack(kept, Packing::PerEnvironment);
        assert!(out.len() < 30, "{} messages", out.len());
        let mut covered: Vec<usize> = out.covers.iter().flatten().copied().collect();
        covered.sort_unstable();
        assert_eq!(covered, (0..3000).collect::<Vec<_>>(), "every record is behind exactly one message");
        for m in &out.items {
            assert_eq!(check_message(m, false), vec![], "SNS accepts it");
            assert!(m.size() <= PACK_BYTES, "{} bytes", m.size());
            let body: Value = serde_json::from_str(&m.body).unwrap();
            assert_eq!(body["schemaVersion"], 2);
            let env = &m.attributes["environment"];
            let items = body["invalidations"].as_array().unwrap();
            assert!(items.iter().all(|i| &i["environment"] == env && i.get("schemaVersion").is_none()));
            let tenants: Vec<String> = serde_json::from_str(&m.attributes["tenantId"]).unwrap();
            assert_eq!(tenants.len(), items.len(), "every tenant is listed for filter policies");
            assert_eq!(m.data_type("tenantId"), "String.Array");
        }
    }

    #[test]
    fn the_size_bound_holds_when_keys_need_escaping() {
        // A quote in a key takes two bytes in the body and three in the attribute's JSON array.
        let quotes = "\"".repeat(900);
        let kept: Vec<_> = (0..200)
            .map(|n| (vec![n], inv("prod", &format!("{quotes}{n}"), Some(&format!("{quotes}t{n}")), n), NORMAL))
            .collect();
        let out = pack(kept, Packing::PerEnvironment);
        assert!(out.len() > 1);
        for m in &out.items {
            assert!(m.size() <= PACK_BYTES, "{} bytes", m.size());
            assert_eq!(check_message(m, false), vec![]);
        }
        assert_eq!(out.covers.iter().map(Vec::len).sum::<usize>(), 200);
    }

    #[test]
    fn a_policy_on_a_missing_tenant_still_tells_flag_messages_apart() {
        let kept =
            vec![(vec![0], inv("prod", "a", Some("t1"), 0), NORMAL), (vec![1], inv("prod", "b", None, 1), NORMAL)];
        let out = pack(kept, Packing::PerEnvironment);
        assert_eq!(out.len(), 2, "tenant and flag invalidations travel apart");
        let flag = out.items.iter().find(|m| m.attributes["scope"] == "flag").unwrap();
        assert!(!flag.attributes.contains_key("tenantId"));
        assert_eq!(flag.data_type("scope"), "String");
    }

    #[test]
    fn urgent_invalidations_travel_apart_and_fifo_packs_per_group() {
        let kept = vec![
            (vec![0], inv("prod", "a", Some("t1"), 0), NORMAL),
            (vec![1], inv("prod", "b", None, 1), URGENT),
            (vec![2], inv("prod", "a", Some("t2"), 2), NORMAL),
        ];
        let out = pack(kept.clone(), Packing::PerEnvironment);
        assert_eq!(out.len(), 2);
        assert_eq!(out.priorities, vec![NORMAL, URGENT]);
        assert_eq!(out.covers, vec![vec![0, 2], vec![1]]);
        let fifo = pack(kept.clone(), Packing::PerGroup);
        assert_eq!(fifo.len(), 2);
        assert_eq!(fifo.items[0].group_id, "prod/a");
        // On FIFO a group's shard order holds whatever the priorities: t1, the kill switch, t2.
        let mut same_group = kept.clone();
        same_group[1] = (vec![1], inv("prod", "a", None, 1), URGENT);
        let one = pack(same_group, Packing::PerGroup);
        assert_eq!((one.len(), one.priorities[0]), (1, URGENT), "the group takes its most urgent");
        let versions: Vec<String> =
            unpack(&one.items[0].body).unwrap().iter().map(|i| i["version"].as_str().unwrap().to_owned()).collect();
        assert_eq!(versions, ["1000", "1001", "1002"]);
        let single = pack(kept, Packing::Single);
        assert_eq!(single.len(), 3, "v1: one message each");
        assert!(single.items.iter().all(|m| m.string_arrays.is_empty()));
    }
}
