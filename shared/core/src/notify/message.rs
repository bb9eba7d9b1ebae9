//! SNS messages: an alert or an invalidation as subject, body, attributes and FIFO ids.

use std::collections::{BTreeMap, BTreeSet};

use sha2::{Digest, Sha256};

use super::alert::Alert;
use super::invalidation::Invalidation;
use crate::delivery::rules::{attribute_name_ok, fifo_id_ok, sqs_char, SNS_MAX_ATTRIBUTES, SNS_SUBJECT_CHARS};

/// One SNS message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Message {
    /// Subject (e-mail subscribers see it), fewer than 100 characters, one line.
    pub subject: Option<String>,
    /// Body.
    pub body: String,
    /// Message attributes, ≤ 10: `String`, or `String.Array` for those named in `string_arrays`.
    pub attributes: BTreeMap<String, String>,
    /// Attributes whose value is a JSON array of strings, sent as `String.Array` (a filter policy
    /// matches when any element matches).
    pub string_arrays: BTreeSet<String>,
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
            + self.attributes.iter().map(|(k, v)| k.len() + v.len() + self.data_type(k).len()).sum::<usize>()
    }

    /// The SNS data type of attribute `name`.
    pub fn data_type(&self, name: &str) -> &'static str {
        if self.string_arrays.contains(name) {
            "String.Array"
        } else {
            "String"
        }
    }

    /// The same message reduced to what SNS cannot refuse, for an entry it refused as the sender's
    /// fault: no subject, only valid non-empty attributes, FIFO ids made valid. The body (JSON the
    /// core wrote) and the dedup id stay, so consumers still see and deduplicate the same message.
    pub fn degraded(&self) -> Message {
        Message {
            subject: None,
            body: sqs_safe_json(self.body.clone()),
            attributes: self
                .attributes
                .iter()
                .filter(|(k, _)| attribute_name_ok(k))
                .filter_map(|(k, v)| Some((k.clone(), attribute_value(v)?)))
                .take(SNS_MAX_ATTRIBUTES)
                .collect(),
            string_arrays: self.string_arrays.clone(),
            group_id: fifo_group_id(&self.group_id),
            dedup_id: fifo_group_id(&self.dedup_id),
        }
    }
}

/// An SNS subject from a title: control characters and line breaks become spaces, and a title of
/// 100 characters or more is cut to 98 plus `…` (SNS needs fewer than 100). `None` if nothing is left.
pub fn sns_subject(title: &str) -> Option<String> {
    let one_line: String = title.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let words: Vec<&str> = one_line.split_whitespace().collect();
    let text = words.join(" ");
    if text.is_empty() {
        return None;
    }
    if text.chars().count() < SNS_SUBJECT_CHARS {
        return Some(text);
    }
    let mut cut: String = text.chars().take(SNS_SUBJECT_CHARS - 2).collect();
    cut.truncate(cut.trim_end().len());
    cut.push('…');
    Some(cut)
}

/// An attribute value SNS and its SQS subscribers accept: characters SQS refuses (control
/// characters other than tab and line breaks, U+FFFE/U+FFFF) removed; `None` when nothing is
/// left, since SNS refuses empty values.
pub fn attribute_value(v: &str) -> Option<String> {
    let clean: String = v.chars().filter(|&c| sqs_char(c) && !c.is_control()).collect();
    (!clean.trim().is_empty()).then_some(clean)
}

/// A FIFO group id that keeps one group per raw key: the key itself when SNS accepts it
/// (1–128 ASCII alphanumerics and punctuation), otherwise `h-` and the key's SHA-256 in hex.
pub fn fifo_group_id(raw: &str) -> String {
    if fifo_id_ok(raw) {
        raw.to_owned()
    } else {
        format!("h-{}", hex::encode(Sha256::digest(raw.as_bytes())))
    }
}

/// JSON text with the two characters serde_json leaves unescaped but SQS refuses (U+FFFE, U+FFFF)
/// written as escapes; they can only occur inside strings, where `\uXXXX` means the same.
pub(crate) fn sqs_safe_json(json: String) -> String {
    if json.chars().all(sqs_char) {
        return json;
    }
    json.chars().map(|c| if sqs_char(c) { c.to_string() } else { format!("\\u{:04x}", c as u32) }).collect()
}

fn attributes<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> BTreeMap<String, String> {
    pairs.filter_map(|(k, v)| Some((k.to_owned(), attribute_value(v)?))).take(SNS_MAX_ATTRIBUTES).collect()
}

fn dedup_id(event_id: &str, kind: &str) -> String {
    hex::encode(Sha256::digest(format!("{kind}:{event_id}").as_bytes()))
}

/// The SNS message of an alert: Chatbot body, subject, filterable attributes.
pub fn alert_message(a: &Alert) -> Message {
    Message {
        subject: sns_subject(&a.title),
        body: sqs_safe_json(a.body.to_string()),
        attributes: attributes(a.attributes.iter().map(|(k, v)| (*k, v.as_str()))),
        group_id: fifo_group_id(&format!(
            "{}/{}",
            a.environment,
            a.attributes.get("flagKey").map_or("global", String::as_str)
        )),
        dedup_id: dedup_id(&a.event_id, "alert"),
        string_arrays: BTreeSet::new(),
    }
}

/// The FIFO message group of an invalidation: per flag, so a flag's invalidations stay in order;
/// an environment-wide one orders within its environment.
pub fn invalidation_group_id(i: &Invalidation) -> String {
    fifo_group_id(&match &i.flag_key {
        Some(f) => format!("{}/{}", i.environment, f),
        None => i.environment.clone(),
    })
}

/// The SNS message of an invalidation: JSON body, attributes for per-environment/scope filtering.
pub fn invalidation_message(i: &Invalidation) -> Message {
    let scope = i.scope.as_str();
    let pairs = [
        ("environment", Some(i.environment.as_str())),
        ("scope", Some(scope)),
        ("eventType", Some("Invalidation")),
        ("flagKey", i.flag_key.as_deref()),
        ("tenantId", i.tenant_id.as_deref()),
    ];
    Message {
        subject: None,
        body: sqs_safe_json(serde_json::to_string(i).unwrap_or_default()),
        attributes: attributes(pairs.into_iter().filter_map(|(k, v)| Some((k, v?)))),
        group_id: invalidation_group_id(i),
        dedup_id: dedup_id(&i.event_id, "invalidation"),
        string_arrays: BTreeSet::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::rules::check_message;

    #[test]
    fn subjects_are_one_line_and_shorter_than_100_characters() {
        assert_eq!(sns_subject("a\nb\r\n\tc").as_deref(), Some("a b c"));
        assert_eq!(sns_subject(" \u{1} ").as_deref(), None);
        let s = sns_subject(&format!("[HIGH] Kill switch ENABLED in prod: {}", "x".repeat(120))).unwrap();
        assert_eq!(s.chars().count(), 99);
        assert!(s.ends_with("x…"));
        assert_eq!(sns_subject(&"a".repeat(99)).unwrap().chars().count(), 99, "99 characters fit as they are");
    }

    #[test]
    fn degraded_messages_pass_every_rule() {
        let bad = Message {
            subject: Some("x".repeat(200)),
            body: "{\"k\":\"\u{ffff}\"}".into(),
            attributes: (0..12).map(|i| (format!("a{i}"), if i == 0 { String::new() } else { "v".into() })).collect(),
            group_id: "prod/チェック".into(),
            dedup_id: "d".repeat(200),
            string_arrays: BTreeSet::new(),
        };
        assert!(!check_message(&bad, true).is_empty());
        let good = bad.degraded();
        assert_eq!(check_message(&good, true), vec![]);
        assert_eq!(good.body, "{\"k\":\"\\uffff\"}", "same JSON value, escaped");
        assert_eq!(good.attributes.len(), 10);
        assert_eq!(good.group_id, fifo_group_id("prod/チェック"), "one group per key, always the same");
    }
}
