//! RSA signing keys and their public JWK form (RFC 7517), with the `kid` taken from the
//! RFC 7638 thumbprint so the same key always has the same id; and the key files: private
//! keys as PKCS#8 DER (owner-only), public JWKs as JSON (what a confidential client hands to
//! its authorization server; the private key never leaves the client).

use std::{fmt, fs, io::Write, path::Path, sync::Arc};

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use biscuit::jws::Secret;
use ring::signature::{RsaKeyPair, RsaPublicKeyComponents};
use rsa::pkcs8::EncodePrivateKey;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The only signature algorithm this system issues or accepts.
pub const ALG_PS256: &str = "PS256";

/// Errors loading, generating or storing keys.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key material is not a usable RSA key.
    #[error("invalid RSA key: {0}")]
    Invalid(String),
    /// Reading or writing a key file failed.
    #[error("key file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// A private RSA key used to sign PS256 JWS, with its `kid`.
#[derive(Clone)]
pub struct SigningKey {
    kid: String,
    pair: Arc<RsaKeyPair>,
    pkcs8: Arc<Vec<u8>>,
    public: VerifyingKey,
}

impl fmt::Debug for SigningKey {
    // Never print private key material.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Generates a new RSA key of `bits` bits (at least 2048).
    pub fn generate(bits: usize) -> Result<Self, KeyError> {
        if bits < 2048 {
            return Err(KeyError::Invalid(format!(
                "{bits}-bit RSA keys are too small (min 2048)"
            )));
        }
        let mut rng = rand::rngs::OsRng;
        let key = rsa::RsaPrivateKey::new(&mut rng, bits)
            .map_err(|e| KeyError::Invalid(e.to_string()))?;
        let der = key
            .to_pkcs8_der()
            .map_err(|e| KeyError::Invalid(e.to_string()))?;
        Self::from_pkcs8_der(der.as_bytes())
    }

    /// Loads a key from PKCS#8 DER bytes.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, KeyError> {
        let pair = RsaKeyPair::from_pkcs8(der).map_err(|e| KeyError::Invalid(e.to_string()))?;
        let components = RsaPublicKeyComponents::<Vec<u8>>::from(pair.public());
        let public = VerifyingKey::from_components(&components.n, &components.e, None)?;
        Ok(Self {
            kid: public.kid.clone(),
            pair: Arc::new(pair),
            pkcs8: Arc::new(der.to_vec()),
            public,
        })
    }

    /// Loads a PKCS#8 DER key file.
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        let der = fs::read(path).map_err(|source| KeyError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_pkcs8_der(&der)
    }

    /// Writes the key as PKCS#8 DER, readable and writable by the owner only (mode 0600),
    /// never replacing an existing file.
    pub fn store(&self, path: &Path) -> Result<(), KeyError> {
        let io = |source| KeyError::Io {
            path: path.display().to_string(),
            source,
        };
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(path).map_err(io)?;
        file.write_all(&self.pkcs8).map_err(io)?;
        file.sync_all().map_err(io)
    }

    /// Loads the key at `path`, or generates and stores one there if there is none.
    pub fn load_or_generate(path: &Path, bits: usize) -> Result<Self, KeyError> {
        if path.exists() {
            return Self::load(path);
        }
        let key = Self::generate(bits)?;
        key.store(path)?;
        Ok(key)
    }

    /// The key id (RFC 7638 thumbprint).
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public half.
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.public
    }

    /// The public JWK of this key.
    pub fn public_jwk(&self) -> PublicJwk {
        self.public.to_jwk()
    }

    /// Writes the public JWK (never the private part) as JSON to `path`, replacing the file
    /// atomically.
    pub fn write_public_jwk(&self, path: &Path) -> Result<(), KeyError> {
        let json = serde_json::to_vec_pretty(&self.public_jwk())
            .map_err(|e| KeyError::Invalid(e.to_string()))?;
        write_atomically(path, &json).map_err(|source| KeyError::Io {
            path: path.display().to_string(),
            source,
        })
    }

    pub(crate) fn secret(&self) -> Secret {
        Secret::RsaKeyPair(self.pair.clone())
    }
}

/// A public RSA key that verifies PS256 signatures.
#[derive(Clone, PartialEq, Eq)]
pub struct VerifyingKey {
    kid: String,
    n: Vec<u8>,
    e: Vec<u8>,
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("kid", &self.kid)
            .field("bits", &(self.n.len() * 8))
            .finish()
    }
}

impl VerifyingKey {
    /// Builds a key from its big-endian modulus and exponent; `kid` defaults to the thumbprint.
    pub fn from_components(n: &[u8], e: &[u8], kid: Option<String>) -> Result<Self, KeyError> {
        let n = strip_leading_zeros(n);
        let e = strip_leading_zeros(e);
        if n.len() * 8 < 2048 {
            return Err(KeyError::Invalid(format!(
                "RSA modulus of {} bits is too small (min 2048)",
                n.len() * 8
            )));
        }
        if e.is_empty() {
            return Err(KeyError::Invalid("RSA exponent is empty".into()));
        }
        let kid = kid.unwrap_or_else(|| thumbprint(n, e));
        Ok(Self {
            kid,
            n: n.to_vec(),
            e: e.to_vec(),
        })
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public JWK (`kty: RSA`, `alg: PS256`, `use: sig`).
    pub fn to_jwk(&self) -> PublicJwk {
        PublicJwk {
            kty: "RSA".into(),
            kid: Some(self.kid.clone()),
            alg: Some(ALG_PS256.into()),
            key_use: Some("sig".into()),
            n: URL_SAFE_NO_PAD.encode(&self.n),
            e: URL_SAFE_NO_PAD.encode(&self.e),
        }
    }

    pub(crate) fn secret(&self) -> Secret {
        Secret::RSAModulusExponent {
            n: num_bigint::BigUint::from_bytes_be(&self.n),
            e: num_bigint::BigUint::from_bytes_be(&self.e),
        }
    }
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

/// RFC 7638 JWK thumbprint (SHA-256, base64url) of an RSA public key.
fn thumbprint(n: &[u8], e: &[u8]) -> String {
    // Members in lexicographic order, no whitespace, as RFC 7638 §3.2 requires.
    let canonical = format!(
        r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
        URL_SAFE_NO_PAD.encode(e),
        URL_SAFE_NO_PAD.encode(n)
    );
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

/// A public JSON Web Key (RFC 7517), RSA only. Unknown members are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicJwk {
    /// Key type; only `RSA` is usable.
    pub kty: String,
    /// Key id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// Intended algorithm; if present it must be `PS256`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    /// Intended use; if present it must be `sig`.
    #[serde(rename = "use", default, skip_serializing_if = "Option::is_none")]
    pub key_use: Option<String>,
    /// Modulus, base64url.
    #[serde(default)]
    pub n: String,
    /// Exponent, base64url.
    #[serde(default)]
    pub e: String,
}

impl PublicJwk {
    /// Reads a public JWK file as written by [`SigningKey::write_public_jwk`] and checks that
    /// it is a usable PS256 key; a missing `kid` is filled in with the RFC 7638 thumbprint.
    pub fn read_file(path: &Path) -> Result<Self, KeyError> {
        let bytes = fs::read(path).map_err(|source| KeyError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let jwk: Self = serde_json::from_slice(&bytes)
            .map_err(|e| KeyError::Invalid(format!("{}: not a JWK: {e}", path.display())))?;
        let key = jwk.to_verifying_key()?;
        Ok(if jwk.kid.is_some() { jwk } else { key.to_jwk() })
    }

    /// Converts to a verifying key, refusing keys not meant for PS256 signatures.
    pub fn to_verifying_key(&self) -> Result<VerifyingKey, KeyError> {
        if self.kty != "RSA" {
            return Err(KeyError::Invalid(format!("unsupported kty {:?}", self.kty)));
        }
        if let Some(alg) = self.alg.as_deref().filter(|alg| *alg != ALG_PS256) {
            return Err(KeyError::Invalid(format!(
                "key is for alg {alg:?}, not PS256"
            )));
        }
        if let Some(key_use) = self.key_use.as_deref().filter(|u| *u != "sig") {
            return Err(KeyError::Invalid(format!("key use {key_use:?} is not sig")));
        }
        let decode = |field: &str, value: &str| {
            URL_SAFE_NO_PAD
                .decode(value.trim_end_matches('='))
                .map_err(|_| KeyError::Invalid(format!("{field} is not base64url")))
        };
        VerifyingKey::from_components(
            &decode("n", &self.n)?,
            &decode("e", &self.e)?,
            self.kid.clone(),
        )
    }
}

/// Replaces the file at `path` with `bytes` so that a concurrent reader sees the old or the
/// new content, never half of it: write a temporary file next to it, sync, rename.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(path.file_name().unwrap_or_default());
    tmp_name.push(format!(".{}.tmp", uuid::Uuid::new_v4().simple()));
    let tmp = path.with_file_name(tmp_name);
    let mut file = fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    fs::rename(&tmp, path)
}

/// A JWK Set (RFC 7517 §5).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwkSet {
    /// The keys.
    pub keys: Vec<PublicJwk>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_key_round_trips_through_pkcs8_file_with_owner_only_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.pk8");
        let key = SigningKey::load_or_generate(&path, 2048).unwrap();
        let again = SigningKey::load_or_generate(&path, 2048).unwrap();
        assert_eq!(key.kid(), again.kid());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let jwk = key.public_jwk();
        assert_eq!(jwk.to_verifying_key().unwrap(), *key.verifying_key());
        assert!(!serde_json::to_string(&jwk).unwrap().contains("\"d\""));
    }

    #[test]
    fn public_jwk_file_round_trips_without_private_material() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("client.jwk.json");
        let key = SigningKey::generate(2048).unwrap();
        key.write_public_jwk(&path).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert!(!text.contains("\"d\""), "private exponent written: {text}");
        let jwk = PublicJwk::read_file(&path).unwrap();
        assert_eq!(jwk.to_verifying_key().unwrap(), *key.verifying_key());
        // Overwriting (key regenerated) replaces the file.
        let other = SigningKey::generate(2048).unwrap();
        other.write_public_jwk(&path).unwrap();
        assert_eq!(
            PublicJwk::read_file(&path).unwrap().kid.as_deref(),
            Some(other.kid())
        );
    }

    #[test]
    fn small_and_wrong_purpose_keys_are_refused() {
        assert!(SigningKey::generate(1024).is_err());
        let key = SigningKey::generate(2048).unwrap();
        let mut jwk = key.public_jwk();
        jwk.alg = Some("RS256".into());
        assert!(jwk.to_verifying_key().is_err());
        let mut jwk = key.public_jwk();
        jwk.key_use = Some("enc".into());
        assert!(jwk.to_verifying_key().is_err());
    }
}
