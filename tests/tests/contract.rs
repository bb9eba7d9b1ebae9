//! One contract, two implementations: the same PublishBatch and PutLogEvents cases against the
//! local sinks and against moto through the production sinks. The local sinks must never accept
//! what moto refuses, and must refuse every case the AWS documentation says AWS refuses — which
//! moto (lenient) accepts: that difference is why the local sinks enforce the rules themselves.
//! The strict stand-in in front of moto (what the binaries are tested through) must agree with the
//! local sinks on every case.

use std::collections::BTreeMap;

use flagtrail_core::delivery::LogEvent;
use flagtrail_core::notify::Message;
use flagtrail_e2e::{stack, Moto};
use flagtrail_runtime::build::{audit_pipeline, notify_pipeline};
use flagtrail_runtime::sink::{LocalLog, LocalTopic, LogSink, TopicSink};
use flagtrail_runtime::{AuditConfig, NotifyConfig};

fn msg(subject: Option<String>, attributes: &[(&str, &str)], group: &str) -> Message {
    Message {
        subject,
        body: "{\"eventId\":\"c\"}".into(),
        attributes: attributes.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect::<BTreeMap<_, _>>(),
        group_id: group.into(),
        dedup_id: "dedup-1".into(),
        ..Default::default()
    }
}

/// (case, FIFO topic, messages, does AWS accept every entry)
fn publish_cases() -> Vec<(&'static str, bool, Vec<Message>, bool)> {
    let eleven: Vec<(String, String)> = (0..11).map(|i| (format!("a{i}"), "v".to_owned())).collect();
    let eleven: Vec<(&str, &str)> = eleven.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    vec![
        ("valid standard", false, vec![msg(Some("[HIGH] Kill switch".into()), &[("severity", "high")], "g")], true),
        ("valid FIFO", true, vec![msg(Some("a".repeat(99)), &[("flagKey", "チェック")], "prod/checkout")], true),
        ("subject of 100 characters", false, vec![msg(Some("a".repeat(100)), &[], "g")], false),
        ("subject with a line break", false, vec![msg(Some("a\nb".into()), &[], "g")], false),
        ("empty attribute value", false, vec![msg(None, &[("owner", "")], "g")], false),
        ("11 attributes", false, vec![msg(None, &eleven, "g")], false),
        ("attribute name with a space", false, vec![msg(None, &[("flag key", "x")], "g")], false),
        ("FIFO group id with a space", true, vec![msg(None, &[], "prod/a b")], false),
        ("FIFO group id of 129 characters", true, vec![msg(None, &[], &"g".repeat(129))], false),
    ]
}

/// (case, events relative to now, does AWS write every event)
fn log_cases() -> Vec<(&'static str, Vec<i64>, bool)> {
    let day = 24 * 3600 * 1000;
    vec![
        ("within the window", vec![-1000, 0], true),
        ("15 days old", vec![-15 * day], false),
        ("3 hours ahead", vec![3 * 3600 * 1000], false),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_sinks_are_at_least_as_strict_as_moto_and_refuse_what_aws_refuses() {
    let moto = Moto::start();
    let sdk = moto.sdk().await;
    let stack = stack(&sdk).await;
    let sns = aws_sdk_sns::Client::new(&sdk);
    let fifo_arn = sns
        .create_topic()
        .name("contract.fifo")
        .attributes("FifoTopic", "true")
        .send()
        .await
        .unwrap()
        .topic_arn()
        .unwrap()
        .to_owned();
    let standard =
        notify_pipeline(&sdk, &NotifyConfig::new(&stack.alert_topic_arn, &stack.invalidation_topic_arn)).alerts;
    let fifo = notify_pipeline(&sdk, &NotifyConfig::new(&fifo_arn, &fifo_arn)).alerts;
    let strict = flagtrail_e2e::strict::StrictProxy::start(&moto.endpoint, None);
    let strict_sdk = flagtrail_runtime::SdkSettings::local(&strict.endpoint).load().await;
    let strict_standard =
        notify_pipeline(&strict_sdk, &NotifyConfig::new(&stack.alert_topic_arn, &stack.invalidation_topic_arn)).alerts;
    let strict_fifo = notify_pipeline(&strict_sdk, &NotifyConfig::new(&fifo_arn, &fifo_arn)).alerts;
    let mut moto_lenient = Vec::new();
    for (case, is_fifo, messages, aws_accepts) in publish_cases() {
        let mut local = LocalTopic::default();
        local.fifo = is_fifo;
        let local_ok = matches!(local.publish(&messages).await, Ok(f) if f.is_empty());
        let remote = if is_fifo { &fifo } else { &standard };
        let moto_ok = matches!(remote.publish(&messages).await, Ok(f) if f.is_empty());
        let through_strict = if is_fifo { &strict_fifo } else { &strict_standard };
        let strict_ok = matches!(through_strict.publish(&messages).await, Ok(f) if f.is_empty());
        assert_eq!(local_ok, aws_accepts, "{case}: the local sink follows AWS's documented rule");
        assert_eq!(strict_ok, aws_accepts, "{case}: the strict stand-in follows AWS's documented rule");
        assert!(moto_ok || !local_ok, "{case}: the local sink accepted what moto refused");
        if moto_ok && !local_ok {
            moto_lenient.push(case);
        }
    }
    // Recorded, not required: what moto lets through that AWS refuses.
    println!("moto accepts, AWS (and the local sink) refuse: {moto_lenient:?}");

    let log = audit_pipeline(&sdk, &AuditConfig::new(&stack.log_group)).log;
    let strict_log = audit_pipeline(&strict_sdk, &AuditConfig::new(&stack.log_group)).log;
    let now = (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;
    for (case, offsets, aws_writes) in log_cases() {
        let events: Vec<LogEvent> = offsets
            .iter()
            .map(|o| LogEvent { timestamp_ms: now + o, message: format!("{{\"case\":\"{case}\"}}") })
            .collect();
        let local_ok = matches!(LocalLog::default().put(&events).await, Ok(r) if r.is_empty());
        let moto_ok = matches!(log.put(&events).await, Ok(r) if r.is_empty());
        let strict_ok = matches!(strict_log.put(&events).await, Ok(r) if r.is_empty());
        assert_eq!(local_ok, aws_writes, "{case}: the local sink follows AWS's documented rule");
        assert_eq!(strict_ok, aws_writes, "{case}: the strict stand-in follows AWS's documented rule");
        assert!(moto_ok || !local_ok, "{case}: the local sink accepted what moto refused");
    }
}
