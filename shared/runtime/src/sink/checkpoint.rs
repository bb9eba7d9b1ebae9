//! Who signs the transparency log's checkpoints (docs/integrity.md): a KMS key of spec
//! `ECC_NIST_EDWARDS25519` on AWS — its own key, not the seal key, usable by the log writer alone —
//! or an Ed25519 PEM key locally. KMS signs the checkpoint text itself (`ED25519_SHA_512`, which "requires
//! KMS MessageType:RAW" per the Sign API reference: pure Ed25519, what signed-note's Ed25519
//! signatures are; `ED25519_PH_SHA_512` would be the pre-hashed variant, which notes do not use; the
//! text is far below Sign's 4,096-byte message limit), and the note is assembled around the signature
//! (`flagtrail_core::integrity::tlog::checkpoint_with_signature`), which is refused unless it
//! verifies with the key's public half.

use async_trait::async_trait;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{KeySpec, MessageType, SigningAlgorithmSpec};
use ed25519_dalek::pkcs8::DecodePublicKey;
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use flagtrail_core::integrity::tlog::{checkpoint_text, checkpoint_with_signature, MerkleLog, NoteVerifyingKey};

use super::SinkError;
use crate::sdk::classify;

/// Signs checkpoint texts with an Ed25519 key.
#[async_trait]
pub trait CheckpointSigner: Send + Sync {
    /// The public half.
    fn verifying_key(&self) -> VerifyingKey;
    /// The Ed25519 signature of `text`.
    async fn sign(&self, text: &[u8]) -> Result<Vec<u8>, SinkError>;
}

/// The checkpoint of `log`, signed by `signer` under the name `origin`, as note bytes.
pub async fn sign_checkpoint(
    origin: &str,
    log: &MerkleLog,
    signer: &dyn CheckpointSigner,
) -> Result<Vec<u8>, SinkError> {
    let bad = |e: flagtrail_core::integrity::tlog::LogError| SinkError::Permanent { sink: "checkpoint", message: e.0 };
    let text = checkpoint_text(origin, log).map_err(bad)?;
    let signature = signer.sign(&text).await?;
    checkpoint_with_signature(&text, &NoteVerifyingKey::new(origin, signer.verifying_key()), &signature).map_err(bad)
}

/// An Ed25519 key in memory (a PEM file: the local stand-in of the KMS key).
pub struct LocalCheckpointSigner(pub SigningKey);

#[async_trait]
impl CheckpointSigner for LocalCheckpointSigner {
    fn verifying_key(&self) -> VerifyingKey {
        self.0.verifying_key()
    }
    async fn sign(&self, text: &[u8]) -> Result<Vec<u8>, SinkError> {
        Ok(self.0.sign(text).to_bytes().to_vec())
    }
}

/// A KMS key of spec `ECC_NIST_EDWARDS25519`.
pub struct KmsCheckpointSigner {
    client: aws_sdk_kms::Client,
    key_id: String,
    public: VerifyingKey,
}

impl KmsCheckpointSigner {
    /// The key `key_id`, its public half read once (GetPublicKey); refused unless its spec is
    /// `ECC_NIST_EDWARDS25519`.
    pub async fn new(client: aws_sdk_kms::Client, key_id: impl Into<String>) -> Result<Self, SinkError> {
        let key_id = key_id.into();
        let out = client.get_public_key().key_id(&key_id).send().await.map_err(|e| classify("kms", &e))?;
        let permanent = |message: String| SinkError::Permanent { sink: "kms", message };
        if out.key_spec() != Some(&KeySpec::EccNistEdwards25519) {
            return Err(permanent(format!(
                "checkpoint key {key_id} has spec {:?}; the log signs with ECC_NIST_EDWARDS25519",
                out.key_spec()
            )));
        }
        let der = out.public_key().ok_or_else(|| permanent(format!("GetPublicKey of {key_id} returned no key")))?;
        let public = VerifyingKey::from_public_key_der(der.as_ref())
            .map_err(|e| permanent(format!("the public key of {key_id} is not Ed25519 SPKI: {e}")))?;
        Ok(KmsCheckpointSigner { client, key_id, public })
    }
}

#[async_trait]
impl CheckpointSigner for KmsCheckpointSigner {
    fn verifying_key(&self) -> VerifyingKey {
        self.public
    }
    async fn sign(&self, text: &[u8]) -> Result<Vec<u8>, SinkError> {
        let out = self
            .client
            .sign()
            .key_id(&self.key_id)
            .message(Blob::new(text.to_vec()))
            .message_type(MessageType::Raw)
            .signing_algorithm(SigningAlgorithmSpec::Ed25519Sha512)
            .send()
            .await
            .map_err(|e| classify("kms", &e))?;
        let signature = out
            .signature()
            .ok_or_else(|| SinkError::Transient { sink: "kms", message: "Sign answered without a signature".into() })?;
        Ok(signature.as_ref().to_vec())
    }
}
