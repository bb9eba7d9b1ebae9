//! Reading the audit trail back: one interface, a CloudWatch Logs implementation (the audit log
//! group) and a file implementation (`audit.jsonl` as `flagtrail replay --out` writes it); the
//! CLI adds the S3 archive.
//!
//! The log group is read with FilterLogEvents, paginated: each page holds what fits in 1 MB (at
//! most 10,000 events). At ~1.5 KB a record that is ~700 records a page: a table with 10,000
//! changes a day kept a year (3.65 M records, ~5.5 GB) is ~5,200 pages — minutes, and the account's
//! FilterLogEvents quota is shared with everyone else. For such volumes narrow the range
//! (`--since`), or let Logs Insights aggregate server-side (`stats latest(...) by keys.PK, keys.SK`
//! returns one row per item) — the stand-in cannot serve Insights, so this reader does not use it.
//! The scheduled check reads only what is new ([`TrailSource::each_message_since`]) and paces its
//! requests ([`LogGroupTrail::pace`]) below the quota, leaving the rest to auditors.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use async_trait::async_trait;
use serde_json::Value;

use crate::pace::Pace;

/// Where a read stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadEnd {
    /// Everything since the start was read.
    Complete,
    /// Out of time: the rest follows from this token.
    Stopped(String),
}

/// A trail that cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("audit trail {source_name}: {message}")]
pub struct TrailError {
    /// Which trail.
    pub source_name: String,
    /// What failed.
    pub message: String,
}

/// Where audit records are read from.
#[async_trait]
pub trait TrailSource: Send + Sync {
    /// Every log event message, exactly as stored, in the order the store returns them (what
    /// seals are checked against), handed over one at a time as they are read: a reader that
    /// aggregates keeps memory bounded however long the trail.
    async fn each_message(&self, f: &mut (dyn FnMut(String) + Send)) -> Result<(), TrailError>;
    /// The messages of events at or after `start_ms` (all of them when `None`); a trail without
    /// event times hands over every message.
    async fn each_message_since(
        &self,
        start_ms: Option<i64>,
        f: &mut (dyn FnMut(String) + Send),
    ) -> Result<(), TrailError> {
        let _ = start_ms;
        self.each_message(f).await
    }
    /// Every message at once (small trails, tests).
    async fn messages(&self) -> Result<Vec<String>, TrailError> {
        let mut out = Vec::new();
        self.each_message(&mut |m| out.push(m)).await?;
        Ok(out)
    }
    /// As [`TrailSource::each_message_since`], going on from `resume` (a token an earlier read
    /// stopped at), and a paged reader may stop after a page once `stop_at_ms` has passed, handing
    /// back the token to go on from. A reader that cannot resume reads everything.
    async fn read_since(
        &self,
        start_ms: Option<i64>,
        resume: Option<String>,
        stop_at_ms: Option<i64>,
        f: &mut (dyn FnMut(String) + Send),
    ) -> Result<ReadEnd, TrailError> {
        let _ = (resume, stop_at_ms);
        self.each_message_since(start_ms, f).await?;
        Ok(ReadEnd::Complete)
    }
    /// For reports.
    fn name(&self) -> String;
    /// Every record, parsed; a message that is not JSON is an error naming its position.
    async fn records(&self) -> Result<Vec<Value>, TrailError> {
        self.messages()
            .await?
            .iter()
            .enumerate()
            .map(|(n, m)| {
                serde_json::from_str(m)
                    .map_err(|e| TrailError { source_name: self.name(), message: format!("message {}: {e}", n + 1) })
            })
            .collect()
    }
}

/// `audit.jsonl` in a folder (or a JSON-lines file given directly).
pub struct FileTrail(pub PathBuf);

#[async_trait]
impl TrailSource for FileTrail {
    async fn each_message(&self, f: &mut (dyn FnMut(String) + Send)) -> Result<(), TrailError> {
        use std::io::BufRead;
        let path = if self.0.is_dir() { self.0.join("audit.jsonl") } else { self.0.clone() };
        let err = |e: std::io::Error| TrailError { source_name: path.display().to_string(), message: e.to_string() };
        let file = std::fs::File::open(&path).map_err(err)?;
        for line in std::io::BufReader::new(file).lines() {
            let line = line.map_err(err)?;
            if !line.trim().is_empty() {
                f(line);
            }
        }
        Ok(())
    }

    fn name(&self) -> String {
        self.0.display().to_string()
    }
}

/// The audit log group, between two times (ms since the epoch).
pub struct LogGroupTrail {
    /// The client.
    pub client: aws_sdk_cloudwatchlogs::Client,
    /// The log group.
    pub group: String,
    /// Earliest event time, if any.
    pub start_ms: Option<i64>,
    /// Latest event time, if any.
    pub end_ms: Option<i64>,
    /// Read through a data-protection policy (`unmask`, needs `logs:Unmask`): what `verify` must
    /// compare with the seals, which were computed over the unmasked bytes.
    pub unmask: bool,
    /// FilterLogEvents requests per second this reader may make: the account's quota is 5 per
    /// second per region, shared with every reader (CloudWatch Logs quotas); `None` leaves only
    /// the SDK's backoff on `ThrottlingException`.
    pub pace: Option<Arc<Pace>>,
}

/// Times a page still throttled after the SDK's retries is asked for again (after 1, 2, 4, 8, 16 s).
const THROTTLED_PAGE_RETRIES: u32 = 5;

/// FilterLogEvents requests per second the scheduled check makes by default: under half the
/// account quota of 5, so auditors running `verify` at the same time are not throttled.
pub const DEFAULT_FILTER_REQUESTS_PER_SECOND: f64 = 2.0;

impl LogGroupTrail {
    /// The whole group, as stored (masked where a data-protection policy masks).
    pub fn whole(client: aws_sdk_cloudwatchlogs::Client, group: impl Into<String>) -> Self {
        LogGroupTrail { client, group: group.into(), start_ms: None, end_ms: None, unmask: false, pace: None }
    }
}

#[async_trait]
impl TrailSource for LogGroupTrail {
    async fn each_message(&self, f: &mut (dyn FnMut(String) + Send)) -> Result<(), TrailError> {
        self.each_message_since(None, f).await
    }

    async fn each_message_since(
        &self,
        start_ms: Option<i64>,
        f: &mut (dyn FnMut(String) + Send),
    ) -> Result<(), TrailError> {
        self.read_since(start_ms, None, None, f).await.map(|_| ())
    }

    /// A read cut after a page hands back FilterLogEvents' `nextToken`: the order of events
    /// across streams is the service's ("interleaved", best effort), so no event time marks what
    /// was read. A token the service no longer takes (they expire after 24 hours) starts the
    /// window again: readers fold what they see twice.
    async fn read_since(
        &self,
        start_ms: Option<i64>,
        resume: Option<String>,
        stop_at_ms: Option<i64>,
        f: &mut (dyn FnMut(String) + Send),
    ) -> Result<ReadEnd, TrailError> {
        let err = |message: String| TrailError { source_name: self.name(), message };
        let start = match (self.start_ms, start_ms) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        let mut token: Option<String> = resume;
        let mut throttled = 0;
        loop {
            if let Some(pace) = &self.pace {
                pace.wait().await;
                pace.spend(1.0).await;
            }
            let resuming = token.is_some();
            let this_token = token.clone();
            let sent = self
                .client
                .filter_log_events()
                .log_group_name(&self.group)
                .set_start_time(start)
                .set_end_time(self.end_ms)
                .set_unmask(self.unmask.then_some(true))
                .set_next_token(token.take())
                .send()
                .await;
            let page = match sent {
                Ok(page) => {
                    throttled = 0;
                    page
                }
                Err(e) if resuming && e.as_service_error().is_some_and(|s| s.is_invalid_parameter_exception()) => {
                    tracing::warn!(error = ?e, "the resume token was refused; reading the window again");
                    continue;
                }
                // Still throttled after the SDK's own retries (the quota is the account's, shared
                // with every reader): wait longer, 1 s doubling, and ask for the same page again.
                Err(e) if e.code() == Some("ThrottlingException") && throttled < THROTTLED_PAGE_RETRIES => {
                    let wait = Duration::from_secs(1 << throttled);
                    throttled += 1;
                    tracing::warn!(?wait, "FilterLogEvents throttled; backing off");
                    tokio::time::sleep(wait).await;
                    token = this_token;
                    continue;
                }
                Err(e) => return Err(err(format!("{e:?}"))),
            };
            for e in page.events() {
                f(e.message().unwrap_or_default().to_owned());
            }
            match page.next_token() {
                Some(t) if !t.is_empty() => {
                    if stop_at_ms.is_some_and(|stop| crate::pipeline::now_ms() >= stop) {
                        return Ok(ReadEnd::Stopped(t.to_owned()));
                    }
                    token = Some(t.to_owned())
                }
                _ => return Ok(ReadEnd::Complete),
            }
        }
    }

    fn name(&self) -> String {
        format!("log group {}", self.group)
    }
}

/// Several trails read as one, in order (the archive for what the log group no longer keeps, then
/// the log group for what the archive has not received yet); records both hold come twice and are
/// folded by readers.
pub struct ChainedTrail(pub Vec<Box<dyn TrailSource>>);

#[async_trait]
impl TrailSource for ChainedTrail {
    async fn each_message(&self, f: &mut (dyn FnMut(String) + Send)) -> Result<(), TrailError> {
        self.each_message_since(None, f).await
    }

    async fn each_message_since(
        &self,
        start_ms: Option<i64>,
        f: &mut (dyn FnMut(String) + Send),
    ) -> Result<(), TrailError> {
        for t in &self.0 {
            t.each_message_since(start_ms, f).await?;
        }
        Ok(())
    }

    fn name(&self) -> String {
        self.0.iter().map(|t| t.name()).collect::<Vec<_>>().join(" + ")
    }
}
