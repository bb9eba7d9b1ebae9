//! The scheduled completeness check: scan the table, read the trail, report every version gap and
//! every disagreement (see `flagtrail_core::completeness`), as findings in the function's log and
//! a `ReconcileFindings` metric the stack alarms on.

use aws_sdk_dynamodb::types::AttributeValue;
use flagtrail_core::completeness::{continuity, item_id, reconcile, Finding, TableItem, TrailRecord};

use crate::trail::{TrailError, TrailSource};

/// Why a check could not run.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The table could not be scanned.
    #[error("scanning table {table}: {message}")]
    Scan {
        /// The table.
        table: String,
        /// What failed.
        message: String,
    },
    /// The trail could not be read.
    #[error(transparent)]
    Trail(#[from] TrailError),
}

/// Every item of the table, as reconcile compares it (`PK`, `SK`, `version`, `requestId`). Only
/// those four attributes are asked for: the rest of an item (values the trail redacts) never
/// reaches the checker, and its role's Scan grant can be limited to them (`dynamodb:Attributes`).
pub async fn scan_table(ddb: &aws_sdk_dynamodb::Client, table: &str) -> Result<Vec<TableItem>, CheckError> {
    let text = |v: Option<&AttributeValue>| match v {
        Some(AttributeValue::S(s)) | Some(AttributeValue::N(s)) => Some(s.clone()),
        _ => None,
    };
    let mut items = Vec::new();
    let mut pages = ddb
        .scan()
        .table_name(table)
        .projection_expression("#pk, #sk, #version, #request")
        .expression_attribute_names("#pk", "PK")
        .expression_attribute_names("#sk", "SK")
        .expression_attribute_names("#version", "version")
        .expression_attribute_names("#request", "requestId")
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| CheckError::Scan { table: table.to_owned(), message: format!("{e:?}") })?;
        for i in page.items() {
            items.push(TableItem {
                item: item_id(&text(i.get("PK")).unwrap_or_default(), &text(i.get("SK")).unwrap_or_default()),
                version: text(i.get("version")),
                request_id: text(i.get("requestId")),
            });
        }
    }
    Ok(items)
}

/// The change records of a trail.
pub async fn read_trail(source: &dyn TrailSource) -> Result<Vec<TrailRecord>, TrailError> {
    Ok(source.records().await?.iter().filter_map(TrailRecord::from_json).collect())
}

/// Table and trail, checked together.
pub struct CompletenessCheck<T> {
    /// The table's client.
    pub ddb: aws_sdk_dynamodb::Client,
    /// The table.
    pub table: String,
    /// The trail.
    pub trail: T,
}

/// What one check found.
#[derive(Debug, Default)]
pub struct CheckReport {
    /// Change records read.
    pub records: usize,
    /// Items in the table.
    pub items: usize,
    /// Version gaps, then disagreements with the table.
    pub findings: Vec<Finding>,
}

impl<T: TrailSource> CompletenessCheck<T> {
    /// Runs continuity and reconcile once.
    pub async fn run(&self) -> Result<CheckReport, CheckError> {
        let records = read_trail(&self.trail).await?;
        let table = scan_table(&self.ddb, &self.table).await?;
        let mut findings = continuity(&records);
        findings.extend(reconcile(&table, &records));
        Ok(CheckReport { records: records.len(), items: table.len(), findings })
    }
}
