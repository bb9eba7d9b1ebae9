//! A `flagtrail witness` process for tests (the local C2SP tlog-witness over HTTP).

/// A `flagtrail witness` child process: its URL and vkey, from the line it prints once it listens.
pub struct WitnessProcess {
    child: std::process::Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// Its verifier key.
    pub vkey: String,
}

impl WitnessProcess {
    /// Starts `flagtrail witness ARGS` and waits until it answers as a witness.
    pub fn start(args: &[&str]) -> WitnessProcess {
        use std::io::BufRead;
        let mut child = std::process::Command::new(crate::root().join("target/debug/flagtrail"))
            .arg("witness")
            .args(args)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("target/debug/flagtrail runs");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        // `witness <vkey> listening on http://<addr>`
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!((words.first(), words.get(2)), (Some(&"witness"), Some(&"listening")), "{line}");
        let w = WitnessProcess { child, vkey: words[1].to_owned(), url: words[4].to_owned() };
        // Ready when it answers as a witness: a malformed add-checkpoint is a 400 naming the fault.
        let (status, body) = w.post("garbage");
        assert_eq!(status, 400, "{body}");
        assert!(body.contains("no empty line before the checkpoint"), "{body}");
        w
    }

    /// One HTTP/1.1 POST to `/add-checkpoint`: (status, body).
    pub fn post(&self, body: &str) -> (u16, String) {
        use std::io::{Read, Write};
        let addr = self.url.trim_start_matches("http://");
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        write!(
            s,
            "POST /add-checkpoint HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        let status = out.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
        (status, out.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default())
    }
}

impl Drop for WitnessProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes the Ed25519 key of `seed` as `DIR/NAME.pem` (PKCS#8) and `DIR/NAME.pub.pem`, as
/// `openssl genpkey -algorithm ed25519` and `openssl pkey -pubout` would; returns the private path.
pub fn write_ed25519_key(dir: &std::path::Path, name: &str, seed: u8) -> String {
    use ed25519_dalek::pkcs8::{EncodePrivateKey, EncodePublicKey};
    let k = ed25519_dalek::SigningKey::from_bytes(&[seed; 32]);
    let private = dir.join(format!("{name}.pem"));
    std::fs::write(&private, k.to_pkcs8_pem(Default::default()).unwrap().as_bytes()).unwrap();
    std::fs::write(
        dir.join(format!("{name}.pub.pem")),
        k.verifying_key().to_public_key_pem(Default::default()).unwrap(),
    )
    .unwrap();
    private.to_str().unwrap().to_owned()
}

/// Creates the witness's state table as the witness stack does (partition key `origin`, on demand).
pub async fn create_state_table(ddb: &aws_sdk_dynamodb::Client, name: &str) {
    use aws_sdk_dynamodb::types::{AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType};
    let origin = AttributeDefinition::builder().attribute_name("origin").attribute_type(ScalarAttributeType::S);
    ddb.create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(origin.build().unwrap())
        .key_schema(KeySchemaElement::builder().attribute_name("origin").key_type(KeyType::Hash).build().unwrap())
        .send()
        .await
        .unwrap();
}
