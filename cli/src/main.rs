//! `flagtrail`: run the pipeline locally (replay files, tail a stream, demo) and generate events.

use flagtrail_cli::{completeness, demo, gen, redrive, replay, report, tail, transparency, verify, witness};
use flagtrail_devtools::stack;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "flagtrail",
    version = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("FLAGTRAIL_COMMIT"), ")"),
    about = "Audit and cache-invalidation pipeline for a DynamoDB feature-flag table"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run both pipelines over Lambda stream-event files (or directories of them), no AWS needed.
    Replay {
        /// Files or directories of `*.json` Lambda DynamoDB stream events.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Write audit.jsonl, alerts.jsonl, invalidations.jsonl and metrics.jsonl here.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Print only the totals, not one line per record.
        #[arg(long)]
        quiet: bool,
        /// Send outputs to the AWS sinks named by FLAGTRAIL_AUDIT_LOG_GROUP, FLAGTRAIL_ALERT_TOPIC_ARN
        /// and FLAGTRAIL_INVALIDATION_TOPIC_ARN (e.g. to re-drive records from an on-failure queue).
        #[arg(long, conflicts_with = "out")]
        to_aws: bool,
        /// Sign the seals written to --out with this P-256 private key (PKCS#8 PEM); seals carry
        /// digests only without it.
        #[arg(long, requires = "out")]
        seal_key: Option<PathBuf>,
        /// Also write the transparency log of the seals (`--out`/log/), checkpoints signed with this
        /// Ed25519 private key (PKCS#8 PEM, `openssl genpkey -algorithm ed25519`).
        #[arg(long, requires_all = ["seal_key", "witness_key"])]
        log_key: Option<PathBuf>,
        /// The local witness's Ed25519 private key (PKCS#8 PEM): cosigns each checkpoint after
        /// checking it is consistent with the previous one.
        #[arg(long, requires = "log_key")]
        witness_key: Option<PathBuf>,
    },
    /// Write a large realistic Lambda stream event (for benchmarks and load tests).
    GenEvents {
        /// Number of records.
        #[arg(long, default_value_t = 1000)]
        records: usize,
        /// Output file (stdout if absent).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Small records (keys and a few attributes) instead of realistic ~1.4 KB ones.
        #[arg(long)]
        small: bool,
        /// Seed of the deterministic generator.
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// What the batch is made of.
        #[arg(long, value_enum, default_value_t = flagtrail_devtools::sample::Mix::Realistic)]
        mix: flagtrail_devtools::sample::Mix,
    },
    /// Poll a DynamoDB stream like Lambda's event source mapping and run both pipelines on it.
    Tail(tail::TailArgs),
    /// Run records Lambda discarded (its S3 on-failure destination, or a folder) through a pipeline
    /// into the real sinks, marking each object done once all its records are durable.
    Redrive(redrive::RedriveArgs),
    /// Check version continuity per item over a trail: names every missing record (exit 1).
    Continuity(completeness::TrailArgs),
    /// Check the trail against its seals: edited, missing, unsealed records, bad signatures,
    /// version gaps (exit 1 on any).
    Verify(verify::VerifyArgs),
    /// The evidence report of a period: one self-contained HTML file (summary, charts, production
    /// changes, the verification result) and a CSV with one row per change (exit 1 on findings).
    Report(report::ReportArgs),
    /// Compare the table with the trail: unaudited writes, deletes without a REMOVE record (exit 1).
    Reconcile(completeness::ReconcileArgs),
    /// Record, sealed in the trail, the state of every item of the table the trail does not show
    /// (items written before the trail existed), so that reconcile starts at zero findings.
    Baseline(completeness::BaselineArgs),
    /// Append the trail's new seals to the transparency log (S3 prefix or folder), sign a checkpoint
    /// and have the witnesses cosign it: one round of the log's single writer.
    LogAppend(transparency::AppendArgs),
    /// Serve a C2SP tlog-witness over HTTP: cosigns a log's checkpoints that are consistent with
    /// the last one it cosigned (its state in a file).
    Witness(witness::WitnessArgs),
    /// Print the verifier key (`name+keyid+base64`) of a log's or a witness's public key.
    Vkey(witness::VkeyArgs),
    /// Create the local stack's resources (table with stream, log group, topics, queues).
    LocalStack(stack::StackArgs),
    /// The end-to-end demo against the local stand-in: real changes, pipeline, what each user sees.
    Demo(demo::DemoArgs),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FLAGTRAIL_LOG").unwrap_or_else(|_| "error".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Replay { paths, out, quiet, to_aws, seal_key, log_key, witness_key } => {
            let target = if to_aws {
                replay::Target::Aws
            } else {
                let log_keys = log_key.as_deref().zip(witness_key.as_deref());
                replay::Target::Local { out: out.as_deref(), seal_key: seal_key.as_deref(), log_keys }
            };
            let ok = replay::run(&paths, target, quiet).await?;
            if !ok {
                std::process::exit(1);
            }
        }
        Command::GenEvents { records, out, small, seed, mix } => gen::run(records, out.as_deref(), small, seed, mix)?,
        Command::Tail(args) => tail::run(args).await?,
        Command::Continuity(args) => {
            if !completeness::run_continuity(args).await? {
                std::process::exit(1);
            }
        }
        Command::Verify(args) => {
            if !verify::run(args).await? {
                std::process::exit(1);
            }
        }
        Command::Report(args) => {
            if !report::run(args).await? {
                std::process::exit(1);
            }
        }
        Command::Reconcile(args) => {
            if !completeness::run_reconcile(args).await? {
                std::process::exit(1);
            }
        }
        Command::Baseline(args) => completeness::run_baseline(args).await?,
        Command::LogAppend(args) => transparency::run_append(args).await?,
        Command::Witness(args) => witness::run_witness(args).await?,
        Command::Vkey(args) => witness::run_vkey(args).await?,
        Command::Redrive(args) => {
            if !redrive::run(args).await? {
                std::process::exit(1);
            }
        }
        Command::LocalStack(args) => stack::run(args).await?,
        Command::Demo(args) => demo::run(args).await?,
    }
    Ok(())
}
