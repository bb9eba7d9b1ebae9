//! `flagtrail replay` from the command line: outputs, and bad input that names the file.

use std::process::Command;

fn root() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn a_bad_file_is_named_and_the_others_still_processed() {
    let dir = std::env::temp_dir().join(format!("flagtrail-replay-{}", std::process::id()));
    let input = dir.join("in");
    let out = dir.join("out");
    std::fs::create_dir_all(&input).unwrap();
    std::fs::copy(root().join("events/batch-mixed.json"), input.join("a-good.json")).unwrap();
    std::fs::write(input.join("b-bad.json"), "{\"Records\": [ {\"eventID\": 1}, ").unwrap();
    std::fs::write(input.join("c-not-an-event.json"), "{\"detail-type\": \"Scheduled Event\"}").unwrap();
    let run = Command::new(env!("CARGO_BIN_EXE_flagtrail"))
        .arg("replay")
        .arg(&input)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("b-bad.json") && stderr.contains("EOF while parsing"), "{stderr}");
    assert!(stderr.contains("c-not-an-event.json") && stderr.contains("missing field `Records`"), "{stderr}");
    let audit = std::fs::read_to_string(out.join("audit.jsonl")).unwrap();
    let good: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(input.join("a-good.json")).unwrap()).unwrap();
    assert_eq!(
        audit.lines().filter(|l| !l.contains(r#""recordType":"seal""#)).count(),
        good["Records"].as_array().unwrap().len(),
        "every record of the good file is audited"
    );
    for f in ["alerts.jsonl", "invalidations.jsonl", "metrics.jsonl"] {
        assert!(!std::fs::read_to_string(out.join(f)).unwrap().is_empty(), "{f}");
    }
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(stdout.contains("2 file(s) rejected") && stdout.contains("KILL_SWITCH_ENABLED"), "{stdout}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn gen_events_writes_a_replayable_batch() {
    let file = std::env::temp_dir().join(format!("flagtrail-gen-{}.json", std::process::id()));
    let gen = Command::new(env!("CARGO_BIN_EXE_flagtrail"))
        .args(["gen-events", "--records", "500", "--out"])
        .arg(&file)
        .status()
        .unwrap();
    assert!(gen.success());
    let run = Command::new(env!("CARGO_BIN_EXE_flagtrail")).args(["replay", "--quiet"]).arg(&file).output().unwrap();
    assert!(run.status.success());
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(stdout.contains("500 record(s)") && stdout.contains("quarantined              0"), "{stdout}");
    std::fs::remove_file(file).unwrap();
}
