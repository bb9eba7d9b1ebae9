//! Redaction: configured attributes replaced by a salted hash marker, at any depth.

use std::collections::BTreeMap;

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::diff::FieldChange;
use crate::config::CoreConfig;
use crate::value::{AttributeValue, Item};

/// Serializes values with configured attributes replaced by `[REDACTED sha256:…]`, at any depth.
struct Redacted<'a> {
    value: &'a AttributeValue,
    config: &'a CoreConfig,
}

impl Serialize for Redacted<'_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        if self.config.redacted_attributes.is_empty() {
            return self.value.serialize(ser);
        }
        match self.value {
            AttributeValue::M(m) => RedactedItem { item: m, config: self.config }.serialize(ser),
            AttributeValue::L(l) => ser.collect_seq(l.iter().map(|v| Redacted { value: v, config: self.config })),
            v => v.serialize(ser),
        }
    }
}

/// An item serialized with its redacted attributes replaced.
pub(crate) struct RedactedItem<'a> {
    pub(crate) item: &'a Item,
    pub(crate) config: &'a CoreConfig,
}

impl Serialize for RedactedItem<'_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let mut map = ser.serialize_map(Some(self.item.len()))?;
        for (k, v) in self.item {
            if self.config.is_redacted(k) {
                map.serialize_entry(k, &redaction_marker(v, self.config))?;
            } else {
                map.serialize_entry(k, &Redacted { value: v, config: self.config })?;
            }
        }
        map.end()
    }
}

/// The marker that replaces a redacted value: equal values give equal markers, so a change shows.
pub fn redaction_marker(value: &AttributeValue, config: &CoreConfig) -> String {
    let mut h = Sha256::new();
    h.update(config.redaction_salt.as_bytes());
    h.update(value.to_typed_json().to_string().as_bytes());
    format!("[REDACTED sha256:{}]", &hex::encode(h.finalize())[..16])
}

fn redacted_value<'a>(name: &str, v: &'a AttributeValue, config: &'a CoreConfig) -> RedactedField<'a> {
    if config.is_redacted(name) {
        RedactedField::Marker(redaction_marker(v, config))
    } else {
        RedactedField::Value(Redacted { value: v, config })
    }
}

enum RedactedField<'a> {
    Marker(String),
    Value(Redacted<'a>),
}

impl Serialize for RedactedField<'_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        match self {
            RedactedField::Marker(m) => ser.serialize_str(m),
            RedactedField::Value(v) => v.serialize(ser),
        }
    }
}

/// A diff serialized with redacted values replaced.
pub(crate) struct Changes<'a> {
    pub(crate) changes: &'a BTreeMap<&'a str, FieldChange<'a>>,
    pub(crate) config: &'a CoreConfig,
}

impl Serialize for Changes<'_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Pair<'a> {
            before: Option<RedactedField<'a>>,
            after: Option<RedactedField<'a>>,
        }
        let mut map = ser.serialize_map(Some(self.changes.len()))?;
        for (k, c) in self.changes {
            let pair = Pair {
                before: c.before.map(|v| redacted_value(k, v, self.config)),
                after: c.after.map(|v| redacted_value(k, v, self.config)),
            };
            map.serialize_entry(k, &pair)?;
        }
        map.end()
    }
}

/// Names of redacted attributes present in `item`, at any depth.
pub(crate) fn collect_redacted<'a>(item: &'a Item, config: &CoreConfig, out: &mut Vec<&'a str>) {
    for (k, v) in item {
        if config.is_redacted(k) {
            out.push(k);
        }
        match v {
            AttributeValue::M(m) => collect_redacted(m, config, out),
            AttributeValue::L(l) => {
                for v in l {
                    if let AttributeValue::M(m) = v {
                        collect_redacted(m, config, out);
                    }
                }
            }
            _ => {}
        }
    }
}
