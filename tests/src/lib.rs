//! Fixtures of the end-to-end tests: a moto server per test on a free loopback port, and the
//! local stack created on it with the same code as `flagtrail local-stack`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use flagtrail_devtools::stack::{self, Stack, StackArgs};
use flagtrail_runtime::SdkSettings;

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A moto server, stopped when dropped.
pub struct Moto {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
}

impl Moto {
    /// Starts moto from the project venv (`scripts/setup-python.sh` installs it) on a port the
    /// server binds itself ([`scripts/moto-serve.py`]), ready once moto's own API answers.
    pub fn start() -> Moto {
        let python = root().join(".venv/bin/python");
        assert!(
            python.exists(),
            "{} is missing: run scripts/setup-python.sh (the README's test command does)",
            python.display()
        );
        let mut last = String::new();
        for _ in 0..3 {
            match Moto::try_start(&python) {
                Ok(moto) => return moto,
                Err(why) => last = why,
            }
        }
        panic!("moto did not start: {last}");
    }

    fn try_start(python: &std::path::Path) -> Result<Moto, String> {
        let log = tempfile_path("moto-stderr");
        let mut child = Command::new(python)
            .arg(root().join("scripts/moto-serve.py"))
            .arg("--exit-with-stdin")
            // Held open by the child handle: if this process dies, moto sees EOF and exits.
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).map_err(|e| e.to_string())?)
            .spawn()
            .map_err(|e| format!("spawning moto-serve.py: {e}"))?;
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        // Generous: importing moto takes seconds on a loaded 2-core machine.
        let port = rx.recv_timeout(Duration::from_secs(120)).ok().and_then(|l| l.trim().parse::<u16>().ok());
        let mut moto = Moto { child, endpoint: String::new() };
        let Some(port) = port else {
            return Err(format!("no port announced; stderr: {}", std::fs::read_to_string(&log).unwrap_or_default()));
        };
        moto.endpoint = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Ok(Some(status)) = moto.child.try_wait() {
                return Err(format!(
                    "moto exited ({status}); stderr: {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                ));
            }
            if answers_as_moto(port) {
                let _ = std::fs::remove_file(&log);
                return Ok(moto);
            }
            if Instant::now() > deadline {
                return Err(format!("{} did not answer GET /moto-api/", moto.endpoint));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The production SDK settings pointing at this server with dummy credentials (no IMDS probing).
    pub fn settings(&self) -> SdkSettings {
        SdkSettings::local(&self.endpoint)
    }

    /// SDK configuration from [`Moto::settings`].
    pub async fn sdk(&self) -> aws_config::SdkConfig {
        self.settings().load().await
    }
}

/// Whether `GET /moto-api/` on the port is answered 200 by moto's own dashboard.
fn answers_as_moto(port: u16) -> bool {
    let Ok(mut conn) = TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let request = format!("GET /moto-api/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    if conn.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut reply = String::new();
    let _ = conn.read_to_string(&mut reply);
    reply.starts_with("HTTP/1.1 200") && reply.to_ascii_lowercase().contains("moto")
}

/// A fresh path in the temporary directory, unique to this process and call.
fn tempfile_path(stem: &str) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    std::env::temp_dir().join(format!("{stem}-{}-{n}", std::process::id()))
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `target/debug/flagtrail` against the stand-in at `endpoint`: (exit code, stdout then stderr).
pub fn flagtrail(args: &[&str], endpoint: &str) -> (i32, String) {
    let out = Command::new(root().join("target/debug/flagtrail"))
        .args(args)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .expect("target/debug/flagtrail runs (the README's test command builds it)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

/// Creates the local stack with default names.
pub async fn stack(sdk: &aws_config::SdkConfig) -> Stack {
    let args = StackArgs {
        table: "feature-flags-e2e".into(),
        log_group: "/flagtrail/audit".into(),
        prefix: "flagtrail".into(),
        env_file: None,
        data_protection: false,
    };
    stack::create(sdk, &args).await.expect("local stack")
}

/// Everything the stack's stream holds, through the audit pipeline into its log group (like
/// Lambda's mapping, until the stream has been idle twice).
pub async fn audit_stream(sdk: &aws_config::SdkConfig, stack: &Stack) {
    let audit = flagtrail_runtime::build::audit_pipeline(sdk, &flagtrail_runtime::AuditConfig::new(&stack.log_group));
    let opts = flagtrail_devtools::mapping::MappingOptions {
        stop_after_idle_polls: Some(2),
        poll_interval: Duration::from_millis(50),
        ..Default::default()
    };
    let streams = aws_sdk_dynamodbstreams::Client::new(sdk);
    flagtrail_devtools::mapping::drain(&streams, &stack.stream_arn, &[&audit], &opts).await.expect("the stream drains");
}

/// The notify pipeline on the local stack's topics, raising freshness marks in its marks table.
pub fn notify_with_marks(
    sdk: &aws_config::SdkConfig,
    stack: &Stack,
) -> flagtrail_runtime::NotifyPipeline<flagtrail_runtime::sink::SnsTopic, flagtrail_runtime::sink::SnsTopic> {
    let mut config = flagtrail_runtime::NotifyConfig::new(&stack.alert_topic_arn, &stack.invalidation_topic_arn);
    config.marks_table = Some(stack.marks_table.clone());
    flagtrail_runtime::build::notify_pipeline(sdk, &config)
}

/// A string attribute.
pub fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.into())
}

/// An item from pairs, stamped the way every writer stamps.
pub fn stamped(
    pairs: &[(&str, AttributeValue)],
    who: &str,
    request: &str,
    version: u32,
) -> std::collections::HashMap<String, AttributeValue> {
    let mut m: std::collections::HashMap<String, AttributeValue> =
        pairs.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect();
    m.insert("updatedBy".into(), s(who));
    m.insert("updatedAt".into(), s("2026-11-23T10:00:00.000Z"));
    m.insert("requestId".into(), s(request));
    m.insert("version".into(), AttributeValue::N(version.to_string()));
    m
}

/// A production flag item (`FLAG#prod#{key}` / `METADATA`) with a rollout, stamped.
pub fn prod_flag(
    key: &str,
    rollout: u32,
    who: &str,
    request: &str,
    version: u32,
) -> std::collections::HashMap<String, AttributeValue> {
    stamped(
        &[
            ("PK", s(&format!("FLAG#prod#{key}"))),
            ("SK", s("METADATA")),
            ("rolloutPercentage", AttributeValue::N(rollout.to_string())),
        ],
        who,
        request,
        version,
    )
}

/// All messages of a log group, parsed.
pub async fn audit_records(logs: &aws_sdk_cloudwatchlogs::Client, group: &str) -> Vec<serde_json::Value> {
    stack::read_audit_log(logs, group).await.expect("FilterLogEvents")
}

/// Drains a queue: (body, attributes) of every message.
pub async fn drain_queue(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
) -> Vec<(serde_json::Value, std::collections::BTreeMap<String, String>)> {
    stack::read_queue(sqs, url).await.expect("ReceiveMessage")
}

/// Every record of the (single-shard) stream, from TRIM_HORIZON.
pub async fn stream_records(
    sdk: &aws_config::SdkConfig,
    stream_arn: &str,
) -> Vec<aws_sdk_dynamodbstreams::types::Record> {
    let streams = aws_sdk_dynamodbstreams::Client::new(sdk);
    let d = streams.describe_stream().stream_arn(stream_arn).send().await.unwrap();
    let shard = d.stream_description().unwrap().shards()[0].shard_id().unwrap().to_owned();
    let it = streams
        .get_shard_iterator()
        .stream_arn(stream_arn)
        .shard_id(shard)
        .shard_iterator_type(aws_sdk_dynamodbstreams::types::ShardIteratorType::TrimHorizon)
        .send()
        .await
        .unwrap();
    let r = streams.get_records().shard_iterator(it.shard_iterator().unwrap()).send().await.unwrap();
    r.records().to_vec()
}

pub mod fault;
pub mod invoke;
pub use flagtrail_devtools::kms;
pub mod strict;
pub mod witness;

/// Writes a realistic sequence of `rounds` × 4 changes (flag create/update, override, kill switch
/// flip) spread over a few flags, through the DynamoDB API.
pub async fn write_changes(sdk: &aws_config::SdkConfig, table: &str, rounds: usize) {
    let ddb = aws_sdk_dynamodb::Client::new(sdk);
    for i in 0..rounds {
        let pk = format!("FLAG#prod#flag-{}", i % 3);
        let items = [
            stamped(
                &[
                    ("PK", s(&pk)),
                    ("SK", s("METADATA")),
                    ("owner", s("team-a")),
                    ("rolloutPercentage", AttributeValue::N((i * 10).to_string())),
                ],
                "alice@example.com",
                &format!("req-{i}-a"),
                i as u32,
            ),
            stamped(
                &[("PK", s(&pk)), ("SK", s(&format!("TENANT#t{i}"))), ("enabled", AttributeValue::Bool(true))],
                "bob@example.com",
                &format!("req-{i}-b"),
                1,
            ),
            stamped(
                &[
                    ("PK", s(&pk)),
                    ("SK", s("KILLSWITCH")),
                    ("enabled", AttributeValue::Bool(i % 2 == 0)),
                    ("reason", s("drill")),
                ],
                "carol@example.com",
                &format!("req-{i}-c"),
                i as u32,
            ),
            stamped(
                &[("PK", s("KILLSWITCH#dev")), ("SK", s("GLOBAL")), ("enabled", AttributeValue::Bool(i % 2 == 0))],
                "dave@example.com",
                &format!("req-{i}-d"),
                i as u32,
            ),
        ];
        for it in items {
            ddb.put_item().table_name(table).set_item(Some(it)).send().await.expect("PutItem");
        }
    }
}
