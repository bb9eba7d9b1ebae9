//! flagtrail end to end against the local AWS stand-in (moto), one binary: run one file's tests
//! with `cargo test -p flagtrail-e2e --test end_to_end <file>::`.
mod completeness;
mod contract;
mod e2e;
mod faults;
mod integrity;
mod marks;
mod redrive;
mod runtime_api;
