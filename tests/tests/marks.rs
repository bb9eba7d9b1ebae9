//! Freshness marks on the stand-in through the production sink (a conditional UpdateItem each),
//! beside the local sink that must agree with it: a mark never goes backwards, whatever is
//! redelivered or reordered, and sequence numbers of up to 40 digits compare as numbers.

use aws_sdk_dynamodb::types::AttributeValue;
use flagtrail_core::notify::Mark;
use flagtrail_core::StreamEvent;
use flagtrail_e2e::{notify_with_marks, root, stack, Moto};
use flagtrail_runtime::sink::{DynamoDbMarks, LocalMarks, MarkSink, Raised};
use flagtrail_runtime::Invocation;

fn mark(key: &str, item: Option<&str>, version: &str) -> Mark {
    Mark {
        key: key.into(),
        item: item.map(Into::into),
        version: version.into(),
        event_id: format!("ev-{version}"),
        changed_at: Some("2026-12-02T10:00:00.000Z".into()),
    }
}

async fn counter(ddb: &aws_sdk_dynamodb::Client, table: &str, key: &str) -> u64 {
    let item = ddb.get_item().table_name(table).key("mark", AttributeValue::S(key.into())).send().await.unwrap();
    item.item().and_then(|i| i.get("n")).and_then(|n| n.as_n().ok()).map_or(0, |n| n.parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn marks_never_go_backwards_on_the_stand_in_and_locally() {
    let moto = Moto::start();
    let sdk = moto.sdk().await;
    let stack = stack(&sdk).await;
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    let remote = DynamoDbMarks::new(ddb.clone(), stack.marks_table.clone());
    let local = LocalMarks::default();
    let forty = "1234567890123456789012345678901234567890";
    let thirty_nine_nines = "9".repeat(39);
    let cases: Vec<(&str, Mark, Raised, u64)> = vec![
        ("first change", mark("F#prod#checkout", Some("METADATA"), "100"), Raised::Raised, 1),
        ("redelivered", mark("F#prod#checkout", Some("METADATA"), "100"), Raised::Unchanged, 1),
        ("older, arriving late", mark("F#prod#checkout", Some("METADATA"), "99"), Raised::Unchanged, 1),
        ("another item of the mark", mark("F#prod#checkout", Some("KILLSWITCH"), "50"), Raised::Raised, 2),
        ("40 digits", mark("F#prod#checkout", Some("METADATA"), forty), Raised::Raised, 3),
        (
            "39 nines are less than 40 digits",
            mark("F#prod#checkout", Some("METADATA"), &thirty_nine_nines),
            Raised::Unchanged,
            3,
        ),
        ("a storm folded, unguarded", mark("F#prod#checkout", None, "7"), Raised::Raised, 4),
    ];
    for (what, m, expected, n) in &cases {
        assert_eq!(remote.raise(m).await.unwrap(), *expected, "moto: {what}");
        assert_eq!(local.raise(m).await.unwrap(), *expected, "local: {what}");
        assert_eq!(counter(&ddb, &stack.marks_table, &m.key).await, *n, "moto counter after {what}");
        assert_eq!(local.counter(&m.key), *n, "local counter after {what}");
    }
    // DynamoDB refuses a partition key over 2048 bytes; both say so as a permanent error.
    let long = mark(&format!("T#prod#{}", "t".repeat(2100)), Some("f"), "1");
    let (r, l) = (remote.raise(&long).await, local.raise(&long).await);
    assert!(matches!(r, Err(ref e) if !e.is_transient()), "moto: {r:?}");
    assert!(matches!(l, Err(ref e) if !e.is_transient()), "local: {l:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_raises_each_mark_once_however_often_a_batch_comes() {
    let moto = Moto::start();
    let sdk = moto.sdk().await;
    let stack = stack(&sdk).await;
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    let notify = notify_with_marks(&sdk, &stack);
    // A subscriber filtering on one flag: packed (v2) messages list every flag as a String.Array
    // attribute, and SNS (moto too) matches a policy when any element matches.
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let queue = sqs.create_queue().queue_name("one-flag").send().await.unwrap().queue_url().unwrap().to_owned();
    let queue_arn = "arn:aws:sqs:us-east-1:123456789012:one-flag";
    aws_sdk_sns::Client::new(&sdk)
        .subscribe()
        .topic_arn(&stack.invalidation_topic_arn)
        .protocol("sqs")
        .endpoint(queue_arn)
        .attributes("RawMessageDelivery", "true")
        .attributes("FilterPolicy", r#"{"flagKey":["onboarding-tour"]}"#)
        .send()
        .await
        .unwrap();
    let text = std::fs::read_to_string(root().join("events/batch-mixed.json")).unwrap();
    let event = StreamEvent::from_json(&text).unwrap();
    let first = notify.handle(&event, Invocation::unbounded()).await;
    assert!(first.response.batch_item_failures.is_empty(), "{:?}", first.errors);
    let raised = first.metrics.get(flagtrail_core::metrics::Counter::MarksRaised);
    assert!(raised > 0, "the mixed batch raises marks");
    let scan = |ddb: aws_sdk_dynamodb::Client, table: String| async move {
        let out = ddb.scan().table_name(table).send().await.unwrap();
        let mut v: Vec<(String, String)> =
            out.items().iter().map(|i| (i["mark"].as_s().unwrap().clone(), i["n"].as_n().unwrap().clone())).collect();
        v.sort();
        v
    };
    let one_flag: Vec<serde_json::Value> = flagtrail_e2e::drain_queue(&sqs, &queue)
        .await
        .into_iter()
        .flat_map(|(body, _)| flagtrail_core::notify::unpack(&body.to_string()).unwrap())
        .collect();
    assert!(one_flag.iter().any(|i| i["flagKey"] == "onboarding-tour"), "the filtered subscriber gets its flag");
    let before = scan(ddb.clone(), stack.marks_table.clone()).await;
    assert_eq!(before.len() as u64, raised, "one item per mark raised");
    // Redelivery: Lambda sends the same batch again after a partial failure.
    let again = notify.handle(&event, Invocation::unbounded()).await;
    assert!(again.response.batch_item_failures.is_empty(), "{:?}", again.errors);
    assert_eq!(again.metrics.get(flagtrail_core::metrics::Counter::MarksRaised), 0);
    assert_eq!(scan(ddb.clone(), stack.marks_table.clone()).await, before, "no mark moved");
    // A mark the function cannot write fails its records: the table is gone.
    ddb.delete_table().table_name(&stack.marks_table).send().await.unwrap();
    let failed = notify.handle(&event, Invocation::unbounded()).await;
    assert!(failed.response.resume_from().is_some(), "records whose mark was not written come again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mark_at_the_item_size_limit_is_raised_without_its_guard() {
    // A tenant with overrides on thousands of flags: its mark holds a guard per flag and reaches
    // DynamoDB's 400 KB item limit, which moto enforces with AWS's message.
    let moto = Moto::start();
    let sdk = moto.sdk().await;
    let stack = stack(&sdk).await;
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    let text = std::fs::read_to_string(root().join("events/override-set.json")).unwrap();
    let record: serde_json::Value = serde_json::from_str(&text).unwrap();
    let record = &record["Records"][0];
    // The mark as notify leaves it, padded to 10 bytes under the largest item the stand-in takes:
    // a guard attribute more no longer fits; the counter alone does. (moto counts every SET on top
    // of the item, even one replacing a value of the same size: stricter than AWS, which sizes the
    // resulting item; the unguarded raise is `ADD n` alone either way.)
    let mut pad = 405_000;
    let mut fits = false;
    loop {
        let put = ddb
            .put_item()
            .table_name(&stack.marks_table)
            .item("mark", AttributeValue::S("T#prod#acme-corp".into()))
            .item("n", AttributeValue::N("7".into()))
            .item("version", AttributeValue::S(record["dynamodb"]["SequenceNumber"].as_str().unwrap().into()))
            .item("eventId", AttributeValue::S(record["eventID"].as_str().unwrap().into()))
            .item("changedAt", AttributeValue::S("2026-11-23T00:32:00.000Z".into()))
            .item("pad", AttributeValue::S("x".repeat(pad)))
            .send()
            .await;
        if put.is_ok() && fits {
            break;
        }
        // Once the largest fitting pad is found, write it again 10 bytes smaller.
        (pad, fits) = if put.is_ok() { (pad - 10, true) } else { (pad - 4, false) };
    }
    let notify = notify_with_marks(&sdk, &stack);
    let out = notify.handle(&StreamEvent::from_json(&text).unwrap(), Invocation::unbounded()).await;
    assert!(out.response.batch_item_failures.is_empty(), "not failed forever: {:?}", out.errors);
    assert_eq!(counter(&ddb, &stack.marks_table, "T#prod#acme-corp").await, 8, "raised");
    let item = ddb
        .get_item()
        .table_name(&stack.marks_table)
        .key("mark", AttributeValue::S("T#prod#acme-corp".into()))
        .send()
        .await
        .unwrap();
    assert!(!item.item().unwrap().contains_key("v:checkout-v2"), "the guarded write did not fit: raised unguarded");
}
