//! `flagtrail demo`: real flag changes through the DynamoDB API, the pipeline over the stream,
//! and what each user receives, read back from the stand-in.

use std::collections::HashMap;
use std::time::Instant;

use anyhow::Context;
use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;
use serde_json::Value;

use flagtrail_core::integrity::SealKeys;
use flagtrail_core::metrics::Counter;
use flagtrail_devtools::mapping::{drain, MappingOptions};
use flagtrail_devtools::stack::{self, StackArgs};
use flagtrail_runtime::build::{audit_pipeline, notify_pipeline};
use flagtrail_runtime::pipeline::now_ms;
use flagtrail_runtime::trail::{LogGroupTrail, TrailSource};
use flagtrail_runtime::{AuditConfig, NotifyConfig, Pipeline, SdkSettings};

use crate::archive::ArchiveTrail;

/// Options of the demo.
#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    #[command(flatten)]
    stack: StackArgs,
}

/// Every writer stamps these (see docs/schema.md).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Stamp<'a> {
    updated_by: &'a str,
    updated_at: String,
    request_id: String,
    version: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FlagItem<'a> {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: &'a str,
    flag_key: &'a str,
    description: &'a str,
    default_enabled: bool,
    owner: &'a str,
    teams: Vec<&'a str>,
    rollout_percentage: u32,
    #[serde(flatten)]
    stamp: Stamp<'a>,
}

fn stamp(who: &str, step: u32, version: u64) -> Stamp<'_> {
    Stamp {
        updated_by: who,
        updated_at: flagtrail_core::audit::rfc3339_ms(time::OffsetDateTime::now_utc()),
        request_id: format!("req-demo-{step:02}"),
        version,
    }
}

type Item = HashMap<String, AttributeValue>;

fn item<T: Serialize>(v: &T) -> anyhow::Result<Item> {
    Ok(serde_dynamo::to_item(v)?)
}

fn with(mut base: Item, extra: &[(&str, AttributeValue)]) -> Item {
    for (k, v) in extra {
        base.insert((*k).to_owned(), v.clone());
    }
    base
}

fn switch(pk: String, sk: &str, enabled: bool, reason: &str, s: Stamp) -> anyhow::Result<Item> {
    let mut i = item(&s)?;
    i.insert("PK".into(), AttributeValue::S(pk));
    i.insert("SK".into(), AttributeValue::S(sk.into()));
    i.insert("enabled".into(), AttributeValue::Bool(enabled));
    i.insert("reason".into(), AttributeValue::S(reason.into()));
    Ok(i)
}

/// The scripted changes: (description, item to put, or key to delete).
async fn apply_changes(ddb: &aws_sdk_dynamodb::Client, table: &str) -> anyhow::Result<usize> {
    let flag = "checkout-v2";
    let pk = format!("FLAG#prod#{flag}");
    let mut base = FlagItem {
        pk: pk.clone(),
        sk: "METADATA",
        flag_key: flag,
        description: "One-page checkout with saved cards",
        default_enabled: false,
        owner: "payments-team",
        teams: vec!["payments", "web"],
        rollout_percentage: 10,
        stamp: stamp("alice@example.com", 1, 1),
    };
    let override_item = with(
        item(&stamp("erin@example.com", 2, 1))?,
        &[
            ("PK", AttributeValue::S(pk.clone())),
            ("SK", AttributeValue::S("TENANT#acme-corp".into())),
            ("tenantId", AttributeValue::S("acme-corp".into())),
            ("enabled", AttributeValue::Bool(true)),
        ],
    );
    let created = item(&base)?;
    base.default_enabled = true;
    base.rollout_percentage = 100;
    base.stamp = stamp("bob@example.com", 3, 2);
    let flipped = item(&base)?;
    let key =
        |sk: &str| with(Item::new(), &[("PK", AttributeValue::S(pk.clone())), ("SK", AttributeValue::S(sk.into()))]);
    let steps: Vec<(&str, Step)> = vec![
        ("create flag checkout-v2 (prod)", Step::Put(created)),
        ("set tenant override acme-corp → on", Step::Put(override_item)),
        ("flip default to on, rollout 100%", Step::Put(flipped)),
        (
            "per-flag kill switch ON",
            Step::Put(switch(
                pk.clone(),
                "KILLSWITCH",
                true,
                "Card payments failing (INC-4711)",
                stamp("carol@example.com", 4, 1),
            )?),
        ),
        (
            "GLOBAL kill switch ON in prod",
            Step::Put(switch(
                "KILLSWITCH#prod".into(),
                "GLOBAL",
                true,
                "Checkout outage, stop all rollouts",
                stamp("carol@example.com", 5, 1),
            )?),
        ),
        (
            "GLOBAL kill switch OFF in prod",
            Step::Put(switch(
                "KILLSWITCH#prod".into(),
                "GLOBAL",
                false,
                "Outage resolved",
                stamp("dave@example.com", 6, 2),
            )?),
        ),
        (
            "UNSTAMPED write: a console edit turns override acme-corp off, keeping erin's stamp",
            Step::UnstampedOff(key("TENANT#acme-corp")),
        ),
        (
            "UNSTAMPED delete: override acme-corp deleted without the delete stamp",
            Step::Delete(key("TENANT#acme-corp")),
        ),
        (
            "delete flag checkout-v2 by frank, with the delete stamp (docs/delete-stamp.md)",
            Step::StampedDelete(key("METADATA"), "frank@example.com", 8),
        ),
    ];
    let n = steps.iter().map(|(_, s)| if matches!(s, Step::StampedDelete(..)) { 2 } else { 1 }).sum();
    for (i, (what, op)) in steps.into_iter().enumerate() {
        println!("  {}. {what}", i + 1);
        apply(ddb, table, op).await.with_context(|| format!("applying step {}: {what}", i + 1))?;
    }
    Ok(n)
}

/// One scripted write.
enum Step {
    /// PutItem of a stamped item.
    Put(Item),
    /// UpdateItem that changes `enabled` without restamping (what a console edit does).
    UnstampedOff(Item),
    /// DeleteItem, no stamp.
    Delete(Item),
    /// The delete-stamp protocol: UpdateItem setting deletedBy/deleteRequestId/deletedAt and
    /// bumping version, then DeleteItem conditioned on that deleteRequestId.
    StampedDelete(Item, &'static str, u32),
}

async fn apply(ddb: &aws_sdk_dynamodb::Client, table: &str, step: Step) -> anyhow::Result<()> {
    match step {
        Step::Put(it) => {
            ddb.put_item().table_name(table).set_item(Some(it)).send().await?;
        }
        Step::UnstampedOff(key) => {
            ddb.update_item()
                .table_name(table)
                .set_key(Some(key))
                .update_expression("SET enabled = :off")
                .expression_attribute_values(":off", AttributeValue::Bool(false))
                .send()
                .await?;
        }
        Step::Delete(key) => {
            ddb.delete_item().table_name(table).set_key(Some(key)).send().await?;
        }
        Step::StampedDelete(key, who, step) => {
            let request = format!("req-demo-{step:02}");
            ddb.update_item()
                .table_name(table)
                .set_key(Some(key.clone()))
                .update_expression("SET deletedBy = :by, deleteRequestId = :req, deletedAt = :at ADD version :one")
                .expression_attribute_values(":by", AttributeValue::S(who.into()))
                .expression_attribute_values(":req", AttributeValue::S(request.clone()))
                .expression_attribute_values(
                    ":at",
                    AttributeValue::S(flagtrail_core::audit::rfc3339_ms(time::OffsetDateTime::now_utc())),
                )
                .expression_attribute_values(":one", AttributeValue::N("1".into()))
                .send()
                .await?;
            ddb.delete_item()
                .table_name(table)
                .set_key(Some(key))
                .condition_expression("deleteRequestId = :req")
                .expression_attribute_values(":req", AttributeValue::S(request))
                .send()
                .await?;
        }
    }
    Ok(())
}

/// Runs the demo; fails if any change is missing from the audit trail.
pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let sdk = SdkSettings::default().load().await;
    let t0 = Instant::now();
    println!("== 1. local stack (table + stream, audit log group, topics, queues)");
    let stack = stack::create(&sdk, &args.stack).await?;
    let t_stack = t0.elapsed();

    println!("\n== 2. flag changes through the DynamoDB API");
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    let t1 = Instant::now();
    let changes = apply_changes(&ddb, &stack.table).await?;
    let t_changes = t1.elapsed();

    println!("\n== 3. pipeline: both consumers over the stream (as two event source mappings)");
    let mut audit_config = AuditConfig::new(&stack.log_group);
    audit_config.seal_key_id = Some(stack.seal_key_id.clone()); // seals signed by the stack's KMS key
    let audit = audit_pipeline(&sdk, &audit_config);
    let mut notify_config = NotifyConfig::new(&stack.alert_topic_arn, &stack.invalidation_topic_arn);
    notify_config.marks_table = Some(stack.marks_table.clone());
    let notify = notify_pipeline(&sdk, &notify_config);
    let t2 = Instant::now();
    let consumers: [&dyn Pipeline; 2] = [&audit, &notify];
    let opts = MappingOptions {
        stop_after_idle_polls: Some(2),
        poll_interval: std::time::Duration::from_millis(100),
        ..Default::default()
    };
    let stats = drain(&aws_sdk_dynamodbstreams::Client::new(&sdk), &stack.stream_arn, &consumers, &opts).await?;
    let t_pipeline = t2.elapsed();
    let metric = |consumer: &str, counter: Counter| {
        stats.metrics.get(consumer).into_iter().flatten().map(|m| m.get(counter)).sum::<u64>()
    };

    println!("\n== 4. what auditors see (CloudWatch Logs, {})", stack.log_group);
    let logs = aws_sdk_cloudwatchlogs::Client::new(&sdk);
    let t3 = Instant::now();
    let audit_records = stack::read_audit_log(&logs, &stack.log_group).await?;
    for r in &audit_records {
        let target = match (r["flagKey"].as_str(), r["tenantId"].as_str()) {
            (Some(f), Some(t)) => format!("{f}/{t}"),
            (Some(f), None) => f.to_owned(),
            _ => "(all flags)".to_owned(),
        };
        let fields: Vec<&str> = r["changedFields"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .filter(|f| !flagtrail_core::audit::BOOKKEEPING_FIELDS.contains(f) && !["PK", "SK"].contains(f))
            .collect();
        // An unattributed change names nobody; the last writer is shown as what it is.
        let by = match r["actor"].as_str() {
            Some(actor) => format!("{actor} ({})", r["actorSource"].as_str().unwrap_or("?")),
            None => format!(
                "UNATTRIBUTED ({}; last writer {} is not the author)",
                r["actorSource"].as_str().unwrap_or("?"),
                r["lastWriter"]["updatedBy"].as_str().unwrap_or("-")
            ),
        };
        println!(
            "  {}  {:<21} {:<5} {:<22} by {:<30} req {:<12} changed: {}",
            r["changedAt"].as_str().unwrap_or("-"),
            r["action"].as_str().unwrap_or("?"),
            r["environment"].as_str().unwrap_or("-"),
            target,
            by,
            r["requestId"].as_str().unwrap_or("-"),
            fields.join(",")
        );
    }

    println!("\n== 4b. is the trail untouched? (flagtrail verify, seals signed by KMS {})", stack.seal_key_id);
    let keys = SealKeys(vec![crate::verify::kms_key(&sdk, &stack.seal_key_id).await?]);
    let group = LogGroupTrail::whole(logs.clone(), &stack.log_group);
    let archive = ArchiveTrail::new(aws_sdk_s3::Client::new(&sdk), &stack.archive)?;
    let mut sealed = true;
    for source in [&group as &dyn TrailSource, &archive] {
        let report = crate::verify::check(source, Some(&keys)).await?;
        crate::verify::print_report(&source.name(), &report, true);
        sealed &= report.seal_findings().next().is_none();
    }

    println!("\n== 5. what on-call sees (alert topic → SQS; Chatbot custom-notification bodies)");
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let oncall = stack::read_queue(&sqs, &stack.queues["alerts-oncall"]).await?;
    let all_alerts = stack::read_queue(&sqs, &stack.queues["alerts-all"]).await?;
    for (body, attrs) in &all_alerts {
        println!(
            "  [{}] {}{}",
            attrs.get("severity").map(String::as_str).unwrap_or("?"),
            body["content"]["title"].as_str().unwrap_or("?"),
            if attrs.get("severity").is_some_and(|s| s == "critical" || s == "high") {
                "   ← paged (on-call filter)"
            } else {
                ""
            }
        );
    }

    println!("\n== 6. what evaluation services see (invalidation topic → SQS)");
    let invalidations = stack::read_queue(&sqs, &stack.queues["invalidations-all"]).await?;
    let prod_only = stack::read_queue(&sqs, &stack.queues["invalidations-prod"]).await?;
    for (message, _) in &invalidations {
        let items = flagtrail_core::notify::unpack(&message.to_string()).unwrap_or_default();
        println!("  message: schema v{}, {} invalidation(s)", message["schemaVersion"], items.len());
        for body in &items {
            println!(
                "  scope={:<11} env={:<5} flag={:<12} tenant={:<10} version={} ({})",
                body["scope"].as_str().unwrap_or("?"),
                body["environment"].as_str().unwrap_or("?"),
                body["flagKey"].as_str().unwrap_or("-"),
                body["tenantId"].as_str().unwrap_or("-"),
                body["version"].as_str().unwrap_or("?"),
                body["action"].as_str().unwrap_or("?")
            );
        }
    }
    let t_readback = t3.elapsed();

    println!("\n== 7. metrics (EMF documents the functions print to stdout)");
    for (name, ms) in &stats.metrics {
        for m in ms {
            for doc in m.to_emf("Flagtrail", name, now_ms()) {
                let v: Value = serde_json::from_str(&doc)?;
                let names: Vec<String> = v["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|m| m["Name"].as_str())
                    .map(|n| format!("{n}={}", v[n]))
                    .collect();
                let dims = ["Environment", "Action", "Function"]
                    .iter()
                    .filter_map(|d| v[*d].as_str().map(|x| format!("{d}={x}")))
                    .collect::<Vec<_>>()
                    .join(" ");
                println!("  {:<40} {}", dims, names.join(" "));
            }
        }
    }

    println!("\n== summary");
    println!("  changes applied:        {changes}");
    println!("  audit records in logs:  {}", audit_records.len());
    println!("  alerts:                 {} ({} routed to on-call by filter policy)", all_alerts.len(), oncall.len());
    println!("  invalidations:          {} ({} to the prod-only subscriber)", invalidations.len(), prod_only.len());
    println!(
        "  API calls:              PutLogEvents {}, PublishBatch alerts {}, PublishBatch invalidations {}",
        metric("audit", Counter::PutLogEventsCalls),
        metric("notify", Counter::AlertPublishCalls),
        metric("notify", Counter::InvalidationPublishCalls)
    );
    println!(
        "  wall time:              stack {:.0?}, changes {:.0?}, pipeline {:.0?}, read-back {:.0?}",
        t_stack, t_changes, t_pipeline, t_readback
    );
    if audit_records.len() != changes {
        anyhow::bail!("expected {changes} audit records, found {}", audit_records.len());
    }
    println!("  every change is in the audit trail: OK");
    if !sealed {
        anyhow::bail!("the trail does not verify against its seals (see 4b)");
    }
    println!("  every record is sealed, in the log group and in the archive: OK");
    Ok(())
}
