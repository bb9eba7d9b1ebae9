//! Where discarded stream records wait for `flagtrail redrive`: the S3 on-failure destination of the
//! stack's event source mappings, or a local folder of the same objects. The stream-mapping
//! stand-in writes here as Lambda does; redrive reads, and marks an object done only once every
//! record in it is durable.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use aws_sdk_s3::types::{Tag, Tagging};

/// The tag (S3) or marker suffix (folder) of an object whose records were all redriven.
pub const DONE_TAG: (&str, &str) = ("flagtrail-redrive", "done");

/// Lambda's key prefix for on-failure invocation records.
pub const KEY_PREFIX: &str = "aws/lambda/";

/// A failure store's own error (the object store, not the records in it).
#[derive(Debug, thiserror::Error)]
#[error("failure store {store}: {message}")]
pub struct StoreError {
    /// Which store (bucket or folder).
    pub store: String,
    /// What failed.
    pub message: String,
}

/// An object store of invocation records.
#[async_trait]
pub trait FailureStore: Send + Sync {
    /// Writes one invocation record under `key`.
    async fn put(&self, key: &str, body: &str) -> Result<(), StoreError>;
    /// Keys of records not yet marked done, oldest first.
    async fn pending(&self) -> Result<Vec<String>, StoreError>;
    /// One record's text.
    async fn get(&self, key: &str) -> Result<String, StoreError>;
    /// Marks a record done: every record in it is durable.
    async fn mark_done(&self, key: &str) -> Result<(), StoreError>;
    /// Where it is, for reports.
    fn name(&self) -> String;
}

/// The key Lambda gives an invocation record in S3:
/// `aws/lambda/<ESM-UUID>/<shardID>/YYYY/MM/DD/YYYY-MM-DDTHH.MM.SS-<random UUID>`.
pub fn object_key(esm_uuid: &str, shard_id: &str, at: time::OffsetDateTime, unique: &str) -> String {
    format!(
        "{KEY_PREFIX}{esm_uuid}/{shard_id}/{:04}/{:02}/{:02}/{:04}-{:02}-{:02}T{:02}.{:02}.{:02}-{unique}",
        at.year(),
        at.month() as u8,
        at.day(),
        at.year(),
        at.month() as u8,
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

/// A local folder holding objects at their keys; `KEY.done` marks one done.
pub struct DirStore(pub PathBuf);

impl DirStore {
    fn err(&self, e: impl std::fmt::Display) -> StoreError {
        StoreError { store: self.0.display().to_string(), message: e.to_string() }
    }
}

fn files_below(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    for entry in std::fs::read_dir(dir)? {
        let p = entry?.path();
        if p.is_dir() {
            files_below(&p, out)?;
        } else {
            out.push(p);
        }
    }
    Ok(())
}

#[async_trait]
impl FailureStore for DirStore {
    async fn put(&self, key: &str, body: &str) -> Result<(), StoreError> {
        let path = self.0.join(key);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| self.err(e))?;
        }
        std::fs::write(path, body).map_err(|e| self.err(e))
    }

    async fn pending(&self) -> Result<Vec<String>, StoreError> {
        let mut files = Vec::new();
        files_below(&self.0, &mut files).map_err(|e| self.err(e))?;
        let mut keys: Vec<String> = files
            .iter()
            .filter(|p| p.extension().is_none_or(|e| e != "done"))
            .filter(|p| {
                !p.with_file_name(format!("{}.done", p.file_name().unwrap_or_default().to_string_lossy())).exists()
            })
            .filter_map(|p| p.strip_prefix(&self.0).ok().map(|k| k.to_string_lossy().replace('\\', "/")))
            .collect();
        keys.sort(); // keys embed the time: sorted is oldest first
        Ok(keys)
    }

    async fn get(&self, key: &str) -> Result<String, StoreError> {
        std::fs::read_to_string(self.0.join(key)).map_err(|e| self.err(format!("{key}: {e}")))
    }

    async fn mark_done(&self, key: &str) -> Result<(), StoreError> {
        std::fs::write(self.0.join(format!("{key}.done")), b"").map_err(|e| self.err(e))
    }

    fn name(&self) -> String {
        self.0.display().to_string()
    }
}

/// The S3 bucket of the stack's on-failure destination; done objects carry [`DONE_TAG`].
pub struct S3Store {
    /// The client.
    pub client: aws_sdk_s3::Client,
    /// The bucket.
    pub bucket: String,
}

impl S3Store {
    fn err(&self, e: impl std::fmt::Debug) -> StoreError {
        StoreError { store: format!("s3://{}", self.bucket), message: format!("{e:?}") }
    }
}

#[async_trait]
impl FailureStore for S3Store {
    async fn put(&self, key: &str, body: &str) -> Result<(), StoreError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/json")
            .body(body.as_bytes().to_vec().into())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    async fn pending(&self) -> Result<Vec<String>, StoreError> {
        let mut keys = Vec::new();
        let mut pages = self.client.list_objects_v2().bucket(&self.bucket).prefix(KEY_PREFIX).into_paginator().send();
        while let Some(page) = pages.next().await {
            for o in page.map_err(|e| self.err(e))?.contents() {
                let Some(key) = o.key() else { continue };
                let tags = self.client.get_object_tagging().bucket(&self.bucket).key(key).send().await;
                let done = tags.map_err(|e| self.err(e))?.tag_set().iter().any(|t| (t.key(), t.value()) == DONE_TAG);
                if !done {
                    keys.push(key.to_owned());
                }
            }
        }
        keys.sort();
        Ok(keys)
    }

    async fn get(&self, key: &str) -> Result<String, StoreError> {
        let out = self.client.get_object().bucket(&self.bucket).key(key).send().await.map_err(|e| self.err(e))?;
        let bytes = out.body.collect().await.map_err(|e| self.err(e))?.into_bytes();
        String::from_utf8(bytes.to_vec()).map_err(|e| self.err(e))
    }

    async fn mark_done(&self, key: &str) -> Result<(), StoreError> {
        let tag = Tag::builder().key(DONE_TAG.0).value(DONE_TAG.1).build().map_err(|e| self.err(e))?;
        let tagging = Tagging::builder().tag_set(tag).build().map_err(|e| self.err(e))?;
        self.client
            .put_object_tagging()
            .bucket(&self.bucket)
            .key(key)
            .tagging(tagging)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    fn name(&self) -> String {
        format!("s3://{}", self.bucket)
    }
}
