//! Tamper evidence: seals over the audit records a batch made durable, and the verification of a
//! trail against its seals (see docs/integrity.md for the threat model).
//!
//! - [`seal`]: what a seal states (each covered record's SHA-256 over its exact bytes, in order)
//!   and how it is stored (one or more `recordType: "seal"` parts in the audit log group);
//! - [`verify`]: which records are edited, missing, unsealed; which seals are altered, incomplete
//!   or badly signed; and per-item version continuity;
//! - [`keys`]: ECDSA P-256 public keys (a PEM file, or KMS `GetPublicKey`'s DER) checking seals;
//! - [`tlog`], [`witness`]: the transparency log of seals and the C2SP tlog-witness protocol;
//! - [`archive`]: the messages of an archive object as Firehose delivers CloudWatch Logs
//!   subscription data.

pub mod archive;
pub mod keys;
pub mod seal;
pub mod tlog;
pub mod verify;
pub mod witness;

pub use archive::{archive_events, archive_messages, archive_records, ArchiveError, RecordTooLarge};
pub use keys::{KeyError, SealKey, SealKeys};
pub use seal::{record_id, Seal, SealEntry, SealPart, SealSignature, SIGNING_ALGORITHM};
pub use verify::{verify, IntegrityFinding, Verifier, VerifyReport};
