//! Public keys that check seal signatures: ECDSA P-256, from a PEM file or from the DER that KMS
//! `GetPublicKey` returns (SubjectPublicKeyInfo).

use base64::Engine;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::DecodePublicKey;

use super::seal::{SealSignature, SIGNING_ALGORITHM};

/// A key that cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("public key {source_name}: {message}")]
pub struct KeyError {
    /// Where the key came from.
    pub source_name: String,
    /// What is wrong with it.
    pub message: String,
}

/// One trusted public key.
#[derive(Debug, Clone)]
pub struct SealKey {
    /// Where it came from (a file, a KMS key id), for reports.
    pub name: String,
    key: VerifyingKey,
}

impl SealKey {
    /// From a PEM `PUBLIC KEY` (SubjectPublicKeyInfo).
    pub fn from_pem(name: impl Into<String>, pem: &str) -> Result<Self, KeyError> {
        let name = name.into();
        let key = VerifyingKey::from_public_key_pem(pem)
            .map_err(|e| KeyError { source_name: name.clone(), message: format!("not a P-256 public key PEM: {e}") })?;
        Ok(SealKey { name, key })
    }

    /// From DER SubjectPublicKeyInfo (KMS `GetPublicKey`).
    pub fn from_der(name: impl Into<String>, der: &[u8]) -> Result<Self, KeyError> {
        let name = name.into();
        let key = VerifyingKey::from_public_key_der(der)
            .map_err(|e| KeyError { source_name: name.clone(), message: format!("not a P-256 public key: {e}") })?;
        Ok(SealKey { name, key })
    }

    /// From a verifying key in hand (tests, local signing).
    pub fn from_key(name: impl Into<String>, key: VerifyingKey) -> Self {
        SealKey { name: name.into(), key }
    }

    fn verifies(&self, message: &[u8], signature: &Signature) -> bool {
        self.key.verify(message, signature).is_ok()
    }
}

/// The keys an auditor trusts: a seal's signature is good when one of them verifies it (old keys
/// stay listed after a rotation).
#[derive(Debug, Clone, Default)]
pub struct SealKeys(pub Vec<SealKey>);

impl SealKeys {
    /// Checks `signature` over `message` (the seal digest's 32 bytes); the error says why not.
    pub fn check(&self, signature: &SealSignature, message: &[u8]) -> Result<(), String> {
        if signature.algorithm != SIGNING_ALGORITHM {
            return Err(format!("algorithm {} is not {SIGNING_ALGORITHM}", signature.algorithm));
        }
        let der = base64::engine::general_purpose::STANDARD
            .decode(&signature.value)
            .map_err(|e| format!("signature is not base64: {e}"))?;
        let sig = Signature::from_der(&der).map_err(|e| format!("signature is not a DER ECDSA signature: {e}"))?;
        if self.0.iter().any(|k| k.verifies(message, &sig)) {
            Ok(())
        } else {
            let names: Vec<&str> = self.0.iter().map(|k| k.name.as_str()).collect();
            Err(format!("no trusted key verifies it (tried {})", names.join(", ")))
        }
    }
}
