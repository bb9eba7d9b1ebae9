//! Configuration → components: the one place pipelines are wired to their sinks, used by the
//! Lambda mains, the CLI and the tests alike.

use std::path::Path;
use std::sync::Arc;

use aws_config::SdkConfig;
use flagtrail_core::CoreConfig;

use crate::config::{AuditConfig, NotifyConfig, ReconcileConfig};
use crate::pace::Pace;
use crate::pipeline::{AuditPipeline, NotifyPipeline};
use crate::reconcile::{BaselineWriter, CompletenessCheck, S3State, StateStore, TableReader};
use crate::sink::{
    ArchiveSink, CloudWatchLog, DynamoDbMarks, FirehoseArchive, KmsSigner, LocalLog, LocalMarks, LocalTopic, MarkSink,
    SealSigner, SnsTopic,
};
use crate::trail::LogGroupTrail;

/// The audit pipeline writing to the configured CloudWatch Logs group.
pub fn audit_pipeline(sdk: &SdkConfig, config: &AuditConfig) -> AuditPipeline<CloudWatchLog> {
    let client = aws_sdk_cloudwatchlogs::Client::new(sdk);
    AuditPipeline {
        config: config.core.clone(),
        log: CloudWatchLog::new(client, config.log_group.clone(), config.stream_prefix.clone()),
        retention_days: config.retention_days,
        signer: config
            .seal_key_id
            .as_ref()
            .map(|key| Arc::new(KmsSigner::new(aws_sdk_kms::Client::new(sdk), key.clone())) as Arc<dyn SealSigner>),
        archive: config.archive_stream.as_ref().map(|stream| {
            let client = aws_sdk_firehose::Client::new(sdk);
            Arc::new(FirehoseArchive::new(client, stream.clone(), config.log_group.clone())) as Arc<dyn ArchiveSink>
        }),
    }
}

/// The notify pipeline publishing to the configured topics.
pub fn notify_pipeline(sdk: &SdkConfig, config: &NotifyConfig) -> NotifyPipeline<SnsTopic, SnsTopic> {
    let sns = aws_sdk_sns::Client::new(sdk);
    NotifyPipeline {
        config: config.core.clone(),
        alerts: SnsTopic::new(sns.clone(), config.alert_topic_arn.clone(), "alert topic"),
        invalidations: SnsTopic::new(sns, config.invalidation_topic_arn.clone(), "invalidation topic"),
        marks: config.marks_table.as_ref().map(|table| {
            Arc::new(DynamoDbMarks::new(aws_sdk_dynamodb::Client::new(sdk), table.clone())) as Arc<dyn MarkSink>
        }),
    }
}

/// Both pipelines on local sinks: in memory, or JSON lines (audit.jsonl, alerts.jsonl,
/// invalidations.jsonl, marks.jsonl) in `dir`.
pub fn local_pipelines(
    config: &CoreConfig,
    dir: Option<&Path>,
) -> std::io::Result<(AuditPipeline<LocalLog>, NotifyPipeline<LocalTopic, LocalTopic>)> {
    let (log, alerts, invalidations, marks) = match dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)?;
            (
                LocalLog::to_file(dir.join("audit.jsonl"))?,
                LocalTopic::to_file(dir.join("alerts.jsonl"))?,
                LocalTopic::to_file(dir.join("invalidations.jsonl"))?,
                LocalMarks::to_file(dir.join("marks.jsonl"))?,
            )
        }
        None => Default::default(),
    };
    Ok((
        AuditPipeline::new(config.clone(), log),
        NotifyPipeline { config: config.clone(), alerts, invalidations, marks: Some(Arc::new(marks)) },
    ))
}

/// The scheduled completeness check over the configured table and audit log group.
pub fn completeness_check(sdk: &SdkConfig, config: &ReconcileConfig) -> CompletenessCheck {
    let logs = aws_sdk_cloudwatchlogs::Client::new(sdk);
    let rate = |n: u64| (n > 0).then(|| Arc::new(Pace::per_second(n as f64)));
    let mut trail = LogGroupTrail::whole(logs.clone(), &config.log_group);
    trail.pace = rate(config.filter_requests_per_second);
    CompletenessCheck {
        table: TableReader {
            ddb: aws_sdk_dynamodb::Client::new(sdk),
            table: config.table.clone(),
            pace: rate(config.read_units_per_second),
            page_items: None,
        },
        trail: Box::new(trail),
        state: config.state.as_ref().map(|(bucket, key)| {
            Box::new(S3State::new(aws_sdk_s3::Client::new(sdk), bucket, key)) as Box<dyn StateStore>
        }),
        grace_ms: (config.grace_seconds * 1000) as i64,
        overlap_ms: (config.overlap_seconds * 1000) as i64,
        segments: config.segments,
        baseline: config
            .baseline_on_first_run
            .then(|| baseline_writer(sdk, &config.log_group, config.seal_key_id.as_deref())),
    }
}

/// Writes baseline records to the audit log group's `baseline/` streams, sealed with `seal_key_id`.
pub fn baseline_writer(sdk: &SdkConfig, log_group: &str, seal_key_id: Option<&str>) -> BaselineWriter {
    let logs = aws_sdk_cloudwatchlogs::Client::new(sdk);
    BaselineWriter {
        log: Box::new(CloudWatchLog::new(logs, log_group.to_owned(), "baseline/".into())),
        signer: seal_key_id
            .map(|key| Arc::new(KmsSigner::new(aws_sdk_kms::Client::new(sdk), key.to_owned())) as Arc<dyn SealSigner>),
    }
}

/// A C2SP tlog-witness cosigning with its KMS key (read once: GetPublicKey), its state in DynamoDB.
pub async fn witness(
    sdk: &SdkConfig,
    config: &crate::config::WitnessConfig,
) -> Result<crate::witness::WitnessService, crate::sink::SinkError> {
    let signer = crate::sink::KmsCheckpointSigner::new(aws_sdk_kms::Client::new(sdk), &config.key_id).await?;
    let state = crate::witness::DynamoWitnessState::new(aws_sdk_dynamodb::Client::new(sdk), &config.table);
    Ok(crate::witness::WitnessService::new(Box::new(signer), config.name.clone(), config.logs.clone(), Box::new(state)))
}

/// The transparency log's writer over the archive's prefix, signing with the KMS checkpoint key
/// (read once: GetPublicKey), and the audit group it takes seals from.
pub async fn log_writer(
    sdk: &SdkConfig,
    config: &crate::config::LogWriterConfig,
) -> Result<(crate::tlog_writer::LogWriter, LogGroupTrail), crate::sink::SinkError> {
    let signer =
        crate::sink::KmsCheckpointSigner::new(aws_sdk_kms::Client::new(sdk), &config.checkpoint_key_id).await?;
    let store = crate::tlog_writer::S3LogStore::new(aws_sdk_s3::Client::new(sdk), &config.bucket, &config.prefix);
    let mut trail = LogGroupTrail::whole(aws_sdk_cloudwatchlogs::Client::new(sdk), &config.log_group);
    trail.pace = (config.filter_requests_per_second > 0)
        .then(|| Arc::new(Pace::per_second(config.filter_requests_per_second as f64)));
    let writer = crate::tlog_writer::LogWriter {
        store: Box::new(store),
        signer: Box::new(signer),
        witnesses: config
            .witnesses
            .iter()
            .map(|w| {
                crate::sink::HttpWitness::new(&w.url, w.key(), sdk.credentials_provider())
                    .map(|h| Box::new(h) as Box<dyn crate::sink::CheckpointWitness>)
                    .map_err(|e| crate::sink::SinkError::Permanent {
                        sink: "witness",
                        message: format!("{}: {e}", w.url),
                    })
            })
            .collect::<Result<_, _>>()?,
        origin: config.origin.clone(),
    };
    Ok((writer, trail))
}
