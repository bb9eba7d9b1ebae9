//! Seal signers: one signature per invocation over the seal's 32-byte digest. In Lambda a KMS
//! asymmetric key (`ECC_NIST_P256`, `SIGN_VERIFY`) signs; locally a PEM private key does, the same
//! algorithm and encoding, so `flagtrail verify` checks both alike.
//!
//! KMS Sign is called with `MessageType: RAW` and the digest's 32 bytes as the message (KMS then
//! signs their SHA-256): a RAW message may be 0–4096 bytes; DIGEST would skip that hash, but moto
//! does not implement DIGEST, and RAW keeps one code path for AWS, moto and local keys.
//! <https://docs.aws.amazon.com/kms/latest/APIReference/API_Sign.html>

use async_trait::async_trait;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{MessageType, SigningAlgorithmSpec};
use base64::Engine;
use flagtrail_core::integrity::{SealSignature, SIGNING_ALGORITHM};
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::{DecodePrivateKey, EncodePublicKey};
use sha2::{Digest, Sha256};

use super::SinkError;
use crate::sdk::classify;

/// Signs seal digests.
#[async_trait]
pub trait SealSigner: Send + Sync {
    /// The signature over `digest` (the seal id's 32 bytes).
    async fn sign(&self, digest: &[u8; 32]) -> Result<SealSignature, SinkError>;
}

fn signature(key_id: String, der: &[u8]) -> SealSignature {
    SealSignature {
        key_id,
        algorithm: SIGNING_ALGORITHM.into(),
        value: base64::engine::general_purpose::STANDARD.encode(der),
    }
}

/// A KMS asymmetric signing key (`FLAGTRAIL_SEAL_KEY_ID`).
pub struct KmsSigner {
    client: aws_sdk_kms::Client,
    key_id: String,
}

impl KmsSigner {
    /// Signs with `key_id` (key id, ARN or alias).
    pub fn new(client: aws_sdk_kms::Client, key_id: String) -> Self {
        KmsSigner { client, key_id }
    }
}

#[async_trait]
impl SealSigner for KmsSigner {
    async fn sign(&self, digest: &[u8; 32]) -> Result<SealSignature, SinkError> {
        let out = self
            .client
            .sign()
            .key_id(&self.key_id)
            .message(Blob::new(digest.to_vec()))
            .message_type(MessageType::Raw)
            .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
            .send()
            .await
            .map_err(|e| classify("kms", &e))?;
        let der = out
            .signature()
            .ok_or_else(|| SinkError::Transient { sink: "kms", message: "Sign answered without a signature".into() })?;
        Ok(signature(out.key_id().unwrap_or(&self.key_id).to_owned(), der.as_ref()))
    }
}

/// A local P-256 private key (PKCS#8 PEM), for `flagtrail replay --seal-key` and tests.
pub struct LocalSigner {
    key: SigningKey,
    key_id: String,
}

impl LocalSigner {
    /// From a PKCS#8 PEM private key (`openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256`).
    pub fn from_pem(pem: &str) -> Result<Self, String> {
        let key = SigningKey::from_pkcs8_pem(pem).map_err(|e| format!("not a P-256 PKCS#8 private key: {e}"))?;
        Ok(Self::from_key(key))
    }

    /// From a key in hand; its id is `local:` and the first 16 hex digits of the public key's SHA-256.
    pub fn from_key(key: SigningKey) -> Self {
        let der = key.verifying_key().to_public_key_der().map(|d| d.as_bytes().to_vec()).unwrap_or_default();
        let key_id = format!("local:{}", &hex::encode(Sha256::digest(&der))[..16]);
        LocalSigner { key, key_id }
    }

    /// The public key, PEM (what an auditor is given).
    pub fn public_key_pem(&self) -> String {
        self.key.verifying_key().to_public_key_pem(Default::default()).expect("a P-256 key encodes")
    }
}

#[async_trait]
impl SealSigner for LocalSigner {
    async fn sign(&self, digest: &[u8; 32]) -> Result<SealSignature, SinkError> {
        let sig: Signature = self.key.sign(digest);
        Ok(signature(self.key_id.clone(), sig.to_der().as_bytes()))
    }
}
