//! Completeness on moto: a scripted history through the table, the audit pipeline over the stream
//! into the log group; the clean trail passes `continuity` and `reconcile` (exit 0); a trail with
//! one audit record removed and a write made behind the trail's back are named exactly (exit 1).

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use flagtrail_cli::completeness::{read_trail, scan_table};
use flagtrail_core::completeness::{continuity, item_id, reconcile, Finding};
use flagtrail_devtools::mapping::{drain, MappingOptions};
use flagtrail_e2e::{audit_records, flagtrail, prod_flag, s, stack, Moto};
use flagtrail_runtime::build::audit_pipeline;
use flagtrail_runtime::trail::{FileTrail, LogGroupTrail};
use flagtrail_runtime::AuditConfig;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn continuity_and_reconcile_name_exactly_what_is_missing() {
    let moto = Moto::start();
    let sdk = moto.sdk().await;
    let stack = stack(&sdk).await;
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    let put = |item: HashMap<String, AttributeValue>| {
        let ddb = ddb.clone();
        let table = stack.table.clone();
        async move { ddb.put_item().table_name(table).set_item(Some(item)).send().await.expect("PutItem") }
    };
    put(prod_flag("a", 10, "alice", "r-a1", 1)).await;
    put(prod_flag("a", 20, "alice", "r-a2", 2)).await;
    put(prod_flag("a", 30, "bob", "r-a3", 3)).await;
    put(prod_flag("b", 10, "carol", "r-b1", 1)).await;
    put(prod_flag("b", 50, "carol", "r-b2", 2)).await;
    let audit = audit_pipeline(&sdk, &AuditConfig::new(&stack.log_group));
    let opts = MappingOptions {
        stop_after_idle_polls: Some(2),
        poll_interval: Duration::from_millis(50),
        ..Default::default()
    };
    let streams = aws_sdk_dynamodbstreams::Client::new(&sdk);
    drain(&streams, &stack.stream_arn, &[&audit], &opts).await.unwrap();

    // The clean history: nothing to report.
    let logs = aws_sdk_cloudwatchlogs::Client::new(&sdk);
    let group = LogGroupTrail::whole(logs.clone(), &stack.log_group);
    let trail = read_trail(&group).await.unwrap();
    assert_eq!(trail.len(), 5);
    assert_eq!(continuity(&trail), vec![]);
    assert_eq!(reconcile(&scan_table(&ddb, &stack.table).await.unwrap(), &trail), vec![]);
    let (code, out) =
        flagtrail(&["reconcile", "--table", &stack.table, "--log-group", &stack.log_group], &moto.endpoint);
    assert_eq!(code, 0, "{out}");

    // One audit record removed from an exported copy of the trail: a's v2.
    let dir: PathBuf = std::env::temp_dir().join(format!("flagtrail-continuity-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let kept: Vec<String> = audit_records(&logs, &stack.log_group)
        .await
        .iter()
        .filter(|r| r["after"]["requestId"] != "r-a2")
        .map(|r| r.to_string())
        .collect();
    std::fs::write(dir.join("audit.jsonl"), kept.join("\n") + "\n").unwrap();
    let tampered = read_trail(&FileTrail(dir.clone())).await.unwrap();
    let gap = Finding::VersionGap {
        item: item_id("FLAG#prod#a", "METADATA"),
        from: 1,
        to: 3,
        event_id: tampered.iter().find(|r| r.after_request_id.as_deref() == Some("r-a3")).unwrap().event_id.clone(),
    };
    assert_eq!(continuity(&tampered), vec![gap]);
    let (code, out) = flagtrail(&["continuity", "--dir", dir.to_str().unwrap()], &moto.endpoint);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("version gap: PK=FLAG#prod#a SK=METADATA: v1 → v3"), "{out}");
    let (code, _) = flagtrail(&["continuity", "--log-group", &stack.log_group], &moto.endpoint);
    assert_eq!(code, 0, "the log group itself is intact");

    // A write behind the trail's back (the stream is not read again): b is at v3 in the table only.
    put(prod_flag("b", 90, "mallory", "r-b3", 3)).await;
    let findings = reconcile(&scan_table(&ddb, &stack.table).await.unwrap(), &trail);
    assert_eq!(
        findings,
        vec![Finding::UnauditedState {
            item: item_id("FLAG#prod#b", "METADATA"),
            version: Some("3".into()),
            request_id: Some("r-b3".into()),
        }]
    );
    // And a delete the trail never saw: a is gone, its last record is not a REMOVE.
    ddb.delete_item()
        .table_name(&stack.table)
        .key("PK", s("FLAG#prod#a"))
        .key("SK", s("METADATA"))
        .send()
        .await
        .unwrap();
    let (code, out) =
        flagtrail(&["reconcile", "--table", &stack.table, "--log-group", &stack.log_group], &moto.endpoint);
    assert_eq!(code, 1);
    assert!(out.contains("unaudited write: PK=FLAG#prod#b SK=METADATA is at version 3 request r-b3"), "{out}");
    assert!(out.contains("missing REMOVE: PK=FLAG#prod#a SK=METADATA is gone from the table"), "{out}");
    assert!(out.contains("2 finding(s)"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}
