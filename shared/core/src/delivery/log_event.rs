//! One CloudWatch Logs event as the audit pipeline plans it.

use super::limits::LOG_EVENT_OVERHEAD;

/// One CloudWatch Logs event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEvent {
    /// Event time, ms since the epoch.
    pub timestamp_ms: i64,
    /// The message (one JSON document).
    pub message: String,
}

impl LogEvent {
    /// Bytes it counts against a PutLogEvents call (message + 26).
    pub fn cost(&self) -> usize {
        self.message.len() + LOG_EVENT_OVERHEAD
    }
}
