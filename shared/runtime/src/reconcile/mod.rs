//! The completeness check (see `flagtrail_core::completeness`): read the trail written since the
//! last run into the kept [`TrailState`], re-read the items suspected last time, compare one slice
//! of the table, and report what stayed unexplained for longer than the grace period — as findings
//! in the log and the `ReconcileFindings` metric the stack alarms on.
//!
//! On its first run (no state kept yet, and no baseline in the trail) a check with a
//! [`BaselineWriter`] records a sealed baseline of every item the trail does not show, so that a
//! stack deployed beside an existing table starts at zero findings; later runs never baseline (a
//! later write behind the trail's back is a finding, not a new baseline), and neither does a run
//! that finds its state gone but a baseline in the trail.

use std::collections::HashMap;
use std::sync::Arc;

use aws_sdk_dynamodb::types::{AttributeValue, ReturnConsumedCapacity, Select};
use flagtrail_core::audit::baseline::{plan_baseline, BaselineItem, RECORDS_PER_SEAL};
use flagtrail_core::audit::rfc3339_ms;
use flagtrail_core::completeness::{
    BaselineProgress, Finding, ItemKey, Pass, StateError, TableItem, TrailRecord, TrailResume, TrailState,
};
use flagtrail_core::delivery::{plan_log_batches, LogEvent};
use serde_json::Value;

use crate::pace::Pace;
use crate::sink::{LogSink, SealSigner, SinkError};
use crate::trail::{ReadEnd, TrailError, TrailSource};

mod store;

pub use store::{FileState, S3State, StateStore};

/// Why a check could not run.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The table could not be read.
    #[error("reading table {table}: {message}")]
    Table {
        /// The table.
        table: String,
        /// What failed.
        message: String,
    },
    /// The trail could not be read.
    #[error(transparent)]
    Trail(#[from] TrailError),
    /// The kept state could not be read or written.
    #[error("reconcile state {place}: {message}")]
    State {
        /// Where it is kept.
        place: String,
        /// What failed.
        message: String,
    },
    /// The state was stored in an unknown form.
    #[error(transparent)]
    StateFormat(#[from] StateError),
    /// A baseline could not be sealed or written.
    #[error("writing the baseline: {0}")]
    Baseline(#[from] SinkError),
}

/// The attributes the check reads of each item; its role's Scan grant is limited to them
/// (`dynamodb:Attributes`), so flag values never reach it.
pub const CHECK_ATTRIBUTES: [&str; 4] = ["PK", "SK", "version", "requestId"];

/// The flag table, read page by page at a paced rate of read units.
pub struct TableReader {
    /// The client.
    pub ddb: aws_sdk_dynamodb::Client,
    /// The table.
    pub table: String,
    /// Read capacity units per second the check may consume (Scan reports what each page
    /// consumed, `ReturnConsumedCapacity`); `None` reads as fast as the table allows.
    pub pace: Option<Arc<Pace>>,
    /// Items per Scan page (`Limit`); `None` is DynamoDB's 1 MB page.
    pub page_items: Option<i32>,
}

fn text(v: Option<&AttributeValue>) -> Option<String> {
    match v {
        Some(AttributeValue::S(s)) | Some(AttributeValue::N(s)) => Some(s.clone()),
        _ => None,
    }
}

/// An item as the check compares it.
pub fn table_item(i: &HashMap<String, AttributeValue>) -> TableItem {
    TableItem {
        key: ItemKey::new(&text(i.get("PK")).unwrap_or_default(), &text(i.get("SK")).unwrap_or_default()),
        version: text(i.get("version")),
        request_id: text(i.get("requestId")),
    }
}

/// An item in DynamoDB JSON (a stream image's form), what a baseline digests.
pub fn dynamodb_json(item: &HashMap<String, AttributeValue>) -> Value {
    fn one(v: &AttributeValue) -> Value {
        use base64::Engine;
        let b64 = |b: &aws_smithy_types::Blob| base64::engine::general_purpose::STANDARD.encode(b.as_ref());
        let (tag, value) = match v {
            AttributeValue::S(s) => ("S", Value::from(s.clone())),
            AttributeValue::N(n) => ("N", Value::from(n.clone())),
            AttributeValue::B(b) => ("B", Value::from(b64(b))),
            AttributeValue::Bool(b) => ("BOOL", Value::from(*b)),
            AttributeValue::Null(_) => ("NULL", Value::from(true)),
            AttributeValue::M(m) => ("M", dynamodb_json(m)),
            AttributeValue::L(l) => ("L", Value::Array(l.iter().map(one).collect())),
            AttributeValue::Ss(s) => ("SS", Value::from(s.clone())),
            AttributeValue::Ns(s) => ("NS", Value::from(s.clone())),
            AttributeValue::Bs(s) => ("BS", Value::Array(s.iter().map(|b| Value::from(b64(b))).collect())),
            _ => ("UNKNOWN", Value::Null),
        };
        serde_json::json!({ tag: value })
    }
    Value::Object(item.iter().map(|(k, v)| (k.clone(), one(v))).collect())
}

type Key = HashMap<String, AttributeValue>;

/// One Scan response.
struct Page {
    items: Vec<HashMap<String, AttributeValue>>,
    next: Option<Key>,
    units: f64,
}

/// What a scan read.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct ScanStats {
    /// Items.
    pub items: usize,
    /// Scan requests.
    pub requests: usize,
    /// Read capacity units consumed, as the table reported them.
    pub read_units: f64,
}

impl TableReader {
    fn error(&self, e: impl std::fmt::Debug) -> CheckError {
        CheckError::Table { table: self.table.clone(), message: format!("{e:?}") }
    }

    /// One page of a slice of the table (`pass`, or all of it) from `start`: the check's
    /// attributes only or the `whole` items, where the next page starts, and the read units spent.
    async fn page(&self, pass: Option<Pass>, whole: bool, start: Option<Key>) -> Result<Page, CheckError> {
        if let Some(pace) = &self.pace {
            pace.wait().await;
        }
        let mut req = self
            .ddb
            .scan()
            .table_name(&self.table)
            .set_exclusive_start_key(start)
            .set_limit(self.page_items)
            .return_consumed_capacity(ReturnConsumedCapacity::Total);
        if let Some(p) = pass.filter(|p| p.segments > 1) {
            req = req.segment(p.segment as i32).total_segments(p.segments as i32);
        }
        if !whole {
            req = req.select(Select::SpecificAttributes).projection_expression("#pk, #sk, #version, #request");
            for (alias, name) in ["#pk", "#sk", "#version", "#request"].into_iter().zip(CHECK_ATTRIBUTES) {
                req = req.expression_attribute_names(alias, name);
            }
        }
        let out = req.send().await.map_err(|e| self.error(e))?;
        let units = out.consumed_capacity().and_then(|c| c.capacity_units()).unwrap_or(0.0);
        if let Some(pace) = &self.pace {
            pace.spend(units).await;
        }
        let next = out.last_evaluated_key().filter(|k| !k.is_empty()).cloned();
        Ok(Page { items: out.items.unwrap_or_default(), next, units })
    }

    /// Reads one slice of the table (`pass`, or all of it), the check's attributes only or the
    /// `whole` items, handing each page over.
    pub async fn scan(
        &self,
        pass: Option<Pass>,
        whole: bool,
        mut f: impl FnMut(&[HashMap<String, AttributeValue>]),
    ) -> Result<ScanStats, CheckError> {
        let mut stats = ScanStats::default();
        let mut start = None;
        loop {
            let page = self.page(pass, whole, start).await?;
            stats.requests += 1;
            stats.read_units += page.units;
            stats.items += page.items.len();
            f(&page.items);
            match page.next {
                Some(k) => start = Some(k),
                None => return Ok(stats),
            }
        }
    }

    /// One item, read again (strongly consistent), the check's attributes only; paced like the scan.
    pub async fn get(&self, key: &ItemKey) -> Result<Option<TableItem>, CheckError> {
        if let Some(pace) = &self.pace {
            pace.wait().await;
        }
        let (pk, sk) = key.parts();
        let mut req = self
            .ddb
            .get_item()
            .table_name(&self.table)
            .key("PK", AttributeValue::S(pk.to_owned()))
            .key("SK", AttributeValue::S(sk.to_owned()))
            .consistent_read(true)
            .projection_expression("#pk, #sk, #version, #request");
        for (alias, name) in ["#pk", "#sk", "#version", "#request"].into_iter().zip(CHECK_ATTRIBUTES) {
            req = req.expression_attribute_names(alias, name);
        }
        let out =
            req.return_consumed_capacity(ReturnConsumedCapacity::Total).send().await.map_err(|e| self.error(e))?;
        if let Some(pace) = &self.pace {
            pace.spend(out.consumed_capacity().and_then(|c| c.capacity_units()).unwrap_or(1.0)).await;
        }
        Ok(out.item().map(table_item))
    }
}

/// Every item of the table, as the check compares it (small tables, tests).
pub async fn scan_table(ddb: &aws_sdk_dynamodb::Client, table: &str) -> Result<Vec<TableItem>, CheckError> {
    let reader = TableReader { ddb: ddb.clone(), table: table.to_owned(), pace: None, page_items: None };
    let mut items = Vec::new();
    reader.scan(None, false, |page| items.extend(page.iter().map(table_item))).await?;
    Ok(items)
}

/// The change and baseline records of a trail (small trails, tests).
pub async fn read_trail(source: &dyn TrailSource) -> Result<Vec<TrailRecord>, TrailError> {
    Ok(source.records().await?.iter().filter_map(TrailRecord::from_json).collect())
}

/// Reads the trail since `start_ms` into `state`, going on from `resume`, stopping after a page
/// past `stop_at_ms`; returns the records read and where the read ended.
pub async fn read_into(
    source: &dyn TrailSource,
    start_ms: Option<i64>,
    resume: Option<String>,
    stop_at_ms: Option<i64>,
    state: &mut TrailState,
    now_ms: i64,
) -> Result<(usize, ReadEnd), TrailError> {
    let mut read = 0;
    let end = source
        .read_since(start_ms, resume, stop_at_ms, &mut |m| {
            // A message that is not JSON is verify's finding, not a state.
            if let Some(r) = serde_json::from_str::<Value>(&m).ok().as_ref().and_then(TrailRecord::from_json) {
                state.apply(&r, now_ms);
                read += 1;
            }
        })
        .await?;
    Ok((read, end))
}

/// Writes baseline records, sealed, to the trail.
pub struct BaselineWriter {
    /// Where (the audit log group, its own `baseline/` streams).
    pub log: Box<dyn LogSink>,
    /// Signs each batch's seal (the seal key); without one, seals carry digests only.
    pub signer: Option<Arc<dyn SealSigner>>,
}

impl BaselineWriter {
    /// Writes one sealed batch of at most [`RECORDS_PER_SEAL`] items at `now_ms`, and applies it
    /// to `state`. Nothing is applied unless every record and the seal were written.
    pub async fn write(&self, items: &[BaselineItem], state: &mut TrailState, now_ms: i64) -> Result<(), CheckError> {
        let at = rfc3339_ms(
            time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(now_ms) * 1_000_000)
                .unwrap_or(time::OffsetDateTime::UNIX_EPOCH),
        );
        let (mut events, seal) = plan_baseline(items, &at, now_ms);
        let records = events.len();
        let signature = match &self.signer {
            Some(s) => Some(s.sign(&seal.digest()).await?),
            None => None,
        };
        events.extend(
            seal.to_parts(signature.as_ref()).into_iter().map(|message| LogEvent { timestamp_ms: now_ms, message }),
        );
        for range in plan_log_batches(&events) {
            let not_written = self.log.put(&events[range]).await?;
            if !not_written.is_empty() {
                return Err(CheckError::Baseline(SinkError::Transient {
                    sink: "cloudwatch logs",
                    message: format!("{} baseline event(s) not written (rejectedLogEventsInfo)", not_written.len()),
                }));
            }
        }
        for e in &events[..records] {
            if let Some(r) = serde_json::from_str::<Value>(&e.message).ok().as_ref().and_then(TrailRecord::from_json) {
                state.apply(&r, now_ms);
            }
        }
        Ok(())
    }
}

/// How far a baseline got.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct BaselineRun {
    /// Items read.
    pub read: usize,
    /// Items recorded.
    pub written: usize,
    /// The whole table was read.
    pub complete: bool,
}

/// Records a baseline of every item of the table the trail (in `state`) does not show, reading
/// whole items, from where `state.baseline` says an earlier run stopped. It stops after the page
/// that ends past `stop_at_ms` (a Lambda deadline), its records written, and leaves in
/// `state.baseline` where to resume.
pub async fn baseline(
    table: &TableReader,
    writer: &BaselineWriter,
    state: &mut TrailState,
    now_ms: i64,
    stop_at_ms: Option<i64>,
) -> Result<BaselineRun, CheckError> {
    let mut pending: Vec<BaselineItem> = Vec::new();
    let mut run = BaselineRun::default();
    let mut start: Option<Key> = state.baseline.as_ref().and_then(|b| b.after.as_ref()).map(|k| {
        let (pk, sk) = k.parts();
        HashMap::from([
            ("PK".to_owned(), AttributeValue::S(pk.to_owned())),
            ("SK".to_owned(), AttributeValue::S(sk.to_owned())),
        ])
    });
    state.baseline = Some(BaselineProgress { after: state.baseline.as_ref().and_then(|b| b.after.clone()) });
    // Page by page, so that batches are written (and memory released) as the scan goes.
    loop {
        let page = table.page(None, true, start).await?;
        run.read += page.items.len();
        for item in &page.items {
            let t = table_item(item);
            if !state.shows(&t.key, t.version.as_deref(), t.request_id.as_deref()) {
                pending.push(BaselineItem::from_dynamodb_json(&dynamodb_json(item)));
            }
        }
        let out_of_time = stop_at_ms.is_some_and(|t| crate::pipeline::now_ms() >= t);
        let last_page = page.next.is_none() || out_of_time;
        while pending.len() >= RECORDS_PER_SEAL || (last_page && !pending.is_empty()) {
            let batch: Vec<BaselineItem> = pending.drain(..pending.len().min(RECORDS_PER_SEAL)).collect();
            writer.write(&batch, state, now_ms).await?;
            run.written += batch.len();
        }
        match page.next {
            None => {
                state.baseline = None;
                run.complete = true;
                return Ok(run);
            }
            Some(k) => {
                state.baseline = Some(BaselineProgress { after: Some(table_item(&k).key) });
                if out_of_time {
                    return Ok(run);
                }
                start = Some(k);
            }
        }
    }
}

/// Suspects read again per run, at most (the rest are read again by the scan's next pass, or
/// explained by the trail).
const MAX_RECHECKS: usize = 1_000;

/// How long a saved FilterLogEvents token is used (they expire after 24 hours).
const RESUME_TOKEN_MAX_AGE_MS: i64 = 12 * 3600 * 1000;

/// Table and trail, checked together, run after run.
pub struct CompletenessCheck {
    /// The table.
    pub table: TableReader,
    /// The trail.
    pub trail: Box<dyn TrailSource>,
    /// Where the state is kept between runs; `None` reads the whole trail every run.
    pub state: Option<Box<dyn StateStore>>,
    /// A suspect is reported once it is this old (ms): how late a change's record may reach the
    /// trail (the mappings' maximum record age and retries).
    pub grace_ms: i64,
    /// Each run reads the trail from this long (ms) before where the last run stopped: events
    /// ingested late with an earlier timestamp.
    pub overlap_ms: i64,
    /// The table is compared in this many slices, one per run (a full pass every `segments` runs).
    pub segments: u32,
    /// On the first run, records a baseline of the items the trail does not show.
    pub baseline: Option<BaselineWriter>,
}

/// What one check found.
#[derive(Debug, Default)]
pub struct CheckReport {
    /// Change and baseline records read this run.
    pub records: usize,
    /// Items of the table read this run.
    pub items: usize,
    /// Items baselined this run.
    pub baselined: usize,
    /// Items the trail shows in all.
    pub known_items: usize,
    /// Version gaps, then disagreements with the table, older than the grace period.
    pub findings: Vec<Finding>,
    /// Suspects younger than the grace period.
    pub pending: usize,
    /// Where this run started reading the trail (`None`: from the start).
    pub read_since_ms: Option<i64>,
    /// The slice of the table compared.
    pub pass: Option<Pass>,
    /// Table requests (scan pages and re-reads) and read units consumed.
    pub table_requests: usize,
    /// Read capacity units the scan consumed.
    pub read_units: f64,
    /// The trail was read to its end (not cut by the run's deadline).
    pub trail_complete: bool,
    /// Disagreements found and not kept (beyond `MAX_SUSPECT_ITEMS`): reported at once, by number.
    pub unkept: usize,
}

impl CheckReport {
    /// What the `ReconcileFindings` metric counts: the findings and the disagreements not kept.
    pub fn finding_count(&self) -> usize {
        self.findings.len() + self.unkept
    }
}

impl CompletenessCheck {
    /// Runs once at `now_ms`; reading the trail and a baseline stop at `stop_at_ms` and resume on
    /// the next run.
    pub async fn run(&self, now_ms: i64, stop_at_ms: Option<i64>) -> Result<CheckReport, CheckError> {
        let loaded = match &self.state {
            Some(store) => store.load().await?,
            None => None,
        };
        let mut state = loaded.unwrap_or_default();
        // A read cut short last run goes on from its token, over the same window.
        let resume = state.resume.take();
        let since = match &resume {
            Some(r) => r.since_ms,
            None => state.read_until_ms.map(|t| t - self.overlap_ms),
        };
        let mut report = CheckReport { read_since_ms: since, ..Default::default() };
        // FilterLogEvents' tokens expire after 24 hours, and what the service answers to an expired
        // one is not documented: an old token is dropped and the window read again.
        let token = resume.filter(|r| now_ms - r.saved_ms < RESUME_TOKEN_MAX_AGE_MS).map(|r| r.token);
        let (records, end) = read_into(self.trail.as_ref(), since, token, stop_at_ms, &mut state, now_ms).await?;
        report.records = records;
        if let ReadEnd::Stopped(token) = end {
            // Out of time before the trail's end (a state rebuilt from a long trail): keep what was
            // read and go on from there next run; the table is compared once the trail is read.
            state.resume = Some(TrailResume { since_ms: since, token, saved_ms: now_ms });
            return self.finish(state, report, now_ms).await;
        }
        report.trail_complete = true;
        state.read_until_ms = Some(now_ms);
        // What was suspected before this run is read again, item by item, before it can be reported.
        for key in state.to_recheck().into_iter().take(MAX_RECHECKS) {
            report.table_requests += 1;
            match self.table.get(&key).await? {
                Some(t) => state.check(&t, now_ms),
                None => state.check_absent(&key, now_ms),
            }
        }
        // A baseline is taken once: a state lost later (deleted, corrupted) is rebuilt from the
        // trail, never answered with a new baseline that would absorb writes behind its back. One
        // begun and not finished (the run's time ran out) resumes where it stopped.
        let take_baseline =
            self.state.is_some() && (state.baseline.is_some() || (state.never_compared() && !state.has_baseline()));
        let segments = match (&self.baseline, take_baseline) {
            (Some(writer), true) => {
                let run = baseline(&self.table, writer, &mut state, now_ms, stop_at_ms).await?;
                tracing::info!(?run, "baseline of the items the trail does not show");
                report.baselined = run.written;
                if !run.complete {
                    // The table is compared once the baseline is whole: until then every item
                    // not yet read would be a suspect.
                    state.read_until_ms = Some(now_ms + 1);
                    return self.finish(state, report, now_ms).await;
                }
                1
            }
            // Without a kept state there is no next run to scan the other slices.
            _ if self.state.is_none() => 1,
            _ => self.segments,
        };
        let pass = state.begin_pass(now_ms, segments);
        let stats = self
            .table
            .scan(Some(pass), false, |page| {
                for i in page {
                    state.check(&table_item(i), now_ms);
                }
            })
            .await?;
        state.end_pass(pass, now_ms);
        if report.baselined > 0 {
            // The baseline's own records (dated now) are applied already: the next run need not read them.
            state.read_until_ms = Some(now_ms + 1);
        }
        report.items = stats.items;
        report.table_requests += stats.requests;
        report.read_units = stats.read_units;
        report.pass = Some(pass);
        self.finish(state, report, now_ms).await
    }

    /// Reports what is old enough and keeps the state.
    async fn finish(&self, state: TrailState, mut report: CheckReport, now_ms: i64) -> Result<CheckReport, CheckError> {
        report.known_items = state.items();
        report.findings = state.findings(now_ms, self.grace_ms);
        report.pending = state.pending(now_ms, self.grace_ms);
        report.unkept = state.unkept;
        if let Some(store) = &self.state {
            store.save(&state).await?;
        }
        Ok(report)
    }
}
