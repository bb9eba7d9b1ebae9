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
