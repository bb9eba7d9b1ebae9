//! `flagtrail gen-events`.

use std::io::Write;
use std::path::Path;

use flagtrail_devtools::sample::Mix;

/// Writes a generated event to `out` or stdout.
pub fn run(count: usize, out: Option<&Path>, small: bool, seed: u64, mix: Mix) -> anyhow::Result<()> {
    let text = serde_json::to_string(&flagtrail_devtools::sample::event_mix(count, small, seed, mix))?;
    match out {
        Some(p) => std::fs::write(p, text)?,
        None => std::io::stdout().write_all(text.as_bytes())?,
    }
    Ok(())
}
