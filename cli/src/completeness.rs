//! `flagtrail continuity` and `flagtrail reconcile`: is the trail complete? (see
//! `flagtrail_core::completeness` for what each check proves.)

use std::path::PathBuf;

use anyhow::Context;
use flagtrail_core::completeness::{continuity, reconcile, Finding};
pub use flagtrail_runtime::reconcile::{read_trail, scan_table};
use flagtrail_runtime::trail::{FileTrail, LogGroupTrail, TrailSource};
use flagtrail_runtime::SdkSettings;

use crate::archive::ArchiveTrail;

/// Which trail to read: one of a folder, the log group, the archive (`--since`/`--until` narrow the
/// log group).
#[derive(clap::Args, Debug, Clone, Default)]
#[group(skip)]
pub struct TrailArgs {
    /// A folder with audit.jsonl (`flagtrail replay --out`), or a JSON-lines file.
    #[arg(long, group = "trail")]
    pub dir: Option<PathBuf>,
    /// The audit log group.
    #[arg(long, group = "trail")]
    pub log_group: Option<String>,
    /// The write-once archive, `s3://bucket/prefix` (objects as Firehose delivers them).
    #[arg(long, group = "trail")]
    pub archive: Option<String>,
    /// Only events since this time (RFC 3339): the log group's and the archive's event time
    /// (the archive reads only the hourly partitions that can hold them).
    #[arg(long)]
    pub since: Option<String>,
    /// Only events until this time (RFC 3339), as `--since`.
    #[arg(long)]
    pub until: Option<String>,
}

/// An RFC 3339 flag value as ms since the epoch.
pub fn epoch_ms(flag: &str, value: Option<&str>) -> anyhow::Result<Option<i64>> {
    value
        .map(|s| {
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
                .with_context(|| format!("{flag} must be an RFC 3339 time, not `{s}`"))
        })
        .transpose()
}

/// Options of `flagtrail reconcile`.
#[derive(clap::Args, Debug)]
pub struct ReconcileArgs {
    /// The flag table to scan.
    #[arg(long, env = "FLAGTRAIL_TABLE")]
    pub table: String,
    /// The trail.
    #[command(flatten)]
    pub trail: TrailArgs,
}

/// The trail the arguments name; `unmask` reads the log group through a data-protection policy
/// (needs `logs:Unmask`).
pub async fn trail_source(
    args: &TrailArgs,
    sdk: &aws_config::SdkConfig,
    unmask: bool,
) -> anyhow::Result<Box<dyn TrailSource>> {
    let (start_ms, end_ms) = (epoch_ms("--since", args.since.as_deref())?, epoch_ms("--until", args.until.as_deref())?);
    Ok(match (&args.dir, &args.log_group, &args.archive) {
        (Some(dir), _, _) => {
            anyhow::ensure!(
                start_ms.is_none() && end_ms.is_none(),
                "--since/--until need a trail with event times: --log-group or --archive (a folder holds messages only)"
            );
            Box::new(FileTrail(dir.clone()))
        }
        (None, Some(group), _) => Box::new(LogGroupTrail {
            client: aws_sdk_cloudwatchlogs::Client::new(sdk),
            group: group.clone(),
            start_ms,
            end_ms,
            unmask,
        }),
        (None, None, Some(url)) => {
            let mut archive = ArchiveTrail::new(aws_sdk_s3::Client::new(sdk), url)?;
            (archive.start_ms, archive.end_ms) = (start_ms, end_ms);
            Box::new(archive)
        }
        (None, None, None) => anyhow::bail!("give --dir, --log-group or --archive"),
    })
}

fn report(what: &str, source: &str, records: usize, findings: &[Finding]) -> bool {
    for f in findings {
        println!("{f}");
    }
    println!("{what}: {records} change record(s) in {source}; {} finding(s)", findings.len());
    findings.is_empty()
}

/// `flagtrail continuity`: false when a record is missing.
pub async fn run_continuity(args: TrailArgs) -> anyhow::Result<bool> {
    let sdk = SdkSettings::default().load().await;
    let source = trail_source(&args, &sdk, false).await?;
    let records = read_trail(source.as_ref()).await?;
    Ok(report("continuity", &source.name(), records.len(), &continuity(&records)))
}

/// `flagtrail reconcile`: false when the table and the trail disagree.
pub async fn run_reconcile(args: ReconcileArgs) -> anyhow::Result<bool> {
    let sdk = SdkSettings::default().load().await;
    let source = trail_source(&args.trail, &sdk, false).await?;
    let records = read_trail(source.as_ref()).await?;
    let table = scan_table(&aws_sdk_dynamodb::Client::new(&sdk), &args.table).await?;
    let findings = reconcile(&table, &records);
    Ok(report(
        &format!("reconcile with {} ({} items)", args.table, table.len()),
        &source.name(),
        records.len(),
        &findings,
    ))
}
