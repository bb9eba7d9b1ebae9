//! flagtrail's dev tooling, kept out of the Lambda binaries: the event-source-mapping stand-in,
//! the local stack on the AWS stand-in (moto), sample event generation, and the Ed25519 KMS
//! stand-in for the checkpoint and witness keys (moto refuses `ECC_NIST_EDWARDS25519`).

pub mod failure_store;
pub mod kms;
pub mod mapping;
pub mod sample;
pub mod stack;
