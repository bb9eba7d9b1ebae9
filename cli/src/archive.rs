//! The write-once archive as a trail: every object under `s3://bucket/prefix`, in key order (Firehose
//! names objects by delivery time), each read as CloudWatch Logs subscription data.

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
        let mut keys = Vec::new();
        let mut pages = self.client.list_objects_v2().bucket(&self.bucket).prefix(&self.prefix).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| err(format!("listing: {e:?}")))?;
            keys.extend(page.contents().iter().filter_map(|o| o.key().map(str::to_owned)));
        }
        keys.sort();
        let mut out = Vec::new();
        for key in keys {
            let object = self
                .client
                .get_object()
                .bucket(&self.bucket)
                .key(&key)
                .send()
                .await
                .map_err(|e| err(format!("{key}: {e:?}")))?;
            let bytes = object.body.collect().await.map_err(|e| err(format!("{key}: {e}")))?.into_bytes();
            out.extend(archive_messages(&bytes).map_err(|e| err(format!("{key}: {e}")))?);
        }
        Ok(out)
    }

    fn name(&self) -> String {
        format!("archive s3://{}/{}", self.bucket, self.prefix)
    }
}
