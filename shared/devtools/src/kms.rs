//! A stand-in for the two KMS calls of an Ed25519 checkpoint key (`ECC_NIST_EDWARDS25519`), which
//! moto 5.2.5 refuses to create: GetPublicKey and Sign answered as KMS documents them, with a local
//! key. It records each request (target, JSON body) so tests can check their shape. A key id of
//! `alias/other` answers as a key of another spec.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use base64::Engine;
use ed25519_dalek::pkcs8::EncodePublicKey;
use ed25519_dalek::{Signer, SigningKey};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// The stand-in; it runs until the test process ends.
pub struct KmsEd25519 {
    /// `http://127.0.0.1:PORT` (give it as `AWS_ENDPOINT_URL_KMS`).
    pub endpoint: String,
    requests: Arc<Mutex<Vec<(String, serde_json::Value)>>>,
}

impl KmsEd25519 {
    /// Serves `key` as the checkpoint key.
    pub fn start(key: SigningKey) -> KmsEd25519 {
        let spki = key.verifying_key().to_public_key_der().expect("an Ed25519 SPKI").as_bytes().to_vec();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let requests: Arc<Mutex<Vec<(String, serde_json::Value)>>> = Arc::default();
        let seen = requests.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let (seen, key, spki) = (seen.clone(), key.clone(), spki.clone());
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(conn.try_clone().unwrap());
                    let mut out = conn;
                    loop {
                        let (mut target, mut len, mut line) = (String::new(), 0, String::new());
                        loop {
                            line.clear();
                            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                                return;
                            }
                            if line == "\r\n" {
                                break;
                            }
                            let (k, v) = line.split_once(':').unwrap_or(("", ""));
                            match k.to_ascii_lowercase().as_str() {
                                "x-amz-target" => target = v.trim().to_owned(),
                                "content-length" => len = v.trim().parse().unwrap_or(0),
                                _ => {}
                            }
                        }
                        let mut body = vec![0; len];
                        if reader.read_exact(&mut body).is_err() {
                            return;
                        }
                        let request: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                        seen.lock().unwrap().push((target.clone(), request.clone()));
                        let arn = "arn:aws:kms:us-east-1:123456789012:key/checkpoint";
                        let reply = match target.as_str() {
                            "TrentService.GetPublicKey" if request["KeyId"] == "alias/other" => serde_json::json!({
                                "KeyId": arn, "KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY", "PublicKey": B64.encode(&spki)}),
                            "TrentService.GetPublicKey" => serde_json::json!({
                                "KeyId": arn, "KeySpec": "ECC_NIST_EDWARDS25519", "KeyUsage": "SIGN_VERIFY",
                                "SigningAlgorithms": ["ED25519_SHA_512", "ED25519_PH_SHA_512"], "PublicKey": B64.encode(&spki)}),
                            _ => {
                                let message = B64.decode(request["Message"].as_str().unwrap_or("")).unwrap_or_default();
                                serde_json::json!({"KeyId": arn, "SigningAlgorithm": "ED25519_SHA_512",
                                    "Signature": B64.encode(key.sign(&message).to_bytes())})
                            }
                        }
                        .to_string();
                        let _ = write!(
                            out,
                            "HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.1\r\nx-amzn-RequestId: kms\r\nContent-Length: {}\r\n\r\n{reply}",
                            reply.len()
                        );
                    }
                });
            }
        });
        KmsEd25519 { endpoint, requests }
    }

    /// Every request so far: (X-Amz-Target, JSON body).
    pub fn requests(&self) -> Vec<(String, serde_json::Value)> {
        self.requests.lock().unwrap().clone()
    }
}
