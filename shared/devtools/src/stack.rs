//! The local stack's resources on the AWS stand-in: the flag table with a NEW_AND_OLD_IMAGES stream,
//! the freshness marks table, the audit log group, both topics, SQS queues subscribed the way real consumers would be, the
//! seal signing key (KMS, ECC_NIST_P256) and the archive path (subscription filter → Firehose →
//! an Object Lock bucket), as the CDK stack has them.

use std::collections::BTreeMap;

use serde_json::Value;

use anyhow::Context;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType, StreamSpecification,
    StreamViewType,
};

/// Names of the local resources.
#[derive(clap::Args, Debug, Clone)]
pub struct StackArgs {
    /// Table name.
    #[arg(long, default_value = "feature-flags-demo")]
    pub table: String,
    /// Audit log group.
    #[arg(long, default_value = "/flagtrail/audit")]
    pub log_group: String,
    /// Prefix of topic and queue names.
    #[arg(long, default_value = "flagtrail")]
    pub prefix: String,
    /// Write `export NAME=value` lines for the pipeline's variables to this file.
    #[arg(long)]
    pub env_file: Option<std::path::PathBuf>,
    /// As the stack deploys with `dataProtection`: no subscription filter on the audit group (it
    /// would carry masked bytes); the audit function archives through Firehose itself. The
    /// stand-in has no data-protection policies (moto 5.2.5 has no PutDataProtectionPolicy), so
    /// the group itself is not masked here.
    #[arg(long)]
    pub data_protection: bool,
}

/// What was created.
#[derive(Debug, Clone)]
pub struct Stack {
    /// Table name.
    pub table: String,
    /// The table's stream.
    pub stream_arn: String,
    /// The freshness marks table notify writes and evaluators poll (docs/freshness.md).
    pub marks_table: String,
    /// Audit log group.
    pub log_group: String,
    /// Alert topic.
    pub alert_topic_arn: String,
    /// Invalidation topic.
    pub invalidation_topic_arn: String,
    /// Queue name → URL: `alerts-all`, `alerts-oncall` (critical/high only), `invalidations-all`,
    /// `invalidations-prod` (environment = prod only).
    pub queues: BTreeMap<&'static str, String>,
    /// The KMS key that signs seals.
    pub seal_key_id: String,
    /// The archive, `s3://bucket/prefix` (what `flagtrail verify --archive` reads).
    pub archive: String,
    /// The delivery stream the audit function archives to itself (with `--data-protection`).
    pub archive_stream: Option<String>,
}

impl Stack {
    /// The variables the Lambdas (and `flagtrail tail`) read, for these resources.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("FLAGTRAIL_TABLE", self.table.clone()),
            ("FLAGTRAIL_AUDIT_LOG_GROUP", self.log_group.clone()),
            ("FLAGTRAIL_ALERT_TOPIC_ARN", self.alert_topic_arn.clone()),
            ("FLAGTRAIL_INVALIDATION_TOPIC_ARN", self.invalidation_topic_arn.clone()),
            ("FLAGTRAIL_MARKS_TABLE", self.marks_table.clone()),
            ("FLAGTRAIL_SEAL_KEY_ID", self.seal_key_id.clone()),
        ]
        .into_iter()
        .chain(self.archive_stream.clone().map(|s| ("FLAGTRAIL_ARCHIVE_STREAM", s)))
        .collect()
    }
}

/// Creates every resource (idempotent on the stand-in: creating twice returns the same ones).
pub async fn create(sdk: &aws_config::SdkConfig, args: &StackArgs) -> anyhow::Result<Stack> {
    let ddb = aws_sdk_dynamodb::Client::new(sdk);
    let exists = ddb.describe_table().table_name(&args.table).send().await.is_ok();
    if !exists {
        let key = |name: &str, kind: KeyType| KeySchemaElement::builder().attribute_name(name).key_type(kind).build();
        let attr = |name: &str| {
            AttributeDefinition::builder().attribute_name(name).attribute_type(ScalarAttributeType::S).build()
        };
        ddb.create_table()
            .table_name(&args.table)
            .key_schema(key("PK", KeyType::Hash)?)
            .key_schema(key("SK", KeyType::Range)?)
            .attribute_definitions(attr("PK")?)
            .attribute_definitions(attr("SK")?)
            .billing_mode(BillingMode::PayPerRequest)
            .stream_specification(
                StreamSpecification::builder()
                    .stream_enabled(true)
                    .stream_view_type(StreamViewType::NewAndOldImages)
                    .build()?,
            )
            .send()
            .await
            .context("creating the flag table")?;
    }
    let stream_arn = stream_arn(&ddb, &args.table).await?;
    let marks_table = format!("{}-marks", args.prefix);
    if ddb.describe_table().table_name(&marks_table).send().await.is_err() {
        ddb.create_table()
            .table_name(&marks_table)
            .key_schema(KeySchemaElement::builder().attribute_name("mark").key_type(KeyType::Hash).build()?)
            .attribute_definitions(
                AttributeDefinition::builder().attribute_name("mark").attribute_type(ScalarAttributeType::S).build()?,
            )
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await
            .context("creating the marks table")?;
    }

    let logs = aws_sdk_cloudwatchlogs::Client::new(sdk);
    if let Err(e) = logs.create_log_group().log_group_name(&args.log_group).send().await {
        if !e.as_service_error().is_some_and(|s| s.is_resource_already_exists_exception()) {
            return Err(e).context("creating the audit log group");
        }
    }

    let sns = aws_sdk_sns::Client::new(sdk);
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let topic = |name: String| {
        let sns = sns.clone();
        async move { sns.create_topic().name(name).send().await.map(|t| t.topic_arn().unwrap_or_default().to_owned()) }
    };
    let alert_topic_arn = topic(format!("{}-alerts", args.prefix)).await.context("creating the alert topic")?;
    let invalidation_topic_arn =
        topic(format!("{}-invalidations", args.prefix)).await.context("creating the invalidation topic")?;

    let mut queues = BTreeMap::new();
    let subscriptions: [(&'static str, &str, Option<&str>); 4] = [
        ("alerts-all", &alert_topic_arn, None),
        ("alerts-oncall", &alert_topic_arn, Some(r#"{"severity":["critical","high"]}"#)),
        ("invalidations-all", &invalidation_topic_arn, None),
        ("invalidations-prod", &invalidation_topic_arn, Some(r#"{"environment":["prod"]}"#)),
    ];
    for (name, topic_arn, filter) in subscriptions {
        let url = sqs
            .create_queue()
            .queue_name(format!("{}-{name}", args.prefix))
            .send()
            .await?
            .queue_url()
            .unwrap_or_default()
            .to_owned();
        let attrs = sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await?;
        let queue_arn = attrs
            .attributes()
            .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
            .cloned()
            .unwrap_or_default();
        let mut sub = sns
            .subscribe()
            .topic_arn(topic_arn)
            .protocol("sqs")
            .endpoint(queue_arn)
            .attributes("RawMessageDelivery", "true");
        if let Some(f) = filter {
            sub = sub.attributes("FilterPolicy", f);
        }
        sub.send().await.with_context(|| format!("subscribing queue {name}"))?;
        queues.insert(name, url);
    }
    let seal_key_id = seal_key(sdk, &args.prefix).await?;
    let (archive, archive_stream) = archive(sdk, &args.prefix, &args.log_group, args.data_protection).await?;
    Ok(Stack {
        table: args.table.clone(),
        stream_arn,
        marks_table,
        log_group: args.log_group.clone(),
        alert_topic_arn,
        invalidation_topic_arn,
        queues,
        seal_key_id,
        archive,
        archive_stream,
    })
}

/// The seal signing key: asymmetric, P-256, sign/verify only; found again by its alias.
async fn seal_key(sdk: &aws_config::SdkConfig, prefix: &str) -> anyhow::Result<String> {
    use aws_sdk_kms::types::{KeySpec, KeyUsageType};
    let kms = aws_sdk_kms::Client::new(sdk);
    let alias = format!("alias/{prefix}-seal");
    if let Ok(k) = kms.describe_key().key_id(&alias).send().await {
        if let Some(arn) = k.key_metadata().and_then(|m| m.arn()) {
            return Ok(arn.to_owned());
        }
    }
    let key = kms
        .create_key()
        .key_spec(KeySpec::EccNistP256)
        .key_usage(KeyUsageType::SignVerify)
        .description("flagtrail seal signing key")
        .send()
        .await
        .context("creating the seal signing key")?;
    let meta = key.key_metadata().context("CreateKey answered without metadata")?;
    kms.create_alias().alias_name(&alias).target_key_id(meta.key_id()).send().await.context("aliasing the key")?;
    Ok(meta.arn().unwrap_or(meta.key_id()).to_owned())
}

/// The archive: an Object Lock bucket, a Firehose stream into it, and the audit group's
/// subscription filter to the stream (none with `data_protection`: the function writes the stream
/// itself). Returns `s3://bucket/audit/` and, with `data_protection`, the stream's name.
async fn archive(
    sdk: &aws_config::SdkConfig,
    prefix: &str,
    log_group: &str,
    data_protection: bool,
) -> anyhow::Result<(String, Option<String>)> {
    use aws_sdk_firehose::types::{CompressionFormat, DeliveryStreamType, ExtendedS3DestinationConfiguration};
    let bucket = format!("{prefix}-archive");
    let s3 = aws_sdk_s3::Client::new(sdk);
    if s3.head_bucket().bucket(&bucket).send().await.is_err() {
        s3.create_bucket()
            .bucket(&bucket)
            .object_lock_enabled_for_bucket(true)
            .send()
            .await
            .context("creating the archive bucket")?;
    }
    let firehose = aws_sdk_firehose::Client::new(sdk);
    let stream = format!("{prefix}-archive");
    // The stand-in does not check roles; the stack's roles are in infra/cdk.
    let role = |name: &str| format!("arn:aws:iam::123456789012:role/{prefix}-{name}");
    let stream_arn = match firehose.describe_delivery_stream().delivery_stream_name(&stream).send().await {
        Ok(d) => d.delivery_stream_description().map(|d| d.delivery_stream_arn().to_owned()).unwrap_or_default(),
        Err(_) => firehose
            .create_delivery_stream()
            .delivery_stream_name(&stream)
            .delivery_stream_type(DeliveryStreamType::DirectPut)
            .extended_s3_destination_configuration(
                ExtendedS3DestinationConfiguration::builder()
                    .role_arn(role("firehose"))
                    .bucket_arn(format!("arn:aws:s3:::{bucket}"))
                    .prefix("audit/")
                    // Subscription data arrives gzip'd already; Firehose stores it as it comes.
                    .compression_format(CompressionFormat::Uncompressed)
                    .build()?,
            )
            .send()
            .await
            .context("creating the archive delivery stream")?
            .delivery_stream_arn()
            .unwrap_or_default()
            .to_owned(),
    };
    let url = format!("s3://{bucket}/audit/");
    if data_protection {
        return Ok((url, Some(stream)));
    }
    aws_sdk_cloudwatchlogs::Client::new(sdk)
        .put_subscription_filter()
        .log_group_name(log_group)
        .filter_name("archive")
        .filter_pattern("")
        .destination_arn(stream_arn)
        .role_arn(role("logs-to-firehose"))
        .send()
        .await
        .context("subscribing the audit group to the archive")?;
    Ok((url, None))
}

/// `flagtrail local-stack`: create, then print (or write) the variables.
pub async fn run(args: StackArgs) -> anyhow::Result<()> {
    let sdk = flagtrail_runtime::SdkSettings::default().load().await;
    let stack = create(&sdk, &args).await?;
    let lines: String = stack.env().iter().map(|(k, v)| format!("export {k}={v}\n")).collect();
    match &args.env_file {
        Some(p) => std::fs::write(p, &lines)?,
        None => print!("{lines}"),
    }
    Ok(())
}

/// Every audit record in a log group (FilterLogEvents over all streams), parsed; seals are left
/// out (`flagtrail verify` reads them).
pub async fn read_audit_log(logs: &aws_sdk_cloudwatchlogs::Client, group: &str) -> anyhow::Result<Vec<Value>> {
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let r = logs.filter_log_events().log_group_name(group).set_next_token(token).send().await?;
        for e in r.events() {
            let record: Value = serde_json::from_str(e.message().unwrap_or("{}"))?;
            if record["recordType"] != "seal" {
                out.push(record);
            }
        }
        token = r.next_token().map(str::to_owned);
        if token.is_none() {
            return Ok(out);
        }
    }
}

/// Drains a queue: (body, string attributes) of every message, deleting what it read.
pub async fn read_queue(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
) -> anyhow::Result<Vec<(Value, BTreeMap<String, String>)>> {
    let mut out = Vec::new();
    loop {
        let r = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .message_attribute_names("All")
            .send()
            .await?;
        if r.messages().is_empty() {
            return Ok(out);
        }
        for m in r.messages() {
            let attrs = m
                .message_attributes()
                .map(|a| a.iter().map(|(k, v)| (k.clone(), v.string_value().unwrap_or_default().to_owned())).collect())
                .unwrap_or_default();
            out.push((serde_json::from_str(m.body().unwrap_or("null")).unwrap_or(Value::Null), attrs));
            if let Some(h) = m.receipt_handle() {
                sqs.delete_message().queue_url(url).receipt_handle(h).send().await?;
            }
        }
    }
}

/// The table's latest stream ARN.
pub async fn stream_arn(ddb: &aws_sdk_dynamodb::Client, table: &str) -> anyhow::Result<String> {
    let t = ddb.describe_table().table_name(table).send().await?;
    t.table()
        .and_then(|t| t.latest_stream_arn())
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("table {table} has no stream: enable NEW_AND_OLD_IMAGES"))
}
