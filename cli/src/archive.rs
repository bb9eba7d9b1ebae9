//! The write-once archive as a trail: every version of every object under `s3://bucket/prefix`,
//! in key order (Firehose names objects by delivery time), each read as CloudWatch Logs
//! subscription data. Every version, not only the current one: Object Lock keeps the versions
//! Firehose wrote from being changed or deleted, but anyone allowed to PutObject can stack a new
//! version on top; reading them all, the original sealed bytes are still found and the added
//! version's records show as edited or unsealed.

use async_trait::async_trait;
use flagtrail_core::integrity::archive_messages;
use flagtrail_runtime::trail::{TrailError, TrailSource};

/// The archive bucket (and prefix) Firehose delivers the audit group to.
pub struct ArchiveTrail {
    client: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
}

impl ArchiveTrail {
    /// From `s3://bucket/prefix` (the prefix may be empty).
    pub fn new(client: aws_sdk_s3::Client, url: &str) -> anyhow::Result<Self> {
        let rest =
            url.strip_prefix("s3://").ok_or_else(|| anyhow::anyhow!("--archive `{url}` is not s3://bucket/prefix"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        anyhow::ensure!(!bucket.is_empty(), "--archive `{url}` names no bucket");
        Ok(ArchiveTrail { client, bucket: bucket.to_owned(), prefix: prefix.to_owned() })
    }
}

#[async_trait]
impl TrailSource for ArchiveTrail {
    async fn messages(&self) -> Result<Vec<String>, TrailError> {
        let err = |message: String| TrailError { source_name: self.name(), message };
        let mut versions = Vec::new();
        let (mut key_marker, mut version_marker) = (None, None);
        loop {
            let page = self
                .client
                .list_object_versions()
                .bucket(&self.bucket)
                .prefix(&self.prefix)
                .set_key_marker(key_marker)
                .set_version_id_marker(version_marker)
                .send()
                .await
                .map_err(|e| err(format!("listing: {e:?}")))?;
            for v in page.versions() {
                if let Some(key) = v.key() {
                    versions.push((key.to_owned(), v.version_id().map(str::to_owned)));
                }
            }
            if !page.is_truncated().unwrap_or(false) {
                break;
            }
            key_marker = page.next_key_marker().map(str::to_owned);
            version_marker = page.next_version_id_marker().map(str::to_owned);
        }
        versions.sort();
        let mut out = Vec::new();
        for (key, version) in versions {
            let object = self
                .client
                .get_object()
                .bucket(&self.bucket)
                .key(&key)
                .set_version_id(version.clone())
                .send()
                .await
                .map_err(|e| err(format!("{key} (version {version:?}): {e:?}")))?;
            let bytes = object.body.collect().await.map_err(|e| err(format!("{key}: {e}")))?.into_bytes();
            out.extend(archive_messages(&bytes).map_err(|e| err(format!("{key}: {e}")))?);
        }
        Ok(out)
    }

    fn name(&self) -> String {
        format!("archive s3://{}/{}", self.bucket, self.prefix)
    }
}
