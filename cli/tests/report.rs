//! `flagtrail report` on a replayed trail (every sample event of `events/`, one batch delivered
//! twice): the CSV has exactly one row per change record (seals, quarantine records and the
//! redelivered copies excluded), the HTML's counts match the CSV, and the HTML refers to nothing
//! outside itself. `verify --json` on the same trail.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn flagtrail(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_flagtrail")).args(args).output().unwrap()
}

fn replayed(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("flagtrail-report-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let input = dir.join("in");
    std::fs::create_dir_all(&input).unwrap();
    let events = Path::new(env!("CARGO_MANIFEST_DIR")).join("../events");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&events)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    for f in &files {
        std::fs::copy(f, input.join(f.file_name().unwrap())).unwrap();
    }
    // A redelivery: the first batch again, as Lambda retries it.
    std::fs::copy(&files[0], input.join("zz-redelivered.json")).unwrap();
    let out = dir.join("out");
    let run = flagtrail(&["replay", "--quiet", "--out", out.to_str().unwrap(), input.to_str().unwrap()]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    out
}

fn html_number(html: &str, id: &str) -> u64 {
    let start = html.find(&format!("id=\"{id}\">")).unwrap_or_else(|| panic!("no #{id}")) + id.len() + 6;
    html[start..].split('<').next().unwrap().parse().unwrap()
}

#[test]
fn csv_rows_are_the_change_records_and_the_html_agrees() {
    let trail = replayed("rows");
    let records: Vec<Value> = std::fs::read_to_string(trail.join("audit.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let changes: BTreeSet<&str> =
        records.iter().filter(|r| r["recordType"] == "change").map(|r| r["eventId"].as_str().unwrap()).collect();
    let copies = records.iter().filter(|r| r["recordType"] == "change").count();
    assert!(copies > changes.len(), "the trail holds redelivered copies");
    assert!(
        records.iter().any(|r| r["recordType"] == "quarantine") && records.iter().any(|r| r["recordType"] == "seal")
    );

    let (html_path, csv_path) = (trail.join("r.html"), trail.join("r.csv"));
    let run = flagtrail(&[
        "report",
        trail.to_str().unwrap(),
        "--out",
        html_path.to_str().unwrap(),
        "--csv",
        csv_path.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&run.stdout);
    // The sample events are separate scenarios, not one history: verification finds version gaps
    // between them (and only those), so report exits 1 like verify.
    let verified = flagtrail(&["verify", trail.to_str().unwrap(), "--json"]);
    let verified: Value = serde_json::from_slice(&verified.stdout).unwrap();
    let findings = verified["findings"].as_array().unwrap();
    assert!(!findings.is_empty() && findings.iter().all(|f| f["kind"] == "continuity"), "{verified}");
    assert_eq!(run.status.code(), Some(1), "{stdout}{}", String::from_utf8_lossy(&run.stderr));
    assert!(stdout.contains(&format!("verification: {} finding(s)", findings.len())), "{stdout}");
    let html = std::fs::read_to_string(&html_path).unwrap();
    assert!(html.contains(&format!("{} finding(s)</span>", findings.len())));

    let csv = std::fs::read_to_string(&csv_path).unwrap();
    let mut lines = csv.split("\r\n").filter(|l| !l.is_empty());
    assert!(lines.next().unwrap().starts_with("eventId,changedAt,environment,production,action"));
    // No cell here holds a line break, so a line is a row.
    let rows: Vec<&str> = lines.collect();
    let ids: BTreeSet<&str> = rows.iter().map(|r| r.split(',').next().unwrap()).collect();
    assert_eq!(rows.len(), changes.len(), "one row per change record");
    assert_eq!(ids, changes);
    let production_rows = rows.iter().filter(|r| r.split(',').nth(3) == Some("true")).count() as u64;

    assert_eq!(html_number(&html, "total-changes"), rows.len() as u64);
    assert_eq!(html_number(&html, "production-changes"), production_rows);
    assert_eq!(html_number(&html, "rows-shown"), production_rows, "under --max-rows every production row is listed");
    let unattributed = records
        .iter()
        .filter(|r| r["recordType"] == "change" && r["actor"].is_null())
        .map(|r| r["eventId"].as_str().unwrap())
        .collect::<BTreeSet<_>>()
        .len() as u64;
    assert_eq!(html_number(&html, "unattributed"), unattributed);
    assert_eq!(html_number(&html, "attributed") + unattributed, rows.len() as u64);
    for outside in [" src=\"", " href=\"", "url(", "@import", "<link", "<script", "<iframe"] {
        assert!(!html.contains(outside), "the report refers outside itself: {outside}");
    }

    // A period before every change: nothing in it, and the CSV is the header alone.
    let run = flagtrail(&[
        "report",
        trail.to_str().unwrap(),
        "--until",
        "2000-01-01T00:00:00Z",
        "--out",
        html_path.to_str().unwrap(),
        "--csv",
        csv_path.to_str().unwrap(),
    ]);
    assert_eq!(run.status.code(), Some(1), "the same trail, the same verification");
    assert_eq!(std::fs::read_to_string(&csv_path).unwrap().matches("\r\n").count(), 1);
    assert_eq!(html_number(&std::fs::read_to_string(&html_path).unwrap(), "total-changes"), 0);
}

#[test]
fn verify_json_is_one_document_with_each_finding_named() {
    let trail = replayed("json");
    let run = flagtrail(&["verify", trail.to_str().unwrap(), "--json"]);
    let v: Value = serde_json::from_slice(&run.stdout).unwrap();
    // Separate sample scenarios: version gaps between them, nothing about seals.
    assert_eq!((run.status.code(), &v["intact"]), (Some(1), &Value::Bool(false)));
    assert!(v["findings"].as_array().unwrap().iter().all(|f| f["kind"] == "continuity"), "{v}");
    assert_eq!(v["signaturesChecked"], false);
    assert!(v["records"].as_u64().unwrap() > 0 && v["duplicates"].as_u64().unwrap() > 0);
    // An edited record: exit 1 and a finding of kind `edited`.
    let path = trail.join("audit.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    let first_change = text.lines().position(|l| l.contains(r#""recordType":"change""#)).unwrap();
    let edited: Vec<String> = text
        .lines()
        .enumerate()
        .map(|(i, l)| if i == first_change { l.replacen("\"eventName\"", "\"eventName \"", 1) } else { l.to_owned() })
        .collect();
    std::fs::write(&path, edited.join("\n") + "\n").unwrap();
    let run = flagtrail(&["verify", trail.to_str().unwrap(), "--json"]);
    assert_eq!(run.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(v["intact"], false);
    assert!(v["findings"].as_array().unwrap().iter().any(|f| f["kind"] == "edited"), "{v}");
}

#[test]
fn version_names_the_commit() {
    let run = flagtrail(&["--version"]);
    let out = String::from_utf8_lossy(&run.stdout);
    assert!(out.starts_with(&format!("flagtrail {} (commit ", env!("CARGO_PKG_VERSION"))), "{out}");
}
