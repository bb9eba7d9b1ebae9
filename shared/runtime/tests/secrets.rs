//! Nothing secret reaches the function's own (tracing) logs, whatever the input.

use crate::support;

use std::io::Write;
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn attribute_values_never_reach_tracing_logs() {
    let buf = Buffer::default();
    let writer = buf.clone();
    let subscriber =
        tracing_subscriber::fmt().with_max_level(tracing::Level::TRACE).with_writer(move || writer.clone()).finish();
    let secret = "hunter2-s3cr3t";
    let event = serde_json::json!({ "Records": [
        // Undecodable: the parser's message quotes the bad value.
        { "eventID": "a", "eventName": "INSERT", "dynamodb": { "Keys": { "PK": { "S": "X" }, "SK": { "S": "Y" } },
          "NewImage": { "apiKey": { "BOOL": secret } }, "SequenceNumber": "1" } },
        { "eventID": "b", "eventName": "INSERT", "dynamodb": { "Keys": { "PK": { "S": "X" }, "SK": { "S": "Y" } },
          "NewImage": { "apiKey": { "N": secret } }, "SequenceNumber": "2" } },
        // Decodable, with the value redacted by configuration.
        { "eventID": "c", "eventName": "INSERT", "dynamodb": { "Keys": { "PK": { "S": "X" }, "SK": { "S": "Y" } },
          "NewImage": { "PK": { "S": "X" }, "SK": { "S": "Y" }, "apiKey": { "S": secret } }, "SequenceNumber": "3" } },
    ]})
    .to_string();
    let config = flagtrail_core::CoreConfig { redacted_attributes: vec!["apiKey".into()], ..Default::default() };
    let r = tracing::subscriber::with_default(subscriber, || support::run_with(&event, config));
    let logs = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("quarantining undecodable stream record"), "the quarantines are logged: {logs}");
    assert!(logs.contains("NewImage.apiKey"), "with where the problem is: {logs}");
    assert!(!logs.contains(secret), "no value in the logs: {logs}");
    // The redacted record hides it in the trail too; quarantined raw records keep it (the trail is
    // the protected store, and nothing may be lost).
    assert!(!r.audit[2].contains(secret));
}
