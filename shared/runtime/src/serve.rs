//! Running a pipeline as a Lambda function: the Runtime API loop, the partial batch response, and
//! EMF metrics on stdout.

use std::io::Write;

use aws_lambda_events::streams::DynamoDbEventResponse;
use flagtrail_core::metrics::{Counter, Metrics};
use flagtrail_core::{BatchResponse, StreamEvent};
use lambda_runtime::{run, service_fn, Error, LambdaEvent};

use crate::pipeline::{now_ms, Invocation, Pipeline};
use crate::reconcile::CompletenessCheck;

/// Initialises logging the way the Lambda runtime recommends (JSON when the function's log format
/// is JSON).
pub fn init_tracing() {
    lambda_runtime::tracing::init_default_subscriber();
}

/// Serves `pipeline` until the runtime stops the process: each batch → outputs, EMF metrics, and
/// the partial batch response.
pub async fn serve<P: Pipeline>(pipeline: P, metrics_namespace: &str) -> Result<(), Error> {
    let pipeline = &pipeline;
    run(service_fn(move |event: LambdaEvent<StreamEvent>| async move {
        let outcome = pipeline.handle(&event.payload, Invocation::with_deadline_ms(event.context.deadline)).await;
        emit_metrics(&outcome.metrics, metrics_namespace, pipeline.name());
        Ok::<DynamoDbEventResponse, Error>(lambda_response(&outcome.response))
    }))
    .await
}

/// Serves the scheduled completeness check: each invocation (an EventBridge schedule) runs it once,
/// logs every finding, and prints the `ReconcileFindings` EMF metric the stack alarms on. A check
/// that cannot run fails the invocation (the function's Errors alarm).
pub async fn serve_check(check: CompletenessCheck, metrics_namespace: &str) -> Result<(), Error> {
    let check = &check;
    run(service_fn(move |event: LambdaEvent<serde_json::Value>| async move {
        // Reading the trail and a baseline stop two minutes before the function's deadline, the
        // state keeps where they got, and the next run resumes them.
        let stop_at = i64::try_from(event.context.deadline).ok().map(|d| d - 120_000);
        let report = check.run(now_ms(), stop_at).await?;
        for f in &report.findings {
            tracing::error!(finding = %f, "the trail does not account for a change");
        }
        let mut metrics = Metrics::default();
        if report.unkept > 0 {
            tracing::error!(unkept = report.unkept, "more disagreements than the check keeps: is a baseline missing?");
        }
        metrics.count(Counter::ReconcileFindings, report.finding_count() as u64);
        emit_metrics(&metrics, metrics_namespace, "reconcile");
        Ok::<serde_json::Value, Error>(serde_json::json!({
            "records": report.records, "items": report.items, "findings": report.finding_count(),
            "pending": report.pending, "baselined": report.baselined, "knownItems": report.known_items,
            "readSinceMs": report.read_since_ms, "trailComplete": report.trail_complete, "tableRequests": report.table_requests, "readUnits": report.read_units,
        }))
    }))
    .await
}

/// Serves the transparency log's writer: each invocation (the hourly schedule, its cadence) reads
/// the seals of the last `lookback_ms` of the trail and runs one round. A round that fails fails
/// the invocation (the function's Errors alarm); the next one starts from the stored checkpoint.
pub async fn serve_log_writer(
    writer: crate::tlog_writer::LogWriter,
    trail: crate::trail::LogGroupTrail,
    lookback_ms: i64,
) -> Result<(), Error> {
    let (writer, trail) = (&writer, &trail);
    run(service_fn(move |_: LambdaEvent<serde_json::Value>| async move {
        let now = now_ms();
        let seals = crate::tlog_writer::seals_in_order(trail, Some(now.saturating_sub(lookback_ms))).await?;
        let since = u64::try_from(now.saturating_sub(lookback_ms) / 1000).unwrap_or(0);
        let r = writer.append(&seals, Some(since), u64::try_from(now / 1000).unwrap_or(0)).await?;
        tracing::info!(from = r.from, to = r.to, created = r.created, cosigned = r.cosigned, "checkpoint written");
        // The checkpoint is written either way; a witness that did not cosign fails the round so
        // that LogWriterErrors pages (an unwitnessed checkpoint is a verify finding).
        if !r.unwitnessed.is_empty() {
            return Err(format!(
                "checkpoint of size {} written without cosignatures of: {}",
                r.to,
                r.unwitnessed.join("; ")
            )
            .into());
        }
        Ok::<serde_json::Value, Error>(serde_json::json!({
            "from": r.from, "to": r.to, "created": r.created, "seals": seals.len(), "cosigned": r.cosigned,
        }))
    }))
    .await
}

/// Serves a C2SP tlog-witness behind a Lambda Function URL (payload format 2.0): the method, the
/// raw path and the body (base64 when `isBase64Encoded`) in, a status, content type and text body out.
pub async fn serve_witness(service: crate::witness::WitnessService) -> Result<(), Error> {
    let service = &service;
    run(service_fn(move |event: LambdaEvent<serde_json::Value>| async move {
        let a = witness_answer(service, &event.payload, u64::try_from(now_ms() / 1000).unwrap_or(0)).await;
        Ok::<serde_json::Value, Error>(serde_json::json!({
            "statusCode": a.status,
            "headers": {"content-type": a.content_type},
            "body": String::from_utf8_lossy(&a.body),
            "isBase64Encoded": false,
        }))
    }))
    .await
}

/// The witness's answer to one Function URL event.
pub async fn witness_answer(
    service: &crate::witness::WitnessService,
    event: &serde_json::Value,
    now: u64,
) -> crate::witness::Answer {
    use base64::Engine;
    let method = event["requestContext"]["http"]["method"].as_str().unwrap_or("");
    let path = event["rawPath"].as_str().unwrap_or("/");
    let body = event["body"].as_str().unwrap_or("");
    let body = if event["isBase64Encoded"].as_bool().unwrap_or(false) {
        match base64::engine::general_purpose::STANDARD.decode(body) {
            Ok(b) => b,
            Err(_) => {
                return crate::witness::Answer {
                    status: 400,
                    content_type: "text/plain; charset=utf-8",
                    body: b"the body is marked base64 and is not\n".to_vec(),
                }
            }
        }
    } else {
        body.as_bytes().to_vec()
    };
    service.respond(method, path, &body, now).await
}

/// The same response as `aws_lambda_events`' type (built through serde: it is non-exhaustive).
pub fn lambda_response(response: &BatchResponse) -> DynamoDbEventResponse {
    serde_json::to_value(response).and_then(serde_json::from_value).unwrap_or_default()
}

/// Prints the EMF documents to stdout, one line each, bypassing the tracing formatter (CloudWatch
/// only extracts metrics from lines that are exactly an EMF document).
pub fn emit_metrics(metrics: &Metrics, namespace: &str, function: &str) {
    let docs = metrics.to_emf(namespace, function, now_ms());
    let mut out = std::io::stdout().lock();
    for d in docs {
        // A closed stdout must not fail the batch: the outputs are already durable.
        let _ = writeln!(out, "{d}");
    }
    let _ = out.flush();
}
