//! `flagtrail continuity`, `flagtrail reconcile` and `flagtrail baseline`: is the trail complete?
//! (see `flagtrail_core::completeness` for what each check proves.)

use std::path::PathBuf;

use anyhow::Context;
use std::sync::Arc;

use flagtrail_core::completeness::{continuity, Finding, TrailState, MAX_SUSPECT_ITEMS};
use flagtrail_runtime::config::DEFAULT_GRACE_SECONDS;
use flagtrail_runtime::pace::Pace;
use flagtrail_runtime::reconcile::{baseline, read_into, CompletenessCheck, FileState, StateStore, TableReader};
pub use flagtrail_runtime::reconcile::{read_trail, scan_table};
use flagtrail_runtime::trail::{
    ChainedTrail, FileTrail, LogGroupTrail, TrailSource, DEFAULT_FILTER_REQUESTS_PER_SECOND,
};
use flagtrail_runtime::{build, SdkSettings};

use crate::archive::ArchiveTrail;

/// Which trail to read: a folder, or the log group, the archive, or both (the archive for what the
/// group no longer keeps, the group for what the archive has not received yet); `--since`/`--until`
/// narrow them.
#[derive(clap::Args, Debug, Clone, Default)]
#[group(skip)]
pub struct TrailArgs {
    /// A folder with audit.jsonl (`flagtrail replay --out`), or a JSON-lines file.
    #[arg(long, group = "trail")]
    pub dir: Option<PathBuf>,
    /// The audit log group.
    #[arg(long, group = "trail")]
    pub log_group: Option<String>,
    /// The write-once archive, `s3://bucket/prefix` (objects as Firehose delivers them); with
    /// `--log-group`, both are read.
    #[arg(long, conflicts_with = "dir")]
    pub archive: Option<String>,
    /// FilterLogEvents requests per second (the account's quota is 5 per second, shared by every
    /// reader; 0 leaves only the SDK's backoff on throttling).
    #[arg(long, default_value_t = DEFAULT_FILTER_REQUESTS_PER_SECOND)]
    pub log_requests_per_second: f64,
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
    /// Report a disagreement only once it is this old (seconds): how late a record may reach the
    /// trail (the audit mapping's maximum record age, 6 h, and its last retry). Without `--state`
    /// nothing is ever that old, so give `--grace 0` to report everything at once.
    #[arg(long, default_value_t = DEFAULT_GRACE_SECONDS)]
    pub grace: u64,
    /// Keep what the trail shows of every item in this file between runs: each run then reads only
    /// the trail since the last one (less `--overlap`).
    #[arg(long)]
    pub state: Option<std::path::PathBuf>,
    /// Seconds before the last run's end to read the trail again from (events ingested late).
    #[arg(long, default_value_t = 900)]
    pub overlap: u64,
    /// Compare the table in this many slices, one per run (parallel Scan segments).
    #[arg(long, default_value_t = 1)]
    pub segments: u32,
    /// Read capacity units per second the scan may consume (0: as fast as the table allows).
    #[arg(long, default_value_t = 0)]
    pub read_units_per_second: u64,
}

/// Options of `flagtrail baseline`.
#[derive(clap::Args, Debug)]
pub struct BaselineArgs {
    /// The flag table.
    #[arg(long, env = "FLAGTRAIL_TABLE")]
    pub table: String,
    /// The audit log group the baseline is written to (streams `baseline/YYYY/MM/DD`); it is also
    /// read, so that only items it does not show are recorded.
    #[arg(long, env = "FLAGTRAIL_AUDIT_LOG_GROUP")]
    pub log_group: String,
    /// Also read the archive, for records the log group no longer keeps (`s3://bucket/prefix`).
    #[arg(long)]
    pub archive: Option<String>,
    /// The KMS key that signs the baseline's seals (the audit function's seal key).
    #[arg(long, env = "FLAGTRAIL_SEAL_KEY_ID")]
    pub seal_key: Option<String>,
    /// Read capacity units per second the scan may consume (0: as fast as the table allows).
    #[arg(long, default_value_t = 0)]
    pub read_units_per_second: u64,
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
        (None, group, archive) => {
            let mut trails: Vec<Box<dyn TrailSource>> = Vec::new();
            if let Some(url) = archive {
                let mut archive = ArchiveTrail::new(aws_sdk_s3::Client::new(sdk), url)?;
                (archive.start_ms, archive.end_ms) = (start_ms, end_ms);
                trails.push(Box::new(archive));
            }
            if let Some(group) = group {
                let rate = args.log_requests_per_second;
                trails.push(Box::new(LogGroupTrail {
                    client: aws_sdk_cloudwatchlogs::Client::new(sdk),
                    group: group.clone(),
                    start_ms,
                    end_ms,
                    unmask,
                    pace: (rate > 0.0).then(|| Arc::new(Pace::per_second(rate))),
                }));
            }
            match trails.len() {
                0 => anyhow::bail!("give --dir, --log-group or --archive"),
                1 => trails.pop().expect("one"),
                _ => Box::new(ChainedTrail(trails)),
            }
        }
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

fn rate(per_second: u64) -> Option<Arc<Pace>> {
    (per_second > 0).then(|| Arc::new(Pace::per_second(per_second as f64)))
}

/// `flagtrail reconcile`: false when the table and the trail disagree.
pub async fn run_reconcile(args: ReconcileArgs) -> anyhow::Result<bool> {
    let sdk = SdkSettings::default().load().await;
    let trail = trail_source(&args.trail, &sdk, false).await?;
    let source = trail.name();
    let check = CompletenessCheck {
        table: TableReader {
            ddb: aws_sdk_dynamodb::Client::new(&sdk),
            table: args.table.clone(),
            pace: rate(args.read_units_per_second),
            page_items: None,
        },
        trail,
        state: args.state.map(|p| Box::new(FileState(p)) as Box<dyn StateStore>),
        grace_ms: (args.grace * 1000) as i64,
        overlap_ms: (args.overlap * 1000) as i64,
        segments: args.segments,
        baseline: None,
    };
    let r = check.run(flagtrail_runtime::pipeline::now_ms(), None).await?;
    for f in &r.findings {
        println!("{f}");
    }
    if r.unkept > 0 {
        println!(
            "and {} more disagreement(s) not kept (over {MAX_SUSPECT_ITEMS} items): is a baseline missing?",
            r.unkept
        );
    }
    let pass = r.pass.map(|p| format!("slice {} of {}", p.segment + 1, p.segments)).unwrap_or_default();
    println!(
        "reconcile with {} ({} items read, {pass}; {} scan requests, {:.1} read units): {} record(s) read from {source}{}; {} item(s) known; {} finding(s), {} younger than the grace period",
        args.table,
        r.items,
        r.table_requests,
        r.read_units,
        r.records,
        r.read_since_ms.map(|t| format!(" since {}", flagtrail_core::report::rfc3339(t))).unwrap_or_default(),
        r.known_items,
        r.finding_count(),
        r.pending,
    );
    Ok(r.finding_count() == 0)
}

/// `flagtrail baseline`: records the state of every item the trail does not show.
pub async fn run_baseline(args: BaselineArgs) -> anyhow::Result<()> {
    let sdk = SdkSettings::default().load().await;
    let trail = TrailArgs {
        log_group: Some(args.log_group.clone()),
        archive: args.archive.clone(),
        log_requests_per_second: DEFAULT_FILTER_REQUESTS_PER_SECOND,
        ..Default::default()
    };
    let source = trail_source(&trail, &sdk, false).await?;
    let now = flagtrail_runtime::pipeline::now_ms();
    let mut state = TrailState::default();
    let (records, _) = read_into(source.as_ref(), None, None, None, &mut state, now).await?;
    let table = TableReader {
        ddb: aws_sdk_dynamodb::Client::new(&sdk),
        table: args.table.clone(),
        pace: rate(args.read_units_per_second),
        page_items: None,
    };
    let writer = build::baseline_writer(&sdk, &args.log_group, args.seal_key.as_deref());
    let run = baseline(&table, &writer, &mut state, now, None).await?;
    let (read, written) = (run.read, run.written);
    println!(
        "baseline of {}: {read} item(s) read; {written} recorded in {} ({} already shown by the trail's {records} record(s)){}",
        args.table,
        args.log_group,
        read - written,
        if args.seal_key.is_some() { "" } else { "; seals carry digests only (no --seal-key)" }
    );
    Ok(())
}
