//! Alerts and invalidations to an SNS topic with PublishBatch.

use async_trait::async_trait;
use aws_sdk_sns::types::{MessageAttributeValue, PublishBatchRequestEntry};
use flagtrail_core::notify::Message;

use super::{EntryFailure, SinkError, TopicSink};
use crate::sdk::classify;

/// An SNS topic, published to with PublishBatch; FIFO topics get group and deduplication ids.
pub struct SnsTopic {
    client: aws_sdk_sns::Client,
    topic_arn: String,
    fifo: bool,
    sink: &'static str,
}

impl SnsTopic {
    /// A sink publishing to `topic_arn`; `sink` names it in errors ("alert topic", …).
    pub fn new(client: aws_sdk_sns::Client, topic_arn: String, sink: &'static str) -> Self {
        let fifo = topic_arn.ends_with(".fifo");
        SnsTopic { client, topic_arn, fifo, sink }
    }
}

#[async_trait]
impl TopicSink for SnsTopic {
    async fn publish(&self, messages: &[Message]) -> Result<Vec<EntryFailure>, SinkError> {
        if messages.is_empty() {
            return Ok(Vec::new());
        }
        let entries = messages
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let mut b = PublishBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message(m.body.clone())
                    .set_subject(m.subject.clone());
                for (k, v) in &m.attributes {
                    let attr = MessageAttributeValue::builder()
                        .data_type(m.data_type(k))
                        .string_value(v.clone())
                        .build()
                        .expect("data type is set");
                    b = b.message_attributes(k.clone(), attr);
                }
                if self.fifo {
                    b = b.message_group_id(m.group_id.clone()).message_deduplication_id(m.dedup_id.clone());
                }
                b.build().expect("id and message are set")
            })
            .collect();
        let out = self
            .client
            .publish_batch()
            .topic_arn(&self.topic_arn)
            .set_publish_batch_request_entries(Some(entries))
            .send()
            .await
            .map_err(|e| classify(self.sink, &e))?;
        let failed: Vec<EntryFailure> = out
            .failed()
            .iter()
            .filter_map(|f| {
                tracing::warn!(
                    sink = self.sink,
                    id = f.id(),
                    code = f.code(),
                    sender_fault = f.sender_fault(),
                    "PublishBatch entry failed"
                );
                Some(EntryFailure {
                    index: f.id().parse().ok()?,
                    sender_fault: f.sender_fault(),
                    reason: format!("{}: {}", f.code(), f.message().unwrap_or("")),
                })
            })
            .collect();
        Ok(failed)
    }

    fn fifo(&self) -> bool {
        self.fifo
    }
}
