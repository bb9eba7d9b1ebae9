//! A C2SP tlog-witness (docs/integrity.md, "A witness in the auditors' account"): answers
//! `POST …/add-checkpoint` for the logs whose keys it is given, keeping per origin the latest
//! checkpoint it cosigned. The checks are the core's ([`check_add_checkpoint`]); this adds the
//! state, which must be checked and advanced atomically (the spec's rollback race): a DynamoDB
//! conditional PutItem on AWS, a file under a lock locally.

use std::collections::BTreeMap;
use std::path::PathBuf;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use flagtrail_core::integrity::tlog::Hash;
use flagtrail_core::integrity::tlog::{witness_name, NoteVerifyingKey, WitnessKey};
use flagtrail_core::integrity::witness::{
    check_add_checkpoint, cosignature_line, cosignature_message, AddCheckpoint, WitnessError, Witnessed,
};

use crate::sdk::classify;
use crate::sink::{CheckpointSigner, SinkError};

/// The latest cosigned checkpoint of one log, as a witness keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct Latest {
    /// Its size.
    pub size: u64,
    /// Its root.
    pub root: Hash,
}

impl Latest {
    /// The latest as stored (a size and a hex root); an error naming the origin if either is bad.
    fn stored(origin: &str, size: Option<u64>, root: Option<&str>) -> Result<Latest, SinkError> {
        let root = root.and_then(|h| hex::decode(h).ok()).and_then(|r| <[u8; 32]>::try_from(r).ok());
        match (size, root) {
            (Some(size), Some(root)) => Ok(Latest { size, root: Hash(root) }),
            _ => Err(bad_state(origin, "the stored state has no valid size and root")),
        }
    }
}

/// Where a witness keeps its latest cosigned checkpoint per origin.
#[async_trait]
pub trait WitnessState: Send + Sync {
    /// The latest for `origin`.
    async fn latest(&self, origin: &str) -> Result<Option<Latest>, SinkError>;
    /// Stores `new` (and the cosigned note) if the latest is still `expected`; false if it moved.
    async fn advance(
        &self,
        origin: &str,
        expected: Option<&Latest>,
        new: &Latest,
        note: &[u8],
    ) -> Result<bool, SinkError>;
}

/// The state in a DynamoDB table (partition key `origin`), one item per log: `size`, `root`
/// (hex), and `checkpoint`, the last cosigned note (what an auditor keeps as `--witness-checkpoint`).
pub struct DynamoWitnessState {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoWitnessState {
    /// The table `table`.
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        DynamoWitnessState { client, table: table.into() }
    }
}

fn bad_state(origin: &str, why: &str) -> SinkError {
    SinkError::Permanent { sink: "witness state", message: format!("{origin}: {why}") }
}

#[async_trait]
impl WitnessState for DynamoWitnessState {
    async fn latest(&self, origin: &str) -> Result<Option<Latest>, SinkError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("origin", AttributeValue::S(origin.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify("witness state", &e))?;
        let Some(item) = out.item else { return Ok(None) };
        let size = item.get("size").and_then(|v| v.as_n().ok()).and_then(|n| n.parse().ok());
        Latest::stored(origin, size, item.get("root").and_then(|v| v.as_s().ok()).map(String::as_str)).map(Some)
    }

    async fn advance(
        &self,
        origin: &str,
        expected: Option<&Latest>,
        new: &Latest,
        note: &[u8],
    ) -> Result<bool, SinkError> {
        let req = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("origin", AttributeValue::S(origin.to_owned()))
            .item("size", AttributeValue::N(new.size.to_string()))
            .item("root", AttributeValue::S(hex::encode(new.root.0)))
            .item("checkpoint", AttributeValue::S(String::from_utf8_lossy(note).into_owned()));
        let req = match expected {
            None => req.condition_expression("attribute_not_exists(origin)"),
            Some(l) => req
                .condition_expression("#size = :size AND #root = :root")
                .expression_attribute_names("#size", "size")
                .expression_attribute_names("#root", "root")
                .expression_attribute_values(":size", AttributeValue::N(l.size.to_string()))
                .expression_attribute_values(":root", AttributeValue::S(hex::encode(l.root.0))),
        };
        match req.send().await {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => Ok(false),
            Err(e) => Err(classify("witness state", &e)),
        }
    }
}

/// The state in a JSON file (`{origin: {size, root, checkpoint}}`), for a witness run locally;
/// replaced whole through a temporary file, under a lock.
pub struct FileWitnessState {
    path: PathBuf,
    lock: tokio::sync::Mutex<()>,
}

impl FileWitnessState {
    /// The file at `path` (created on the first cosignature).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        FileWitnessState { path: path.into(), lock: tokio::sync::Mutex::new(()) }
    }

    fn read(&self) -> Result<BTreeMap<String, serde_json::Value>, SinkError> {
        let io = |e: String| SinkError::Permanent {
            sink: "witness state",
            message: format!("{}: {e}", self.path.display()),
        };
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| io(e.to_string())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(e) => Err(io(e.to_string())),
        }
    }

    fn latest_in(map: &BTreeMap<String, serde_json::Value>, origin: &str) -> Result<Option<Latest>, SinkError> {
        let Some(v) = map.get(origin) else { return Ok(None) };
        Latest::stored(origin, v["size"].as_u64(), v["root"].as_str()).map(Some)
    }
}

#[async_trait]
impl WitnessState for FileWitnessState {
    async fn latest(&self, origin: &str) -> Result<Option<Latest>, SinkError> {
        let _held = self.lock.lock().await;
        Self::latest_in(&self.read()?, origin)
    }

    async fn advance(
        &self,
        origin: &str,
        expected: Option<&Latest>,
        new: &Latest,
        note: &[u8],
    ) -> Result<bool, SinkError> {
        let _held = self.lock.lock().await;
        let mut map = self.read()?;
        if Self::latest_in(&map, origin)?.as_ref() != expected {
            return Ok(false);
        }
        map.insert(
            origin.to_owned(),
            serde_json::json!({"size": new.size, "root": hex::encode(new.root.0), "checkpoint": String::from_utf8_lossy(note)}),
        );
        let io = |e: std::io::Error| SinkError::Permanent {
            sink: "witness state",
            message: format!("{}: {e}", self.path.display()),
        };
        let tmp = self.path.with_extension("tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(&map).unwrap_or_default()).map_err(io)?;
        std::fs::rename(&tmp, &self.path).map_err(io)?;
        Ok(true)
    }
}

/// The state in memory (a witness inside the log writer's process, for the local contract).
#[derive(Default)]
pub struct MemoryWitnessState(tokio::sync::Mutex<BTreeMap<String, Latest>>);

#[async_trait]
impl WitnessState for MemoryWitnessState {
    async fn latest(&self, origin: &str) -> Result<Option<Latest>, SinkError> {
        Ok(self.0.lock().await.get(origin).cloned())
    }

    async fn advance(
        &self,
        origin: &str,
        expected: Option<&Latest>,
        new: &Latest,
        _: &[u8],
    ) -> Result<bool, SinkError> {
        let mut map = self.0.lock().await;
        if map.get(origin) != expected {
            return Ok(false);
        }
        map.insert(origin.to_owned(), new.clone());
        Ok(true)
    }
}

/// An HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The status.
    pub status: u16,
    /// The content type.
    pub content_type: &'static str,
    /// The body.
    pub body: Vec<u8>,
}

impl Answer {
    fn text(status: u16, text: impl std::fmt::Display) -> Self {
        Answer { status, content_type: "text/plain; charset=utf-8", body: format!("{text}\n").into_bytes() }
    }
}

/// A witness: its key, name, the logs it witnesses, and its state.
pub struct WitnessService {
    /// The witness key (KMS on AWS, a PEM key locally).
    pub signer: Box<dyn CheckpointSigner>,
    /// The name on its cosignature lines.
    pub name: String,
    /// The logs' checkpoint keys (named by origin).
    pub logs: Vec<NoteVerifyingKey>,
    /// Its state.
    pub state: Box<dyn WitnessState>,
}

impl WitnessService {
    /// A witness named `name`, or by its key (`witness-<hex>`) when `None`.
    pub fn new(
        signer: Box<dyn CheckpointSigner>,
        name: Option<String>,
        logs: Vec<NoteVerifyingKey>,
        state: Box<dyn WitnessState>,
    ) -> Self {
        let name = name.unwrap_or_else(|| witness_name(&signer.verifying_key()));
        WitnessService { signer, name, logs, state }
    }

    /// Its public key, as logs and verifiers trust it.
    pub fn key(&self) -> WitnessKey {
        WitnessKey::named(self.name.clone(), self.signer.verifying_key())
    }

    /// Handles `add-checkpoint` at `now` (seconds): the cosignature line, or why not.
    pub async fn add_checkpoint(&self, body: &[u8], now: u64) -> Result<String, Refusal> {
        let request = AddCheckpoint::parse(body)?;
        let origin = flagtrail_core::integrity::witness::checkpoint_origin(&request.checkpoint)?;
        let latest = self.state.latest(&origin).await?;
        let Witnessed { size, root, text, .. } =
            check_add_checkpoint(&request, &self.logs, latest.as_ref().map(|l| (l.size, l.root)))?;
        let signature = self.signer.sign(&cosignature_message(now, &text)).await?;
        let line = cosignature_line(&self.name, &self.signer.verifying_key(), now, &signature);
        let note = [request.checkpoint.as_slice(), line.as_bytes()].concat();
        // Stored before answering, and only if no other request advanced it meanwhile.
        if !self.state.advance(&origin, latest.as_ref(), &Latest { size, root }, &note).await? {
            let now_at = self.state.latest(&origin).await?.map_or(0, |l| l.size);
            return Err(WitnessError::Conflict { latest: now_at, old: request.old }.into());
        }
        Ok(line)
    }

    /// Answers one HTTP request: `POST <prefix>/add-checkpoint`, anything else 404/405.
    pub async fn respond(&self, method: &str, path: &str, body: &[u8], now: u64) -> Answer {
        if !path.ends_with("/add-checkpoint") {
            return Answer::text(404, format!("no such endpoint {path}; this witness serves POST …/add-checkpoint"));
        }
        if method != "POST" {
            return Answer::text(405, "add-checkpoint takes POST");
        }
        match self.add_checkpoint(body, now).await {
            Ok(line) => Answer { status: 200, content_type: "text/plain; charset=utf-8", body: line.into_bytes() },
            Err(Refusal::Witness(e)) => {
                tracing::warn!(status = e.status(), error = %e, "add-checkpoint refused");
                let (content_type, body) = e.body();
                Answer { status: e.status(), content_type, body }
            }
            Err(Refusal::Failed(e)) => {
                tracing::error!(error = %e, "add-checkpoint failed");
                Answer::text(if e.is_transient() { 503 } else { 500 }, e)
            }
        }
    }
}

/// Why `add-checkpoint` gave no cosignature: the protocol refused it, or the witness failed.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// A refusal the spec names.
    #[error(transparent)]
    Witness(#[from] WitnessError),
    /// The state or the key failed.
    #[error(transparent)]
    Failed(#[from] SinkError),
}
