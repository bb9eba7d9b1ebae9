//! Cost of processing a full Lambda batch against the bar in the brief: at most ~2× parsing the
//! same JSON into typed serde structs (`aws_lambda_events`' DynamoDB event).
//!
//! Each function is measured on exactly what it computes before I/O: `audit::plan` (and the seal)
//! and `notify::plan` of the core, the same calls the Lambda pipelines make.
//!
//! `cargo bench -p flagtrail-core --bench batch` prints criterion's figures and, at the end, the
//! ratio of the medians for each function (each Lambda pays only its own share) and batch shape.

use std::time::{Duration, Instant};

use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use flagtrail_core::{audit, notify, CoreConfig, StreamEvent};

/// (name, event JSON): a full batch of realistic records, and 10,000 small ones.
fn batches() -> Vec<(&'static str, String)> {
    vec![
        ("realistic-4400", serde_json::to_string(&flagtrail_devtools::sample::event(4400, false, 3)).unwrap()),
        ("small-10000", serde_json::to_string(&flagtrail_devtools::sample::event(10_000, true, 3)).unwrap()),
    ]
}

/// The lower bound: typed serde parse of the whole event.
fn baseline(text: &str) -> usize {
    let e: aws_lambda_events::event::dynamodb::Event = serde_json::from_str(text).expect("typed parse");
    e.records.len()
}

/// What the `audit` function computes from a batch, without I/O: decode, audit JSON, metrics, and
/// the seal over every record (a SHA-256 per record, the statement digest, the seal parts).
fn audit(text: &str, config: &CoreConfig) -> usize {
    let event = StreamEvent::from_json(text).expect("event");
    let plan = audit::plan(&event, config, 0, audit::max_event_age_ms(None));
    let (seal, _) = plan.seal().expect("a batch to seal");
    plan.events.items.iter().map(|e| e.message.len()).sum::<usize>()
        + plan.metrics.to_emf("Flagtrail", "bench", 0).len()
        + seal.to_parts(None).iter().map(String::len).sum::<usize>()
}

/// What the `notify` function computes from a batch, without I/O: decode, alerts, invalidations
/// (coalesced), their SNS messages.
fn notify(text: &str, config: &CoreConfig) -> usize {
    let event = StreamEvent::from_json(text).expect("event");
    let plan = notify::plan(&event, config);
    plan.alerts.len() + plan.invalidations.len()
}

fn bench(c: &mut Criterion) {
    let config = CoreConfig::default();
    let mut group = c.benchmark_group("batch");
    group.sample_size(10).measurement_time(Duration::from_secs(8));
    for (name, text) in batches() {
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_with_input(BenchmarkId::new("typed-parse", name), &text, |b, t| b.iter(|| baseline(t)));
        group.bench_with_input(BenchmarkId::new("audit", name), &text, |b, t| b.iter(|| audit(t, &config)));
        group.bench_with_input(BenchmarkId::new("notify", name), &text, |b, t| b.iter(|| notify(t, &config)));
    }
    group.finish();
}

fn median(mut f: impl FnMut(), runs: usize) -> Duration {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    times.sort();
    times[runs / 2]
}

/// Prints the ratio the target is stated in.
fn ratios() {
    let config = CoreConfig::default();
    println!("\nratio to typed serde parse (target ≤ 2.0):");
    for (name, text) in batches() {
        let base = median(|| assert!(baseline(&text) > 0), 15);
        let a = median(|| assert!(audit(&text, &config) > 0), 15);
        let n = median(|| assert!(notify(&text, &config) > 0), 15);
        let r = |d: Duration| d.as_secs_f64() / base.as_secs_f64();
        println!(
            "  {name:<16} {:>6.2} MB  typed-parse {:>8.2?}  audit {:>8.2?} (ratio {:.2})  notify {:>8.2?} (ratio {:.2})",
            text.len() as f64 / 1e6,
            base,
            a,
            r(a),
            n,
            r(n)
        );
    }
}

// The macro defines an undocumented function.
#[allow(missing_docs)]
mod group {
    use super::*;
    criterion_group!(benches, bench);
}
use group::benches;

fn main() {
    benches();
    criterion::Criterion::default().configure_from_args().final_summary();
    ratios();
}
