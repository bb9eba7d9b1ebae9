//! A stand-in for the scale benchmark of the completeness check (`make reconcile-bench`): serves a
//! generated flag table and a year of its audit trail without storing either, as the two AWS APIs
//! the check calls, with AWS's limits:
//!
//! - CloudWatch Logs FilterLogEvents: pages of at most 1 MB / 10,000 events, and at most
//!   `--filter-tps` requests a second (the account quota is 5), beyond which `ThrottlingException`;
//! - DynamoDB Scan (segments, 1 MB of items read per page, `ConsumedCapacity` at 0.5 unit per 4 KB
//!   read, eventually consistent) and GetItem.
//!
//! Record `i` (0-based) is a change of item `i mod items` at `t0 + i·step`: the item's INSERT in the
//! first round, MODIFYs after, each bumping `version` by one; the table holds each item at its
//! latest version. `--behind K` makes item K one version ahead in the table (a write behind the
//! trail's back). moto cannot serve a million items and millions of events at these rates: its
//! Scan and FilterLogEvents rebuild every item and event per request.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::{json, Value};

#[derive(Parser, Debug, Clone)]
struct Args {
    /// Items in the table.
    #[arg(long, default_value_t = 1_000_000)]
    items: u64,
    /// Records in the trail.
    #[arg(long, default_value_t = 3_650_000)]
    records: u64,
    /// Time of record 0 (ms since the epoch).
    #[arg(long)]
    t0_ms: i64,
    /// ms between records (a year over 3.65 M records: 8,640).
    #[arg(long, default_value_t = 8_640)]
    step_ms: i64,
    /// Size of a trail record (bytes, padded).
    #[arg(long, default_value_t = 1_500)]
    record_bytes: usize,
    /// Size of a table item as DynamoDB counts it for a Scan's 1 MB page and its read units.
    #[arg(long, default_value_t = 1_000)]
    item_bytes: usize,
    /// FilterLogEvents requests per second before ThrottlingException (0: unlimited).
    #[arg(long, default_value_t = 5)]
    filter_tps: usize,
    /// An item the table holds one version ahead of the trail.
    #[arg(long)]
    behind: Option<u64>,
    /// Where to write the port once listening.
    #[arg(long)]
    port_file: std::path::PathBuf,
}

const PAGE_BYTES: usize = 1_048_576;
const PAGE_EVENTS: usize = 10_000;

#[derive(Default)]
struct Counters {
    filter: usize,
    throttled: usize,
    scan: usize,
    get: usize,
    recent: VecDeque<Instant>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let counters = Arc::new(Mutex::new(Counters::default()));
    let pad = "x".repeat(args.record_bytes.saturating_sub(330));
    std::fs::write(&args.port_file, listener.local_addr()?.port().to_string())?;
    for conn in listener.incoming().flatten() {
        let (args, counters, pad) = (args.clone(), counters.clone(), pad.clone());
        std::thread::spawn(move || {
            let _ = serve(conn, &args, &counters, &pad);
        });
    }
    Ok(())
}

fn serve(conn: TcpStream, args: &Args, counters: &Mutex<Counters>, pad: &str) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut out = conn;
    loop {
        let mut head = Vec::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 {
                return Ok(());
            }
            if line == "\r\n" {
                break;
            }
            head.push(line.trim_end().to_owned());
        }
        let header = |name: &str| {
            head.iter().find_map(|h| {
                let (k, v) = h.split_once(':')?;
                k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
            })
        };
        let len: usize = header("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
        let mut body = vec![0; len];
        reader.read_exact(&mut body)?;
        let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let target = header("x-amz-target").unwrap_or_default();
        let (status, error, reply) = match target.as_str() {
            "Logs_20140328.FilterLogEvents" => filter(args, counters, pad, &request),
            "DynamoDB_20120810.Scan" => {
                counters.lock().unwrap().scan += 1;
                ("200 OK", None, scan(args, &request))
            }
            "DynamoDB_20120810.GetItem" => {
                counters.lock().unwrap().get += 1;
                ("200 OK", None, get(args, &request))
            }
            "Stats" | "" if head.first().is_some_and(|l| l.starts_with("GET /stats")) => {
                let c = counters.lock().unwrap();
                ("200 OK", None, json!({"filter": c.filter, "throttled": c.throttled, "scan": c.scan, "get": c.get}))
            }
            other => (
                "400 Bad Request",
                Some("UnknownOperationException"),
                json!({"message": format!("not served: {other}")}),
            ),
        };
        let text = reply.to_string();
        let kind = error.map(|e| format!("x-amzn-ErrorType: {e}\r\n")).unwrap_or_default();
        write!(
            out,
            "HTTP/1.1 {status}\r\nContent-Type: application/x-amz-json-1.0\r\n{kind}x-amzn-RequestId: scale\r\nContent-Length: {}\r\n\r\n{text}",
            text.len()
        )?;
    }
}

/// The latest version of item `k` the trail shows (0: none).
fn trail_version(args: &Args, k: u64) -> u64 {
    if k >= args.records {
        0
    } else {
        (args.records - 1 - k) / args.items + 1
    }
}

fn record(args: &Args, i: u64, pad: &str) -> (i64, String) {
    let k = i % args.items;
    let v = i / args.items + 1;
    let at = args.t0_ms + i as i64 * args.step_ms;
    let message = json!({
        "schemaVersion": 2, "recordType": "change", "eventId": format!("e{i:012}"), "sequenceNumber": format!("{:021}", i + 1),
        "eventName": if v == 1 { "INSERT" } else { "MODIFY" }, "changedAt": flagtrail_core::report::rfc3339(at),
        "keys": {"PK": format!("FLAG#prod#f{k}"), "SK": "METADATA"}, "itemVersion": v,
        "after": {"version": v, "requestId": format!("r{k}-{v}")}, "pad": pad,
    })
    .to_string();
    (at, message)
}

fn filter(
    args: &Args,
    counters: &Mutex<Counters>,
    pad: &str,
    request: &Value,
) -> (&'static str, Option<&'static str>, Value) {
    {
        let mut c = counters.lock().unwrap();
        let now = Instant::now();
        while c.recent.front().is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1)) {
            c.recent.pop_front();
        }
        if args.filter_tps > 0 && c.recent.len() >= args.filter_tps {
            c.throttled += 1;
            return ("400 Bad Request", Some("ThrottlingException"), json!({"message": "Rate exceeded"}));
        }
        c.recent.push_back(now);
        c.filter += 1;
    }
    let start = request["startTime"].as_i64().unwrap_or(i64::MIN);
    let first = if start <= args.t0_ms { 0 } else { ((start - args.t0_ms) + args.step_ms - 1) / args.step_ms } as u64;
    let mut i = request["nextToken"].as_str().and_then(|t| t.parse().ok()).unwrap_or(first);
    let (mut events, mut bytes) = (Vec::new(), 0);
    while i < args.records && events.len() < PAGE_EVENTS {
        let (at, message) = record(args, i, pad);
        let event = json!({"logStreamName": "audit/bench", "timestamp": at, "ingestionTime": at, "message": message, "eventId": i.to_string()});
        let size = event.to_string().len();
        if bytes + size > PAGE_BYTES && !events.is_empty() {
            break;
        }
        bytes += size;
        events.push(event);
        i += 1;
    }
    let mut page = json!({"events": events, "searchedLogStreams": []});
    if i < args.records {
        page["nextToken"] = json!(i.to_string());
    }
    ("200 OK", None, page)
}

fn item(args: &Args, k: u64) -> Option<Value> {
    let v = trail_version(args, k) + u64::from(args.behind == Some(k));
    (v > 0).then(|| {
        json!({"PK": {"S": format!("FLAG#prod#f{k}")}, "SK": {"S": "METADATA"}, "version": {"N": v.to_string()},
               "requestId": {"S": if args.behind == Some(k) { "r-behind".to_owned() } else { format!("r{k}-{v}") }}})
    })
}

fn key_of(v: &Value) -> Option<u64> {
    v["PK"]["S"].as_str()?.strip_prefix("FLAG#prod#f")?.parse().ok()
}

fn scan(args: &Args, request: &Value) -> Value {
    let segments = request["TotalSegments"].as_u64().unwrap_or(1).max(1);
    let segment = request["Segment"].as_u64().unwrap_or(0);
    // Segment s holds items k with k mod segments == s, in order of k.
    let mut k = match request.get("ExclusiveStartKey").and_then(key_of) {
        Some(last) => last + segments,
        None => segment,
    };
    let per_page = (PAGE_BYTES / args.item_bytes.max(1)).max(1);
    let mut items = Vec::new();
    while k < args.items && items.len() < per_page {
        if let Some(i) = item(args, k) {
            items.push(i);
        }
        k += segments;
    }
    let units = (items.len() * args.item_bytes).div_ceil(4096) as f64 * 0.5;
    let mut page = json!({"Count": items.len(), "ScannedCount": items.len(),
        "ConsumedCapacity": {"TableName": request["TableName"], "CapacityUnits": units}});
    if k < args.items {
        let last = k - segments;
        page["LastEvaluatedKey"] = json!({"PK": {"S": format!("FLAG#prod#f{last}")}, "SK": {"S": "METADATA"}});
    }
    page["Items"] = Value::Array(items);
    page
}

fn get(args: &Args, request: &Value) -> Value {
    match key_of(&request["Key"]).and_then(|k| item(args, k)) {
        Some(i) => json!({"Item": i}),
        None => json!({}),
    }
}
