//! The Ed25519 KMS stand-in as a process, for the smoke run of the packaged `log-writer` and
//! `witness` bootstraps (scripts/smoke-bootstraps.sh): moto 5.2.5 refuses `ECC_NIST_EDWARDS25519`
//! keys. `kms-ed25519-stand-in --seed N` serves GetPublicKey and Sign for the key whose 32 secret
//! bytes are all N, prints `kms listening on http://ADDR` and runs until killed. A fixed key:
//! dev tooling, never a deployment.

use clap::Parser;

/// The stand-in's one option.
#[derive(Parser)]
struct Args {
    /// The byte the key's 32 secret bytes repeat.
    #[arg(long)]
    seed: u8,
}

fn main() {
    let args = Args::parse();
    let kms = flagtrail_devtools::kms::KmsEd25519::start(ed25519_dalek::SigningKey::from_bytes(&[args.seed; 32]));
    println!("kms listening on {}", kms.endpoint);
    loop {
        std::thread::park();
    }
}
