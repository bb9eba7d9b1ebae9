//! Nothing lost after Lambda gives up: a sink fails for longer than the retries, the stream-mapping
//! stand-in discards the batch to the S3 on-failure destination with its records (as Lambda does
//! for an S3 destination), the sink is repaired, `flagtrail redrive` makes every record durable,
//! and a second redrive adds nothing. Also the stand-in's own Lambda behaviours: filter criteria,
//! bisect on a function error (timeout), record age.

use std::collections::BTreeSet;
use std::time::Duration;

use async_trait::async_trait;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use flagtrail_cli::redrive::{redrive, DeployedFunction, Fate, Function};
use flagtrail_core::failure::FailureRecord;
use flagtrail_core::StreamEvent;
use flagtrail_devtools::failure_store::{DirStore, FailureStore, S3Store};
use flagtrail_devtools::mapping::{drain_mappings, notify_filter, DrainStats, Mapping, MappingOptions};
use flagtrail_devtools::stack::{Stack, StackArgs};
use flagtrail_e2e::invoke::{Handler, InvokeStandIn};
use flagtrail_e2e::{audit_records, drain_queue, flagtrail, s, stack, stream_records, write_changes, Moto};
use flagtrail_runtime::build::{audit_pipeline, notify_pipeline};
use flagtrail_runtime::{AuditConfig, Invocation, NotifyConfig, Outcome, Pipeline};

fn opts() -> MappingOptions {
    MappingOptions {
        stop_after_idle_polls: Some(2),
        poll_interval: Duration::from_millis(50),
        retry_backoff: Duration::from_millis(10),
        max_retries: Some(2),
        ..Default::default()
    }
}

struct Env {
    moto: Moto,
    sdk: aws_config::SdkConfig,
    stack: Stack,
    store: S3Store,
}

async fn env() -> Env {
    let moto = Moto::start();
    let sdk = moto.sdk().await;
    let stack = stack(&sdk).await;
    let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&sdk).force_path_style(true).build());
    s3.create_bucket().bucket("flagtrail-failures").send().await.expect("CreateBucket");
    Env { moto, sdk, stack, store: S3Store { client: s3, bucket: "flagtrail-failures".into() } }
}

impl Env {
    async fn drain(&self, pipeline: &dyn Pipeline, options: MappingOptions) -> DrainStats {
        let streams = aws_sdk_dynamodbstreams::Client::new(&self.sdk);
        let mapping = Mapping { pipeline, options, on_failure: Some(&self.store) };
        drain_mappings(&streams, &self.stack.stream_arn, &[mapping]).await.expect("drain")
    }

    /// `rounds` of changes whose audit batches all end in the failure bucket (the log group is
    /// deleted, so every call fails past the retries); returns the group's client and the eventIds.
    async fn discard_audit_batches(&self, rounds: usize) -> (aws_sdk_cloudwatchlogs::Client, BTreeSet<String>) {
        write_changes(&self.sdk, &self.stack.table, rounds).await;
        let logs = aws_sdk_cloudwatchlogs::Client::new(&self.sdk);
        logs.delete_log_group().log_group_name(&self.stack.log_group).send().await.unwrap();
        let stats = self.drain(&audit_pipeline(&self.sdk, &AuditConfig::new(&self.stack.log_group)), opts()).await;
        let ids = self.stream_ids().await;
        assert_eq!(stats.discarded["audit"], ids.len(), "every record discarded after the retries");
        assert_eq!(self.discarded_ids().await, ids, "the destination holds every record, not only metadata");
        (logs, ids)
    }

    async fn stream_ids(&self) -> BTreeSet<String> {
        stream_records(&self.sdk, &self.stack.stream_arn)
            .await
            .iter()
            .map(|r| r.event_id().unwrap().to_owned())
            .collect()
    }

    /// eventIds inside the payloads of the destination's pending objects.
    async fn discarded_ids(&self) -> BTreeSet<String> {
        let mut ids = BTreeSet::new();
        for key in self.store.pending().await.unwrap() {
            let record = FailureRecord::from_json(&self.store.get(&key).await.unwrap()).unwrap();
            let event: StreamEvent = record.event().unwrap();
            for raw in &event.records {
                let v: serde_json::Value = serde_json::from_str(raw.get()).unwrap();
                ids.insert(v["eventID"].as_str().unwrap().to_owned());
            }
            assert_eq!(record.request_context.condition, "RetryAttemptsExhausted");
            assert_eq!(record.batch_info.batch_size as usize, event.records.len());
        }
        ids
    }
}

fn redriven(report: &[flagtrail_cli::redrive::Redriven]) -> usize {
    report
        .iter()
        .map(|r| match &r.fate {
            Fate::Redriven(n) => *n,
            other => panic!("{}: {other:?}", r.key),
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_records_discarded_after_retries_are_redriven_into_the_trail() {
    let env = self::env().await;
    let (logs, ids) = env.discard_audit_batches(3).await;
    let audit = audit_pipeline(&env.sdk, &AuditConfig::new(&env.stack.log_group));
    let dry = redrive(&env.store, &audit, None, true).await.unwrap();
    assert!(dry.iter().all(|r| matches!(r.fate, Fate::WouldRedrive(_))));
    assert_eq!(env.store.pending().await.unwrap().len(), dry.len(), "a dry run marks nothing");

    logs.create_log_group().log_group_name(&env.stack.log_group).send().await.unwrap();
    let report = redrive(&env.store, &audit, None, false).await.unwrap();
    assert_eq!(redriven(&report), ids.len());
    let trail: BTreeSet<String> = audit_records(&logs, &env.stack.log_group)
        .await
        .iter()
        .map(|r| r["eventId"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(trail, ids, "every eventId is in the trail");

    let again = redrive(&env.store, &audit, None, false).await.unwrap();
    assert!(again.is_empty(), "a second redrive finds nothing pending: {again:?}");
    assert_eq!(audit_records(&logs, &env.stack.log_group).await.len(), ids.len(), "and adds nothing");
}

/// `--via-function`: the saved batches go to the deployed audit function (Invoke; here a stand-in
/// running the audit pipeline with the seal key, as the function does), so the redriven records are
/// sealed and signed by the function's key and `verify` with that key finds nothing; an Invoke that
/// fails (unknown function, function error) marks nothing done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redriven_through_the_deployed_function_the_records_are_signed_by_its_key() {
    let env = self::env().await;
    let (logs, ids) = env.discard_audit_batches(2).await;
    logs.create_log_group().log_group_name(&env.stack.log_group).send().await.unwrap();

    let mut config = AuditConfig::new(&env.stack.log_group);
    config.seal_key_id = Some(env.stack.seal_key_id.clone());
    let function = Arc::new(audit_pipeline(&env.sdk, &config));
    let crashing = Arc::new(AtomicBool::new(false));
    let (rt, f, crash) = (tokio::runtime::Handle::current(), function.clone(), crashing.clone());
    let handler: Handler = Arc::new(move |payload: &[u8]| {
        if crash.load(Ordering::SeqCst) {
            return Err("Runtime.ExitError".into());
        }
        let event = StreamEvent::from_json(std::str::from_utf8(payload).map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
        let out = rt.block_on(f.handle(&event, Invocation::unbounded()));
        Ok(serde_json::to_vec(&out.response).unwrap())
    });
    let lambda = InvokeStandIn::start("flagtrail-prod-audit", handler);
    let sdk = env.sdk.to_builder().endpoint_url(&lambda.endpoint).build();
    let pending = env.store.pending().await.unwrap().len();

    let wrong = DeployedFunction::new(&sdk, "flagtrail-prod-audit-typo", Function::Audit);
    let report = redrive(&env.store, &wrong, None, false).await.unwrap();
    assert!(
        report.iter().all(|r| matches!(&r.fate, Fate::Failed(why) if why.contains("ResourceNotFound"))),
        "{report:?}"
    );
    crashing.store(true, Ordering::SeqCst);
    let via = DeployedFunction::new(&sdk, "flagtrail-prod-audit", Function::Audit);
    let report = redrive(&env.store, &via, None, false).await.unwrap();
    assert_eq!(report.len(), pending);
    assert!(
        report.iter().all(|r| matches!(&r.fate, Fate::Failed(why) if why.contains("Unhandled"))),
        "function errors: {report:?}"
    );
    assert_eq!(env.store.pending().await.unwrap().len(), pending, "failed invokes mark nothing done");
    crashing.store(false, Ordering::SeqCst);

    // A batch over Invoke's 6 MB is refused before it is sent (Lambda delivered the saved ones
    // within the same limit, so this is a corrupt object, not a real batch).
    let calls = lambda.calls().len();
    let huge = format!(r#"{{"Records": [{{"eventID": "x", "pad": "{}"}}]}}"#, "a".repeat(6 * 1024 * 1024));
    let out = via.handle(&StreamEvent::from_json(&huge).unwrap(), Invocation::unbounded()).await;
    assert!(
        out.response.resume_from().is_some() && out.errors[0].to_string().contains("over Invoke's 6291456"),
        "{:?}",
        out.errors
    );
    assert_eq!(lambda.calls().len(), calls, "nothing sent");

    let report = redrive(&env.store, &via, None, false).await.unwrap();
    assert_eq!(redriven(&report), ids.len());
    assert!(env.store.pending().await.unwrap().is_empty());
    let key = ["--kms-key-id", env.stack.seal_key_id.as_str()];
    let (code, out) =
        flagtrail(&[&["verify", "--log-group", &env.stack.log_group][..], &key].concat(), &env.moto.endpoint);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("{} record(s) (0 duplicate(s))", ids.len())) && out.contains("0 finding(s)"),
        "{out}"
    );
    assert!(
        out.contains("signature(s) verified") && !out.contains(" 0 signature(s) verified"),
        "signed by the function's key: {out}"
    );
    assert!(lambda.calls().iter().any(|c| c.ends_with("404 Not Found")), "{:?}", lambda.calls());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_and_invalidations_discarded_after_retries_are_redriven() {
    let env = self::env().await;
    write_changes(&env.sdk, &env.stack.table, 2).await;
    let sns = aws_sdk_sns::Client::new(&env.sdk);
    sns.delete_topic().topic_arn(&env.stack.alert_topic_arn).send().await.unwrap();
    let notify =
        notify_pipeline(&env.sdk, &NotifyConfig::new(&env.stack.alert_topic_arn, &env.stack.invalidation_topic_arn));
    let options = MappingOptions { pk_prefixes: Some(notify_filter()), ..opts() };

    let stats = env.drain(&notify, options).await;
    assert!(stats.discarded["notify"] > 0);
    let sqs = aws_sdk_sqs::Client::new(&env.sdk);
    // What made it before the discard (invalidations of the calls after the failed one are held).
    let before_alerts = drain_queue(&sqs, &env.stack.queues["alerts-all"]).await.len();
    assert_eq!(before_alerts, 0, "the alert topic was gone");

    // Repair: the stack brings the topic back under the same ARN, with its subscriptions.
    let args = StackArgs {
        table: env.stack.table.clone(),
        log_group: env.stack.log_group.clone(),
        prefix: "flagtrail".into(),
        env_file: None,
        data_protection: false,
    };
    flagtrail_devtools::stack::create(&env.sdk, &args).await.unwrap();
    let report = redrive(&env.store, &notify, None, false).await.unwrap();
    assert!(redriven(&report) > 0);
    let alerts = drain_queue(&sqs, &env.stack.queues["alerts-all"]).await;
    // 2 rounds: a prod kill switch and a dev global kill switch flip each round, and flag-0/flag-1 are created.
    let ids: BTreeSet<String> = alerts.iter().map(|(b, _)| b["id"].as_str().unwrap_or("").to_owned()).collect();
    assert_eq!(alerts.len(), ids.len(), "each alert once");
    assert!(alerts.len() >= 4, "{alerts:?}");
    let again = redrive(&env.store, &notify, None, false).await.unwrap();
    assert!(again.is_empty());
    assert!(drain_queue(&sqs, &env.stack.queues["alerts-all"]).await.is_empty(), "a second redrive adds nothing");
}

/// Times out (a function error) on every batch holding the poison record.
struct TimesOutOn<'a> {
    inner: &'a dyn Pipeline,
    poison: String,
}

#[async_trait]
impl Pipeline for TimesOutOn<'_> {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    async fn handle(&self, event: &StreamEvent, inv: Invocation) -> Outcome {
        if event.records.iter().any(|r| r.get().contains(&self.poison)) {
            tokio::time::sleep(Duration::from_secs(60)).await;
        }
        self.inner.handle(event, inv).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stand_in_bisects_on_function_errors_filters_keys_and_discards_old_records() {
    let env = self::env().await;
    write_changes(&env.sdk, &env.stack.table, 2).await;
    let ddb = aws_sdk_dynamodb::Client::new(&env.sdk);
    let other = [("PK", s("SESSION#abc")), ("SK", s("x"))].into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    ddb.put_item().table_name(&env.stack.table).set_item(Some(other)).send().await.unwrap();
    let records = stream_records(&env.sdk, &env.stack.stream_arn).await;
    let poison = records[3].event_id().unwrap().to_owned();
    let audit = audit_pipeline(&env.sdk, &AuditConfig::new(&env.stack.log_group));
    let timing_out = TimesOutOn { inner: &audit, poison: poison.clone() };
    let dir = std::env::temp_dir().join(format!("flagtrail-failures-{}", std::process::id()));
    let local = DirStore(dir.clone());
    let options = MappingOptions {
        invocation_timeout: Duration::from_millis(1700),
        pk_prefixes: Some(notify_filter()),
        max_retries: Some(1),
        ..opts()
    };
    let streams = aws_sdk_dynamodbstreams::Client::new(&env.sdk);
    let mapping = Mapping { pipeline: &timing_out, options, on_failure: Some(&local) };
    let stats = drain_mappings(&streams, &env.stack.stream_arn, &[mapping]).await.unwrap();
    assert_eq!(stats.filtered["audit"], 1, "the SESSION# item matches no filter");
    assert!(stats.function_errors["audit"] >= 3, "bisected down to the poison record: {stats:?}");
    assert_eq!(stats.discarded["audit"], 1, "only the poison record is discarded");
    let pending = local.pending().await.unwrap();
    assert_eq!(pending.len(), 1);
    let record = FailureRecord::from_json(&local.get(&pending[0]).await.unwrap()).unwrap();
    assert!(record.payload.unwrap().contains(&poison));
    let trail = audit_records(&aws_sdk_cloudwatchlogs::Client::new(&env.sdk), &env.stack.log_group).await;
    assert_eq!(trail.len(), records.len() - 2, "all but the poison and the filtered record");
    let _ = std::fs::remove_dir_all(&dir);

    // Records older than MaximumRecordAgeInSeconds are discarded without an invocation.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let options = MappingOptions { max_record_age: Some(Duration::ZERO), ..opts() };
    let stats = env.drain(&audit, options).await;
    assert_eq!(stats.discarded["audit"], records.len());
    assert_eq!(stats.invocations.get("audit"), None, "no invocation for expired records");
}

/// Trail eventIds with their counts.
async fn trail(env: &Env) -> Vec<String> {
    let logs = aws_sdk_cloudwatchlogs::Client::new(&env.sdk);
    audit_records(&logs, &env.stack.log_group).await.iter().map(|r| r["eventId"].as_str().unwrap().to_owned()).collect()
}

/// One row of the "Lambda gives up" table in docs/faults.md.
fn row(scenario: &str, records: usize, discarded: usize, redriven: usize, trail: &[String], ids: &BTreeSet<String>) {
    let distinct: BTreeSet<String> = trail.iter().cloned().collect();
    let lost = ids.difference(&distinct).count();
    println!("| {scenario} | {records} | {discarded} | {redriven} | {lost} | {} |", trail.len() - distinct.len());
    assert_eq!(lost, 0, "{scenario}: records lost");
}

/// Writes the first half of its first batch, then dies (hangs past the timeout): a function
/// crash mid-batch. Later invocations run normally.
struct CrashesOnce<'a> {
    inner: &'a dyn Pipeline,
    crashed: std::sync::atomic::AtomicBool,
}

#[async_trait]
impl Pipeline for CrashesOnce<'_> {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    async fn handle(&self, event: &StreamEvent, inv: Invocation) -> Outcome {
        if !self.crashed.swap(true, std::sync::atomic::Ordering::SeqCst) {
            let half: Vec<&str> = event.records[..event.records.len() / 2].iter().map(|r| r.get()).collect();
            let partial = StreamEvent::from_json(&format!("{{\"Records\":[{}]}}", half.join(","))).unwrap();
            self.inner.handle(&partial, inv).await;
            tokio::time::sleep(Duration::from_secs(60)).await;
        }
        self.inner.handle(event, inv).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_lambda_gives_up_nothing_is_lost_after_redrive() {
    println!("| scenario | records | discarded | redriven | lost | duplicates |\n|---|---|---|---|---|---|");
    // Retries exhausted: the log group is gone for longer than the retries.
    let env = self::env().await;
    write_changes(&env.sdk, &env.stack.table, 3).await;
    let ids = env.stream_ids().await;
    let logs = aws_sdk_cloudwatchlogs::Client::new(&env.sdk);
    logs.delete_log_group().log_group_name(&env.stack.log_group).send().await.unwrap();
    let audit = audit_pipeline(&env.sdk, &AuditConfig::new(&env.stack.log_group));
    let stats = env.drain(&audit, opts()).await;
    logs.create_log_group().log_group_name(&env.stack.log_group).send().await.unwrap();
    let n = redriven(&redrive(&env.store, &audit, None, false).await.unwrap());
    row("retries exhausted (log group deleted)", ids.len(), stats.discarded["audit"], n, &trail(&env).await, &ids);

    // Record age exceeded: the mapping fell behind further than MaximumRecordAgeInSeconds.
    let env = self::env().await;
    write_changes(&env.sdk, &env.stack.table, 3).await;
    let ids = env.stream_ids().await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let audit = audit_pipeline(&env.sdk, &AuditConfig::new(&env.stack.log_group));
    let stats = env.drain(&audit, MappingOptions { max_record_age: Some(Duration::ZERO), ..opts() }).await;
    let n = redriven(&redrive(&env.store, &audit, None, false).await.unwrap());
    row("record age exceeded", ids.len(), stats.discarded["audit"], n, &trail(&env).await, &ids);

    // Invocation timeout: one record makes every invocation holding it time out.
    let env = self::env().await;
    write_changes(&env.sdk, &env.stack.table, 3).await;
    let ids = env.stream_ids().await;
    let audit = audit_pipeline(&env.sdk, &AuditConfig::new(&env.stack.log_group));
    let poison = TimesOutOn { inner: &audit, poison: ids.iter().nth(4).unwrap().clone() };
    let options = MappingOptions { invocation_timeout: Duration::from_millis(1700), max_retries: Some(1), ..opts() };
    let stats = env.drain(&poison, options).await;
    let n = redriven(&redrive(&env.store, &audit, None, false).await.unwrap());
    row(
        "invocation timeout (bisected to one record)",
        ids.len(),
        stats.discarded["audit"],
        n,
        &trail(&env).await,
        &ids,
    );

    // Function crash mid-batch: half the batch written, then the function dies.
    let env = self::env().await;
    write_changes(&env.sdk, &env.stack.table, 3).await;
    let ids = env.stream_ids().await;
    let audit = audit_pipeline(&env.sdk, &AuditConfig::new(&env.stack.log_group));
    let crash = CrashesOnce { inner: &audit, crashed: Default::default() };
    let options = MappingOptions { invocation_timeout: Duration::from_millis(1700), ..opts() };
    let stats = env.drain(&crash, options).await;
    assert_eq!(stats.function_errors["audit"], 1);
    let trail_ids = trail(&env).await;
    assert!(trail_ids.len() > ids.len(), "the half written before the crash comes again, as duplicates by eventId");
    row("function crash mid-batch", ids.len(), stats.discarded.get("audit").copied().unwrap_or(0), 0, &trail_ids, &ids);
}
