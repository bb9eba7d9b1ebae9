//! The built `audit` and `notify` binaries, driven through a minimal Lambda Runtime API server
//! (what Lambda itself speaks to a `provided.al2023` bootstrap) on events/ files, against moto.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use flagtrail_e2e::{audit_records, drain_queue, root, stack, Moto};
use serde_json::Value;

/// What the runtime posted back.
#[derive(Default, Clone)]
struct Posted {
    responses: Vec<(String, Value)>,
    errors: Vec<(String, String)>,
    init_error: Option<String>,
}

/// Serves queued events on `/invocation/next` and records responses; one thread per connection.
struct RuntimeApi {
    addr: String,
    posted: Arc<Mutex<Posted>>,
}

impl RuntimeApi {
    fn start(events: Vec<String>) -> RuntimeApi {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let posted = Arc::new(Mutex::new(Posted::default()));
        let queue = Arc::new(Mutex::new(
            events.into_iter().enumerate().map(|(i, e)| (format!("req-{i}"), e)).collect::<VecDeque<_>>(),
        ));
        let p = posted.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let (p, q) = (p.clone(), queue.clone());
                std::thread::spawn(move || serve(conn, p, q));
            }
        });
        RuntimeApi { addr, posted }
    }
}

fn serve(conn: TcpStream, posted: Arc<Mutex<Posted>>, queue: Arc<Mutex<VecDeque<(String, String)>>>) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut conn = conn;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut len = 0;
        loop {
            let mut h = String::new();
            reader.read_line(&mut h).unwrap();
            if h == "\r\n" || h.is_empty() {
                break;
            }
            if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; len];
        reader.read_exact(&mut body).unwrap();
        let body = String::from_utf8_lossy(&body).into_owned();
        let path = request_line.split_whitespace().nth(1).unwrap_or("").to_owned();
        if path.ends_with("/invocation/next") {
            // Wait for work; with none left, hold the call like Lambda does between invocations.
            let next = loop {
                if let Some(n) = queue.lock().unwrap().pop_front() {
                    break n;
                }
                std::thread::sleep(Duration::from_millis(50));
            };
            let deadline = (std::time::SystemTime::now() + Duration::from_secs(30))
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis();
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nLambda-Runtime-Aws-Request-Id: {}\r\nLambda-Runtime-Deadline-Ms: {deadline}\r\nLambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:123456789012:function:flagtrail\r\nLambda-Runtime-Trace-Id: Root=1-00000000-000000000000000000000000\r\nContent-Length: {}\r\n\r\n",
                next.0,
                next.1.len()
            );
            conn.write_all(head.as_bytes()).unwrap();
            conn.write_all(next.1.as_bytes()).unwrap();
            continue;
        }
        {
            let mut p = posted.lock().unwrap();
            let id = path.split('/').nth(4).unwrap_or("").to_owned();
            if path.ends_with("/response") {
                p.responses.push((id, serde_json::from_str(&body).unwrap_or(Value::Null)));
            } else if path.ends_with("/error") && path.contains("/invocation/") {
                p.errors.push((id, body));
            } else if path.ends_with("/init/error") {
                p.init_error = Some(body);
            }
        }
        conn.write_all(b"HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\n{}").unwrap();
    }
}

fn binary(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root().join("target"));
    let bin = target.join("debug").join(name);
    assert!(
        bin.exists(),
        "{} is missing: `cargo build --workspace --bins` first (the README's test command does)",
        bin.display()
    );
    bin
}

struct Bootstrap(Child);

impl Drop for Bootstrap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

type Output = Arc<Mutex<String>>;

fn launch(name: &str, api: &RuntimeApi, moto: &Moto, vars: &[(&str, String)]) -> (Bootstrap, Output, Output) {
    let mut cmd = Command::new(binary(name));
    cmd.env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", &api.addr)
        .env("AWS_LAMBDA_FUNCTION_NAME", name)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .env("AWS_ENDPOINT_URL", &moto.endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("bootstrap starts");
    // stdout (tracing + EMF) is what the tests read; stderr (where a failed init lands) is kept apart.
    let captured = Arc::new(Mutex::new(String::new()));
    let errors = Arc::new(Mutex::new(String::new()));
    collect(child.stdout.take().unwrap(), captured.clone());
    collect(child.stderr.take().unwrap(), errors.clone());
    (Bootstrap(child), captured, errors)
}

fn collect(from: impl Read + Send + 'static, into: Arc<Mutex<String>>) {
    std::thread::spawn(move || {
        for line in BufReader::new(from).lines().map_while(Result::ok) {
            let mut c = into.lock().unwrap();
            c.push_str(&line);
            c.push('\n');
        }
    });
}

fn wait_for(api: &RuntimeApi, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let p = api.posted.lock().unwrap();
        if p.responses.len() + p.errors.len() >= n {
            return;
        }
        assert!(p.init_error.is_none(), "init failed: {:?}", p.init_error);
        drop(p);
        assert!(Instant::now() < deadline, "the function did not answer {n} invocations");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn event(name: &str) -> String {
    std::fs::read_to_string(root().join("events").join(format!("{name}.json"))).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_bootstrap_writes_the_trail_and_prints_emf() {
    let moto = Moto::start();
    let sdk = moto.sdk().await;
    let stack = stack(&sdk).await;
    let files = ["batch-mixed", "killswitch-global-on-prod", "batch-with-undecodable-record"];
    let api = RuntimeApi::start(files.iter().map(|f| event(f)).collect());
    let (_proc, stdout, _) = launch("audit", &api, &moto, &[("FLAGTRAIL_AUDIT_LOG_GROUP", stack.log_group.clone())]);
    wait_for(&api, files.len());
    {
        let posted = api.posted.lock().unwrap();
        assert!(posted.errors.is_empty(), "{:?}", posted.errors);
        for (_, r) in &posted.responses {
            assert_eq!(r, &serde_json::json!({ "batchItemFailures": [] }));
        }
    }
    let records = audit_records(&aws_sdk_cloudwatchlogs::Client::new(&sdk), &stack.log_group).await;
    let expected: usize = files
        .iter()
        .map(|f| serde_json::from_str::<Value>(&event(f)).unwrap()["Records"].as_array().unwrap().len())
        .sum();
    assert_eq!(records.len(), expected);
    assert_eq!(records.iter().filter(|r| r["recordType"] == "quarantine").count(), 1);
    // EMF documents are whole stdout lines, separate from the JSON tracing lines.
    let out = stdout.lock().unwrap().clone();
    let emf: Vec<Value> =
        out.lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()).filter(|v| v.get("_aws").is_some()).collect();
    assert!(emf.iter().any(|d| d["ProductionFlagChange"].as_u64() == Some(7)), "{out}");
    assert!(emf.iter().any(|d| d["RecordsQuarantined"].as_u64() == Some(1)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_notify_bootstrap_publishes_and_reports_a_missing_topic() {
    let moto = Moto::start();
    let sdk = moto.sdk().await;
    let stack = stack(&sdk).await;
    let api = RuntimeApi::start(vec![event("killswitch-flag-on-prod"), event("override-set")]);
    let vars = [
        ("FLAGTRAIL_ALERT_TOPIC_ARN", stack.alert_topic_arn.clone()),
        // A topic that does not exist: invalidations cannot be made durable.
        ("FLAGTRAIL_INVALIDATION_TOPIC_ARN", stack.invalidation_topic_arn.replace("invalidations", "missing")),
    ];
    let (_proc, _, _) = launch("notify", &api, &moto, &vars);
    wait_for(&api, 2);
    let responses: Vec<Value> = api.posted.lock().unwrap().responses.iter().map(|(_, r)| r.clone()).collect();
    let seq =
        |f: &str| serde_json::from_str::<Value>(&event(f)).unwrap()["Records"][0]["dynamodb"]["SequenceNumber"].clone();
    assert_eq!(responses[0]["batchItemFailures"][0]["itemIdentifier"], seq("killswitch-flag-on-prod"));
    assert_eq!(responses[1]["batchItemFailures"][0]["itemIdentifier"], seq("override-set"));
    let alerts = drain_queue(&aws_sdk_sqs::Client::new(&sdk), &stack.queues["alerts-all"]).await;
    assert_eq!(alerts.len(), 1, "the alert itself was delivered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_variable_fails_init_naming_it() {
    let moto = Moto::start();
    let api = RuntimeApi::start(vec![]);
    let (mut proc, stdout, stderr) = launch("audit", &api, &moto, &[]);
    let status = proc.0.wait().unwrap();
    assert!(!status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let said = stderr.lock().unwrap().clone() + &stdout.lock().unwrap();
        if said.contains("FLAGTRAIL_AUDIT_LOG_GROUP") {
            break;
        }
        assert!(Instant::now() < deadline, "init error does not name the variable: {said}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The release-shaped binaries against a stand-in that refuses what SNS and CloudWatch Logs refuse:
/// 120-character and Japanese flag keys, empty owner/teams, control characters and line breaks in
/// reasons — every alert published, every batch answered with no failure, nothing refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_inputs_through_the_binaries_on_a_strict_stand_in() {
    let moto = Moto::start();
    let sdk = moto.sdk().await;
    let stack = stack(&sdk).await;
    let strict = flagtrail_e2e::strict::StrictProxy::start(&moto.endpoint, Some(1));
    let hostile = flagtrail_devtools::sample::hostile_notifications().to_string();
    let (notify_api, audit_api) = (RuntimeApi::start(vec![hostile.clone()]), RuntimeApi::start(vec![hostile]));
    let endpoint = ("AWS_ENDPOINT_URL", strict.endpoint.clone());
    let (_n, _, _) = launch(
        "notify",
        &notify_api,
        &moto,
        &[
            ("FLAGTRAIL_ALERT_TOPIC_ARN", stack.alert_topic_arn.clone()),
            ("FLAGTRAIL_INVALIDATION_TOPIC_ARN", stack.invalidation_topic_arn.clone()),
            endpoint.clone(),
        ],
    );
    let (_a, _, _) = launch(
        "audit",
        &audit_api,
        &moto,
        &[
            ("FLAGTRAIL_AUDIT_LOG_GROUP", stack.log_group.clone()),
            ("FLAGTRAIL_AUDIT_RETENTION_DAYS", "1".into()),
            endpoint,
        ],
    );
    wait_for(&notify_api, 1);
    wait_for(&audit_api, 1);
    for api in [&notify_api, &audit_api] {
        let posted = api.posted.lock().unwrap();
        assert!(posted.errors.is_empty(), "{:?}", posted.errors);
        assert_eq!(posted.responses[0].1, serde_json::json!({ "batchItemFailures": [] }));
    }
    assert_eq!(strict.refused(), Vec::<String>::new(), "nothing AWS would refuse was sent");
    let alerts = drain_queue(&aws_sdk_sqs::Client::new(&sdk), &stack.queues["alerts-all"]).await;
    assert_eq!(alerts.len(), 7, "every alert reached its subscriber");
    let records = audit_records(&aws_sdk_cloudwatchlogs::Client::new(&sdk), &stack.log_group).await;
    assert_eq!(records.len(), 7, "records of two days ago are kept inside the group's one-day retention");
}

/// The `reconcile` bootstrap on a schedule, deployed beside a table with items the trail never
/// saw: its first run records a baseline of them and reports nothing (metric 0); the second reads
/// only the trail written since (nothing); a write behind the trail's back is then one finding, in
/// the response, the log and the EMF metric.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reconcile_bootstrap_baselines_then_reports_writes_behind_the_trail() {
    let moto = Moto::start();
    let sdk = moto.sdk().await;
    let stack = stack(&sdk).await;
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    let s3 = aws_sdk_s3::Client::new(&sdk);
    s3.create_bucket().bucket("reconcile-state").send().await.unwrap();
    for (flag, v) in [("a", 3), ("b", 1)] {
        let item = flagtrail_e2e::prod_flag(flag, 10, "alice", &format!("r-{flag}"), v);
        ddb.put_item().table_name(&stack.table).set_item(Some(item)).send().await.unwrap();
    }
    let item = flagtrail_e2e::stamped(
        &[("PK", flagtrail_e2e::s("FLAG#prod#x")), ("SK", flagtrail_e2e::s("METADATA"))],
        "mallory@example.com",
        "req-behind",
        1,
    );
    let schedule = r#"{"version":"0","id":"1","detail-type":"Scheduled Event","source":"aws.events","detail":{}}"#;
    let vars = [
        ("FLAGTRAIL_TABLE", stack.table.clone()),
        ("FLAGTRAIL_AUDIT_LOG_GROUP", stack.log_group.clone()),
        ("FLAGTRAIL_STATE_BUCKET", "reconcile-state".into()),
        ("FLAGTRAIL_BASELINE_ON_FIRST_RUN", "true".into()),
        ("FLAGTRAIL_RECONCILE_GRACE_SECONDS", "0".into()),
        ("FLAGTRAIL_RECONCILE_OVERLAP_SECONDS", "0".into()),
        // The whole table every run (the default, 24, compares a slice an hour).
        ("FLAGTRAIL_SCAN_SEGMENTS", "1".into()),
    ];
    let run = || {
        let api = RuntimeApi::start(vec![schedule.to_owned()]);
        let (process, stdout, _) = launch("reconcile", &api, &moto, &vars);
        wait_for(&api, 1);
        let response = api.posted.lock().unwrap().responses[0].1.clone();
        // The metric is printed before the response is posted; its line may still be in the pipe.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !stdout.lock().unwrap().contains("ReconcileFindings") && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let out = stdout.lock().unwrap().clone();
        let emf: Vec<u64> = out
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter_map(|d| d["ReconcileFindings"].as_u64())
            .collect();
        drop(process);
        (response, emf, out)
    };
    let (first, emf, out) = run();
    assert_eq!((first["findings"].as_u64(), emf.as_slice()), (Some(0), &[0][..]), "{out}");
    assert_eq!((first["baselined"].as_u64(), first["knownItems"].as_u64()), (Some(2), Some(2)), "{first}");
    assert_eq!(first["readSinceMs"], Value::Null, "the first run reads the whole trail");

    let (second, emf, out) = run();
    assert_eq!((second["findings"].as_u64(), emf.as_slice()), (Some(0), &[0][..]), "{out}");
    assert_eq!(
        (second["baselined"].as_u64(), second["records"].as_u64()),
        (Some(0), Some(0)),
        "only what is new: {second}"
    );
    assert!(second["readSinceMs"].as_i64().is_some(), "{second}");

    ddb.put_item().table_name(&stack.table).set_item(Some(item)).send().await.unwrap();
    let (third, emf, out) = run();
    assert_eq!((third["findings"].as_u64(), emf.as_slice()), (Some(1), &[1][..]), "{out}");
    assert_eq!(third["baselined"].as_u64(), Some(0), "a later write is a finding, never a new baseline");
    assert!(out.contains("unaudited write: PK=FLAG#prod#x SK=METADATA"), "{out}");

    // The kept state deleted: the next run rebuilds it from the trail, and does not baseline again
    // (which would absorb the write behind the trail's back).
    s3.delete_object().bucket("reconcile-state").key("reconcile/state.jsonl.gz").send().await.unwrap();
    let (fourth, emf, out) = run();
    assert_eq!((fourth["findings"].as_u64(), emf.as_slice()), (Some(1), &[1][..]), "{out}");
    assert_eq!((fourth["baselined"].as_u64(), fourth["readSinceMs"].as_i64()), (Some(0), None), "{fourth}");
}

/// The `log-writer` bootstrap on its schedule: the first run appends the trail's seals to the log
/// under the archive's `log/` prefix (moto's S3) with a checkpoint signed by the KMS checkpoint key
/// (the Ed25519 stand-in: moto refuses that key spec); the second, with nothing new, signs a
/// checkpoint all the same. Each checkpoint is cosigned by the witness of `FLAGTRAIL_WITNESSES`
/// (a `flagtrail witness` over HTTP). The log verifies with the key's public half and the witness's
/// vkey.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_writer_bootstrap_appends_the_seals_and_signs_with_the_kms_key() {
    use ed25519_dalek::pkcs8::{EncodePrivateKey, EncodePublicKey};
    let moto = Moto::start();
    let sdk = moto.sdk().await;
    let stack = stack(&sdk).await;
    aws_sdk_s3::Client::new(&sdk).create_bucket().bucket("archive").send().await.unwrap();
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    for flag in ["a", "b"] {
        let item = flagtrail_e2e::prod_flag(flag, 10, "alice", &format!("r-{flag}"), 1);
        ddb.put_item().table_name(&stack.table).set_item(Some(item)).send().await.unwrap();
    }
    flagtrail_e2e::audit_stream(&sdk, &stack).await;
    let key = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
    let kms = flagtrail_e2e::kms::KmsEd25519::start(key.clone());
    let dir = std::env::temp_dir().join(format!("flagtrail-log-writer-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (public, witness_pem) = (dir.join("checkpoint.pub.pem"), dir.join("witness.pem"));
    std::fs::write(&public, key.verifying_key().to_public_key_pem(Default::default()).unwrap()).unwrap();
    let witness_key = ed25519_dalek::SigningKey::from_bytes(&[10; 32]);
    std::fs::write(&witness_pem, witness_key.to_pkcs8_pem(Default::default()).unwrap().as_bytes()).unwrap();
    let witness = flagtrail_e2e::witness::WitnessProcess::start(&[
        "--key",
        witness_pem.to_str().unwrap(),
        "--log-public-key",
        public.to_str().unwrap(),
        "--log-origin",
        "flagtrail/prod/seals",
        "--state",
        dir.join("witness.json").to_str().unwrap(),
    ]);
    let schedule = r#"{"version":"0","id":"1","detail-type":"Scheduled Event","source":"aws.events","detail":{}}"#;
    let vars = [
        ("FLAGTRAIL_LOG_ORIGIN", "flagtrail/prod/seals".to_owned()),
        ("FLAGTRAIL_WITNESSES", format!("{} {}", witness.url, witness.vkey)),
        ("FLAGTRAIL_AUDIT_LOG_GROUP", stack.log_group.clone()),
        ("FLAGTRAIL_LOG_BUCKET", "archive".into()),
        ("FLAGTRAIL_CHECKPOINT_KEY_ID", "alias/flagtrail-checkpoints".into()),
        // KMS alone goes to the stand-in (the SDK's service-specific endpoint variable).
        ("AWS_ENDPOINT_URL_KMS", kms.endpoint.clone()),
    ];
    let run = || {
        let api = RuntimeApi::start(vec![schedule.to_owned()]);
        let (process, _, errors) = launch("log-writer", &api, &moto, &vars);
        wait_for(&api, 1);
        let posted = api.posted.lock().unwrap();
        assert!(posted.errors.is_empty(), "{:?} {}", posted.errors, errors.lock().unwrap());
        let response = posted.responses[0].1.clone();
        drop(process);
        response
    };
    let first = run();
    let seals = first["seals"].as_u64().unwrap();
    assert!(seals >= 1, "{first}");
    assert_eq!((first["from"].as_u64(), first["to"].as_u64()), (Some(0), Some(seals)), "{first}");
    assert_eq!(first["cosigned"], 1, "{first}");
    let second = run();
    assert_eq!((second["from"].as_u64(), second["to"].as_u64()), (Some(seals), Some(seals)), "{second}");
    assert_eq!(second["cosigned"], 1, "{second}");
    assert!(kms.requests().iter().any(|(t, r)| t == "TrentService.Sign" && r["SigningAlgorithm"] == "ED25519_SHA_512"));

    let (code, out) = flagtrail_e2e::flagtrail(
        &[
            "verify",
            "--log-group",
            &stack.log_group,
            "--log-from",
            "s3://archive/log/",
            "--log-public-key",
            public.to_str().unwrap(),
            "--log-origin",
            "flagtrail/prod/seals",
            "--witness-vkey",
            &witness.vkey,
        ],
        &moto.endpoint,
    );
    assert_eq!(code, 0, "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// One Lambda Function URL event (payload format 2.0) carrying `body`.
fn url_event(method: &str, path: &str, body: &str, base64: bool) -> String {
    use base64::Engine;
    let body = if base64 { base64::engine::general_purpose::STANDARD.encode(body) } else { body.to_owned() };
    serde_json::json!({
        "version": "2.0", "rawPath": path, "rawQueryString": "", "headers": {"content-type": "text/plain"},
        "requestContext": {"accountId": "123456789012", "requestId": "r", "timeEpoch": 0,
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "t"}},
        "body": body, "isBase64Encoded": base64,
    })
    .to_string()
}

/// The `witness` bootstrap behind a Function URL: the first add-checkpoint (old 0) is cosigned
/// with the KMS witness key (the Ed25519 stand-in) and stored in the DynamoDB state (moto); the
/// same request again is a 409 naming the stored size as `text/x.tlog.size`; a consistent larger
/// checkpoint sent base64-encoded is cosigned; a checkpoint of another key is a 403, a GET a 405.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_witness_bootstrap_cosigns_consistent_checkpoints_and_keeps_its_state_in_dynamodb() {
    use flagtrail_core::integrity::tlog::{seal_entry, signed_checkpoint, MerkleLog, NoteKey, WitnessKey};
    use flagtrail_core::integrity::witness::{add_cosignatures, AddCheckpoint};
    let moto = Moto::start();
    let sdk = moto.sdk().await;
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    flagtrail_e2e::witness::create_state_table(&ddb, "witness").await;
    let witness_key = ed25519_dalek::SigningKey::from_bytes(&[11; 32]);
    let kms = flagtrail_e2e::kms::KmsEd25519::start(witness_key.clone());
    let origin = "flagtrail/prod/seals";
    let log_key = NoteKey::new(origin, ed25519_dalek::SigningKey::from_bytes(&[12; 32]));
    let log = |n: usize| MerkleLog::from_entries((0..n).map(|i| seal_entry(&format!("s{i}")))).unwrap();
    let request = |n: usize, old: u64, key: &NoteKey| {
        let l = log(n);
        let proof = if old > 0 { l.consistency(old).unwrap() } else { vec![] };
        AddCheckpoint { old, proof, checkpoint: signed_checkpoint(origin, &l, key).unwrap() }
    };
    let body = |r: &AddCheckpoint| String::from_utf8(r.body()).unwrap();
    let forger = NoteKey::new(origin, ed25519_dalek::SigningKey::from_bytes(&[13; 32]));
    let events = vec![
        url_event("POST", "/add-checkpoint", &body(&request(3, 0, &log_key)), false),
        url_event("POST", "/add-checkpoint", &body(&request(3, 0, &log_key)), false),
        url_event("POST", "/add-checkpoint", &body(&request(7, 3, &log_key)), true),
        url_event("POST", "/add-checkpoint", &body(&request(8, 7, &forger)), false),
        url_event("GET", "/add-checkpoint", "", false),
    ];
    let api = RuntimeApi::start(events);
    let vars = [
        ("FLAGTRAIL_WITNESS_KEY_ID", "alias/flagtrail-witness".to_owned()),
        ("FLAGTRAIL_WITNESS_NAME", "witness.auditors.example/flagtrail".to_owned()),
        ("FLAGTRAIL_WITNESS_LOG_KEYS", log_key.verifying().vkey()),
        ("FLAGTRAIL_WITNESS_TABLE", "witness".to_owned()),
        ("AWS_ENDPOINT_URL_KMS", kms.endpoint.clone()),
    ];
    let (process, _, errors) = launch("witness", &api, &moto, &vars);
    wait_for(&api, 5);
    drop(process);
    let posted = api.posted.lock().unwrap().clone();
    assert!(posted.errors.is_empty(), "{:?} {}", posted.errors, errors.lock().unwrap());
    let answers: Vec<(u64, String, String)> = posted
        .responses
        .iter()
        .map(|(_, r)| {
            (
                r["statusCode"].as_u64().unwrap(),
                r["headers"]["content-type"].as_str().unwrap().to_owned(),
                r["body"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let statuses: Vec<u64> = answers.iter().map(|a| a.0).collect();
    assert_eq!(statuses, [200, 409, 200, 403, 405], "{answers:?}");
    assert_eq!((answers[1].1.as_str(), answers[1].2.as_str()), ("text/x.tlog.size", "3\n"));
    let trusted = WitnessKey::named("witness.auditors.example/flagtrail", witness_key.verifying_key());
    for (i, n) in [(0, 3), (2, 7)] {
        let note = signed_checkpoint(origin, &log(n), &log_key).unwrap();
        add_cosignatures(&note, answers[i].2.as_bytes(), &trusted).unwrap();
    }
    let item = ddb
        .get_item()
        .table_name("witness")
        .key("origin", aws_sdk_dynamodb::types::AttributeValue::S(origin.into()))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(item["size"].as_n().unwrap(), "7");
    assert!(item["checkpoint"].as_s().unwrap().contains("\u{2014} witness.auditors.example/flagtrail "), "{item:?}");
    assert!(kms.requests().iter().all(|(t, r)| t != "TrentService.Sign" || r["MessageType"] == "RAW"));
}
