//! Sink failures, sorted into transient (retry later) and permanent (needs an operator).

use thiserror::Error;

/// A sink failed to make outputs durable.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum SinkError {
    /// Worth retrying: throttling, 5xx, timeouts, connection errors.
    #[error("transient {sink} failure: {message}")]
    Transient {
        /// Which sink.
        sink: &'static str,
        /// What happened.
        message: String,
    },
    /// The service throttled the call, after the SDK's own retries: send less at once.
    #[error("throttled {sink}: {message}")]
    Throttled {
        /// Which sink.
        sink: &'static str,
        /// What happened.
        message: String,
    },
    /// Retrying as-is will not help (missing resource, access denied, bad request); the batch is
    /// still reported failed so nothing is lost while an operator fixes it.
    #[error("permanent {sink} failure: {message}")]
    Permanent {
        /// Which sink.
        sink: &'static str,
        /// What happened.
        message: String,
    },
}

impl SinkError {
    /// True for errors a later retry may clear by itself.
    pub fn is_transient(&self) -> bool {
        matches!(self, SinkError::Transient { .. } | SinkError::Throttled { .. })
    }
}
