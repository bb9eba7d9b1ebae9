//! `flagtrail verify` on a trail written by `flagtrail replay --out --seal-key`: the untouched trail
//! verifies; every tampering exits 1 and names the record (or seal) it touched.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use p256::ecdsa::SigningKey;
use p256::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use serde_json::{json, Value};

fn image(flag: &str, version: u64, enabled: bool) -> Value {
    json!({
        "PK": {"S": format!("FLAG#prod#{flag}")}, "SK": {"S": "METADATA"}, "flagKey": {"S": flag},
        "enabled": {"BOOL": enabled}, "version": {"N": version.to_string()},
        "updatedBy": {"S": format!("writer{version}@example.com")}, "requestId": {"S": format!("req-{flag}-{version}")},
        "updatedAt": {"S": format!("2026-11-30T10:0{version}:00Z")}
    })
}

/// Batch `version` (1..=3): every flag goes to `version` (INSERT at 1, MODIFY after).
fn batch(version: u64, flags: &[&str]) -> Value {
    let records: Vec<Value> = flags
        .iter()
        .enumerate()
        .map(|(i, flag)| {
            let seq = format!("{:024}", version * 100 + i as u64);
            let mut ddb = json!({
                "ApproximateCreationDateTime": 1795392300 + version * 60,
                "Keys": {"PK": {"S": format!("FLAG#prod#{flag}")}, "SK": {"S": "METADATA"}},
                "SequenceNumber": seq, "SizeBytes": 200, "StreamViewType": "NEW_AND_OLD_IMAGES",
                "NewImage": image(flag, version, version % 2 == 1),
            });
            if version > 1 {
                ddb["OldImage"] = image(flag, version - 1, version.is_multiple_of(2));
            }
            json!({
                "eventID": format!("ev-{version}-{flag}"), "eventName": if version == 1 { "INSERT" } else { "MODIFY" },
                "eventVersion": "1.1", "eventSource": "aws:dynamodb", "awsRegion": "eu-west-1",
                "eventSourceARN": "arn:aws:dynamodb:eu-west-1:111122223333:table/flags/stream/2026-11-30T00:00:00.000",
                "dynamodb": ddb
            })
        })
        .collect();
    json!({ "Records": records })
}

fn flagtrail(args: &[&str], paths: &[&Path]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_flagtrail")).args(args).args(paths).output().unwrap()
}

/// A sealed trail of three batches in a fresh folder, and the public key PEM.
fn sealed_trail(name: &str) -> (PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(format!("flagtrail-verify-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let input = dir.join("in");
    std::fs::create_dir_all(&input).unwrap();
    for v in 1..=3 {
        std::fs::write(input.join(format!("batch-{v}.json")), batch(v, &["alpha", "beta"]).to_string()).unwrap();
    }
    let key = SigningKey::from_bytes(&[42u8; 32].into()).unwrap();
    let private = dir.join("seal.pem");
    let public = dir.join("seal.pub.pem");
    std::fs::write(&private, key.to_pkcs8_pem(LineEnding::LF).unwrap().as_bytes()).unwrap();
    std::fs::write(&public, key.verifying_key().to_public_key_pem(LineEnding::LF).unwrap()).unwrap();
    let out = dir.join("out");
    let run = flagtrail(&["replay", "--quiet", "--out"], &[&out, Path::new("--seal-key"), &private, &input]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    (out, public)
}

fn verify(trail: &Path, public: &Path) -> (Option<i32>, String) {
    let run = flagtrail(&["verify"], &[trail, Path::new("--public-key"), public]);
    (run.status.code(), String::from_utf8_lossy(&run.stdout).into_owned())
}

fn lines(trail: &Path) -> Vec<String> {
    std::fs::read_to_string(trail.join("audit.jsonl")).unwrap().lines().map(str::to_owned).collect()
}

fn write(trail: &Path, lines: &[String]) {
    std::fs::write(trail.join("audit.jsonl"), lines.join("\n") + "\n").unwrap();
}

fn line_of(lines: &[String], needle: &str) -> usize {
    lines.iter().position(|l| l.contains(needle)).unwrap_or_else(|| panic!("no line has {needle}"))
}

fn seals(lines: &[String]) -> Vec<usize> {
    (0..lines.len()).filter(|&i| lines[i].contains(r#""recordType":"seal""#)).collect()
}

#[test]
fn the_untouched_trail_verifies_and_every_tampering_is_named() {
    let (trail, public) = sealed_trail("tamper");
    let original = lines(&trail);
    assert_eq!(seals(&original).len(), 3, "one seal per batch");
    let (code, out) = verify(&trail, &public);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("6 record(s)") && out.contains("3 signature(s) verified") && out.contains("0 finding(s)"),
        "{out}"
    );

    let tampered = |edit: &dyn Fn(&mut Vec<String>)| {
        let mut l = original.clone();
        edit(&mut l);
        write(&trail, &l);
        let (code, out) = verify(&trail, &public);
        assert_eq!(code, Some(1), "{out}");
        out
    };

    // One field of one record.
    let out = tampered(&|l| {
        let i = line_of(l, "ev-2-alpha");
        l[i] = l[i].replace("writer2@example.com", "someone-else@example.com");
    });
    assert!(out.contains("edited: record ev-2-alpha"), "{out}");

    // One record deleted.
    let out = tampered(&|l| {
        l.remove(line_of(l, "ev-2-beta"));
    });
    assert!(out.contains("missing: record ev-2-beta"), "{out}");

    // A forged record inserted.
    let out = tampered(&|l| {
        let forged = l[line_of(l, "ev-3-alpha")].replace("ev-3-alpha", "ev-4-alpha").replace("writer3", "mallory");
        l.push(forged);
    });
    assert!(out.contains("unsealed: record ev-4-alpha"), "{out}");

    // A seal deleted: the records it covered are unsealed.
    let out = tampered(&|l| {
        let s = seals(l)[0];
        l.remove(s);
    });
    assert!(out.contains("unsealed: record ev-1-alpha") && out.contains("unsealed: record ev-1-beta"), "{out}");

    // A seal's signature swapped for another seal's.
    let out = tampered(&|l| {
        let s = seals(l);
        let sig = |line: &str| {
            serde_json::from_str::<Value>(line).unwrap()["signature"]["value"].as_str().unwrap().to_owned()
        };
        let (a, b) = (sig(&l[s[0]]), sig(&l[s[1]]));
        l[s[1]] = l[s[1]].replace(&b, &a);
    });
    assert!(out.contains("bad signature: seal") && out.contains("unsealed: record ev-2-alpha"), "{out}");

    // A whole batch removed with its seal: the versions around it do not meet.
    let out = tampered(&|l| {
        let seal_line = l[seals(l)[1]].clone();
        l.retain(|x| !x.contains("\"eventId\":\"ev-2-") && *x != seal_line);
    });
    assert!(
        out.contains("version gap: PK=FLAG#prod#alpha SK=METADATA: v1 → v3 (record ev-3-alpha)")
            && out.contains("version gap: PK=FLAG#prod#beta SK=METADATA: v1 → v3"),
        "{out}"
    );

    // Another key: every seal's signature is refused.
    let other = trail.join("other.pub.pem");
    let key = SigningKey::from_bytes(&[7u8; 32].into()).unwrap();
    std::fs::write(&other, key.verifying_key().to_public_key_pem(LineEnding::LF).unwrap()).unwrap();
    write(&trail, &original);
    let (code, out) = verify(&trail, &other);
    assert_eq!(code, Some(1));
    assert_eq!(out.matches("bad signature: seal").count(), 3, "{out}");
    std::fs::remove_dir_all(trail.parent().unwrap()).unwrap();
}

/// The transparency log's local contract (docs/integrity.md): Ed25519 PEM keys for the log and the
/// witness, a folder replayed from `versions` batches with the log written beside the trail.
struct Logged {
    dir: PathBuf,
    keys: PathBuf,
}

fn ed25519_pem(dir: &Path, name: &str, seed: u8) {
    use ed25519_dalek::pkcs8::{EncodePrivateKey, EncodePublicKey};
    let key = ed25519_dalek::SigningKey::from_bytes(&[seed; 32]);
    std::fs::write(dir.join(format!("{name}.pem")), key.to_pkcs8_pem(LineEnding::LF).unwrap().as_bytes()).unwrap();
    std::fs::write(dir.join(format!("{name}.pub.pem")), key.verifying_key().to_public_key_pem(LineEnding::LF).unwrap())
        .unwrap();
}

/// Replays batches 1..=`versions` of `flags` into `DIR/<name>`, sealed with the shared seal key,
/// the log signed with the log key and cosigned by witness `witness_seed`.
fn logged(name: &str, versions: u64, flags: &[&str], witness_seed: u8) -> Logged {
    let keys = std::env::temp_dir().join(format!("flagtrail-tlog-keys-{}", std::process::id()));
    std::fs::create_dir_all(&keys).unwrap();
    let seal = SigningKey::from_bytes(&[42u8; 32].into()).unwrap();
    std::fs::write(keys.join("seal.pem"), seal.to_pkcs8_pem(LineEnding::LF).unwrap().as_bytes()).unwrap();
    std::fs::write(keys.join("seal.pub.pem"), seal.verifying_key().to_public_key_pem(LineEnding::LF).unwrap()).unwrap();
    ed25519_pem(&keys, "log", 11);
    ed25519_pem(&keys, "witness", 21);
    ed25519_pem(&keys, &format!("witness-{witness_seed}"), witness_seed);
    let dir = keys.join(name);
    let _ = std::fs::remove_dir_all(&dir);
    let input = dir.join("in");
    std::fs::create_dir_all(&input).unwrap();
    for v in 1..=versions {
        std::fs::write(input.join(format!("batch-{v}.json")), batch(v, flags).to_string()).unwrap();
    }
    let out = dir.join("out");
    let args: Vec<PathBuf> = vec![
        out.clone(),
        "--seal-key".into(),
        keys.join("seal.pem"),
        "--log-key".into(),
        keys.join("log.pem"),
        "--witness-key".into(),
        keys.join(format!("witness-{witness_seed}.pem")),
        input,
    ];
    let args: Vec<&Path> = args.iter().map(PathBuf::as_path).collect();
    let run = flagtrail(&["replay", "--quiet", "--out"], &args);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    assert!(String::from_utf8_lossy(&run.stdout).contains(&format!("transparency log: {versions} seal(s)")));
    Logged { dir: out, keys }
}

impl Logged {
    /// `flagtrail verify` with the seal key, the log key and the trusted witness (seed 21).
    fn verify(&self, extra: &[&Path]) -> (Option<i32>, String) {
        let args: Vec<PathBuf> = vec![
            self.dir.clone(),
            "--public-key".into(),
            self.keys.join("seal.pub.pem"),
            "--log-public-key".into(),
            self.keys.join("log.pub.pem"),
            "--witness-public-key".into(),
            self.keys.join("witness.pub.pem"),
        ];
        let args: Vec<&Path> = args.iter().map(PathBuf::as_path).collect();
        let run = flagtrail(&["verify"], &[&args[..], extra].concat());
        (run.status.code(), String::from_utf8_lossy(&run.stdout).into_owned())
    }
}

#[test]
fn the_transparency_log_names_a_cut_tail_another_history_a_foreign_witness_and_a_rollback() {
    let flags = ["alpha", "beta"];
    let trail = logged("untouched", 3, &flags, 21);
    let (code, out) = trail.verify(&[]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("3 seal(s), 3 signature(s) verified") && out.contains("0 finding(s)"), "{out}");
    let log = trail.dir.join("log");
    assert!(
        log.join("checkpoint").is_file()
            && log.join("tile/entries/000.p/3").is_file()
            && log.join("tile/0/000.p/3").is_file()
    );
    assert_eq!(std::fs::read_dir(log.join("checkpoints")).unwrap().count(), 3, "a checkpoint per batch, archived");
    // Cosigned just now, within a day's cadence (the gap findings are tested on fixed times in the core).
    let (code, out) = trail.verify(&[Path::new("--witness-max-gap"), Path::new("86400")]);
    assert_eq!(code, Some(0), "{out}");

    // The last batch and its seal removed from audit.jsonl: the seals still verify, the log does not.
    let original = lines(&trail.dir);
    // (The last batch's seal names its records' ids, so one filter takes both.)
    let cut: Vec<String> = original.iter().filter(|l| !l.contains("ev-3-")).cloned().collect();
    assert_eq!((seals(&original).len(), seals(&cut).len()), (3, 2));
    write(&trail.dir, &cut);
    let (code, out) = trail.verify(&[]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("truncated tail: the log's last 1 leaf/leaves from leaf 2"), "{out}");
    assert!(
        !out.contains("edited") && !out.contains("missing:") && !out.contains("unsealed"),
        "the seals alone see nothing: {out}"
    );
    write(&trail.dir, &original);

    // audit.jsonl replaced by another history sealed with the same seal key.
    let other = logged("other", 3, &["gamma", "delta"], 21);
    write(&trail.dir, &lines(&other.dir));
    let (code, out) = trail.verify(&[]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("forked history: seal") && out.contains("truncated tail"), "{out}");
    write(&trail.dir, &original);

    // The whole folder rebuilt by someone with the seal and log keys, cosigned by another witness.
    let rebuilt = logged("rebuilt", 3, &flags, 99);
    let (code, out) = rebuilt.verify(&[]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("unwitnessed checkpoint: size 3 has 0 trusted cosignature(s), 1 required"), "{out}");

    // An older, shorter history than the checkpoint the auditor kept from the witness.
    let older = logged("older", 2, &flags, 21);
    let held = log.join("checkpoint");
    let (code, out) = older.verify(&[Path::new("--witness-checkpoint"), &held]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("log behind a checkpoint the auditor holds: it has 2 leaves, the held checkpoint 3"), "{out}");
    // The held note as `aws dynamodb get-item … --output text` prints it, one newline more: the same.
    let copied = older.dir.join("held.note");
    std::fs::write(&copied, [std::fs::read(&held).unwrap(), b"\n".to_vec()].concat()).unwrap();
    let (code, out) = older.verify(&[Path::new("--witness-checkpoint"), &copied]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("log behind a checkpoint the auditor holds"), "{out}");
    // The same older folder without the held checkpoint verifies: only the auditor's copy tells.
    assert_eq!(older.verify(&[]).0, Some(0));
}
