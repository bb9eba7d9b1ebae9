//! The write-once archive as a trail: every version of every object under `s3://bucket/prefix`,
//! in key order (Firehose names objects by delivery time), each read as CloudWatch Logs
//! subscription data. Every version, not only the current one: Object Lock keeps the versions
//! Firehose wrote from being changed or deleted, but anyone allowed to PutObject can stack a new
//! version on top; reading them all, the original sealed bytes are still found and the added
//! version's records show as edited or unsealed.
//!
//! A time window reads only the objects that can hold it: with a prefix that has no timestamp
//! expression Firehose appends `yyyy/MM/dd/HH/` (UTC, its delivery time) to it, and an event is
//! delivered after it happened, within CloudWatch Logs' and Firehose's retries (24 h each), so
//! objects of hours before the window or more than 48 h after it are skipped; events are then kept
//! by their own timestamp. An object whose key does not parse is always read.

use async_trait::async_trait;
use flagtrail_core::integrity::archive_events;
use flagtrail_runtime::trail::{TrailError, TrailSource};

/// The archive bucket (and prefix) Firehose delivers the audit group to.
pub struct ArchiveTrail {
    client: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
    /// Earliest event time (ms), if any.
    pub start_ms: Option<i64>,
    /// Latest event time (ms), if any.
    pub end_ms: Option<i64>,
}

/// Longest delivery delay an event can have reached the archive with (see the module doc).
const DELIVERY_SLACK_MS: i64 = 48 * 3600 * 1000;

/// The delivery hour of `key` (`{prefix}yyyy/MM/dd/HH/…`), ms since the epoch.
fn delivery_hour(prefix: &str, key: &str) -> Option<i64> {
    let mut parts = key.strip_prefix(prefix)?.trim_start_matches('/').split('/');
    let mut next = || parts.next()?.parse::<u32>().ok();
    let (y, m, d, h) = (next()?, next()?, next()?, next()?);
    let month = time::Month::try_from(u8::try_from(m).ok()?).ok()?;
    let date = time::Date::from_calendar_date(i32::try_from(y).ok()?, month, u8::try_from(d).ok()?).ok()?;
    let t = date.with_hms(u8::try_from(h).ok()?, 0, 0).ok()?.assume_utc();
    Some(t.unix_timestamp() * 1000)
}

impl ArchiveTrail {
    /// From `s3://bucket/prefix` (the prefix may be empty).
    pub fn new(client: aws_sdk_s3::Client, url: &str) -> anyhow::Result<Self> {
        let rest =
            url.strip_prefix("s3://").ok_or_else(|| anyhow::anyhow!("--archive `{url}` is not s3://bucket/prefix"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        anyhow::ensure!(!bucket.is_empty(), "--archive `{url}` names no bucket");
        Ok(ArchiveTrail { client, bucket: bucket.to_owned(), prefix: prefix.to_owned(), start_ms: None, end_ms: None })
    }

    /// Whether the object at `key` can hold events of the window.
    fn may_hold_window(&self, key: &str) -> bool {
        let Some(hour) = delivery_hour(&self.prefix, key) else { return true };
        let after_start = self.start_ms.is_none_or(|s| hour + 3600 * 1000 > s);
        let before_end = self.end_ms.is_none_or(|e| hour <= e + DELIVERY_SLACK_MS);
        after_start && before_end
    }
}

#[async_trait]
impl TrailSource for ArchiveTrail {
    async fn each_message(&self, f: &mut (dyn FnMut(String) + Send)) -> Result<(), TrailError> {
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
                if let Some(key) = v.key().filter(|k| self.may_hold_window(k)) {
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
            for e in archive_events(&bytes).map_err(|e| err(format!("{key}: {e}")))? {
                let inside = self.start_ms.is_none_or(|s| e.timestamp_ms >= s)
                    && self.end_ms.is_none_or(|u| e.timestamp_ms <= u);
                if inside {
                    f(e.message);
                }
            }
        }
        Ok(())
    }

    fn name(&self) -> String {
        format!("archive s3://{}/{}", self.bucket, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::delivery_hour;

    #[test]
    fn delivery_hours_come_from_firehose_key_layout() {
        let at = |s: &str| flagtrail_core::report::epoch_ms(s).unwrap();
        assert_eq!(
            delivery_hour("audit/", "audit/2026/12/02/13/flagtrail-archive-1-2026-12-02-13-05-01-abc"),
            Some(at("2026-12-02T13:00:00Z"))
        );
        assert_eq!(delivery_hour("audit/", "audit/2026/13/02/13/x"), None, "no month 13");
        assert_eq!(delivery_hour("audit/", "errors/2026/12/02/13/x"), None);
        assert_eq!(delivery_hour("", "2026/01/31/00/x"), Some(at("2026-01-31T00:00:00Z")));
    }
}
