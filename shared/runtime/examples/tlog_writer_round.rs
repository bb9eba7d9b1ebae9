//! One round of the transparency log's writer (`LogWriter`, what the log-writer function runs)
//! over a folder store, a witness in the process cosigning it: `make tlog-writer-bench` runs it
//! under GNU time, one process a round, so each round's wall time and peak RSS are its own.
//!
//! `tlog_writer_round DIR FIRST COUNT AT [SINCE]`: the seals FIRST..FIRST+COUNT are the trail the
//! round reads (from SINCE, in seconds, as the function's 14-day lookback does; the whole trail
//! without it), the round runs at AT (seconds). Keys are fixed: a benchmark, not a deployment.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use ed25519_dalek::SigningKey;
use flagtrail_core::integrity::tlog::{NoteVerifyingKey, DEFAULT_ORIGIN};
use flagtrail_runtime::sink::{InProcessWitness, LocalCheckpointSigner};
use flagtrail_runtime::tlog_writer::{CountedStore, DirLogStore, LogWriter};
use flagtrail_runtime::witness::{FileWitnessState, WitnessService};
use sha2::Digest;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, first, count, at, rest @ ..] = args.as_slice() else {
        return Err("usage: tlog_writer_round DIR FIRST COUNT AT [SINCE]".into());
    };
    let (first, count, at): (u64, u64, u64) = (first.parse()?, count.parse()?, at.parse()?);
    let since = rest.first().map(|s| s.parse::<u64>()).transpose()?;
    let dir = std::path::PathBuf::from(dir);
    let (log_key, witness_key) = (SigningKey::from_bytes(&[1; 32]), SigningKey::from_bytes(&[2; 32]));
    let log_public = NoteVerifyingKey::new(DEFAULT_ORIGIN, log_key.verifying_key());
    let state = Box::new(FileWitnessState::new(dir.join("witness.json")));
    let witness = WitnessService::new(Box::new(LocalCheckpointSigner(witness_key)), None, vec![log_public], state);
    let reads = Arc::new(AtomicUsize::new(0));
    let writer = LogWriter {
        store: Box::new(CountedStore::new(DirLogStore(dir.join("log")), reads.clone())),
        signer: Box::new(LocalCheckpointSigner(log_key)),
        witnesses: vec![Box::new(InProcessWitness::new(witness, at))],
        origin: DEFAULT_ORIGIN.into(),
    };
    let seals: Vec<String> =
        (first..first + count).map(|i| hex::encode(sha2::Sha256::digest(format!("seal {i}")))).collect();
    let r = writer.append(&seals, since, at).await?;
    println!(
        "size {} → {}: {} seal(s) read from the trail, {} object(s) read, {} created, cosigned by {}",
        r.from,
        r.to,
        seals.len(),
        reads.load(Ordering::Relaxed),
        r.created,
        r.cosigned
    );
    Ok(())
}
