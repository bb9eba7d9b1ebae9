//! What the transparency log of seals costs at scale (`make tlog-costs`): a log of 1,000,000 seals,
//! then the proof sizes an auditor downloads and the writes one checkpoint makes (tiles, entry
//! bundles, the checkpoint and its archived copy, one signature), for appends of 1 to 256 seals.
//! Prints figures; asserts nothing (the tests in `integrity::tlog` do).

use std::time::Instant;

use ed25519_dalek::SigningKey;
use flagtrail_core::integrity::tlog::{seal_entry, signed_checkpoint, MerkleLog, NoteKey, DEFAULT_ORIGIN, TILE_HEIGHT};
use sha2::{Digest, Sha256};

fn main() {
    let n: u64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(1_000_000);
    let t = Instant::now();
    let mut log = MerkleLog::default();
    for i in 0..n {
        log.append(seal_entry(&hex::encode(Sha256::digest(i.to_be_bytes())))).expect("append");
    }
    println!("log of {n} seals built in {:.1?} (in memory: {} entries)", t.elapsed(), log.size());
    let key = NoteKey::new(DEFAULT_ORIGIN, SigningKey::from_bytes(&[1; 32]));
    let checkpoint = signed_checkpoint(DEFAULT_ORIGIN, &log, &key).expect("checkpoint");
    println!("checkpoint note: {} bytes (before cosignatures; each cosignature line adds ~130)", checkpoint.len());
    let levels = (64 - n.leading_zeros()) as usize;
    println!(
        "inclusion proof of one seal: {levels} hashes = {} bytes; hash tiles an auditor fetches for it: {} (of 8 KiB each at most)",
        levels * 32,
        (levels as f64 / f64::from(TILE_HEIGHT)).ceil()
    );
    for old in [n / 2, n - 256, n - 1] {
        let proof = log.consistency(old).expect("consistency");
        println!("consistency proof {old} -> {n}: {} hashes = {} bytes", proof.len(), proof.len() * 32);
    }
    println!(
        "writes per checkpoint at size ~{n} (S3 PUTs: tiles + bundles, then checkpoint + archived copy; KMS Sign: 1):"
    );
    for k in [1u64, 16, 256] {
        let mut grown = log.clone();
        for i in 0..k {
            grown.append(seal_entry(&format!("extra {i}"))).expect("append");
        }
        let tiles = grown.tiles(n).expect("tiles");
        let bytes: usize = tiles.iter().map(|(_, b)| b.len()).sum();
        println!(
            "  +{k:>3} seal(s): {} tile/bundle files ({bytes} bytes) + 2 checkpoint objects = {} PUTs",
            tiles.len(),
            tiles.len() + 2
        );
    }
}
