//! Where the completeness check keeps its [`TrailState`] between runs: one gzip'd JSON-lines
//! object, read whole at the start of a run and replaced at its end.
//!
//! S3 rather than DynamoDB: a run reads and writes the state once (one GET, one PUT) whatever the
//! table's size, where an item per table item would cost a write unit per item on the first run
//! and a read of every item on each pass. The object is staged through a temporary file (Lambda's
//! `/tmp`), so memory holds the state once, not its bytes too. Two runs can never both replace
//! it: the PUT is conditional (`If-Match` the ETag read, or `If-None-Match: *` when there was
//! none; S3 conditional writes) and the loser fails with 412 instead of overwriting.

use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use async_trait::async_trait;
use flagtrail_core::completeness::TrailState;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;

use super::CheckError;

/// Keeps the state between runs.
#[async_trait]
pub trait StateStore: Send + Sync {
    /// The state the last run kept; `None` before the first run.
    async fn load(&self) -> Result<Option<TrailState>, CheckError>;
    /// Keeps `state` for the next run.
    async fn save(&self, state: &TrailState) -> Result<(), CheckError>;
}

fn decode(path: &Path) -> Result<TrailState, CheckError> {
    let file = std::fs::File::open(path).map_err(|e| io_error(path, e))?;
    Ok(TrailState::read_from(BufReader::new(GzDecoder::new(BufReader::new(file))))?)
}

fn encode(state: &TrailState, path: &Path) -> Result<(), CheckError> {
    let file = std::fs::File::create(path).map_err(|e| io_error(path, e))?;
    let mut gz = GzEncoder::new(BufWriter::new(file), flate2::Compression::fast());
    state.write_to(&mut gz)?;
    gz.finish().and_then(|mut w| std::io::Write::flush(&mut w)).map_err(|e| io_error(path, e))?;
    Ok(())
}

fn io_error(path: &Path, e: std::io::Error) -> CheckError {
    CheckError::State { place: path.display().to_string(), message: e.to_string() }
}

/// A local file (the CLI's `--state`).
pub struct FileState(pub PathBuf);

#[async_trait]
impl StateStore for FileState {
    async fn load(&self) -> Result<Option<TrailState>, CheckError> {
        if !self.0.exists() {
            return Ok(None);
        }
        decode(&self.0).map(Some)
    }

    async fn save(&self, state: &TrailState) -> Result<(), CheckError> {
        // Written beside it, then renamed: a crash never leaves half a state.
        let tmp = self.0.with_extension("partial");
        encode(state, &tmp)?;
        std::fs::rename(&tmp, &self.0).map_err(|e| io_error(&self.0, e))
    }
}

/// An S3 object (the scheduled function's state).
pub struct S3State {
    client: aws_sdk_s3::Client,
    bucket: String,
    key: String,
    /// The ETag of the object loaded, for the conditional PUT.
    etag: Mutex<Option<String>>,
}

impl S3State {
    /// The object `key` in `bucket`.
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>, key: impl Into<String>) -> Self {
        S3State { client, bucket: bucket.into(), key: key.into(), etag: Mutex::new(None) }
    }

    fn place(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }

    fn error(&self, e: impl std::fmt::Debug) -> CheckError {
        CheckError::State { place: self.place(), message: format!("{e:?}") }
    }

    fn staging(&self) -> PathBuf {
        std::env::temp_dir().join(format!(
            "flagtrail-state-{}-{}.jsonl.gz",
            std::process::id(),
            self.key.replace('/', "_")
        ))
    }
}

#[async_trait]
impl StateStore for S3State {
    async fn load(&self) -> Result<Option<TrailState>, CheckError> {
        let out = match self.client.get_object().bucket(&self.bucket).key(&self.key).send().await {
            Ok(out) => out,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => {
                *self.etag.lock().expect("not poisoned") = None;
                return Ok(None);
            }
            Err(e) => return Err(self.error(e)),
        };
        *self.etag.lock().expect("not poisoned") = out.e_tag().map(str::to_owned);
        let path = self.staging();
        let mut file = tokio::fs::File::create(&path).await.map_err(|e| io_error(&path, e))?;
        let mut body = out.body.into_async_read();
        tokio::io::copy(&mut body, &mut file).await.map_err(|e| io_error(&path, e))?;
        let state = decode(&path);
        let _ = std::fs::remove_file(&path);
        state.map(Some)
    }

    async fn save(&self, state: &TrailState) -> Result<(), CheckError> {
        let path = self.staging();
        encode(state, &path)?;
        let body = aws_sdk_s3::primitives::ByteStream::from_path(&path).await.map_err(|e| self.error(e))?;
        let etag = self.etag.lock().expect("not poisoned").clone();
        let req = self.client.put_object().bucket(&self.bucket).key(&self.key).body(body);
        let req = match &etag {
            Some(tag) => req.if_match(tag),
            None => req.if_none_match("*"),
        };
        let out = req.send().await;
        let _ = std::fs::remove_file(&path);
        let out = out.map_err(|e| self.error(e))?;
        *self.etag.lock().expect("not poisoned") = out.e_tag().map(str::to_owned);
        Ok(())
    }
}
