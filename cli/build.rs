//! Names the commit `flagtrail --version` was built from: `FLAGTRAIL_COMMIT` from the environment
//! (release builds set it), else `git rev-parse`, else `unknown` (a source tarball).

fn main() {
    println!("cargo:rerun-if-env-changed=FLAGTRAIL_COMMIT");
    println!("cargo:rerun-if-changed=../.git/HEAD");
    println!("cargo:rerun-if-changed=../.git/refs/heads");
    let commit = std::env::var("FLAGTRAIL_COMMIT").ok().filter(|c| !c.is_empty()).or_else(|| {
        let out = std::process::Command::new("git").args(["rev-parse", "--short=12", "HEAD"]).output().ok()?;
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    });
    println!("cargo:rustc-env=FLAGTRAIL_COMMIT={}", commit.unwrap_or_else(|| "unknown".into()));
}
