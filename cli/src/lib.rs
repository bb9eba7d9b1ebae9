//! The `flagtrail` command's building blocks, shared with the end-to-end tests.

pub mod archive;
pub mod completeness;
pub mod demo;
pub mod gen;
pub mod redrive;
pub mod replay;
pub mod report;
pub mod tail;
pub mod transparency;
pub mod verify;
pub mod witness;
