//! Freshness marks to a DynamoDB table with one conditional UpdateItem each (docs/freshness.md),
//! and a local stand-in that applies the same condition and the same limits.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use flagtrail_core::delivery::{DDB_ITEM_BYTES, DDB_PARTITION_KEY_BYTES};
use flagtrail_core::notify::Mark;

use super::SinkError;
use crate::sdk::classify;

/// What a raise did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Raised {
    /// The mark's counter went up: evaluators will drop what it covers.
    Raised,
    /// The mark already held this item's version or a newer one (redelivery, reordering).
    Unchanged,
}

/// The message of DynamoDB's refusal of an update that would pass the item size limit.
pub const ITEM_TOO_LARGE: &str = "Item size to update has exceeded the maximum allowed size";

/// Where freshness marks go (a DynamoDB table in Lambda, memory or a file locally).
#[async_trait]
pub trait MarkSink: Send + Sync {
    /// Raises one mark unless it already covers `mark.version` for its item; never lowers it.
    async fn raise(&self, mark: &Mark) -> Result<Raised, SinkError>;
}

/// The marks table, written with UpdateItem:
/// `SET #v = :padded, version, eventId, changedAt ADD n 1` if `attribute_not_exists(#v) OR #v < :padded`;
/// an unguarded raise is `ADD n 1` alone.
pub struct DynamoDbMarks {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoDbMarks {
    /// A sink writing to `table`.
    pub fn new(client: aws_sdk_dynamodb::Client, table: String) -> Self {
        DynamoDbMarks { client, table }
    }

    async fn update(&self, mark: &Mark) -> Result<Raised, SinkError> {
        let req = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("mark", AttributeValue::S(mark.key.clone()))
            .expression_attribute_values(":one", AttributeValue::N("1".into()));
        // Unguarded (a folded storm, or a mark at the item size limit): the counter alone, so the
        // item cannot grow past the limit.
        let Some(attr) = mark.guard_attribute() else {
            return req
                .update_expression("ADD n :one")
                .send()
                .await
                .map(|_| Raised::Raised)
                .map_err(|e| classify("marks table", &e));
        };
        let mut set = vec!["#v = :padded", "version = :seq", "eventId = :id"];
        let mut req = req
            .expression_attribute_names("#v", attr)
            .expression_attribute_values(":padded", AttributeValue::S(mark.padded_version()))
            .expression_attribute_values(":seq", AttributeValue::S(mark.version.clone()))
            .expression_attribute_values(":id", AttributeValue::S(mark.event_id.clone()))
            .condition_expression("attribute_not_exists(#v) OR #v < :padded");
        if let Some(at) = &mark.changed_at {
            set.push("changedAt = :at");
            req = req.expression_attribute_values(":at", AttributeValue::S(at.clone()));
        }
        let result = req.update_expression(format!("SET {} ADD n :one", set.join(", "))).send().await;
        match result {
            Ok(_) => Ok(Raised::Raised),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => {
                Ok(Raised::Unchanged)
            }
            Err(e) => Err(classify("marks table", &e)),
        }
    }
}

#[async_trait]
impl MarkSink for DynamoDbMarks {
    async fn raise(&self, mark: &Mark) -> Result<Raised, SinkError> {
        self.update(mark).await
    }
}

/// One mark item: its counter and its other attributes.
pub type LocalMark = (u64, HashMap<String, String>);

/// Local marks: the same conditional raise and the same limits as DynamoDB (partition key ≤ 2048
/// bytes, item ≤ 400 KB: a refused write is a permanent error, as there), kept in memory and
/// optionally appended to a JSON-lines file.
#[derive(Debug, Default)]
pub struct LocalMarks {
    path: Option<PathBuf>,
    /// mark key → its item.
    pub items: Mutex<HashMap<String, LocalMark>>,
    /// Number of `raise` calls.
    pub calls: Mutex<usize>,
}

impl LocalMarks {
    /// Marks that also append every raise to `path` (created or truncated).
    pub fn to_file(path: PathBuf) -> std::io::Result<Self> {
        std::fs::write(&path, b"")?;
        Ok(LocalMarks { path: Some(path), ..Default::default() })
    }

    /// The counter of `key` (0 when never raised).
    pub fn counter(&self, key: &str) -> u64 {
        self.items.lock().map(|m| m.get(key).map_or(0, |i| i.0)).unwrap_or(0)
    }
}

#[async_trait]
impl MarkSink for LocalMarks {
    async fn raise(&self, mark: &Mark) -> Result<Raised, SinkError> {
        let refuse = |message: String| SinkError::Permanent { sink: "local marks", message };
        if mark.key.len() > DDB_PARTITION_KEY_BYTES {
            return Err(refuse(format!("ValidationException: partition key of {} bytes", mark.key.len())));
        }
        let mut items = self.items.lock().map_err(|_| refuse("lock poisoned".into()))?;
        *self.calls.lock().map_err(|_| refuse("lock poisoned".into()))? += 1;
        let (n, attrs) = items.entry(mark.key.clone()).or_default();
        if let Some(attr) = mark.guard_attribute() {
            let padded = mark.padded_version();
            if attrs.get(&attr).is_some_and(|held| *held >= padded) {
                return Ok(Raised::Unchanged);
            }
            let size: usize = attrs.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>() + attr.len() + padded.len();
            if size > DDB_ITEM_BYTES {
                return Err(refuse(format!("ValidationException: {ITEM_TOO_LARGE}")));
            }
            attrs.insert(attr, padded);
            attrs.insert("version".into(), mark.version.clone());
        }
        *n += 1;
        if let Some(path) = &self.path {
            use std::io::Write;
            let line =
                serde_json::json!({"mark": mark.key, "n": *n, "version": mark.version, "eventId": mark.event_id});
            let mut f = std::fs::OpenOptions::new().append(true).open(path).map_err(|e| refuse(e.to_string()))?;
            writeln!(f, "{line}").map_err(|e| refuse(e.to_string()))?;
        }
        Ok(Raised::Raised)
    }
}
