//! Writes to the table → stream → both pipelines (as the Lambdas run them) → CloudWatch Logs and
//! SNS → SQS, all on moto; and sink faults that must turn into the right batchItemFailures.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use flagtrail_core::StreamEvent;
use flagtrail_devtools::mapping::{drain, DrainStats, MappingOptions};
use flagtrail_e2e::{audit_records, drain_queue, s, stack, stamped, Moto};
use flagtrail_runtime::build::audit_pipeline;
use flagtrail_runtime::sink::{CloudWatchLog, SnsTopic};
use flagtrail_runtime::{AuditConfig, AuditPipeline, Invocation, NotifyPipeline, Outcome, Pipeline};
use serde_json::Value;

fn opts() -> MappingOptions {
    MappingOptions {
        stop_after_idle_polls: Some(2),
        poll_interval: Duration::from_millis(50),
        retry_backoff: Duration::from_millis(50),
        max_retries: Some(5),
        ..Default::default()
    }
}

struct Env {
    _moto: Moto,
    sdk: aws_config::SdkConfig,
    stack: flagtrail_devtools::stack::Stack,
}

async fn env() -> Env {
    let moto = Moto::start();
    let sdk = moto.sdk().await;
    let stack = stack(&sdk).await;
    Env { _moto: moto, sdk, stack }
}

impl Env {
    fn audit(&self) -> AuditPipeline<CloudWatchLog> {
        audit_pipeline(&self.sdk, &AuditConfig::new(&self.stack.log_group))
    }

    fn notify(&self) -> NotifyPipeline<SnsTopic, SnsTopic> {
        flagtrail_e2e::notify_with_marks(&self.sdk, &self.stack)
    }

    async fn put(&self, item: std::collections::HashMap<String, AttributeValue>) {
        aws_sdk_dynamodb::Client::new(&self.sdk)
            .put_item()
            .table_name(&self.stack.table)
            .set_item(Some(item))
            .send()
            .await
            .expect("PutItem");
    }

    async fn delete(&self, pk: &str, sk: &str) {
        aws_sdk_dynamodb::Client::new(&self.sdk)
            .delete_item()
            .table_name(&self.stack.table)
            .key("PK", s(pk))
            .key("SK", s(sk))
            .send()
            .await
            .expect("DeleteItem");
    }

    async fn run(&self, consumers: &[&dyn Pipeline]) -> DrainStats {
        drain(&aws_sdk_dynamodbstreams::Client::new(&self.sdk), &self.stack.stream_arn, consumers, &opts())
            .await
            .expect("drain")
    }

    /// (eventID, sequence number) of every record in the stream, in order.
    async fn stream_records(&self) -> Vec<(String, String)> {
        flagtrail_e2e::stream_records(&self.sdk, &self.stack.stream_arn)
            .await
            .iter()
            .map(|r| (r.event_id().unwrap().to_owned(), r.dynamodb().unwrap().sequence_number().unwrap().to_owned()))
            .collect()
    }

    async fn write_scenario(&self) -> usize {
        let flag = "FLAG#prod#checkout-v2";
        let meta = |enabled: bool, rollout: &str, who: &str, req: &str, v: u32| {
            stamped(
                &[
                    ("PK", s(flag)),
                    ("SK", s("METADATA")),
                    ("flagKey", s("checkout-v2")),
                    ("owner", s("payments-team")),
                    ("teams", AttributeValue::Ss(vec!["payments".into(), "web".into()])),
                    ("defaultEnabled", AttributeValue::Bool(enabled)),
                    ("rolloutPercentage", AttributeValue::N(rollout.into())),
                ],
                who,
                req,
                v,
            )
        };
        let switch = |pk: &str, sk: &str, on: bool, who: &str, req: &str| {
            stamped(
                &[("PK", s(pk)), ("SK", s(sk)), ("enabled", AttributeValue::Bool(on)), ("reason", s("incident INC-1"))],
                who,
                req,
                1,
            )
        };
        self.put(meta(false, "10", "alice@example.com", "req-1", 1)).await;
        self.put(stamped(
            &[
                ("PK", s(flag)),
                ("SK", s("TENANT#acme")),
                ("tenantId", s("acme")),
                ("enabled", AttributeValue::Bool(true)),
            ],
            "erin@example.com",
            "req-2",
            1,
        ))
        .await;
        self.put(meta(true, "12345678901234567890123456789012345678", "bob@example.com", "req-3", 2)).await;
        self.put(switch(flag, "KILLSWITCH", true, "carol@example.com", "req-4")).await;
        self.put(switch("KILLSWITCH#prod", "GLOBAL", true, "carol@example.com", "req-5")).await;
        self.put(switch("FLAG#dev#search", "KILLSWITCH", true, "dave@example.com", "req-6")).await;
        self.delete(flag, "METADATA").await;
        7
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_reach_auditors_on_call_and_evaluation_services() {
    let env = env().await;
    let changes = env.write_scenario().await;
    let audit = env.audit();
    let notify = env.notify();
    let stats = env.run(&[&audit, &notify]).await;
    assert_eq!(stats.failed_batches.values().sum::<usize>(), 0);

    let stream = env.stream_records().await;
    assert_eq!(stream.len(), changes);
    let records = audit_records(&aws_sdk_cloudwatchlogs::Client::new(&env.sdk), &env.stack.log_group).await;
    assert_eq!(records.len(), changes, "one audit record per change");
    let ids: Vec<&str> = records.iter().map(|r| r["eventId"].as_str().unwrap()).collect();
    assert_eq!(ids, stream.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(), "in stream order, keyed by eventID");
    let actions: Vec<&str> = records.iter().map(|r| r["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        [
            "CREATE_FLAG",
            "SET_TENANT_OVERRIDE",
            "UPDATE_FLAG",
            "KILL_SWITCH_ENABLED",
            "KILL_SWITCH_ENABLED",
            "KILL_SWITCH_ENABLED",
            "DELETE_FLAG"
        ]
    );
    let actors: Vec<Option<&str>> = records.iter().map(|r| r["actor"].as_str()).collect();
    assert_eq!(
        actors,
        [
            Some("alice@example.com"),
            Some("erin@example.com"),
            Some("bob@example.com"),
            Some("carol@example.com"),
            Some("carol@example.com"),
            Some("dave@example.com"),
            None, // a DeleteItem without the delete stamp: the old image names bob, who did not delete
        ]
    );
    assert_eq!(records[6]["lastWriter"]["updatedBy"], "bob@example.com");
    let update = &records[2];
    assert_eq!(update["changes"]["defaultEnabled"], serde_json::json!({"before": false, "after": true}));
    assert_eq!(update["before"]["rolloutPercentage"], 10);
    assert_eq!(update["requestId"], "req-3");
    // 38 digits survive DynamoDB, the stream, the pipeline and CloudWatch Logs.
    let raw = aws_sdk_cloudwatchlogs::Client::new(&env.sdk)
        .filter_log_events()
        .log_group_name(&env.stack.log_group)
        .filter_pattern("UPDATE_FLAG")
        .send()
        .await
        .unwrap();
    assert!(raw.events()[0]
        .message()
        .unwrap()
        .contains("\"rolloutPercentage\":12345678901234567890123456789012345678"));

    let sqs = aws_sdk_sqs::Client::new(&env.sdk);
    let alerts = drain_queue(&sqs, &env.stack.queues["alerts-all"]).await;
    let mut severities: Vec<&str> = alerts.iter().map(|(_, a)| a["severity"].as_str()).collect();
    severities.sort();
    // The unstamped production delete pages as an unattributed change.
    assert_eq!(severities, ["critical", "high", "high", "info", "warning"]);
    for (body, attrs) in &alerts {
        assert_eq!(body["source"], "custom");
        assert!(attrs.contains_key("environment") && attrs.contains_key("eventType"), "{attrs:?}");
    }
    let oncall = drain_queue(&sqs, &env.stack.queues["alerts-oncall"]).await;
    let mut paged: Vec<&str> = oncall.iter().map(|(_, a)| a["severity"].as_str()).collect();
    paged.sort();
    assert_eq!(paged, ["critical", "high", "high"], "the filter policy routes only what pages");

    // Packed (v2) messages carry several invalidations each; the attributes stay per message.
    let unpacked = |msgs: Vec<(serde_json::Value, std::collections::BTreeMap<String, String>)>| {
        msgs.into_iter()
            .flat_map(|(b, a)| {
                let items = flagtrail_core::notify::unpack(&b.to_string()).expect("an invalidation message");
                items.into_iter().map(move |i| (i, a.clone()))
            })
            .collect::<Vec<_>>()
    };
    let invalidations = unpacked(drain_queue(&sqs, &env.stack.queues["invalidations-all"]).await);
    assert!(invalidations.iter().any(|(b, _)| b["scope"] == "environment" && b["environment"] == "prod"));
    assert!(invalidations
        .iter()
        .any(|(b, _)| b["scope"] == "flag" && b["environment"] == "dev" && b["flagKey"] == "search"));
    let prod_only = unpacked(drain_queue(&sqs, &env.stack.queues["invalidations-prod"]).await);
    assert!(
        !prod_only.is_empty()
            && prod_only.iter().all(|(b, a)| b["environment"] == "prod" && a["environment"] == "prod")
    );
    for (b, _) in &invalidations {
        let seq = b["version"].as_str().unwrap();
        assert!(stream.iter().any(|(_, s)| s == seq), "version {seq} is a sequence number of the stream");
    }
    // Lambda evaluators' side: the global kill switch raised its environment's freshness mark.
    let mark = aws_sdk_dynamodb::Client::new(&env.sdk)
        .get_item()
        .table_name(&env.stack.marks_table)
        .key("mark", AttributeValue::S("E#prod".into()))
        .send()
        .await
        .unwrap();
    let item = mark.item().expect("E#prod was raised");
    assert!(item["n"].as_n().unwrap().parse::<u64>().unwrap() >= 1);
    assert!(
        stream.iter().any(|(_, s)| s == item["version"].as_s().unwrap()),
        "the mark holds a stream sequence number"
    );
}

/// Wraps a consumer and runs `clear` (the fault going away) after its first invocation.
struct ClearsAfterFirst<'a, C, F> {
    inner: &'a C,
    calls: AtomicUsize,
    clear: F,
}

#[async_trait]
impl<C: Pipeline, F: Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> + Send + Sync> Pipeline
    for ClearsAfterFirst<'_, C, F>
{
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    async fn handle(&self, event: &StreamEvent, inv: Invocation) -> Outcome {
        let out = self.inner.handle(event, inv).await;
        if self.calls.fetch_add(1, Ordering::SeqCst) == 0 {
            (self.clear)().await;
        }
        out
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_log_group_fails_the_batch_and_the_retry_completes_the_trail() {
    let env = env().await;
    let changes = env.write_scenario().await;
    let logs = aws_sdk_cloudwatchlogs::Client::new(&env.sdk);
    logs.delete_log_group().log_group_name(&env.stack.log_group).send().await.unwrap();
    let audit = env.audit();
    let (logs2, group) = (logs.clone(), env.stack.log_group.clone());
    let consumer = ClearsAfterFirst {
        inner: &audit,
        calls: AtomicUsize::new(0),
        clear: move || {
            let (logs, group) = (logs2.clone(), group.clone());
            Box::pin(async move {
                logs.create_log_group().log_group_name(group).send().await.unwrap();
            }) as std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>
        },
    };
    let stats = env.run(&[&consumer]).await;
    let stream = env.stream_records().await;
    assert_eq!(stats.failed_batches.get("audit"), Some(&1));
    assert_eq!(stats.reported["audit"], vec![stream[0].1.clone()], "the first record of the failed batch is reported");
    let records = audit_records(&logs, &env.stack.log_group).await;
    let got: BTreeSet<&str> = records.iter().map(|r| r["eventId"].as_str().unwrap()).collect();
    let want: BTreeSet<&str> = stream.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(got, want, "nothing missing once the fault cleared");
    assert_eq!(records.len(), changes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_alert_topic_fails_the_batch_and_the_retry_delivers_every_alert() {
    let env = env().await;
    env.write_scenario().await;
    let sns = aws_sdk_sns::Client::new(&env.sdk);
    sns.delete_topic().topic_arn(&env.stack.alert_topic_arn).send().await.unwrap();
    let notify = env.notify();
    let (sdk, stack_args) = (
        env.sdk.clone(),
        flagtrail_devtools::stack::StackArgs {
            table: env.stack.table.clone(),
            log_group: env.stack.log_group.clone(),
            prefix: "flagtrail".into(),
            env_file: None,
            data_protection: false,
        },
    );
    let consumer = ClearsAfterFirst {
        inner: &notify,
        calls: AtomicUsize::new(0),
        clear: move || {
            let (sdk, args) = (sdk.clone(), stack_args.clone());
            // Re-creating the stack brings the topic back under the same ARN, with its subscriptions.
            Box::pin(async move {
                flagtrail_devtools::stack::create(&sdk, &args).await.unwrap();
            }) as std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>
        },
    };
    let stats = env.run(&[&consumer]).await;
    let stream = env.stream_records().await;
    assert_eq!(stats.reported["notify"], vec![stream[0].1.clone()]);
    let sqs = aws_sdk_sqs::Client::new(&env.sdk);
    let alerts = drain_queue(&sqs, &env.stack.queues["alerts-all"]).await;
    let ids: BTreeSet<&str> = alerts.iter().map(|(_, a)| a["eventId"].as_str()).collect();
    assert_eq!(ids.len(), 5, "all five alerts (the unstamped delete pages too) arrive after the retry: {alerts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_record_is_quarantined_in_the_trail_without_blocking_the_shard() {
    let env = env().await;
    let audit = env.audit();
    let bad = r#"{"Records":[
        {"eventID":"ok-1","eventName":"INSERT","dynamodb":{"Keys":{"PK":{"S":"FLAG#dev#a"},"SK":{"S":"METADATA"}},"NewImage":{"PK":{"S":"FLAG#dev#a"},"SK":{"S":"METADATA"},"updatedBy":{"S":"x"}},"SequenceNumber":"10"}},
        {"eventID":"bad-2","eventName":"MODIFY","dynamodb":{"Keys":{"PK":{"Q":"?"}},"SequenceNumber":"11"}},
        {"eventID":"ok-3","eventName":"REMOVE","dynamodb":{"Keys":{"PK":{"S":"FLAG#dev#a"},"SK":{"S":"METADATA"}},"OldImage":{"PK":{"S":"FLAG#dev#a"},"SK":{"S":"METADATA"},"updatedBy":{"S":"x"}},"SequenceNumber":"12"}}]}"#;
    let out = audit.handle(&StreamEvent::from_json(bad).unwrap(), Invocation::unbounded()).await;
    assert!(out.response.batch_item_failures.is_empty());
    let records = audit_records(&aws_sdk_cloudwatchlogs::Client::new(&env.sdk), &env.stack.log_group).await;
    let kinds: Vec<(&str, &str)> =
        records.iter().map(|r| (r["eventId"].as_str().unwrap(), r["recordType"].as_str().unwrap())).collect();
    assert_eq!(kinds, [("ok-1", "change"), ("bad-2", "quarantine"), ("ok-3", "change")]);
    let q: &Value = &records[1];
    assert!(q["error"]["message"].as_str().unwrap().contains("unknown DynamoDB type descriptor `Q`"));
}
