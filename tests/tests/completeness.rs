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
    let (code, out) = flagtrail(
        &["reconcile", "--grace", "0", "--table", &stack.table, "--log-group", &stack.log_group],
        &moto.endpoint,
    );
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
    let (code, out) = flagtrail(
        &["reconcile", "--grace", "0", "--table", &stack.table, "--dir", dir.to_str().unwrap()],
        &moto.endpoint,
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("version gap: PK=FLAG#prod#a SK=METADATA: v1 → v3"), "{out}");
    assert!(out.contains("; 1 finding(s)"), "exactly that gap: {out}");
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
    let (code, out) = flagtrail(
        &["reconcile", "--grace", "0", "--table", &stack.table, "--log-group", &stack.log_group],
        &moto.endpoint,
    );
    assert_eq!(code, 1);
    assert!(out.contains("unaudited write: PK=FLAG#prod#b SK=METADATA is at version 3 request r-b3"), "{out}");
    assert!(out.contains("missing REMOVE: PK=FLAG#prod#a SK=METADATA is gone from the table"), "{out}");
    assert!(out.contains("2 finding(s)"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Deployed beside an existing table: items written before the trail existed are each a finding
/// until `flagtrail baseline` records them (once: a second baseline adds nothing); then reconcile
/// is clean, a write behind the trail's back is exactly one finding, and once the baseline's
/// records are gone from the log group (retention) the archive still accounts for them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_baseline_accounts_for_items_older_than_the_trail() {
    let moto = Moto::start();
    let sdk = moto.sdk().await;
    let stack = stack(&sdk).await;
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    for (flag, v) in [("old-a", 4), ("old-b", 9), ("old-c", 1)] {
        let item = prod_flag(flag, 10, "alice", &format!("r-{flag}"), v);
        ddb.put_item().table_name(&stack.table).set_item(Some(item)).send().await.unwrap();
    }
    // The stream is never read: as far as the trail knows these items predate it.
    let reconcile = |extra: &[&str]| {
        let mut args = vec!["reconcile", "--grace", "0", "--table", &stack.table, "--log-group", &stack.log_group];
        args.extend_from_slice(extra);
        flagtrail(&args, &moto.endpoint)
    };
    let (code, out) = reconcile(&[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("3 finding(s)"), "{out}");

    let baseline = ["baseline", "--table", &stack.table, "--log-group", &stack.log_group];
    let (code, out) = flagtrail(&baseline, &moto.endpoint);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("3 item(s) read; 3 recorded"), "{out}");
    let (code, out) = flagtrail(&baseline, &moto.endpoint);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("3 item(s) read; 0 recorded"), "idempotent: {out}");
    let (code, out) = reconcile(&[]);
    assert_eq!(code, 0, "{out}");
    // Sealed like any batch: verify finds every baseline record covered.
    let (code, out) = flagtrail(&["verify", "--log-group", &stack.log_group], &moto.endpoint);
    assert_eq!(code, 0, "{out}");

    // A write behind the trail's back: exactly that item.
    let item = prod_flag("old-b", 99, "mallory", "r-behind", 10);
    ddb.put_item().table_name(&stack.table).set_item(Some(item)).send().await.unwrap();
    let (code, out) = reconcile(&[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("unaudited write: PK=FLAG#prod#old-b SK=METADATA is at version 10 request r-behind"), "{out}");
    assert!(out.contains("1 finding(s)"), "{out}");
    ddb.put_item()
        .table_name(&stack.table)
        .set_item(Some(prod_flag("old-b", 10, "alice", "r-old-b", 9)))
        .send()
        .await
        .unwrap();

    // The baseline's records leave the log group (its retention); the archive kept them.
    let logs = aws_sdk_cloudwatchlogs::Client::new(&sdk);
    let streams = logs.describe_log_streams().log_group_name(&stack.log_group).send().await.unwrap();
    for s in streams.log_streams() {
        let name = s.log_stream_name().unwrap();
        assert!(name.starts_with("baseline/"), "only the baseline was written: {name}");
        logs.delete_log_stream().log_group_name(&stack.log_group).log_stream_name(name).send().await.unwrap();
    }
    let (code, out) = reconcile(&[]);
    assert_eq!(code, 1, "the log group alone no longer accounts for them: {out}");
    let (code, out) = reconcile(&["--archive", &stack.archive]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("3 item(s) known"), "{out}");
}

/// Incremental: with `--state`, a second run reads only the trail since the first (and its
/// overlap) and still names a write behind the trail's back; a grace period holds it back
/// until it is old enough.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incremental_reconcile_reads_only_what_is_new() {
    let moto = Moto::start();
    let sdk = moto.sdk().await;
    let stack = stack(&sdk).await;
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    for (flag, req, v) in [("a", "r-a1", 1), ("a", "r-a2", 2), ("b", "r-b1", 1)] {
        ddb.put_item()
            .table_name(&stack.table)
            .set_item(Some(prod_flag(flag, 10, "alice", req, v)))
            .send()
            .await
            .unwrap();
    }
    flagtrail_e2e::audit_stream(&sdk, &stack).await;

    let dir = std::env::temp_dir().join(format!("flagtrail-incremental-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let state = dir.join("state.jsonl.gz");
    let run = |grace: &str| {
        flagtrail(
            &[
                "reconcile",
                "--grace",
                grace,
                "--overlap",
                "0",
                "--state",
                state.to_str().unwrap(),
                "--table",
                &stack.table,
                "--log-group",
                &stack.log_group,
            ],
            &moto.endpoint,
        )
    };
    let (code, out) = run("0");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("3 record(s) read from log group /flagtrail/audit;"), "the first run reads everything: {out}");
    let (code, out) = run("0");
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("0 record(s) read from log group /flagtrail/audit since"),
        "the second run reads only what is new: {out}"
    );
    assert!(out.contains("2 item(s) known"), "{out}");

    ddb.put_item()
        .table_name(&stack.table)
        .set_item(Some(prod_flag("b", 50, "mallory", "r-b2", 2)))
        .send()
        .await
        .unwrap();
    let (code, out) = run("3600");
    assert_eq!(code, 0, "younger than an hour's grace: {out}");
    assert!(out.contains("0 finding(s), 1 younger than the grace period"), "{out}");
    let (code, out) = run("0");
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("unaudited write: PK=FLAG#prod#b SK=METADATA is at version 2 request r-b2"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// FilterLogEvents as AWS serves it: pages of at most 1 MB, 5 requests a second per account.
/// Through the strict stand-in, a trail of ~6 MB takes several pages; the CLI's paced reader gets
/// every record and is never throttled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_trail_is_read_in_pages_within_the_filter_quota() {
    let moto = Moto::start();
    let sdk = moto.sdk().await;
    let stack = stack(&sdk).await;
    let logs = aws_sdk_cloudwatchlogs::Client::new(&sdk);
    logs.create_log_stream().log_group_name(&stack.log_group).log_stream_name("bulk").send().await.unwrap();
    let now = flagtrail_runtime::pipeline::now_ms();
    let pad = "x".repeat(1400);
    let records: Vec<String> = (0..4000)
        .map(|i| {
            serde_json::json!({"recordType": "change", "eventId": format!("e{i}"), "sequenceNumber": format!("{:021}", i + 1),
                "eventName": "INSERT", "keys": {"PK": format!("FLAG#prod#f{i}"), "SK": "METADATA"}, "itemVersion": 1,
                "after": {"version": 1, "requestId": format!("r{i}")}, "pad": pad})
            .to_string()
        })
        .collect();
    for chunk in records.chunks(500) {
        let events = chunk.iter().map(|m| {
            aws_sdk_cloudwatchlogs::types::InputLogEvent::builder().timestamp(now).message(m).build().unwrap()
        });
        logs.put_log_events()
            .log_group_name(&stack.log_group)
            .log_stream_name("bulk")
            .set_log_events(Some(events.collect()))
            .send()
            .await
            .unwrap();
    }
    let strict = flagtrail_e2e::strict::StrictProxy::start(&moto.endpoint, None);
    let (code, out) = flagtrail(&["continuity", "--log-group", &stack.log_group], &strict.endpoint);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("4000 change record(s)"), "{out}");
    let (answered, throttled) = strict.filter_calls();
    assert!(answered >= 6, "~6 MB in pages of at most 1 MB: {answered} pages");
    assert_eq!(throttled, 0, "paced below the quota");
}

/// A trail longer than one run can read (a state rebuilt from a year of trail): each run stops
/// after a page once its deadline has passed, keeps how far it read, compares nothing yet, and the
/// next run goes on from there; once the trail is read the table is compared, and nothing is
/// reported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trail_read_cut_by_the_deadline_resumes_on_the_next_run() {
    use flagtrail_runtime::reconcile::{CompletenessCheck, FileState, TableReader};
    let moto = Moto::start();
    let sdk = moto.sdk().await;
    let stack = stack(&sdk).await;
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    let logs = aws_sdk_cloudwatchlogs::Client::new(&sdk);
    logs.create_log_stream().log_group_name(&stack.log_group).log_stream_name("bulk").send().await.unwrap();
    let now = flagtrail_runtime::pipeline::now_ms();
    let pad = "x".repeat(1400);
    // 2,000 items, each created once; ~3 MB of trail: three pages of at most 1 MB.
    for chunk in (0..2000).collect::<Vec<u32>>().chunks(500) {
        let events = chunk.iter().map(|&i| {
            let m = serde_json::json!({"recordType": "change", "eventId": format!("e{i}"), "sequenceNumber": format!("{:021}", i + 1),
                "eventName": "INSERT", "keys": {"PK": format!("FLAG#prod#f{i}"), "SK": "METADATA"}, "itemVersion": 1,
                "after": {"version": "1", "requestId": format!("r{i}")}, "pad": pad});
            aws_sdk_cloudwatchlogs::types::InputLogEvent::builder().timestamp(now - 2000 + i64::from(i)).message(m.to_string()).build().unwrap()
        });
        logs.put_log_events()
            .log_group_name(&stack.log_group)
            .log_stream_name("bulk")
            .set_log_events(Some(events.collect()))
            .send()
            .await
            .unwrap();
    }
    for i in 0..2000 {
        let item = flagtrail_e2e::stamped(
            &[("PK", s(&format!("FLAG#prod#f{i}"))), ("SK", s("METADATA"))],
            "alice",
            &format!("r{i}"),
            1,
        );
        ddb.put_item().table_name(&stack.table).set_item(Some(item)).send().await.unwrap();
    }
    let strict = flagtrail_e2e::strict::StrictProxy::start(&moto.endpoint, None);
    let mut settings = moto.settings();
    settings.endpoint_url = Some(strict.endpoint.clone());
    let through_strict = settings.load().await;
    let dir = std::env::temp_dir().join(format!("flagtrail-resume-trail-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let check = CompletenessCheck {
        table: TableReader { ddb, table: stack.table.clone(), pace: None, page_items: None },
        // Paced as the function paces it: the stand-in throttles beyond 5 requests a second.
        trail: Box::new(LogGroupTrail {
            pace: Some(std::sync::Arc::new(flagtrail_runtime::pace::Pace::per_second(2.0))),
            ..LogGroupTrail::whole(aws_sdk_cloudwatchlogs::Client::new(&through_strict), &stack.log_group)
        }),
        state: Some(Box::new(FileState(dir.join("state.jsonl.gz")))),
        grace_ms: 0,
        overlap_ms: 0,
        segments: 1,
        baseline: None,
    };
    let mut runs = Vec::new();
    loop {
        let r = check.run(now, Some(0)).await.unwrap();
        assert_eq!(r.findings, vec![], "run {}", runs.len());
        assert_eq!(r.pass.is_some(), r.trail_complete, "the table is compared once the trail is read");
        runs.push((r.records, r.trail_complete));
        if r.trail_complete || runs.len() > 10 {
            break;
        }
    }
    assert!(runs.len() >= 3, "~3 MB of trail in pages of at most 1 MB, one page a run: {runs:?}");
    let records: usize = runs.iter().map(|(n, _)| n).sum();
    assert!(records >= 2000, "every record read, some twice at the page edges: {runs:?}");
    let r = check.run(now + 1, Some(0)).await.unwrap();
    assert_eq!((r.known_items, r.findings.len(), r.trail_complete), (2000, 0, true));
    assert_eq!(strict.filter_calls().1, 0, "never throttled");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Throttled beyond the SDK's own retries (the account's quota spent by other readers): the reader
/// backs off and asks for the same page again, and reads everything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_throttled_beyond_the_sdk_retries_backs_off_and_reads_everything() {
    use flagtrail_e2e::fault::{Fault, FaultProxy, Protocol};
    let moto = Moto::start();
    let sdk = moto.sdk().await;
    let stack = stack(&sdk).await;
    let logs = aws_sdk_cloudwatchlogs::Client::new(&sdk);
    logs.create_log_stream().log_group_name(&stack.log_group).log_stream_name("s").send().await.unwrap();
    let events = (0..3).map(|i| {
        aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
            .timestamp(flagtrail_runtime::pipeline::now_ms())
            .message(format!("{{\"n\":{i}}}"))
            .build()
            .unwrap()
    });
    logs.put_log_events()
        .log_group_name(&stack.log_group)
        .log_stream_name("s")
        .set_log_events(Some(events.collect()))
        .send()
        .await
        .unwrap();
    let proxy = FaultProxy::start(&moto.endpoint, Protocol::Json);
    let mut settings = moto.settings();
    settings.endpoint_url = Some(proxy.endpoint.clone());
    let through = settings.load().await;
    // Two SDK operations' worth of attempts (3 each) throttled: two back-offs (1 s, 2 s), then the page.
    proxy.inject(Fault::Throttle, 6);
    let trail = LogGroupTrail::whole(aws_sdk_cloudwatchlogs::Client::new(&through), &stack.log_group);
    let messages = flagtrail_runtime::trail::TrailSource::messages(&trail).await.unwrap();
    assert_eq!(messages.len(), 3);
    assert_eq!(proxy.counts(), (6, 1), "six throttled attempts, then the page");
}

#[test]
fn the_stand_in_throttles_a_sixth_request_within_a_second() {
    use std::time::{Duration, Instant};
    let mut calls = flagtrail_e2e::strict::FilterCalls::default();
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    for ms in [0, 100, 200, 300, 400] {
        assert!(calls.admit(at(ms)));
    }
    assert!(!calls.admit(at(999)), "a sixth within the same second");
    assert!(calls.admit(at(1000)), "the first has left the window");
    assert_eq!((calls.answered, calls.throttled), (6, 1));
}

/// A baseline larger than one run's time: each run stops after a page once its deadline has passed,
/// keeps where it got in the state, and the next resumes there; the table is compared only once the
/// baseline is whole, and then nothing is reported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_baseline_cut_by_the_deadline_resumes_on_the_next_run() {
    use flagtrail_runtime::reconcile::{CompletenessCheck, FileState, TableReader};
    let moto = Moto::start();
    let sdk = moto.sdk().await;
    let stack = stack(&sdk).await;
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    for flag in ["a", "b", "c"] {
        ddb.put_item()
            .table_name(&stack.table)
            .set_item(Some(prod_flag(flag, 10, "alice", &format!("r-{flag}"), 2)))
            .send()
            .await
            .unwrap();
    }
    let dir = std::env::temp_dir().join(format!("flagtrail-resume-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let check = CompletenessCheck {
        table: TableReader { ddb: ddb.clone(), table: stack.table.clone(), pace: None, page_items: Some(1) },
        trail: Box::new(LogGroupTrail::whole(aws_sdk_cloudwatchlogs::Client::new(&sdk), &stack.log_group)),
        state: Some(Box::new(FileState(dir.join("state.jsonl.gz")))),
        grace_ms: 0,
        overlap_ms: 0,
        segments: 1,
        baseline: Some(flagtrail_runtime::build::baseline_writer(&sdk, &stack.log_group, None)),
    };
    let now = flagtrail_runtime::pipeline::now_ms();
    // The deadline has passed before the run starts: one page (one item) per run.
    let mut baselined = Vec::new();
    for run in 0..3 {
        let r = check.run(now + run, Some(0)).await.unwrap();
        baselined.push(r.baselined);
        assert_eq!(r.findings, vec![], "run {run}");
        assert_eq!(r.pass.is_some(), run == 2, "the table is compared once the baseline is whole (run {run})");
    }
    assert_eq!(baselined, vec![1, 1, 1]);
    let r = check.run(now + 10, Some(0)).await.unwrap();
    assert_eq!((r.baselined, r.known_items, r.findings.len()), (0, 3, 0));
    let _ = std::fs::remove_dir_all(&dir);
}

/// The kept state in S3 has one writer: two runs that loaded the same state cannot both replace
/// it (a conditional PUT, `If-None-Match: *` for the first object, `If-Match` its ETag after);
/// moto 5.2.5 enforces both, as S3 does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runs_cannot_both_replace_the_kept_state() {
    use flagtrail_runtime::reconcile::{S3State, StateStore};
    let moto = Moto::start();
    let sdk = moto.sdk().await;
    let s3 = aws_sdk_s3::Client::new(&sdk);
    s3.create_bucket().bucket("state").send().await.unwrap();
    let (a, b) = (
        S3State::new(s3.clone(), "state", "reconcile/state.jsonl.gz"),
        S3State::new(s3.clone(), "state", "reconcile/state.jsonl.gz"),
    );
    assert!(a.load().await.unwrap().is_none() && b.load().await.unwrap().is_none(), "no state yet");
    let mut state = flagtrail_core::completeness::TrailState::default();
    state.read_until_ms = Some(1);
    a.save(&state).await.unwrap();
    let err = b.save(&state).await.unwrap_err().to_string();
    assert!(err.contains("PreconditionFailed"), "the second first-writer is refused: {err}");
    // The next run of the first writer replaces its own object (If-Match its ETag) …
    let loaded = a.load().await.unwrap().unwrap();
    assert_eq!(loaded.read_until_ms, Some(1));
    let c = S3State::new(s3.clone(), "state", "reconcile/state.jsonl.gz");
    c.load().await.unwrap();
    state.read_until_ms = Some(2);
    a.save(&state).await.unwrap();
    // … and a run that loaded before that replacement cannot overwrite it.
    let err = c.save(&state).await.unwrap_err().to_string();
    assert!(err.contains("PreconditionFailed"), "a stale writer is refused: {err}");
}

/// The table compared in slices (parallel Scan segments, which moto serves): an item deleted
/// without a REMOVE record is reported once a whole cycle of slices has not seen it, not before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_behind_the_trail_is_found_after_a_whole_cycle_of_slices() {
    let moto = Moto::start();
    let sdk = moto.sdk().await;
    let stack = stack(&sdk).await;
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    for flag in ["a", "b", "c", "d", "e", "f"] {
        ddb.put_item()
            .table_name(&stack.table)
            .set_item(Some(prod_flag(flag, 10, "alice", &format!("r-{flag}"), 1)))
            .send()
            .await
            .unwrap();
    }
    flagtrail_e2e::audit_stream(&sdk, &stack).await;
    let dir = std::env::temp_dir().join(format!("flagtrail-slices-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let state = dir.join("state.jsonl.gz");
    let run = || {
        flagtrail(
            &[
                "reconcile",
                "--grace",
                "0",
                "--segments",
                "3",
                "--state",
                state.to_str().unwrap(),
                "--table",
                &stack.table,
                "--log-group",
                &stack.log_group,
            ],
            &moto.endpoint,
        )
    };
    // Deleted behind the trail's back (the stream is not read again).
    ddb.delete_item()
        .table_name(&stack.table)
        .key("PK", s("FLAG#prod#c"))
        .key("SK", s("METADATA"))
        .send()
        .await
        .unwrap();
    let mut outs = Vec::new();
    for _ in 0..3 {
        let (code, out) = run();
        outs.push((code, out));
    }
    assert!(outs[0].1.contains("slice 1 of 3"), "{}", outs[0].1);
    assert_eq!(outs[0].0, 0, "slice 1 of 3: the cycle is not complete: {}", outs[0].1);
    assert_eq!(outs[1].0, 0, "slice 2 of 3: the cycle is not complete: {}", outs[1].1);
    assert_eq!(outs[2].0, 1, "slice 3 of 3 completes the cycle: {}", outs[2].1);
    assert!(outs[2].1.contains("missing REMOVE: PK=FLAG#prod#c SK=METADATA is gone from the table"), "{}", outs[2].1);
    assert!(outs[2].1.contains("; 1 finding(s)"), "exactly that item: {}", outs[2].1);
    let _ = std::fs::remove_dir_all(&dir);
}
