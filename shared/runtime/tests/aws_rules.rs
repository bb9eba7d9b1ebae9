//! What real SNS and CloudWatch Logs refuse, enforced by the local sinks: hostile flag keys and
//! reasons still page; a refused entry is re-published degraded; rejected log events are not
//! counted as written; no sink call outlives the invocation; a failed group holds back its later
//! messages.

use crate::support;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use flagtrail_core::delivery::rules::check_message;
use flagtrail_core::delivery::LogEvent;
use flagtrail_core::metrics::Counter;
use flagtrail_core::notify::Message;
use flagtrail_core::{CoreConfig, StreamEvent};
use flagtrail_runtime::sink::{EntryFailure, LocalTopic, LogSink, TopicSink};
use flagtrail_runtime::{AuditPipeline, Invocation, NotifyPipeline, SinkError};
use serde_json::{json, Value};

fn event(v: &Value) -> StreamEvent {
    StreamEvent::from_json(&v.to_string()).unwrap()
}

fn inv() -> Invocation {
    Invocation { now_ms: support::NOW_MS, deadline: None }
}

fn strict_topic(fifo: bool) -> LocalTopic {
    let mut t = LocalTopic::default();
    t.fifo = fifo;
    t
}

#[tokio::test]
async fn hostile_keys_and_reasons_still_page_on_strict_topics() {
    let hostile = flagtrail_devtools::sample::hostile_notifications();
    for fifo in [false, true] {
        let notify = NotifyPipeline {
            config: CoreConfig::default(),
            alerts: strict_topic(fifo),
            invalidations: strict_topic(fifo),
            marks: Some(std::sync::Arc::new(flagtrail_runtime::sink::LocalMarks::default())),
        };
        let out = notify.handle(&event(&hostile), inv()).await;
        assert!(out.response.batch_item_failures.is_empty(), "fifo={fifo}: {:?}", out.errors);
        assert_eq!(out.metrics.get(Counter::MessagesDegraded), 0, "built valid, not repaired");
        let published = notify.alerts.messages.lock().unwrap();
        assert_eq!(published.len(), 7, "4 kill switches and 3 new flags");
        // In record order (a flag's alerts travel together, so publication order may differ).
        let alerts: Vec<&Message> = (0..7)
            .map(|i| published.iter().find(|m| m.attributes["eventId"] == format!("hostile-{i:02}")).unwrap())
            .collect();
        for m in published.iter().chain(notify.invalidations.messages.lock().unwrap().iter()) {
            assert_eq!(check_message(m, fifo), vec![], "{m:?}");
        }
        let long = alerts[0].subject.as_deref().unwrap();
        assert!(long.chars().count() < 100 && long.ends_with('…'), "{long}");
        assert!(long.starts_with("[HIGH] Kill switch ENABLED in prod: flag-xxx"), "{long}");
        let japanese = alerts[1].subject.as_deref().unwrap();
        assert!(japanese.contains("チェックアウト-新規"), "UTF-8 subjects are kept: {japanese}");
        assert!(!alerts[2].subject.as_deref().unwrap().contains('\u{7f}'));
        let blank_owner = alerts[4];
        assert_eq!(blank_owner.attributes.get("owner"), None, "an empty owner is no attribute");
        assert_eq!(blank_owner.attributes.get("teams"), None, "a blank team is no attribute");
        assert_eq!(alerts[5].attributes.get("owner").map(String::as_str), Some("teamlead"));
        assert_eq!(alerts[5].attributes.get("teams").map(String::as_str), Some("a"));
        if fifo {
            assert!(alerts[1].group_id.starts_with("h-"), "a non-ASCII key gets a hashed group id");
            assert_eq!(alerts[3].group_id, "staging/reason-with-breaks", "a valid key keeps its readable group id");
        }
    }
}

/// Refuses every entry with a subject as the sender's fault, like SNS refusing an invalid one.
#[derive(Default)]
struct RefusesSubjects {
    inner: LocalTopic,
}

#[async_trait]
impl TopicSink for RefusesSubjects {
    async fn publish(&self, messages: &[Message]) -> Result<Vec<EntryFailure>, SinkError> {
        let (refused, ok): (Vec<(usize, &Message)>, Vec<(usize, &Message)>) =
            messages.iter().enumerate().partition(|(_, m)| m.subject.is_some());
        let ok: Vec<Message> = ok.into_iter().map(|(_, m)| m.clone()).collect();
        if !ok.is_empty() {
            self.inner.publish(&ok).await?;
        }
        Ok(refused
            .into_iter()
            .map(|(index, _)| EntryFailure { index, sender_fault: true, reason: "InvalidParameter: Subject".into() })
            .collect())
    }
}

#[tokio::test]
async fn an_entry_sns_refuses_is_republished_degraded_and_counted() {
    let hostile = flagtrail_devtools::sample::hostile_notifications();
    let notify = NotifyPipeline {
        config: CoreConfig::default(),
        alerts: RefusesSubjects::default(),
        invalidations: strict_topic(false),
        marks: None,
    };
    let out = notify.handle(&event(&hostile), inv()).await;
    assert!(out.response.batch_item_failures.is_empty(), "never left to block the shard: {:?}", out.errors);
    assert_eq!(out.metrics.get(Counter::MessagesDegraded), 7);
    let published = notify.alerts.inner.messages.lock().unwrap();
    assert_eq!(published.len(), 7);
    assert!(published.iter().all(|m| m.subject.is_none() && m.attributes.contains_key("severity")));
}

/// A log sink that never answers within the invocation.
struct Hangs;

#[async_trait]
impl LogSink for Hangs {
    async fn put(&self, _: &[LogEvent]) -> Result<Vec<usize>, SinkError> {
        tokio::time::sleep(Duration::from_secs(600)).await;
        Ok(Vec::new())
    }
}

#[tokio::test]
async fn no_sink_call_outlives_the_invocation() {
    let hostile = flagtrail_devtools::sample::hostile_notifications();
    let audit = AuditPipeline::new(CoreConfig::default(), Hangs);
    let deadline = Instant::now() + Duration::from_millis(2000); // half a second after the margin
    let out = audit.handle(&event(&hostile), Invocation { now_ms: support::NOW_MS, deadline: Some(deadline) }).await;
    assert_eq!(out.response.resume_from(), Some("700000000000000000000"), "the first record comes again");
    assert!(out.errors.iter().any(|e| e.to_string().contains("cut off")), "{:?}", out.errors);
}

#[tokio::test]
async fn rejected_log_events_are_not_durable_and_retention_clamping_avoids_them() {
    // Changes of 2026-11-22T00:00Z, written at 2026-11-23T12:00Z into a group keeping one day.
    let hostile = flagtrail_devtools::sample::hostile_notifications();
    let mut log = support::local_log();
    log.retention_days = Some(1);
    let audit = AuditPipeline::new(CoreConfig::default(), log);
    let out = audit.handle(&event(&hostile), inv()).await;
    assert_eq!(out.response.resume_from(), Some("700000000000000000000"));
    // The seal is dated like its newest record, so it is rejected with them: nothing is written.
    assert_eq!(out.metrics.get(Counter::LogEventsRejected), 8);
    assert!(audit.log.events.lock().unwrap().is_empty());

    let mut log = support::local_log();
    log.retention_days = Some(1);
    let audit =
        AuditPipeline { config: CoreConfig::default(), log, retention_days: Some(1), signer: None, archive: None };
    let out = audit.handle(&event(&hostile), inv()).await;
    assert!(out.response.batch_item_failures.is_empty(), "{:?}", out.errors);
    let events = audit.log.events.lock().unwrap();
    assert_eq!(events.len(), 8, "7 records and their seal");
    assert!(events[7].message.contains(r#""recordType":"seal","#) && events[7].message.contains(r#""count":7,"#));
}

/// Fails (transiently) the first entry of the first call, records what each call carried.
#[derive(Default)]
struct FailsFirstEntryOnce {
    inner: LocalTopic,
    calls: Mutex<Vec<usize>>,
}

#[async_trait]
impl TopicSink for FailsFirstEntryOnce {
    async fn publish(&self, messages: &[Message]) -> Result<Vec<EntryFailure>, SinkError> {
        let first = {
            let mut calls = self.calls.lock().unwrap();
            calls.push(messages.len());
            calls.len() == 1
        };
        let skip = usize::from(first);
        self.inner.publish(&messages[skip..]).await?;
        Ok(if first {
            vec![EntryFailure { index: 0, sender_fault: false, reason: "InternalError".into() }]
        } else {
            vec![]
        })
    }
}

/// `n` creations of flag `key` (each an info alert in the flag's group; a flapping kill switch
/// would be folded into two alerts instead).
fn creations(key: &str, n: usize, seq0: u64) -> Vec<Value> {
    (0..n)
        .map(|i| {
            let keys = json!({"PK": {"S": format!("FLAG#dev#{key}")}, "SK": {"S": "METADATA"}});
            let mut img = keys.clone();
            img["defaultEnabled"] = json!({"BOOL": i % 2 == 0});
            img["updatedBy"] = json!({"S": "alice@example.com"});
            img["requestId"] = json!({"S": format!("req-{key}-{i}")});
            json!({"eventID": format!("{key}-{i}"), "eventName": "INSERT",
                "dynamodb": {"Keys": keys, "NewImage": img,
                    "SequenceNumber": (seq0 + i as u64).to_string(), "ApproximateCreationDateTime": 1_795_392_000}})
        })
        .collect()
}

#[tokio::test]
async fn a_failed_group_holds_back_its_later_messages_but_not_other_groups() {
    // 12 alerts of flag a (calls 1 and 2, a's own: its run is longer than a call), 2 of b (call 3).
    let mut records = creations("a", 12, 100);
    records.extend(creations("b", 2, 200));
    let notify = NotifyPipeline {
        config: CoreConfig::default(),
        alerts: FailsFirstEntryOnce::default(),
        invalidations: strict_topic(true),
        marks: None,
    };
    let out = notify.handle(&event(&json!({ "Records": records })), inv()).await;
    assert_eq!(out.response.resume_from(), Some("100"), "the failed flip comes again, and all after it");
    assert_eq!(*notify.alerts.calls.lock().unwrap(), vec![10, 2], "a's later alerts were not sent, b's were");
    let sent: Vec<String> =
        notify.alerts.inner.messages.lock().unwrap().iter().map(|m| m.attributes["eventId"].clone()).collect();
    assert!(!sent.contains(&"a-10".to_owned()) && !sent.contains(&"a-11".to_owned()), "{sent:?}");
    assert!(sent.contains(&"b-0".to_owned()) && sent.contains(&"b-1".to_owned()), "{sent:?}");
}
