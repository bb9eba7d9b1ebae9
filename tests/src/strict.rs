//! A strict stand-in in front of moto: it refuses what real SNS and CloudWatch Logs refuse
//! (moto refuses none of it), using the same rules as the local sinks
//! (`flagtrail_core::delivery::rules`), and forwards the rest. What the binaries send through it
//! is what AWS would accept.
//!
//! PublishBatch: a call SNS refuses whole gets its error; a call with any entry SNS would fail is
//! refused whole with `InvalidParameter` (stricter than SNS, which fails only those entries).
//! PutLogEvents: a call CloudWatch Logs refuses gets `InvalidParameterException`; events it would
//! reject (too old, too new, expired) are not forwarded and come back in `rejectedLogEventsInfo`.
//! PutRecordBatch: a call Firehose refuses (record count, record or call size) gets
//! `InvalidArgumentException`.
//! FilterLogEvents: more than [`FILTER_REQUESTS_PER_SECOND`] calls in any second get
//! `ThrottlingException` (the quota is per account and region: here, per proxy); a page holds
//! what fits in 1 MB (at most 10,000 events), the rest follows with `nextToken` — moto returns up
//! to 10,000 events whatever their size and enforces no rate.

use std::collections::{BTreeMap, VecDeque};
use std::io::{BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use flagtrail_core::delivery::rules::{check_log_batch, check_publish_batch, check_record_batch};
use flagtrail_core::delivery::LogEvent;
use flagtrail_core::notify::Message;
use serde_json::{json, Value};

use crate::fault::{forward, query_error, read_message, respond, Protocol};

/// The proxy; it runs until the test process ends.
pub struct StrictProxy {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    refused: Arc<Mutex<Vec<String>>>,
    filter_calls: Arc<Mutex<FilterCalls>>,
}

/// FilterLogEvents' quota: 5 transactions per second per account and region (CloudWatch Logs
/// quotas), not adjustable.
pub const FILTER_REQUESTS_PER_SECOND: usize = 5;
/// FilterLogEvents' page: what fits in 1 MB, at most 10,000 events (FilterLogEvents `limit`).
pub const FILTER_PAGE_BYTES: usize = 1_048_576;

impl FilterCalls {
    /// Whether a call arriving at `now` is within the quota (at most
    /// [`FILTER_REQUESTS_PER_SECOND`] in any second), counting it either way.
    pub fn admit(&mut self, now: Instant) -> bool {
        while self.recent.front().is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1)) {
            self.recent.pop_front();
        }
        if self.recent.len() >= FILTER_REQUESTS_PER_SECOND {
            self.throttled += 1;
            return false;
        }
        self.recent.push_back(now);
        self.answered += 1;
        true
    }
}

/// FilterLogEvents calls seen: when, and how many were answered or throttled.
#[derive(Debug, Default)]
pub struct FilterCalls {
    recent: VecDeque<Instant>,
    /// Calls answered.
    pub answered: usize,
    /// Calls refused with ThrottlingException.
    pub throttled: usize,
}

impl StrictProxy {
    /// Starts a proxy in front of `upstream` (`http://127.0.0.1:PORT`), for a log group keeping
    /// events `retention_days`.
    pub fn start(upstream: &str, retention_days: Option<u32>) -> StrictProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let upstream = upstream.trim_start_matches("http://").to_owned();
        let refused = Arc::new(Mutex::new(Vec::new()));
        let filter_calls = Arc::new(Mutex::new(FilterCalls::default()));
        let (r, fc) = (refused.clone(), filter_calls.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let (r, fc, up) = (r.clone(), fc.clone(), upstream.clone());
                std::thread::spawn(move || {
                    let _ = serve(conn, &up, retention_days, &r, &fc);
                });
            }
        });
        StrictProxy { endpoint, refused, filter_calls }
    }

    /// FilterLogEvents calls (answered, throttled) so far.
    pub fn filter_calls(&self) -> (usize, usize) {
        let c = self.filter_calls.lock().unwrap();
        (c.answered, c.throttled)
    }

    /// What was refused so far, one line per refusal.
    pub fn refused(&self) -> Vec<String> {
        self.refused.lock().unwrap().clone()
    }
}

fn serve(
    client: TcpStream,
    upstream: &str,
    retention_days: Option<u32>,
    refused: &Mutex<Vec<String>>,
    filter_calls: &Mutex<FilterCalls>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let mut client = client;
    loop {
        let Some((head, body)) = read_message(&mut reader)? else { return Ok(()) };
        let target = head.iter().find_map(|h| {
            let (k, v) = h.split_once(':')?;
            k.eq_ignore_ascii_case("x-amz-target").then(|| v.trim().to_owned())
        });
        let response = if target.as_deref() == Some("Logs_20140328.PutLogEvents") {
            put_log_events(upstream, &head, &body, retention_days, refused)?
        } else if target.as_deref() == Some("Logs_20140328.FilterLogEvents") {
            filter_log_events(upstream, &head, &body, filter_calls)?
        } else if target.as_deref() == Some("Firehose_20150804.PutRecordBatch") {
            put_record_batch(&body, refused)
        } else if body.starts_with(b"Action=PublishBatch") {
            publish_batch(upstream, &head, &body, refused)?
        } else {
            Verdict::Forward(body)
        };
        match response {
            Verdict::Forward(body) => client.write_all(&forward(upstream, &with_length(&head, body.len()), &body)?)?,
            Verdict::Refuse { status, body, error_type, protocol } => {
                respond(&mut client, status, &body, error_type, protocol)?
            }
            Verdict::Answer(bytes) => client.write_all(&bytes)?,
        }
    }
}

enum Verdict {
    Forward(Vec<u8>),
    Refuse { status: &'static str, body: String, error_type: &'static str, protocol: Protocol },
    Answer(Vec<u8>),
}

fn with_length(head: &[String], len: usize) -> Vec<String> {
    head.iter()
        .map(|h| {
            if h.to_ascii_lowercase().starts_with("content-length:") {
                format!("Content-Length: {len}")
            } else {
                h.clone()
            }
        })
        .collect()
}

fn publish_batch(_up: &str, _head: &[String], body: &[u8], refused: &Mutex<Vec<String>>) -> std::io::Result<Verdict> {
    let form: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
    let topic = form.iter().find(|(k, _)| k == "TopicArn").map(|(_, v)| v.clone()).unwrap_or_default();
    let mut entries: BTreeMap<usize, Message> = BTreeMap::new();
    let mut attrs: BTreeMap<(usize, usize), (String, String, String)> = BTreeMap::new();
    for (k, v) in &form {
        let Some(rest) = k.strip_prefix("PublishBatchRequestEntries.member.") else { continue };
        let Some((n, field)) = rest.split_once('.') else { continue };
        let Ok(n) = n.parse::<usize>() else { continue };
        let m = entries.entry(n).or_insert_with(|| Message {
            subject: None,
            body: String::new(),
            attributes: BTreeMap::new(),
            group_id: String::new(),
            dedup_id: String::new(),
            ..Default::default()
        });
        match field {
            "Message" => m.body = v.clone(),
            "Subject" => m.subject = Some(v.clone()),
            "MessageGroupId" => m.group_id = v.clone(),
            "MessageDeduplicationId" => m.dedup_id = v.clone(),
            f => {
                if let Some(a) = f.strip_prefix("MessageAttributes.entry.") {
                    if let Some((i, part)) = a.split_once('.') {
                        let slot = attrs.entry((n, i.parse().unwrap_or(0))).or_default();
                        match part {
                            "Name" => slot.0 = v.clone(),
                            "Value.StringValue" => slot.1 = v.clone(),
                            "Value.DataType" => slot.2 = v.clone(),
                            _ => {}
                        }
                    }
                }
            }
        }
    }
    for ((n, _), (name, value, data_type)) in attrs {
        if let Some(m) = entries.get_mut(&n) {
            if data_type == "String.Array" {
                m.string_arrays.insert(name.clone());
            }
            m.attributes.insert(name, value);
        }
    }
    let messages: Vec<Message> = entries.into_values().collect();
    let refusal = match check_publish_batch(&messages, topic.ends_with(".fifo")) {
        Err(v) => Some(("BatchRequestTooLong", v.to_string())),
        Ok(failed) if !failed.is_empty() => Some((
            "InvalidParameter",
            failed.iter().map(|(i, v)| format!("entry {i}: {v}")).collect::<Vec<_>>().join("; "),
        )),
        Ok(_) => None,
    };
    Ok(match refusal {
        Some((code, message)) => {
            refused.lock().unwrap().push(format!("PublishBatch {code}: {message}"));
            Verdict::Refuse {
                status: "400 Bad Request",
                body: query_error(code, &message),
                error_type: code,
                protocol: Protocol::Query,
            }
        }
        None => Verdict::Forward(body.to_vec()),
    })
}

fn put_record_batch(body: &[u8], refused: &Mutex<Vec<String>>) -> Verdict {
    use base64::Engine;
    let Ok(request) = serde_json::from_slice::<Value>(body) else { return Verdict::Forward(body.to_vec()) };
    let sizes: Vec<usize> = request["Records"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            let data = r["Data"].as_str().unwrap_or("");
            base64::engine::general_purpose::STANDARD.decode(data).map_or(usize::MAX, |d| d.len())
        })
        .collect();
    match check_record_batch(&sizes) {
        Ok(()) => Verdict::Forward(body.to_vec()),
        Err(v) => {
            refused.lock().unwrap().push(format!("PutRecordBatch: {v}"));
            let body = json!({"__type": "InvalidArgumentException", "message": v.to_string()}).to_string();
            Verdict::Refuse {
                status: "400 Bad Request",
                body,
                error_type: "InvalidArgumentException",
                protocol: Protocol::Json,
            }
        }
    }
}

fn put_log_events(
    upstream: &str,
    head: &[String],
    body: &[u8],
    retention_days: Option<u32>,
    refused: &Mutex<Vec<String>>,
) -> std::io::Result<Verdict> {
    let Ok(mut request) = serde_json::from_slice::<Value>(body) else { return Ok(Verdict::Forward(body.to_vec())) };
    let events: Vec<LogEvent> = request["logEvents"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| LogEvent {
            timestamp_ms: e["timestamp"].as_i64().unwrap_or(0),
            message: e["message"].as_str().unwrap_or("").to_owned(),
        })
        .collect();
    let now = (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;
    let rejected = match check_log_batch(&events, now, retention_days) {
        Err(v) => {
            refused.lock().unwrap().push(format!("PutLogEvents: {v}"));
            let body = json!({"__type": "InvalidParameterException", "message": v.to_string()}).to_string();
            return Ok(Verdict::Refuse {
                status: "400 Bad Request",
                body,
                error_type: "InvalidParameterException",
                protocol: Protocol::Json,
            });
        }
        Ok(r) if r.is_empty() => return Ok(Verdict::Forward(body.to_vec())),
        Ok(r) => r,
    };
    let drop = rejected.positions(events.len());
    refused.lock().unwrap().push(format!("PutLogEvents: rejected events {drop:?}"));
    let kept: Vec<Value> = request["logEvents"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
        .filter(|(i, _)| !drop.contains(i))
        .map(|(_, e)| e.clone())
        .collect();
    let mut info = serde_json::Map::new();
    if let Some(i) = rejected.too_old_end {
        info.insert("tooOldLogEventEndIndex".into(), json!(i));
    }
    if let Some(i) = rejected.expired_end {
        info.insert("expiredLogEventEndIndex".into(), json!(i - 1));
    }
    if let Some(i) = rejected.too_new_start {
        info.insert("tooNewLogEventStartIndex".into(), json!(i));
    }
    let answer = |extra: String| {
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.1\r\nx-amzn-RequestId: strict\r\nContent-Length: {}\r\n\r\n{extra}",
            extra.len()
        )
        .into_bytes()
    };
    let result = json!({ "rejectedLogEventsInfo": info }).to_string();
    if kept.is_empty() {
        return Ok(Verdict::Answer(answer(result)));
    }
    request["logEvents"] = Value::Array(kept);
    let forwarded = serde_json::to_vec(&request).unwrap_or_default();
    let upstream_answer = forward(upstream, &with_length(head, forwarded.len()), &forwarded)?;
    // moto accepted the kept events; answer with what AWS would say about the whole call.
    let ok = upstream_answer.starts_with(b"HTTP/1.1 200");
    Ok(if ok { Verdict::Answer(answer(result)) } else { Verdict::Answer(upstream_answer) })
}

/// FilterLogEvents: throttled beyond the quota; a page cut at 1 MB, continued by a `nextToken` in
/// moto's own form (`group@stream@eventId` of the last event returned).
fn filter_log_events(
    upstream: &str,
    head: &[String],
    body: &[u8],
    calls: &Mutex<FilterCalls>,
) -> std::io::Result<Verdict> {
    if !calls.lock().unwrap().admit(Instant::now()) {
        {
            let body = json!({"__type": "ThrottlingException", "message": "Rate exceeded"}).to_string();
            return Ok(Verdict::Refuse {
                status: "400 Bad Request",
                body,
                error_type: "ThrottlingException",
                protocol: Protocol::Json,
            });
        }
    }
    let group = serde_json::from_slice::<Value>(body).ok().and_then(|r| r["logGroupName"].as_str().map(str::to_owned));
    let answer = forward(upstream, head, body)?;
    let Some(split) = answer.windows(4).position(|w| w == b"\r\n\r\n") else { return Ok(Verdict::Answer(answer)) };
    let (Ok(mut page), Some(group)) = (serde_json::from_slice::<Value>(&answer[split + 4..]), group) else {
        return Ok(Verdict::Answer(answer));
    };
    let events = page["events"].as_array().cloned().unwrap_or_default();
    let mut size = 0;
    let fits = events
        .iter()
        .take_while(|e| {
            size += e.to_string().len();
            size <= FILTER_PAGE_BYTES
        })
        .count()
        .max(1);
    if fits < events.len() {
        let last = &events[fits - 1];
        page["nextToken"] = json!(format!(
            "{group}@{}@{}",
            last["logStreamName"].as_str().unwrap_or(""),
            last["eventId"].as_str().unwrap_or("")
        ));
        page["events"] = Value::Array(events[..fits].to_vec());
    }
    let text = page.to_string();
    Ok(Verdict::Answer(
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.1\r\nx-amzn-RequestId: strict\r\nContent-Length: {}\r\n\r\n{text}",
            text.len()
        )
        .into_bytes(),
    ))
}
