//! `flagtrail report`: the evidence report of a period for auditors — one self-contained HTML file
//! and a CSV with one row per change — from one pass over the trail, verified in the same pass
//! (see `flagtrail_core::report`).

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use flagtrail_core::integrity::Verifier;
use flagtrail_core::report::{render_html, ChangeRow, Period, ReportBuilder, VerificationResult};
use flagtrail_runtime::SdkSettings;

use crate::completeness::{epoch_ms, trail_source, TrailArgs};
use crate::verify::{trusted_keys, with_path, KeyArgs};

/// Options of `flagtrail report`.
#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    /// A folder written by `flagtrail replay --out` (same as --dir).
    pub path: Option<PathBuf>,
    /// The trail, when not a folder; `--since`/`--until` bound the period (on `changedAt`) for any
    /// trail and narrow what is read from the log group or the archive.
    #[command(flatten)]
    pub trail: TrailArgs,
    /// The keys seals must be signed with (signatures are not checked without one).
    #[command(flatten)]
    pub keys: KeyArgs,
    /// Only this environment.
    #[arg(long)]
    pub environment: Option<String>,
    /// The HTML report.
    #[arg(long, default_value = "report.html")]
    pub out: PathBuf,
    /// Also a CSV with one row per change (every environment, every row).
    #[arg(long)]
    pub csv: Option<PathBuf>,
    /// Production changes listed in the HTML (the total is stated; the CSV has them all).
    #[arg(long, default_value_t = 1000)]
    pub max_rows: usize,
}

/// `flagtrail report`: writes the files; false when the trail's verification has findings.
pub async fn run(args: ReportArgs) -> anyhow::Result<bool> {
    let period = Period {
        since_ms: epoch_ms("--since", args.trail.since.as_deref())?,
        until_ms: epoch_ms("--until", args.trail.until.as_deref())?,
        environment: args.environment.clone(),
    };
    let mut trail = with_path(args.trail, args.path)?;
    if trail.dir.is_some() {
        // A folder has no event times to narrow the read by; the period still bounds the report.
        (trail.since, trail.until) = (None, None);
    }
    let sdk = SdkSettings::default().load().await;
    let keys = trusted_keys(&args.keys, &sdk).await?;
    let source = trail_source(&trail, &sdk, true).await?;
    let mut csv = match &args.csv {
        Some(p) => {
            let mut w =
                std::io::BufWriter::new(std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?);
            w.write_all(ChangeRow::csv_header().as_bytes())?;
            Some(w)
        }
        None => None,
    };
    let (mut verifier, mut builder) = (Verifier::default(), ReportBuilder::new(period, args.max_rows));
    let (mut rows, mut write_error) = (0u64, None);
    source
        .each_message(&mut |message| {
            let parsed = serde_json::from_str(&message);
            if let Some(row) = parsed.as_ref().ok().and_then(|record| builder.push(record)) {
                rows += 1;
                if let Some(w) = csv.as_mut() {
                    if let Err(e) = w.write_all(row.to_csv().as_bytes()) {
                        write_error.get_or_insert(e);
                    }
                }
            }
            verifier.push_parsed(&message, parsed);
        })
        .await?;
    if let Some(e) = write_error {
        return Err(e).context("writing the CSV");
    }
    if let Some(mut w) = csv {
        w.flush().context("writing the CSV")?;
    }
    let verified = verifier.finish(keys.as_ref());
    let report = builder.finish();
    let name = source.name();
    let html = render_html(&report, &VerificationResult { source: &name, report: &verified, signed: keys.is_some() });
    std::fs::write(&args.out, html).with_context(|| format!("writing {}", args.out.display()))?;
    println!(
        "report {name}: {} change(s) ({} production, {} unattributed, {} kill-switch activation(s)); \
         {rows} CSV row(s); verification: {} finding(s){}; wrote {}{}",
        report.changes,
        report.production_changes,
        report.unattributed,
        report.kill_switches.len(),
        verified.findings.len(),
        if keys.is_some() { "" } else { " (signatures NOT checked)" },
        args.out.display(),
        args.csv.as_ref().map(|p| format!(" and {}", p.display())).unwrap_or_default(),
    );
    Ok(verified.intact())
}
