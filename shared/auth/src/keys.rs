//! Signing keys (ES256 on P-256, PS256 on RSA ≥ 2048 bits) and their public JWK form
//! (RFC 7517), with the `kid` taken from the RFC 7638 thumbprint so the same key always has
//! the same id; and the key files: private keys as PKCS#8 DER (owner-only), public JWKs as
//! JSON (what a confidential client hands to its authorization server; the private key never
//! leaves the client).
//!
//! A key knows its algorithm: an EC P-256 key signs and verifies ES256 only, an RSA key
//! PS256 only (RFC 8725 §3.1: one key, one algorithm).

use std::{fmt, fs, io::Write, path::Path, sync::Arc};

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use biscuit::jws::Secret;
use ring::{
    rand::SystemRandom,
    signature::{
        ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair, RsaKeyPair, RsaPublicKeyComponents,
    },
};
use rsa::pkcs8::EncodePrivateKey;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use crate::algorithm::{ALG_ES256, ALG_PS256, Algorithm};

/// Smallest RSA modulus accepted, in bits.
pub const MIN_RSA_BITS: usize = 2048;
/// Length of one P-256 coordinate, in bytes.
const P256_COORDINATE_BYTES: usize = 32;
/// `crv` of P-256 keys (RFC 7518 §6.2.1.1).
const CRV_P256: &str = "P-256";

/// Errors loading, generating or storing keys.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key material is not a usable key.
    #[error("invalid key: {0}")]
    Invalid(String),
    /// A private key file others may read or change (see [`SigningKey::load`]).
    #[error(
        "key file {path} has mode {mode:o}: a private key must be readable by its owner only (chmod 600)"
    )]
    Exposed {
        /// The file.
        path: String,
        /// Its permission bits.
        mode: u32,
    },
    /// Reading or writing a key file failed.
    #[error("key file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// What kind of key to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySpec {
    /// An ECDSA P-256 key for ES256.
    Es256,
    /// An RSA key of `bits` bits (at least [`MIN_RSA_BITS`]) for PS256.
    Ps256 {
        /// Modulus size.
        bits: usize,
    },
}

impl KeySpec {
    /// The spec for `algorithm`; `rsa_bits` is used for PS256 only and must be at least
    /// [`MIN_RSA_BITS`].
    pub fn new(algorithm: Algorithm, rsa_bits: usize) -> Result<Self, KeyError> {
        match algorithm {
            Algorithm::Es256 => Ok(Self::Es256),
            Algorithm::Ps256 if rsa_bits < MIN_RSA_BITS => Err(KeyError::Invalid(format!(
                "{rsa_bits}-bit RSA keys are too small (min {MIN_RSA_BITS})"
            ))),
            Algorithm::Ps256 => Ok(Self::Ps256 { bits: rsa_bits }),
        }
    }

    /// The algorithm keys of this spec sign with.
    pub fn algorithm(self) -> Algorithm {
        match self {
            Self::Es256 => Algorithm::Es256,
            Self::Ps256 { .. } => Algorithm::Ps256,
        }
    }
}

#[derive(Clone)]
enum KeyPairKind {
    Ec(Arc<EcdsaKeyPair>),
    Rsa(Arc<RsaKeyPair>),
}

/// A private key used to sign JWS with its own algorithm, with its `kid`.
#[derive(Clone)]
pub struct SigningKey {
    kid: String,
    pair: KeyPairKind,
    pkcs8: Arc<Vec<u8>>,
    public: VerifyingKey,
}

impl fmt::Debug for SigningKey {
    // Never print private key material.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.algorithm())
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Generates a new key as `spec` says.
    pub fn generate(spec: KeySpec) -> Result<Self, KeyError> {
        match spec {
            KeySpec::Es256 => {
                let document = EcdsaKeyPair::generate_pkcs8(
                    &ECDSA_P256_SHA256_FIXED_SIGNING,
                    &SystemRandom::new(),
                )
                .map_err(|_| KeyError::Invalid("P-256 key generation failed".into()))?;
                Self::from_pkcs8_der(document.as_ref())
            }
            KeySpec::Ps256 { bits } => {
                KeySpec::new(Algorithm::Ps256, bits)?;
                let mut rng = rand::rngs::OsRng;
                let key = rsa::RsaPrivateKey::new(&mut rng, bits)
                    .map_err(|e| KeyError::Invalid(e.to_string()))?;
                let der = key
                    .to_pkcs8_der()
                    .map_err(|e| KeyError::Invalid(e.to_string()))?;
                Self::from_pkcs8_der(der.as_bytes())
            }
        }
    }

    /// Loads a key from PKCS#8 DER bytes: an EC P-256 key (ES256) or an RSA key of at least
    /// 2048 bits (PS256).
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, KeyError> {
        let (pair, public) = if let Ok(pair) =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der, &SystemRandom::new())
        {
            let public = VerifyingKey::from_p256_point(pair.public_key().as_ref(), None)?;
            (KeyPairKind::Ec(Arc::new(pair)), public)
        } else {
            let pair = RsaKeyPair::from_pkcs8(der).map_err(|e| {
                KeyError::Invalid(format!("not a P-256 or RSA PKCS#8 private key: {e}"))
            })?;
            let components = RsaPublicKeyComponents::<Vec<u8>>::from(pair.public());
            let public = VerifyingKey::from_components(&components.n, &components.e, None)?;
            (KeyPairKind::Rsa(Arc::new(pair)), public)
        };
        Ok(Self {
            kid: public.kid.clone(),
            pair,
            pkcs8: Arc::new(der.to_vec()),
            public,
        })
    }

    /// Loads a PKCS#8 DER key file, refusing one that others may read or change: no
    /// permission for others, none for the group either, except read when root owns the
    /// file (a Kubernetes Secret mounted with `fsGroup` is `root:<fsGroup>` mode 0440, the
    /// rule PostgreSQL applies to its TLS key).
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        let io = |source| KeyError::Io {
            path: path.display().to_string(),
            source,
        };
        let mut file = fs::File::open(path).map_err(io)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let metadata = file.metadata().map_err(io)?;
            let mode = metadata.mode() & 0o7777;
            let tolerated = if metadata.uid() == 0 { 0o040 } else { 0 };
            if mode & 0o077 & !tolerated != 0 {
                return Err(KeyError::Exposed {
                    path: path.display().to_string(),
                    mode,
                });
            }
        }
        let mut der = Vec::new();
        std::io::Read::read_to_end(&mut file, &mut der).map_err(io)?;
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

    /// A service's `keygen`: the client key at `private_key` (created with its directory if
    /// absent, mode 0600; kept if present, whatever its algorithm; else generated as `spec`
    /// says) and its public JWK written to `public_jwk`, for the authorization server to
    /// register. The private key never leaves the service.
    pub fn keygen(private_key: &Path, public_jwk: &Path, spec: KeySpec) -> Result<Self, KeyError> {
        if let Some(parent) = private_key.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| KeyError::Io {
                path: parent.display().to_string(),
                source,
            })?;
        }
        let key = Self::load_or_generate(private_key, spec)?;
        key.write_public_jwk(public_jwk)?;
        Ok(key)
    }

    /// Loads the key at `path`, or generates one as `spec` says and stores it there if there
    /// is none. An existing key is used whatever its algorithm.
    pub fn load_or_generate(path: &Path, spec: KeySpec) -> Result<Self, KeyError> {
        if path.exists() {
            return Self::load(path);
        }
        let key = Self::generate(spec)?;
        key.store(path)?;
        Ok(key)
    }

    /// The key id (RFC 7638 thumbprint).
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The algorithm this key signs with.
    pub fn algorithm(&self) -> Algorithm {
        self.public.algorithm()
    }

    /// The private key as PKCS#8 DER (for storing it elsewhere than a file).
    pub fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8
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
        match &self.pair {
            KeyPairKind::Ec(pair) => Secret::EcdsaKeyPair(pair.clone()),
            KeyPairKind::Rsa(pair) => Secret::RsaKeyPair(pair.clone()),
        }
    }
}

#[derive(Clone, PartialEq, Eq)]
enum PublicKeyMaterial {
    /// Big-endian modulus and exponent, without leading zeros.
    Rsa { n: Vec<u8>, e: Vec<u8> },
    /// The uncompressed P-256 point `0x04 || x || y`.
    P256 { point: Vec<u8> },
}

/// A public key that verifies signatures of its own algorithm (ES256 or PS256).
#[derive(Clone, PartialEq, Eq)]
pub struct VerifyingKey {
    kid: String,
    material: PublicKeyMaterial,
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bits = match &self.material {
            PublicKeyMaterial::Rsa { n, .. } => n.len() * 8,
            PublicKeyMaterial::P256 { .. } => 256,
        };
        f.debug_struct("VerifyingKey")
            .field("kid", &self.kid)
            .field("alg", &self.algorithm())
            .field("bits", &bits)
            .finish()
    }
}

impl VerifyingKey {
    /// An RSA (PS256) key from its big-endian modulus and exponent; `kid` defaults to the
    /// thumbprint.
    pub fn from_components(n: &[u8], e: &[u8], kid: Option<String>) -> Result<Self, KeyError> {
        let n = strip_leading_zeros(n);
        let e = strip_leading_zeros(e);
        if n.len() * 8 < MIN_RSA_BITS {
            return Err(KeyError::Invalid(format!(
                "RSA modulus of {} bits is too small (min {MIN_RSA_BITS})",
                n.len() * 8
            )));
        }
        if e.is_empty() {
            return Err(KeyError::Invalid("RSA exponent is empty".into()));
        }
        let material = PublicKeyMaterial::Rsa {
            n: n.to_vec(),
            e: e.to_vec(),
        };
        Ok(Self {
            kid: kid.unwrap_or_else(|| thumbprint(&material)),
            material,
        })
    }

    /// A P-256 (ES256) key from its affine coordinates (32 bytes each, big-endian); `kid`
    /// defaults to the thumbprint.
    pub fn from_p256_coordinates(
        x: &[u8],
        y: &[u8],
        kid: Option<String>,
    ) -> Result<Self, KeyError> {
        if x.len() != P256_COORDINATE_BYTES || y.len() != P256_COORDINATE_BYTES {
            return Err(KeyError::Invalid(format!(
                "P-256 coordinates must be {P256_COORDINATE_BYTES} bytes each"
            )));
        }
        let mut point = Vec::with_capacity(1 + 2 * P256_COORDINATE_BYTES);
        point.push(0x04);
        point.extend_from_slice(x);
        point.extend_from_slice(y);
        Self::from_p256_point(&point, kid)
    }

    fn from_p256_point(point: &[u8], kid: Option<String>) -> Result<Self, KeyError> {
        if point.len() != 1 + 2 * P256_COORDINATE_BYTES || point[0] != 0x04 {
            return Err(KeyError::Invalid("not an uncompressed P-256 point".into()));
        }
        let material = PublicKeyMaterial::P256 {
            point: point.to_vec(),
        };
        Ok(Self {
            kid: kid.unwrap_or_else(|| thumbprint(&material)),
            material,
        })
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The only algorithm this key verifies.
    pub fn algorithm(&self) -> Algorithm {
        match self.material {
            PublicKeyMaterial::Rsa { .. } => Algorithm::Ps256,
            PublicKeyMaterial::P256 { .. } => Algorithm::Es256,
        }
    }

    /// The public JWK (`kty: RSA`, `alg: PS256` or `kty: EC`, `crv: P-256`, `alg: ES256`;
    /// `use: sig`).
    pub fn to_jwk(&self) -> PublicJwk {
        let mut jwk = PublicJwk {
            kty: String::new(),
            kid: Some(self.kid.clone()),
            alg: Some(self.algorithm().as_str().into()),
            key_use: Some("sig".into()),
            n: String::new(),
            e: String::new(),
            crv: None,
            x: None,
            y: None,
        };
        match &self.material {
            PublicKeyMaterial::Rsa { n, e } => {
                jwk.kty = "RSA".into();
                jwk.n = URL_SAFE_NO_PAD.encode(n);
                jwk.e = URL_SAFE_NO_PAD.encode(e);
            }
            PublicKeyMaterial::P256 { point } => {
                let (x, y) = point[1..].split_at(P256_COORDINATE_BYTES);
                jwk.kty = "EC".into();
                jwk.crv = Some(CRV_P256.into());
                jwk.x = Some(URL_SAFE_NO_PAD.encode(x));
                jwk.y = Some(URL_SAFE_NO_PAD.encode(y));
            }
        }
        jwk
    }

    pub(crate) fn secret(&self) -> Secret {
        match &self.material {
            PublicKeyMaterial::Rsa { n, e } => Secret::RSAModulusExponent {
                n: num_bigint::BigUint::from_bytes_be(n),
                e: num_bigint::BigUint::from_bytes_be(e),
            },
            PublicKeyMaterial::P256 { point } => Secret::PublicKey(point.clone()),
        }
    }
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

/// RFC 7638 JWK thumbprint (SHA-256, base64url) of a public key.
fn thumbprint(material: &PublicKeyMaterial) -> String {
    // The required members in lexicographic order, no whitespace (RFC 7638 §3.2).
    let canonical = match material {
        PublicKeyMaterial::Rsa { n, e } => format!(
            r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
            URL_SAFE_NO_PAD.encode(e),
            URL_SAFE_NO_PAD.encode(n)
        ),
        PublicKeyMaterial::P256 { point } => {
            let (x, y) = point[1..].split_at(P256_COORDINATE_BYTES);
            format!(
                r#"{{"crv":"{CRV_P256}","kty":"EC","x":"{}","y":"{}"}}"#,
                URL_SAFE_NO_PAD.encode(x),
                URL_SAFE_NO_PAD.encode(y)
            )
        }
    };
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

/// A public JSON Web Key (RFC 7517): RSA or EC P-256. Unknown members are ignored; members
/// of the other key type are left out when written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicJwk {
    /// Key type: `RSA` or `EC`.
    pub kty: String,
    /// Key id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// Intended algorithm; if present it must be the key type's (`PS256` for RSA, `ES256`
    /// for EC P-256).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    /// Intended use; if present it must be `sig`.
    #[serde(rename = "use", default, skip_serializing_if = "Option::is_none")]
    pub key_use: Option<String>,
    /// RSA modulus, base64url.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub n: String,
    /// RSA exponent, base64url.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub e: String,
    /// EC curve: `P-256`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    /// EC x coordinate, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// EC y coordinate, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
}

impl PublicJwk {
    /// Reads a public JWK file as written by [`SigningKey::write_public_jwk`] and checks that
    /// it is a usable signature key; a missing `kid` is filled in with the RFC 7638
    /// thumbprint.
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

    /// The algorithm this JWK is for, judged by its key type (and curve): `RSA` → PS256,
    /// `EC` on P-256 → ES256. A stated `alg` must agree.
    pub fn algorithm(&self) -> Result<Algorithm, KeyError> {
        let algorithm = match (self.kty.as_str(), self.crv.as_deref()) {
            ("RSA", _) => Algorithm::Ps256,
            ("EC", Some(CRV_P256)) => Algorithm::Es256,
            ("EC", crv) => {
                return Err(KeyError::Invalid(format!("unsupported EC curve {crv:?}")));
            }
            (kty, _) => return Err(KeyError::Invalid(format!("unsupported kty {kty:?}"))),
        };
        if let Some(alg) = self.alg.as_deref().filter(|alg| *alg != algorithm.as_str()) {
            return Err(KeyError::Invalid(format!(
                "{} key is for alg {alg:?}, not {algorithm}",
                self.kty
            )));
        }
        Ok(algorithm)
    }

    /// Converts to a verifying key, refusing keys not meant for ES256 or PS256 signatures.
    pub fn to_verifying_key(&self) -> Result<VerifyingKey, KeyError> {
        let algorithm = self.algorithm()?;
        if let Some(key_use) = self.key_use.as_deref().filter(|u| *u != "sig") {
            return Err(KeyError::Invalid(format!("key use {key_use:?} is not sig")));
        }
        let decode = |field: &str, value: &str| {
            URL_SAFE_NO_PAD
                .decode(value.trim_end_matches('='))
                .map_err(|_| KeyError::Invalid(format!("{field} is not base64url")))
        };
        match algorithm {
            Algorithm::Ps256 => VerifyingKey::from_components(
                &decode("n", &self.n)?,
                &decode("e", &self.e)?,
                self.kid.clone(),
            ),
            Algorithm::Es256 => VerifyingKey::from_p256_coordinates(
                &decode("x", self.x.as_deref().unwrap_or_default())?,
                &decode("y", self.y.as_deref().unwrap_or_default())?,
                self.kid.clone(),
            ),
        }
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

    const SPECS: [KeySpec; 2] = [KeySpec::Es256, KeySpec::Ps256 { bits: 2048 }];

    #[cfg(unix)]
    #[test]
    fn a_key_file_others_may_read_or_change_is_refused() {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.pk8");
        let key = SigningKey::generate(KeySpec::Es256).unwrap();
        key.store(&path).unwrap();
        let root_owned = fs::metadata(&path).unwrap().uid() == 0;
        for (mode, accepted) in [
            (0o600, true),
            (0o400, true),
            (0o640, root_owned),
            (0o440, root_owned),
            (0o644, false),
            (0o604, false),
            (0o660, false),
            (0o620, false),
            (0o601, false),
        ] {
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
            match SigningKey::load(&path) {
                Ok(loaded) => {
                    assert!(accepted, "mode {mode:o} was accepted");
                    assert_eq!(loaded.kid(), key.kid());
                }
                Err(KeyError::Exposed { mode: seen, .. }) => {
                    assert!(!accepted, "mode {mode:o} was refused");
                    assert_eq!(seen, mode);
                }
                Err(other) => panic!("mode {mode:o}: {other}"),
            }
        }
    }

    #[test]
    fn generated_keys_round_trip_through_pkcs8_files_with_owner_only_mode() {
        let dir = tempfile::tempdir().unwrap();
        for spec in SPECS {
            let path = dir.path().join(format!("{}.pk8", spec.algorithm()));
            let key = SigningKey::load_or_generate(&path, spec).unwrap();
            assert_eq!(key.algorithm(), spec.algorithm());
            // An existing key is loaded, whatever spec is asked for.
            let again = SigningKey::load_or_generate(&path, KeySpec::Es256).unwrap();
            assert_eq!(
                (key.kid(), key.algorithm()),
                (again.kid(), again.algorithm())
            );
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
                assert_eq!(mode, 0o600);
            }
            let jwk = key.public_jwk();
            assert_eq!(jwk.alg.as_deref(), Some(spec.algorithm().as_str()));
            assert_eq!(jwk.to_verifying_key().unwrap(), *key.verifying_key());
            assert!(!serde_json::to_string(&jwk).unwrap().contains("\"d\""));
        }
    }

    #[test]
    fn jwks_carry_only_their_key_types_members() {
        // The public JWK of a fresh key of `spec`, and its member names, sorted.
        let public = |spec| {
            let json =
                serde_json::to_value(SigningKey::generate(spec).unwrap().public_jwk()).unwrap();
            let mut members: Vec<String> = json.as_object().unwrap().keys().cloned().collect();
            members.sort_unstable();
            (json, members)
        };
        let (json, members) = public(KeySpec::Es256);
        assert_eq!(members, ["alg", "crv", "kid", "kty", "use", "x", "y"]);
        assert_eq!(
            (json["kty"].as_str(), json["crv"].as_str()),
            (Some("EC"), Some("P-256"))
        );
        let (_, members) = public(KeySpec::Ps256 { bits: 2048 });
        assert_eq!(members, ["alg", "e", "kid", "kty", "n", "use"]);
    }

    #[test]
    fn kids_are_rfc7638_thumbprints() {
        // RFC 7638 §3.1's example RSA key and its thumbprint.
        let jwk: PublicJwk = serde_json::from_str(
            r#"{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB","alg":"RS256","kid":"2011-04-29"}"#,
        ).unwrap();
        // (Its alg RS256 is not ours: build the key from the members instead.)
        assert!(jwk.to_verifying_key().is_err(), "RS256 is refused");
        let n = URL_SAFE_NO_PAD.decode(&jwk.n).unwrap();
        let e = URL_SAFE_NO_PAD.decode(&jwk.e).unwrap();
        let key = VerifyingKey::from_components(&n, &e, None).unwrap();
        assert_eq!(key.kid(), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
        // An EC key: the thumbprint of {"crv","kty","x","y"} in that order.
        let ec = SigningKey::generate(KeySpec::Es256).unwrap();
        let jwk = ec.public_jwk();
        let canonical = format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
            jwk.x.as_deref().unwrap(),
            jwk.y.as_deref().unwrap()
        );
        assert_eq!(
            ec.kid(),
            URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
        );
    }

    #[test]
    fn public_jwk_file_round_trips_without_private_material() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("client.jwk.json");
        let key = SigningKey::generate(KeySpec::Es256).unwrap();
        key.write_public_jwk(&path).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert!(!text.contains("\"d\""), "private key written: {text}");
        let jwk = PublicJwk::read_file(&path).unwrap();
        assert_eq!(jwk.to_verifying_key().unwrap(), *key.verifying_key());
        // Overwriting (key regenerated, now RSA) replaces the file.
        let other = SigningKey::generate(KeySpec::Ps256 { bits: 2048 }).unwrap();
        other.write_public_jwk(&path).unwrap();
        assert_eq!(
            PublicJwk::read_file(&path).unwrap().kid.as_deref(),
            Some(other.kid())
        );
    }

    #[test]
    fn small_wrong_purpose_and_wrong_algorithm_keys_are_refused() {
        assert!(SigningKey::generate(KeySpec::Ps256 { bits: 1024 }).is_err());
        assert!(KeySpec::new(Algorithm::Ps256, 1024).is_err());
        assert_eq!(KeySpec::new(Algorithm::Es256, 0).unwrap(), KeySpec::Es256);
        for spec in SPECS {
            let key = SigningKey::generate(spec).unwrap();
            let other_alg = match spec.algorithm() {
                Algorithm::Es256 => "PS256",
                Algorithm::Ps256 => "ES256",
            };
            for alg in ["RS256", "HS256", "none", other_alg] {
                let mut jwk = key.public_jwk();
                jwk.alg = Some(alg.into());
                assert!(jwk.to_verifying_key().is_err(), "{spec:?} as {alg}");
            }
            let mut jwk = key.public_jwk();
            jwk.key_use = Some("enc".into());
            assert!(jwk.to_verifying_key().is_err());
            // No alg stated: the key type decides.
            let mut jwk = key.public_jwk();
            jwk.alg = None;
            assert_eq!(
                jwk.to_verifying_key().unwrap().algorithm(),
                spec.algorithm()
            );
        }
        let ec = SigningKey::generate(KeySpec::Es256).unwrap().public_jwk();
        for spoil in [
            |j: &mut PublicJwk| j.crv = Some("P-384".into()),
            |j: &mut PublicJwk| j.crv = None,
            |j: &mut PublicJwk| j.x = Some("AAAA".into()),
            |j: &mut PublicJwk| j.y = None,
            |j: &mut PublicJwk| j.kty = "OKP".into(),
        ] {
            let mut jwk = ec.clone();
            spoil(&mut jwk);
            assert!(jwk.to_verifying_key().is_err(), "{jwk:?}");
        }
        assert!(SigningKey::from_pkcs8_der(b"not a key").is_err());
    }
}
