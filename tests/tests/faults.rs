//! Fault injection between each sink and moto: throttling (in each service's error format), 5xx,
//! connection resets, slow responses and unavailability. For every fault × sink the stream is
//! drained through the event-source-mapping stand-in and the invariants are checked: every eventId
//! in the audit log, every alert and invalidation delivered, batchItemFailures naming the right
//! record, and no invocation past its time budget. Prints the outcome table (docs/faults.md).

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use flagtrail_core::{CoreConfig, StreamEvent};
use flagtrail_devtools::mapping::{drain, lambda_event, MappingOptions};
use flagtrail_e2e::fault::{Fault, FaultProxy, Protocol};
use flagtrail_e2e::{audit_records, drain_queue, stack, stream_records, write_changes, Moto};
use flagtrail_runtime::build::{audit_pipeline, local_pipelines, notify_pipeline};
use flagtrail_runtime::{AuditConfig, Invocation, NotifyConfig, Outcome, Pipeline, SdkSettings};
use serde_json::Value;

const BUDGET: Duration = Duration::from_secs(10);

/// Times every invocation of the wrapped consumer.
struct Timed<'a> {
    inner: &'a dyn Pipeline,
    longest: Mutex<Duration>,
}

#[async_trait]
impl Pipeline for Timed<'_> {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    async fn handle(&self, event: &StreamEvent, inv: Invocation) -> Outcome {
        let t = Instant::now();
        let out = self.inner.handle(event, inv).await;
        let mut l = self.longest.lock().unwrap();
        *l = (*l).max(t.elapsed());
        out
    }
}

/// SDK settings for the sink behind the proxy: the production retry policy (through the one
/// builder) with short timeouts, so a slow response exhausts an attempt in a second.
fn sink_settings(endpoint: &str) -> SdkSettings {
    SdkSettings {
        initial_backoff: Duration::from_millis(20),
        connect_timeout: Duration::from_secs(1),
        attempt_timeout: Duration::from_secs(1),
        operation_timeout: Duration::from_secs(4),
        ..SdkSettings::local(endpoint)
    }
}

#[derive(Clone, Copy, Debug)]
enum Sink {
    Logs,
    Sns,
}

async fn run(sink: Sink, fault: Fault, requests: usize) -> String {
    let moto = Moto::start();
    let sdk = moto.sdk().await;
    let stack = stack(&sdk).await;
    write_changes(&sdk, &stack.table, 4).await;
    let proxy =
        FaultProxy::start(&moto.endpoint, if matches!(sink, Sink::Logs) { Protocol::Json } else { Protocol::Query });
    let faulty = sink_settings(&proxy.endpoint).load().await;
    let (logs_sdk, sns_sdk) = match sink {
        Sink::Logs => (&faulty, &sdk),
        Sink::Sns => (&sdk, &faulty),
    };
    // One call in flight: N faulted requests then land on the attempts of one call, which is what
    // this table measures (the SDK's retries against each fault). Failures among concurrent calls
    // are tested in shared/runtime/tests/concurrency.rs.
    let mut audit_cfg = AuditConfig::new(&stack.log_group);
    audit_cfg.core.max_calls_in_flight = 1;
    let mut notify_cfg = NotifyConfig::new(&stack.alert_topic_arn, &stack.invalidation_topic_arn);
    notify_cfg.core.max_calls_in_flight = 1;
    let audit = audit_pipeline(logs_sdk, &audit_cfg);
    let notify = notify_pipeline(sns_sdk, &notify_cfg);

    // What must arrive: the pure core over the same records.
    let streams = aws_sdk_dynamodbstreams::Client::new(&sdk);
    let records = stream_records(&sdk, &stack.stream_arn).await;
    let event = StreamEvent::from_json(&lambda_event(&records, &stack.stream_arn).to_string()).unwrap();
    let (_, expect) = local_pipelines(&CoreConfig::default(), None).unwrap();
    expect.handle(&event, Invocation::unbounded()).await;
    let id_of = |body: &str| {
        serde_json::from_str::<Value>(body).unwrap()["eventId"]
            .as_str()
            .or(serde_json::from_str::<Value>(body).unwrap()["id"].as_str())
            .unwrap()
            .to_owned()
    };
    let want_alerts: BTreeSet<String> = expect.alerts.messages.lock().unwrap().iter().map(|m| id_of(&m.body)).collect();
    let want_invalidations: BTreeSet<String> =
        expect.invalidations.messages.lock().unwrap().iter().map(|m| m.body.clone()).collect();
    let first_seq = records[0].dynamodb().unwrap().sequence_number().unwrap().to_owned();

    proxy.inject(fault, requests);
    let audit_t = Timed { inner: &audit, longest: Mutex::new(Duration::ZERO) };
    let notify_t = Timed { inner: &notify, longest: Mutex::new(Duration::ZERO) };
    let opts = MappingOptions {
        stop_after_idle_polls: Some(2),
        poll_interval: Duration::from_millis(50),
        retry_backoff: Duration::from_millis(50),
        max_retries: Some(5),
        invocation_timeout: BUDGET,
        ..Default::default()
    };
    let stats =
        drain(&streams, &stack.stream_arn, &[&audit_t, &notify_t], &opts).await.expect("drains within the retry limit");

    // Invariants.
    let logged = audit_records(&aws_sdk_cloudwatchlogs::Client::new(&sdk), &stack.log_group).await;
    let logged_ids: Vec<&str> = logged.iter().map(|r| r["eventId"].as_str().unwrap()).collect();
    let want_ids: BTreeSet<&str> = records.iter().map(|r| r.event_id().unwrap()).collect();
    assert_eq!(
        logged_ids.iter().copied().collect::<BTreeSet<_>>(),
        want_ids,
        "{sink:?}/{fault:?}: every eventId is in the audit log"
    );
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let alerts = drain_queue(&sqs, &stack.queues["alerts-all"]).await;
    let got_alerts: BTreeSet<String> = alerts.iter().map(|(b, _)| b["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(got_alerts, want_alerts, "{sink:?}/{fault:?}: every alert delivered");
    let invals = drain_queue(&sqs, &stack.queues["invalidations-all"]).await;
    let got_invals: BTreeSet<String> = invals.iter().map(|(b, _)| b.to_string()).collect();
    let want_parsed: BTreeSet<String> =
        want_invalidations.iter().map(|b| serde_json::from_str::<Value>(b).unwrap().to_string()).collect();
    assert!(want_parsed.is_subset(&got_invals), "{sink:?}/{fault:?}: every invalidation delivered");
    let consumer = if matches!(sink, Sink::Logs) { "audit" } else { "notify" };
    let reported = stats.reported.get(consumer).cloned().unwrap_or_default();
    // A call throttled through all its attempts halves the calls in flight and goes once more
    // (then succeeds here); any other fault on every attempt fails the batch.
    if requests >= 3 && fault != Fault::Throttle {
        assert!(!reported.is_empty(), "{sink:?}/{fault:?}: the exhausted retries surface as a batch failure");
    }
    for seq in &reported {
        assert_eq!(seq, &first_seq, "{sink:?}/{fault:?}: the lowest record whose outputs were not durable");
    }
    let longest = (*audit_t.longest.lock().unwrap()).max(*notify_t.longest.lock().unwrap());
    assert!(longest < BUDGET, "{sink:?}/{fault:?}: an invocation ran {longest:?}");
    let (faulted, _) = proxy.counts();
    format!(
        "| {:?} | {} | {} | {} | {} | {} | {} | {} | {} |",
        sink,
        format!("{fault:?}").replace("Slow(1.5s)", "Slow 1.5 s"),
        requests,
        faulted,
        stats.failed_batches.get(consumer).copied().unwrap_or(0),
        if reported.is_empty() { "—".to_owned() } else { "first record ✓".to_owned() },
        logged.len() - want_ids.len(),
        invals.len() - want_parsed.len(),
        longest.as_millis()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_on_every_sink_loses_nothing() {
    let mut rows = vec![
        "| sink | fault | requests faulted (planned) | faulted | batches failed | batchItemFailures | audit duplicates | invalidation duplicates | longest invocation ms |".to_owned(),
        "|---|---|---|---|---|---|---|---|---|".to_owned(),
    ];
    for sink in [Sink::Logs, Sink::Sns] {
        for (fault, n) in [
            (Fault::Throttle, 2),
            (Fault::Throttle, 3),
            (Fault::ServerError, 3),
            (Fault::Reset, 3),
            (Fault::Slow(Duration::from_millis(1500)), 3),
            (Fault::Down, 6),
        ] {
            rows.push(run(sink, fault, n).await);
        }
    }
    println!("{}", rows.join("\n"));
}
