//! Part records: an audit record over the CloudWatch Logs event limit, split into linked parts.

use sha2::{Digest, Sha256};

use crate::delivery::LOG_EVENT_BYTES;

/// Splits a message over the event limit into linked parts (never dropped, never cut silently):
/// each part is a JSON document carrying the eventId, part number, count, the whole message's
/// SHA-256 and a chunk of its text; concatenating the chunks in order restores it.
pub fn split_oversized(message: String, event_id: &str, sequence_number: Option<&str>) -> Vec<String> {
    if message.len() <= LOG_EVENT_BYTES {
        return vec![message];
    }
    // JSON escaping can grow a chunk up to 6× (\u00XX); 160 KB of text stays under 1 MB escaped.
    const CHUNK: usize = 160 * 1024;
    let sha = hex::encode(Sha256::digest(message.as_bytes()));
    let mut chunks = Vec::new();
    let mut rest = message.as_str();
    while !rest.is_empty() {
        let mut end = CHUNK.min(rest.len());
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        chunks.push(&rest[..end]);
        rest = &rest[end..];
    }
    let parts = chunks.len();
    chunks
        .iter()
        .enumerate()
        .map(|(i, chunk)| {
            serde_json::json!({
                "schemaVersion": super::record::SCHEMA_VERSION,
                "recordType": "part",
                "eventId": event_id,
                "sequenceNumber": sequence_number,
                "part": i + 1,
                "parts": parts,
                "sha256": sha,
                "chunk": chunk,
            })
            .to_string()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversized_messages_split_into_linked_parts() {
        let big = format!("{{\"eventId\":\"e1\",\"x\":\"{}\"}}", "é\n".repeat(700_000));
        let parts = split_oversized(big.clone(), "e1", Some("42"));
        assert!(parts.len() > 1);
        let mut joined = String::new();
        for (i, p) in parts.iter().enumerate() {
            assert!(p.len() <= LOG_EVENT_BYTES);
            let v: serde_json::Value = serde_json::from_str(p).unwrap();
            assert_eq!(v["part"], i + 1);
            assert_eq!(v["parts"], parts.len());
            assert_eq!(v["eventId"], "e1");
            joined.push_str(v["chunk"].as_str().unwrap());
        }
        assert_eq!(joined, big);
        assert_eq!(split_oversized("{}".into(), "e", None), vec!["{}".to_string()]);
    }
}
