//! Seals end to end on moto: changes through the table and stream, the audit pipeline writing
//! records and seals signed by a KMS key (moto's KMS signs with a real P-256 key), the log group
//! subscribed to Firehose delivering gzip'd subscription data into the archive bucket (moto serves
//! that whole path); `flagtrail verify` checks the log group and the archive with the key's public
//! half from GetPublicKey. Then a record edited in the archive (a new object version) and a log
//! stream deleted: the first is named, the second leaves the archive whole.
//!
//! Not served by moto, so not tested here: Object Lock's refusal to delete or overwrite a locked
//! version (moto stores the lock settings without enforcing compliance mode against the root
//! account), and IAM (the stack's grants are evaluated in infra/cdk/test/iam.test.ts).

use std::io::{Read, Write};
use std::time::Duration;

use flagtrail_devtools::mapping::{drain, MappingOptions};
use flagtrail_e2e::{flagtrail, prod_flag, stack, Moto};
use flagtrail_runtime::build::audit_pipeline;
use flagtrail_runtime::AuditConfig;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kms_signed_seals_verify_in_the_log_group_and_the_archive() {
    let moto = Moto::start();
    let sdk = moto.sdk().await;
    let stack = stack(&sdk).await;
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    let streams = aws_sdk_dynamodbstreams::Client::new(&sdk);
    let mut config = AuditConfig::new(&stack.log_group);
    config.seal_key_id = Some(stack.seal_key_id.clone());
    let audit = audit_pipeline(&sdk, &config);
    let opts = MappingOptions {
        stop_after_idle_polls: Some(2),
        poll_interval: Duration::from_millis(50),
        batch_size: 3,
        ..Default::default()
    };
    for (key, who) in [("a", "alice"), ("b", "bob"), ("c", "carol")] {
        for v in 1..=3 {
            let item = prod_flag(key, v * 10, who, &format!("r-{key}{v}"), v);
            ddb.put_item().table_name(&stack.table).set_item(Some(item)).send().await.expect("PutItem");
        }
    }
    drain(&streams, &stack.stream_arn, &[&audit], &opts).await.unwrap();

    let key = ["--kms-key-id", stack.seal_key_id.as_str()];
    let (code, out) = flagtrail(&[&["verify", "--log-group", &stack.log_group][..], &key].concat(), &moto.endpoint);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("9 record(s) (0 duplicate(s))") && out.contains("0 finding(s)"), "{out}");
    let seals = signed_seals(&out);
    assert!(seals >= 3, "one seal per batch of at most 3 records: {out}");
    // A time window on the log group (seals are dated like their newest record, so they fall in it).
    let since = ["--since", "2000-01-01T00:00:00Z"];
    let (code, out) =
        flagtrail(&[&["verify", "--log-group", &stack.log_group][..], &since, &key].concat(), &moto.endpoint);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("9 record(s)"), "{out}");
    let (code, out) = flagtrail(&[&["verify", "--archive", &stack.archive][..], &key].concat(), &moto.endpoint);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("9 record(s) (0 duplicate(s))") && signed_seals(&out) == seals, "{out}");

    // One record edited in the archive: a new version of its object on top of Firehose's.
    let s3 = aws_sdk_s3::Client::new(&sdk);
    let (bucket, prefix) = stack.archive.trim_start_matches("s3://").split_once('/').unwrap();
    let listed = s3.list_objects_v2().bucket(bucket).prefix(prefix).send().await.unwrap();
    let mut target = None;
    for object in listed.contents() {
        let object_key = object.key().unwrap().to_owned();
        let body = s3.get_object().bucket(bucket).key(&object_key).send().await.unwrap().body.collect().await.unwrap();
        let mut text = String::new();
        flate2::read::MultiGzDecoder::new(&body.into_bytes()[..]).read_to_string(&mut text).unwrap();
        let data: serde_json::Value = serde_json::from_str(&text).unwrap();
        if !data["logEvents"][0]["message"].as_str().unwrap().contains(r#""recordType":"seal""#) {
            target = Some((object_key, data));
            break;
        }
    }
    let (object_key, mut data) = target.expect("an archive object with audit records");
    let first = data["logEvents"][0]["message"].as_str().unwrap().to_owned();
    let edited_id = serde_json::from_str::<serde_json::Value>(&first).unwrap()["eventId"].as_str().unwrap().to_owned();
    data["logEvents"][0]["message"] = first.replacen("\"rolloutPercentage\"", "\"rolloutPercentage \"", 1).into();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(data.to_string().as_bytes()).unwrap();
    s3.put_object().bucket(bucket).key(&object_key).body(gz.finish().unwrap().into()).send().await.unwrap();
    let (code, out) = flagtrail(&[&["verify", "--archive", &stack.archive][..], &key].concat(), &moto.endpoint);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&format!("edited: record {edited_id}")), "{out}");

    // The operator deletes the day's log stream: records and seals leave the group together, and
    // the archive still holds them (Firehose's versions are there, sealed).
    let logs = aws_sdk_cloudwatchlogs::Client::new(&sdk);
    let described = logs.describe_log_streams().log_group_name(&stack.log_group).send().await.unwrap();
    for st in described.log_streams() {
        let name = st.log_stream_name().unwrap();
        logs.delete_log_stream().log_group_name(&stack.log_group).log_stream_name(name).send().await.unwrap();
    }
    let (_, out) = flagtrail(&[&["verify", "--log-group", &stack.log_group][..], &key].concat(), &moto.endpoint);
    assert!(out.contains("0 record(s)"), "{out}");
    s3.delete_object().bucket(bucket).key(&object_key).send().await.unwrap(); // a delete marker only
    let (code, out) = flagtrail(&[&["verify", "--archive", &stack.archive][..], &key].concat(), &moto.endpoint);
    assert_eq!(code, 1, "the edited version is still reported: {out}");
    assert!(out.contains(&format!("edited: record {edited_id}")) && !out.contains("missing:"), "{out}");
    assert_eq!(signed_seals(&out), seals, "{out}");
}

/// With `dataProtection` the stack has no subscription filter (CloudWatch Logs masks subscription
/// data, so the archive would keep masked bytes the seals do not cover); the audit function writes
/// the archive itself through Firehose, here through the strict stand-in that refuses what
/// Firehose refuses. The archive then verifies with the exact sealed bytes, e-mail actors included.
/// moto has no data-protection policies, so the group is not masked here; what masking would do
/// to a sealed record is shown in `masked_records_fail_their_seal` (flagtrail-core).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_data_protection_the_function_archives_the_exact_sealed_bytes() {
    let moto = Moto::start();
    let sdk = moto.sdk().await;
    let args = flagtrail_devtools::stack::StackArgs {
        table: "feature-flags-dp".into(),
        log_group: "/flagtrail/audit".into(),
        prefix: "flagtrail".into(),
        env_file: None,
        data_protection: true,
    };
    let stack = flagtrail_devtools::stack::create(&sdk, &args).await.expect("local stack");
    let logs = aws_sdk_cloudwatchlogs::Client::new(&sdk);
    let filters = logs.describe_subscription_filters().log_group_name(&stack.log_group).send().await.unwrap();
    assert!(filters.subscription_filters().is_empty(), "no subscription may carry masked bytes to the archive");
    let strict = flagtrail_e2e::strict::StrictProxy::start(&moto.endpoint, None);
    let strict_sdk = flagtrail_runtime::SdkSettings::local(&strict.endpoint).load().await;
    let mut config = AuditConfig::new(&stack.log_group);
    config.seal_key_id = Some(stack.seal_key_id.clone());
    config.archive_stream = stack.archive_stream.clone();
    assert!(config.archive_stream.is_some());
    let audit = audit_pipeline(&strict_sdk, &config);
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    for (key, who) in [("a", "alice@example.com"), ("b", "bob@example.org")] {
        for v in 1..=4 {
            let item = prod_flag(key, v * 10, who, &format!("r-{key}{v}"), v);
            ddb.put_item().table_name(&stack.table).set_item(Some(item)).send().await.expect("PutItem");
        }
    }
    let opts = MappingOptions {
        stop_after_idle_polls: Some(2),
        poll_interval: Duration::from_millis(50),
        batch_size: 3,
        ..Default::default()
    };
    let streams = aws_sdk_dynamodbstreams::Client::new(&sdk);
    drain(&streams, &stack.stream_arn, &[&audit], &opts).await.unwrap();
    assert!(strict.refused().is_empty(), "{:?}", strict.refused());

    let key = ["--kms-key-id", stack.seal_key_id.as_str()];
    let (code, out) = flagtrail(&[&["verify", "--archive", &stack.archive][..], &key].concat(), &moto.endpoint);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("8 record(s) (0 duplicate(s))") && out.contains("0 finding(s)"), "{out}");
    assert!(signed_seals(&out) >= 3, "{out}");
    let (code, out) = flagtrail(&[&["verify", "--log-group", &stack.log_group][..], &key].concat(), &moto.endpoint);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("8 record(s) (0 duplicate(s))"), "{out}");
}

/// The strict stand-in refuses PutRecordBatch calls Firehose refuses, which moto accepts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_strict_stand_in_refuses_what_firehose_refuses() {
    use aws_sdk_firehose::primitives::Blob;
    use aws_sdk_firehose::types::Record;
    let moto = Moto::start();
    let sdk = moto.sdk().await;
    let _stack = stack(&sdk).await; // creates the delivery stream `flagtrail-archive`
    let stream = "flagtrail-archive".to_owned();
    let strict = flagtrail_e2e::strict::StrictProxy::start(&moto.endpoint, None);
    let strict_sdk = flagtrail_runtime::SdkSettings::local(&strict.endpoint).load().await;
    let record = |n: usize| Record::builder().data(Blob::new(vec![b'x'; n])).build().unwrap();
    let cases: [(&str, Vec<Record>, bool); 4] = [
        ("500 small records", (0..500).map(|_| record(10)).collect(), true),
        ("501 records", (0..501).map(|_| record(10)).collect(), false),
        ("a record over 1,000 KB", vec![record(1_000_001)], false),
        ("five records of 1,000 KB", (0..5).map(|_| record(1_000_000)).collect(), false),
    ];
    for (case, records, firehose_accepts) in cases {
        let through = |sdk| {
            let records = records.clone();
            let stream = stream.clone();
            async move {
                aws_sdk_firehose::Client::new(sdk)
                    .put_record_batch()
                    .delivery_stream_name(stream)
                    .set_records(Some(records))
                    .send()
                    .await
            }
        };
        let strict_result = through(&strict_sdk).await;
        assert_eq!(strict_result.is_ok(), firehose_accepts, "{case}: {strict_result:?}");
        if !firehose_accepts {
            let moto_result = through(&sdk).await;
            println!("{case}: moto {}", if moto_result.is_ok() { "accepts" } else { "refuses" });
        }
    }
    assert_eq!(strict.refused().len(), 3, "{:?}", strict.refused());
}

/// From verify's summary `…, N seal(s), N signature(s) verified; …`: N, when both agree.
fn signed_seals(out: &str) -> usize {
    let number_before = |what: &str| -> usize {
        let head = &out[..out.find(what).unwrap_or_else(|| panic!("no `{what}` in {out}"))];
        head.rsplit(' ').next().unwrap().parse().unwrap()
    };
    let (seals, signed) = (number_before(" seal(s)"), number_before(" signature(s) verified"));
    assert_eq!(seals, signed, "every seal signed: {out}");
    seals
}

/// The checkpoint key in KMS (`ECC_NIST_EDWARDS25519`), which moto 5.2.5 refuses to create: the
/// signer's requests go to a stand-in that answers GetPublicKey and Sign as KMS documents them, with
/// a local Ed25519 key. The requests are what KMS needs (key id, the checkpoint text itself, RAW,
/// ED25519_SHA_512), the note verifies with the key's public half, and a key of another spec is
/// refused before anything is signed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_are_signed_by_a_kms_ed25519_key() {
    use base64::Engine;
    use flagtrail_core::integrity::tlog::{seal_entry, MerkleLog, NoteVerifyingKey, DEFAULT_ORIGIN};
    use flagtrail_runtime::sink::{sign_checkpoint, KmsCheckpointSigner};

    const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;
    let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    let stand_in = flagtrail_e2e::kms::KmsEd25519::start(key.clone());
    let endpoint = stand_in.endpoint.clone();
    let mut settings = flagtrail_runtime::SdkSettings::local(&endpoint);
    settings.max_attempts = 1;
    let kms = aws_sdk_kms::Client::new(&settings.load().await);
    let signer = KmsCheckpointSigner::new(kms.clone(), "alias/flagtrail-checkpoints").await.unwrap();
    let mut log = MerkleLog::default();
    log.append(seal_entry("seal-1")).unwrap();
    let note = sign_checkpoint(DEFAULT_ORIGIN, &log, &signer).await.unwrap();
    let text = flagtrail_core::integrity::tlog::checkpoint_text(DEFAULT_ORIGIN, &log).unwrap();
    assert!(note.starts_with(&text), "the note is the checkpoint text and its signature");
    let verifying = NoteVerifyingKey::new(DEFAULT_ORIGIN, key.verifying_key());
    let parsed = signed_note::Note::from_bytes(&note).unwrap();
    assert!(
        parsed.verify(&signed_note::VerifierList::new(vec![Box::new(verifying)])).is_ok(),
        "the log key's signature"
    );
    let sent = stand_in.requests();
    let sign = &sent.iter().find(|(t, _)| t == "TrentService.Sign").unwrap().1;
    assert_eq!(sign["KeyId"], "alias/flagtrail-checkpoints");
    assert_eq!(
        (sign["MessageType"].as_str(), sign["SigningAlgorithm"].as_str()),
        (Some("RAW"), Some("ED25519_SHA_512"))
    );
    assert_eq!(B64.decode(sign["Message"].as_str().unwrap()).unwrap(), text, "KMS signs the checkpoint text itself");
    let refused = KmsCheckpointSigner::new(kms, "alias/other").await.err().unwrap().to_string();
    assert!(refused.contains("ECC_NIST_EDWARDS25519"), "{refused}");
}

/// The log's single writer on S3 (moto enforces `If-None-Match: *` as S3 does; not Object Lock):
/// a round appends the trail's seals, a round with nothing new still cosigns a checkpoint (the
/// cadence), a later round appends what is new; the prefix copied into a folder beside the trail
/// verifies with the log and witness keys. A second writer with another checkpoint key is refused,
/// and an object of the log is never overwritten.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_writer_appends_the_trails_seals_to_s3_once() {
    use flagtrail_runtime::tlog_writer::{LogStore, LogWriteError, S3LogStore};
    let moto = Moto::start();
    let sdk = moto.sdk().await;
    let stack = stack(&sdk).await;
    let s3 = aws_sdk_s3::Client::new(&sdk);
    s3.create_bucket().bucket("tlog").send().await.unwrap();
    let dir = std::env::temp_dir().join(format!("flagtrail-tlog-s3-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("log")).unwrap();
    let pem = |name: &str, seed: u8| flagtrail_e2e::witness::write_ed25519_key(&dir, name, seed);
    let (log_key, witness_key, other_key) = (pem("log", 1), pem("witness", 2), pem("other", 3));
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    let write = |flag: &'static str, v: u32| {
        let ddb = ddb.clone();
        let table = stack.table.clone();
        async move {
            ddb.put_item()
                .table_name(table)
                .set_item(Some(prod_flag(flag, 10, "alice", &format!("r-{flag}-{v}"), v)))
                .send()
                .await
                .unwrap();
        }
    };
    write("a", 1).await;
    flagtrail_e2e::audit_stream(&sdk, &stack).await;
    let append = |key: &str| {
        flagtrail(
            &[
                "log-append",
                "--log-group",
                &stack.log_group,
                "--to",
                "s3://tlog/log/",
                "--log-key",
                key,
                "--witness-key",
                &witness_key,
            ],
            &moto.endpoint,
        )
    };
    let (code, out) = append(&log_key);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("size 0 → 1"), "{out}");
    let (code, out) = append(&log_key);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("size 1 → 1"), "nothing new: a checkpoint all the same: {out}");
    write("b", 1).await;
    flagtrail_e2e::audit_stream(&sdk, &stack).await;
    let (code, out) = append(&log_key);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("size 1 → 2"), "{out}");
    let (code, out) = append(&other_key);
    assert_ne!(code, 0, "another checkpoint key cannot continue the log: {out}");
    assert!(out.contains("not signed by the log key"), "{out}");

    // An auditor's copy: the prefix and the trail in a folder, verified with the keys.
    let objects = s3.list_objects_v2().bucket("tlog").prefix("log/").send().await.unwrap();
    let keys: Vec<String> = objects.contents().iter().filter_map(|o| o.key().map(str::to_owned)).collect();
    // Three rounds, three checkpoints — two when the first two fell in the same second (their
    // cosignatures, dated in seconds, are then the same bytes, and the object is not created twice).
    let archived = keys.iter().filter(|k| k.starts_with("log/checkpoints/")).count();
    assert!((2..=3).contains(&archived), "{keys:?}");
    for key in &keys {
        let bytes =
            s3.get_object().bucket("tlog").key(key).send().await.unwrap().body.collect().await.unwrap().into_bytes();
        let path = dir.join(key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    let logs = aws_sdk_cloudwatchlogs::Client::new(&sdk);
    let group = flagtrail_runtime::trail::LogGroupTrail::whole(logs, &stack.log_group);
    let messages = flagtrail_runtime::trail::TrailSource::messages(&group).await.unwrap();
    std::fs::write(dir.join("audit.jsonl"), messages.join("\n") + "\n").unwrap();
    let public = |name: &str| dir.join(format!("{name}.pub.pem")).to_str().unwrap().to_owned();
    let (code, out) = flagtrail(
        &[
            "verify",
            dir.to_str().unwrap(),
            "--log-public-key",
            &public("log"),
            "--witness-public-key",
            &public("witness"),
        ],
        &moto.endpoint,
    );
    assert_eq!(code, 0, "{out}");
    // The same straight from the log group and the archive's prefix, no copy.
    let (code, out) = flagtrail(
        &[
            "verify",
            "--log-group",
            &stack.log_group,
            "--log-from",
            "s3://tlog/log/",
            "--log-public-key",
            &public("log"),
            "--witness-public-key",
            &public("witness"),
        ],
        &moto.endpoint,
    );
    assert_eq!(code, 0, "{out}");
    let (code, out) = flagtrail(
        &[
            "verify",
            "--log-group",
            &stack.log_group,
            "--log-from",
            "s3://tlog/log/",
            "--log-public-key",
            &public("other"),
            "--witness-public-key",
            &public("witness"),
        ],
        &moto.endpoint,
    );
    assert_eq!(code, 1, "a log key the auditor does not trust: {out}");

    // Objects of the log are created once: the same bytes again are fine, other bytes a conflict.
    let store = S3LogStore::new(s3.clone(), "tlog", "log/");
    let first = keys.iter().find(|k| k.starts_with("log/checkpoints/")).unwrap().trim_start_matches("log/").to_owned();
    let (bytes, tag) = store.get(&first).await.unwrap().unwrap();
    // What a round lists to find its window's first bundle: the archived checkpoints' own names.
    let mut listed = store.list("checkpoints/").await.unwrap();
    listed.sort();
    let mut expected: Vec<String> =
        keys.iter().filter_map(|k| k.strip_prefix("log/checkpoints/")).map(str::to_owned).collect();
    expected.sort();
    assert_eq!(listed, expected);
    assert!(store.create(&first, &bytes).await.is_ok());
    assert!(matches!(store.create(&first, b"forged").await, Err(LogWriteError::Conflict(_))));
    assert!(
        matches!(store.replace("checkpoint", b"stale", tag.as_deref()).await, Err(LogWriteError::Conflict(_))),
        "a stale writer"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The writer asks a C2SP tlog-witness over HTTP (`flagtrail witness`, its state in a file): each
/// round proves consistency from the last cosigned size, a round with nothing new is cosigned
/// again, and the auditor trusts the witness by its vkey. A log rewritten with the log key into
/// another prefix starts from size 0; the witness's 409 names the size it cosigned, and the rewrite
/// is refused whether shorter (the writer sees it is behind) or longer with other seals (the proof
/// from that size fails: 422), also after the witness restarts from its state; it stays unwitnessed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_witness_over_http_cosigns_the_log_and_refuses_a_rewritten_one() {
    let moto = Moto::start();
    let sdk = moto.sdk().await;
    let stack = stack(&sdk).await;
    let s3 = aws_sdk_s3::Client::new(&sdk);
    s3.create_bucket().bucket("tlog").send().await.unwrap();
    let dir = std::env::temp_dir().join(format!("flagtrail-witness-http-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = |name: &str| dir.join(name).to_str().unwrap().to_owned();
    for (name, seed) in [("log", 1u8), ("witness", 2), ("stranger", 3)] {
        flagtrail_e2e::witness::write_ed25519_key(&dir, name, seed);
    }
    let (witness_pem, log_pub, state) = (path("witness.pem"), path("log.pub.pem"), path("witness.json"));
    let witness_args = ["--key", &witness_pem, "--log-public-key", &log_pub, "--state", &state];
    let witness = flagtrail_e2e::witness::WitnessProcess::start(&witness_args);
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    let write = |flag: &'static str| {
        let (ddb, table) = (ddb.clone(), stack.table.clone());
        async move {
            let item = prod_flag(flag, 10, "alice", &format!("r-{flag}"), 1);
            ddb.put_item().table_name(table).set_item(Some(item)).send().await.unwrap();
        }
    };
    let append = |trail: &[&str], to: &str, url: &str, vkey: &str| {
        let witness = format!("{url} {vkey}");
        let log_pem = path("log.pem");
        let args = [&["log-append"][..], trail, &["--to", to, "--log-key", &log_pem, "--witness", &witness]].concat();
        flagtrail(&args, &moto.endpoint)
    };
    let group = ["--log-group", stack.log_group.as_str()];
    write("a").await;
    flagtrail_e2e::audit_stream(&sdk, &stack).await;
    let (code, out) = append(&group, "s3://tlog/log/", &witness.url, &witness.vkey);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("size 0 → 1") && out.contains("cosigned by 1 of 1"), "{out}");
    let (code, out) = append(&group, "s3://tlog/log/", &witness.url, &witness.vkey);
    assert!(code == 0 && out.contains("size 1 → 1") && out.contains("cosigned by 1 of 1"), "{out}");
    write("b").await;
    write("c").await;
    flagtrail_e2e::audit_stream(&sdk, &stack).await;
    let (code, out) = append(&group, "s3://tlog/log/", &witness.url, &witness.vkey);
    assert!(code == 0 && out.contains("size 1 → ") && out.contains("cosigned by 1 of 1"), "{out}");
    let state: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("witness.json")).unwrap()).unwrap();
    let size = state["flagtrail.local/audit-seals"]["size"].as_u64().unwrap();
    assert!(size >= 2, "{state}");

    let verify = |vkey: &str| {
        flagtrail(
            &[
                "verify",
                "--log-group",
                &stack.log_group,
                "--log-from",
                "s3://tlog/log/",
                "--log-public-key",
                &path("log.pub.pem"),
                "--witness-vkey",
                vkey,
            ],
            &moto.endpoint,
        )
    };
    let (code, out) = verify(&witness.vkey);
    assert_eq!(code, 0, "{out}");
    let (_, stranger) = flagtrail(&["vkey", "--public-key", &path("stranger.pub.pem"), "--witness"], &moto.endpoint);
    let (code, out) = verify(stranger.trim());
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("unwitnessed checkpoint"), "{out}");

    // Whoever holds the log key rewrites history elsewhere: shorter, then as long with other seals.
    let forged = |n: usize| {
        let lines: Vec<String> = (0..n)
            .map(|i| serde_json::json!({"recordType": "seal", "sealId": format!("{:064x}", 0xf0 + i)}).to_string())
            .collect();
        std::fs::write(dir.join("forged.jsonl"), lines.join("\n") + "\n").unwrap();
    };
    let forged_trail = ["--dir", &path("forged.jsonl")].map(str::to_owned);
    let forged_trail: Vec<&str> = forged_trail.iter().map(String::as_str).collect();
    forged(1);
    let (code, out) = append(&forged_trail, &path("shorter"), &witness.url, &witness.vkey);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains(&format!("it cosigned size {size}, beyond this log's 1")), "{out}");
    drop(witness);
    let witness = flagtrail_e2e::witness::WitnessProcess::start(&witness_args);
    forged(size as usize + 1);
    let (code, out) = append(&forged_trail, &path("longer"), &witness.url, &witness.vkey);
    assert_ne!(code, 0, "{out}");
    std::fs::copy(dir.join("forged.jsonl"), dir.join("longer/audit.jsonl")).unwrap();
    assert!(out.contains("refused with 422"), "a fork of the same length and more: {out}");
    let (code, out) = flagtrail(
        &["verify", &path("longer"), "--log-public-key", &path("log.pub.pem"), "--witness-vkey", &witness.vkey],
        &moto.endpoint,
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("unwitnessed checkpoint"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The witness's rollback race, on its DynamoDB state (moto enforces the condition): two instances
/// of the witness (two concurrent Lambda invocations) both read size 5, then one is asked to
/// cosign a checkpoint at 8 and the other a fork of it at 8. Both requests are consistent with
/// what each read; the conditional PutItem lets exactly one advance, the other is a 409 naming
/// the size now stored, and the stored state is the one that was cosigned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_witness_instances_never_both_cosign_a_fork() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    use async_trait::async_trait;
    use flagtrail_core::integrity::tlog::{seal_entry, signed_checkpoint, MerkleLog, NoteKey};
    use flagtrail_core::integrity::witness::{AddCheckpoint, WitnessError};
    use flagtrail_runtime::sink::{LocalCheckpointSigner, SinkError};
    use flagtrail_runtime::witness::{DynamoWitnessState, Latest, Refusal, WitnessService, WitnessState};

    /// The state, with the first read of each instance held until both have read.
    struct Lockstep {
        inner: DynamoWitnessState,
        both_read: Arc<tokio::sync::Barrier>,
        first: AtomicBool,
    }
    #[async_trait]
    impl WitnessState for Lockstep {
        async fn latest(&self, origin: &str) -> Result<Option<Latest>, SinkError> {
            let latest = self.inner.latest(origin).await;
            if self.first.swap(false, Ordering::SeqCst) {
                self.both_read.wait().await;
            }
            latest
        }
        async fn advance(
            &self,
            origin: &str,
            expected: Option<&Latest>,
            new: &Latest,
            note: &[u8],
        ) -> Result<bool, SinkError> {
            self.inner.advance(origin, expected, new, note).await
        }
    }

    let moto = Moto::start();
    let sdk = moto.sdk().await;
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    flagtrail_e2e::witness::create_state_table(&ddb, "witness").await;
    let origin = "flagtrail/prod/seals";
    let log_key = NoteKey::new(origin, ed25519_dalek::SigningKey::from_bytes(&[21; 32]));
    let witness_key = ed25519_dalek::SigningKey::from_bytes(&[22; 32]);
    let both_read = Arc::new(tokio::sync::Barrier::new(2));
    let instance = |lockstep: bool| {
        let state = Lockstep {
            inner: DynamoWitnessState::new(ddb.clone(), "witness"),
            both_read: both_read.clone(),
            first: AtomicBool::new(lockstep),
        };
        let signer = Box::new(LocalCheckpointSigner(witness_key.clone()));
        WitnessService::new(signer, None, vec![log_key.verifying()], Box::new(state))
    };
    let body = |log: &MerkleLog, old: u64| {
        let proof = if old > 0 { log.consistency(old).unwrap() } else { vec![] };
        AddCheckpoint { old, proof, checkpoint: signed_checkpoint(origin, log, &log_key).unwrap() }.body()
    };
    let honest = MerkleLog::from_entries((0..8).map(|i| seal_entry(&format!("s{i}")))).unwrap();
    let fork = MerkleLog::from_entries((0..8).map(|i| seal_entry(&format!("{}{i}", if i < 5 { "s" } else { "fork" }))))
        .unwrap();
    let at5 = MerkleLog::from_entries(honest.entries()[..5].to_vec()).unwrap();
    instance(false).add_checkpoint(&body(&at5, 0), 1_700_000_000).await.unwrap();

    let (a, b) = (instance(true), instance(true));
    let (to_a, to_b) = (body(&honest, 5), body(&fork, 5));
    let (ra, rb) = tokio::join!(a.add_checkpoint(&to_a, 1_700_000_100), b.add_checkpoint(&to_b, 1_700_000_100));
    let refused = match (&ra, &rb) {
        (Ok(_), Err(e)) | (Err(e), Ok(_)) => e,
        _ => panic!("exactly one of a fork's two checkpoints is cosigned: {ra:?} {rb:?}"),
    };
    assert!(
        matches!(refused, Refusal::Witness(WitnessError::Conflict { latest: 8, old: 5 })),
        "a 409 naming the size now stored: {refused:?}"
    );
    let stored = DynamoWitnessState::new(ddb.clone(), "witness").latest(origin).await.unwrap().unwrap();
    let cosigned = if ra.is_ok() { &honest } else { &fork };
    assert_eq!((stored.size, stored.root), (8, cosigned.root_at(8).unwrap()));
}
