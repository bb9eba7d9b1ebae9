//! Why a stream record could not be decoded.

use thiserror::Error;

/// Why a stream record could not be decoded. Always permanent: retrying cannot fix the input, so
/// such a record is quarantined (kept whole in the trail) instead of blocking the shard.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum DecodeError {
    /// JSON that does not have the shape of a stream record.
    #[error("malformed record at `{path}`: {message}")]
    Malformed {
        /// Where in the record (e.g. `dynamodb.NewImage.rollout.N`).
        path: String,
        /// What the parser said.
        message: String,
    },
    /// A required field is absent.
    #[error("missing required field `{0}`")]
    Missing(&'static str),
    /// `eventName` is not INSERT, MODIFY or REMOVE.
    #[error("unknown eventName `{0}` (expected INSERT, MODIFY or REMOVE)")]
    UnknownEventName(String),
    /// The record is larger than the configured cap.
    #[error("record is {size} bytes, over the {limit}-byte cap")]
    TooLarge {
        /// Size of the raw record.
        size: usize,
        /// The cap.
        limit: usize,
    },
}

impl DecodeError {
    /// Where in the record the problem is (never a value).
    pub fn path(&self) -> &str {
        match self {
            DecodeError::Malformed { path, .. } => path,
            DecodeError::Missing(field) => field,
            DecodeError::UnknownEventName(_) => "eventName",
            DecodeError::TooLarge { .. } => "",
        }
    }

    /// A stable machine-readable kind for the quarantine record.
    pub fn kind(&self) -> &'static str {
        match self {
            DecodeError::Malformed { .. } => "malformed",
            DecodeError::Missing(_) => "missing_field",
            DecodeError::UnknownEventName(_) => "unknown_event_name",
            DecodeError::TooLarge { .. } => "too_large",
        }
    }
}
