//! flagtrail's dev tooling, kept out of the Lambda binaries: the event-source-mapping stand-in,
//! the local stack on the AWS stand-in (moto), and sample event generation.

pub mod failure_store;
pub mod mapping;
pub mod sample;
pub mod stack;
