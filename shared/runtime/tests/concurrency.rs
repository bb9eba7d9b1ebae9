//! Delivery with several calls in flight: per-key order, kill switches first, and a batch response
//! that names exactly the lowest record whose outputs are not all durable, whichever call fails and
//! whatever order calls complete in.

use crate::support;

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use flagtrail_core::metrics::Counter;
use flagtrail_core::notify::{self, Message};
use flagtrail_core::{CoreConfig, StreamEvent};
use flagtrail_runtime::sink::{EntryFailure, LocalTopic, TopicSink};
use flagtrail_runtime::{Invocation, NotifyPipeline, SinkError};
use serde_json::{json, Value};

/// A topic whose calls take different times (so they complete out of order), that counts calls in
/// flight, and that fails the listed call numbers (1-based, across both topics).
struct Jittery<'a> {
    inner: LocalTopic,
    clock: &'a Shared,
}

#[derive(Default)]
struct Shared {
    calls: AtomicUsize,
    in_flight: AtomicUsize,
    most: AtomicUsize,
    fail: Vec<usize>,
    /// (call number, dedup ids) in completion order.
    log: Mutex<Vec<(usize, Vec<String>)>>,
}

#[async_trait]
impl TopicSink for Jittery<'_> {
    async fn publish(&self, messages: &[Message]) -> Result<Vec<EntryFailure>, SinkError> {
        let n = self.clock.calls.fetch_add(1, Ordering::SeqCst) + 1;
        let now = self.clock.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.clock.most.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(((n * 7) % 13) as u64 + 1)).await;
        self.clock.in_flight.fetch_sub(1, Ordering::SeqCst);
        if self.clock.fail.contains(&n) {
            return Err(SinkError::Transient { sink: "test topic", message: format!("call {n} fails") });
        }
        self.inner.publish(messages).await?;
        self.clock.log.lock().unwrap().push((n, messages.iter().map(|m| m.dedup_id.clone()).collect()));
        Ok(Vec::new())
    }

    fn fifo(&self) -> bool {
        self.inner.fifo
    }
}

fn fifo_topic() -> LocalTopic {
    let mut t = LocalTopic::default();
    t.fifo = true;
    t
}

fn inv() -> Invocation {
    Invocation { now_ms: support::NOW_MS, deadline: None }
}

/// A big realistic batch with a global kill switch at its very end.
fn batch() -> (StreamEvent, Vec<Value>) {
    let mut event = flagtrail_devtools::sample::event(3000, false, 23);
    let keys = json!({"PK": {"S": "KILLSWITCH#prod"}, "SK": {"S": "GLOBAL"}});
    let img = |on: bool| {
        let mut m = keys.clone();
        m["enabled"] = json!({"BOOL": on});
        m["updatedBy"] = json!({"S": "carol@example.com"});
        m["requestId"] = json!({"S": format!("req-global-{on}")});
        m
    };
    let records = event["Records"].as_array_mut().unwrap();
    records.push(json!({"eventID": "global-kill-switch", "eventName": "MODIFY",
        "dynamodb": {"Keys": keys, "OldImage": img(false), "NewImage": img(true),
            "SequenceNumber": "999999999999999999999999999", "ApproximateCreationDateTime": 1_795_392_000}}));
    let list = records.clone();
    (StreamEvent::from_json(&event.to_string()).unwrap(), list)
}

/// What the pipeline plans with on FIFO topics: invalidations packed per message group.
fn fifo_config() -> CoreConfig {
    CoreConfig { max_calls_in_flight: 8, invalidation_packing: notify::Packing::PerGroup, ..Default::default() }
}

fn pipeline(shared: &Shared) -> NotifyPipeline<Jittery<'_>, Jittery<'_>> {
    NotifyPipeline {
        config: CoreConfig { max_calls_in_flight: 8, ..Default::default() },
        // FIFO topics: SNS keeps each message group's order, so the pipeline must too.
        alerts: Jittery { inner: fifo_topic(), clock: shared },
        invalidations: Jittery { inner: fifo_topic(), clock: shared },
        marks: None,
    }
}

#[tokio::test(start_paused = true)]
async fn calls_overlap_but_no_group_is_reordered_and_kill_switches_go_first() {
    let (event, _) = batch();
    let shared = Shared::default();
    let notify = pipeline(&shared);
    let out = notify.handle(&event, inv()).await;
    assert!(out.response.batch_item_failures.is_empty(), "{:?}", out.errors);
    let most = shared.most.load(Ordering::SeqCst);
    assert!(most > 1 && most <= 8, "calls overlapped, within the limit: {most}");
    let reported = out.metrics.get(Counter::CallsInFlightMax) as usize;
    assert!(reported >= most && reported <= 8, "CallsInFlightMax {reported}, seen {most}");

    // Per group, subscribers see messages in shard order (by the newest record each stands for),
    // whatever order calls completed in.
    let plan = notify::plan(&event, &fifo_config());
    for (outbox, published) in
        [(&plan.alerts, &notify.alerts.inner), (&plan.invalidations, &notify.invalidations.inner)]
    {
        let published = published.messages.lock().unwrap();
        assert_eq!(published.len(), outbox.len());
        let newest: BTreeMap<&str, usize> = outbox
            .items
            .iter()
            .zip(&outbox.covers)
            .map(|(m, c)| (m.dedup_id.as_str(), *c.iter().max().unwrap()))
            .collect();
        let mut last: BTreeMap<&str, usize> = BTreeMap::new();
        for m in published.iter() {
            let at = newest[m.dedup_id.as_str()];
            let before = last.insert(m.group_id.as_str(), at);
            assert!(before.is_none_or(|b| b < at), "group {} out of shard order", m.group_id);
        }
    }

    // The global kill switch is the batch's last record, yet its alert goes out in the first round
    // of calls: the call carrying it is among the first 8 started (call numbers count starts).
    let log = shared.log.lock().unwrap();
    let published = notify.alerts.inner.messages.lock().unwrap();
    let alert = published.iter().find(|m| m.attributes["eventId"] == "global-kill-switch").unwrap();
    let (call, _) = log.iter().find(|(_, ids)| ids.contains(&alert.dedup_id)).unwrap();
    assert!(*call <= 8, "alert published by call #{call} of {}", log.len());
    // And its environment-wide invalidation too.
    let invalidations = notify.invalidations.inner.messages.lock().unwrap();
    let carrying = invalidations
        .iter()
        .find(|m| notify::unpack(&m.body).unwrap().iter().any(|i| i["eventId"] == "global-kill-switch"))
        .unwrap();
    let (call, _) = log.iter().find(|(_, ids)| ids.contains(&carrying.dedup_id)).unwrap();
    assert!(*call <= 8, "invalidation published by call #{call} of {}", log.len());
}

#[tokio::test(start_paused = true)]
async fn whichever_call_fails_the_response_names_the_lowest_record_not_durable() {
    let (event, records) = batch();
    let plan = notify::plan(&event, &fifo_config());
    let calls = {
        let shared = Shared::default();
        pipeline(&shared).handle(&event, inv()).await;
        shared.calls.load(Ordering::SeqCst)
    };
    assert!(calls > 20);
    for failing in [1, 2, calls / 2, calls - 1, calls] {
        let shared = Shared { fail: vec![failing], ..Default::default() };
        let notify = pipeline(&shared);
        let out = notify.handle(&event, inv()).await;
        // Which records have every output durable?
        let delivered: HashSet<String> = [&notify.alerts.inner, &notify.invalidations.inner]
            .iter()
            .flat_map(|t| t.messages.lock().unwrap().iter().map(|m| m.dedup_id.clone()).collect::<Vec<_>>())
            .collect();
        let mut complete = vec![true; records.len()];
        for outbox in [&plan.alerts, &plan.invalidations] {
            for (m, covers) in outbox.items.iter().zip(&outbox.covers) {
                if !delivered.contains(&m.dedup_id) {
                    covers.iter().for_each(|&r| complete[r] = false);
                }
            }
        }
        let first = complete.iter().position(|c| !c).expect("the failed call's outputs are missing");
        assert_eq!(
            out.response.resume_from(),
            records[first]["dynamodb"]["SequenceNumber"].as_str(),
            "call {failing} of {calls} failed"
        );
    }
}
