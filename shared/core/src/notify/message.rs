//! SNS messages: an alert or an invalidation as subject, body, attributes and FIFO ids.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use super::alert::Alert;
use super::invalidation::Invalidation;

/// One SNS message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Subject (e-mail subscribers see it), ≤ 100 characters.
    pub subject: Option<String>,
    /// Body.
    pub body: String,
    /// String message attributes, ≤ 10.
    pub attributes: BTreeMap<String, String>,
    /// FIFO topics: the ordering group (per flag, or per environment for global scope).
    pub group_id: String,
    /// FIFO topics: deduplication id derived from the stream eventID.
    pub dedup_id: String,
}

impl Message {
    /// Size as SNS counts it: body plus attribute names, types and values.
    pub fn size(&self) -> usize {
        self.body.len()
            + self.subject.as_ref().map_or(0, String::len)
            + self.attributes.iter().map(|(k, v)| k.len() + v.len() + "String".len()).sum::<usize>()
    }
}

fn dedup_id(event_id: &str, kind: &str) -> String {
    hex::encode(Sha256::digest(format!("{kind}:{event_id}").as_bytes()))
}

/// The SNS message of an alert: Chatbot body, subject, filterable attributes.
pub fn alert_message(a: &Alert) -> Message {
    Message {
        subject: Some(a.title.chars().filter(|c| !c.is_control()).take(100).collect()),
        body: a.body.to_string(),
        attributes: a.attributes.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect(),
        group_id: format!("{}/{}", a.environment, a.attributes.get("flagKey").map_or("global", String::as_str)),
        dedup_id: dedup_id(&a.event_id, "alert"),
    }
}

/// The SNS message of an invalidation: JSON body, attributes for per-environment/scope filtering.
pub fn invalidation_message(i: &Invalidation) -> Message {
    let mut attributes = BTreeMap::new();
    attributes.insert("environment".to_owned(), i.environment.clone());
    attributes.insert(
        "scope".to_owned(),
        serde_json::to_value(i.scope).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default(),
    );
    attributes.insert("eventType".to_owned(), "Invalidation".to_owned());
    if let Some(f) = &i.flag_key {
        attributes.insert("flagKey".to_owned(), f.clone());
    }
    if let Some(t) = &i.tenant_id {
        attributes.insert("tenantId".to_owned(), t.clone());
    }
    Message {
        subject: None,
        body: serde_json::to_string(i).unwrap_or_default(),
        attributes,
        // Per-flag ordering on FIFO topics; an environment-wide message orders within its environment.
        group_id: match &i.flag_key {
            Some(f) => format!("{}/{}", i.environment, f),
            None => i.environment.clone(),
        },
        dedup_id: dedup_id(&i.event_id, "invalidation"),
    }
}
