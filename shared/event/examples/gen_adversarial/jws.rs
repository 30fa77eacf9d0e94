//! The fixed test keys, what the JWKS publishes of them, and compact JWS signing with any
//! header and any (also wrong) algorithm, key or signature bytes.

use base64::{
    Engine as _,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use ring::{
    rand::SystemRandom,
    signature::{self, EcdsaKeyPair, KeyPair, RsaKeyPair},
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use zte_auth::SigningKey;

use crate::Error;

/// The kid under which the JWKS publishes the foreign RSA key for encryption only.
pub(crate) const ENC_ONLY_KID: &str = "encryption-only-key";

/// The fixed test keys and what the JWKS publishes of them.
pub(crate) struct Keys {
    pub(crate) issuer_rsa: RsaKeyPair,
    pub(crate) issuer_rsa_kid: String,
    pub(crate) issuer_ec: EcdsaKeyPair,
    pub(crate) issuer_ec_kid: String,
    pub(crate) foreign_rsa: RsaKeyPair,
    pub(crate) foreign_rsa_kid: String,
    pub(crate) foreign_ec: EcdsaKeyPair,
    /// The issuer's JWKS: its PS256 and ES256 keys, plus the foreign RSA key published for
    /// encryption only (`use: enc`), which no verifier may use for signatures.
    pub(crate) jwks: Value,
}

fn pem_to_der(pem: &str) -> Result<Vec<u8>, Error> {
    let body: String = pem
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .collect();
    Ok(STANDARD.decode(body)?)
}

fn rsa_key(pem: &str) -> Result<(RsaKeyPair, SigningKey), Error> {
    let der = pem_to_der(pem)?;
    let pair = RsaKeyPair::from_pkcs8(&der).map_err(|e| format!("RSA key: {e}"))?;
    Ok((pair, SigningKey::from_pkcs8_der(&der)?))
}

fn ec_key(pem: &str) -> Result<(EcdsaKeyPair, Value), Error> {
    let der = pem_to_der(pem)?;
    let pair = EcdsaKeyPair::from_pkcs8(
        &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        &der,
        &SystemRandom::new(),
    )
    .map_err(|e| format!("P-256 key: {e}"))?;
    // Uncompressed point: 0x04 || x || y.
    let point = pair.public_key().as_ref();
    let (x, y) = (
        URL_SAFE_NO_PAD.encode(&point[1..33]),
        URL_SAFE_NO_PAD.encode(&point[33..65]),
    );
    // RFC 7638 thumbprint: required members in lexicographic order, no whitespace.
    let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
    let kid = URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()));
    let jwk = json!({"kty": "EC", "crv": "P-256", "x": x, "y": y, "kid": kid, "alg": "ES256", "use": "sig"});
    Ok((pair, jwk))
}

impl Keys {
    pub(crate) fn load() -> Result<Self, Error> {
        let (issuer_rsa, issuer_signing) = rsa_key(include_str!("keys/issuer-rsa.pem"))?;
        let (foreign_rsa, foreign_signing) = rsa_key(include_str!("keys/foreign-rsa.pem"))?;
        let (issuer_ec, issuer_ec_jwk) = ec_key(include_str!("keys/issuer-p256.pem"))?;
        let (foreign_ec, _) = ec_key(include_str!("keys/foreign-p256.pem"))?;
        let mut enc_only = serde_json::to_value(foreign_signing.public_jwk())?;
        enc_only["kid"] = json!(ENC_ONLY_KID);
        enc_only["use"] = json!("enc");
        if let Some(jwk) = enc_only.as_object_mut() {
            jwk.remove("alg");
        }
        let jwks = json!({"keys": [
            serde_json::to_value(issuer_signing.public_jwk())?,
            issuer_ec_jwk.clone(),
            enc_only,
        ]});
        Ok(Self {
            issuer_rsa,
            issuer_rsa_kid: issuer_signing.kid().to_owned(),
            issuer_ec,
            issuer_ec_kid: issuer_ec_jwk["kid"].as_str().unwrap_or_default().to_owned(),
            foreign_rsa,
            foreign_rsa_kid: foreign_signing.kid().to_owned(),
            foreign_ec,
            jwks,
        })
    }

    /// A token as Identity issues it: PS256 by the issuer's RSA key, under its kid.
    pub(crate) fn ps256(&self) -> Jws<'_> {
        Jws::new(
            "PS256",
            &self.issuer_rsa_kid,
            Signer::Ps256(&self.issuer_rsa),
        )
    }

    /// The same, ES256 by the issuer's P-256 key, under its kid.
    pub(crate) fn es256(&self) -> Jws<'_> {
        Jws::new("ES256", &self.issuer_ec_kid, Signer::Es256(&self.issuer_ec))
    }
}

/// How the signing input `header.claims` is signed.
pub(crate) enum Signer<'a> {
    Ps256(&'a RsaKeyPair),
    Rs256(&'a RsaKeyPair),
    Es256(&'a EcdsaKeyPair),
    /// A valid ES256 signature, DER-encoded instead of the JOSE r||s form.
    Es256Der(&'a EcdsaKeyPair),
    /// HMAC-SHA256 with these bytes as the secret.
    Hs256(&'a [u8]),
    /// These exact signature bytes (empty for `alg: none`).
    Fixed(Vec<u8>),
}

/// A compact JWS to be made over some claims: its header and how it is signed.
pub(crate) struct Jws<'a> {
    header: Value,
    signer: Signer<'a>,
}

impl<'a> Jws<'a> {
    /// Header `{"alg": alg, "typ": "at+jwt", "kid": kid}`, signed by `signer` (whatever
    /// `alg` says).
    pub(crate) fn new(alg: &str, kid: &str, signer: Signer<'a>) -> Self {
        Self {
            header: json!({"alg": alg, "typ": "at+jwt", "kid": kid}),
            signer,
        }
    }

    /// The header member `name` set to `value`.
    pub(crate) fn with(mut self, name: &str, value: Value) -> Self {
        self.header[name] = value;
        self
    }

    /// The header without the member `name`.
    pub(crate) fn without(mut self, name: &str) -> Self {
        if let Some(header) = self.header.as_object_mut() {
            header.shift_remove(name);
        }
        self
    }

    /// The same header, signed by `signer` instead.
    pub(crate) fn signed_by(self, signer: Signer<'a>) -> Self {
        Self { signer, ..self }
    }

    /// `header.claims.signature`, base64url without padding.
    pub(crate) fn sign(&self, claims: &Value) -> Result<String, Error> {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&self.header)?),
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims)?)
        );
        let rng = SystemRandom::new();
        let rsa = |key: &RsaKeyPair, padding: &'static dyn signature::RsaEncoding| {
            let mut out = vec![0; key.public().modulus_len()];
            key.sign(padding, &rng, input.as_bytes(), &mut out)
                .map_err(|e| format!("RSA signing: {e}"))
                .map(|()| out)
        };
        let ecdsa = |key: &EcdsaKeyPair| {
            key.sign(&rng, input.as_bytes())
                .map_err(|e| format!("ECDSA signing: {e}"))
                .map(|signature| signature.as_ref().to_vec())
        };
        let signature = match &self.signer {
            Signer::Ps256(key) => rsa(key, &signature::RSA_PSS_SHA256)?,
            Signer::Rs256(key) => rsa(key, &signature::RSA_PKCS1_SHA256)?,
            Signer::Es256(key) => ecdsa(key)?,
            Signer::Es256Der(key) => {
                let raw = ecdsa(key)?;
                der_signature(&raw[..32], &raw[32..])
            }
            Signer::Hs256(secret) => ring::hmac::sign(
                &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret),
                input.as_bytes(),
            )
            .as_ref()
            .to_vec(),
            Signer::Fixed(bytes) => bytes.clone(),
        };
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }
}

/// DER `ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }` of a raw r||s signature.
fn der_signature(r: &[u8], s: &[u8]) -> Vec<u8> {
    fn integer(bytes: &[u8]) -> Vec<u8> {
        let start = bytes
            .iter()
            .position(|b| *b != 0)
            .unwrap_or(bytes.len() - 1);
        let mut value = bytes[start..].to_vec();
        if value[0] & 0x80 != 0 {
            value.insert(0, 0);
        }
        let mut out = vec![0x02, u8::try_from(value.len()).unwrap_or(0)];
        out.extend(value);
        out
    }
    let mut body = integer(r);
    body.extend(integer(s));
    let mut out = vec![0x30, u8::try_from(body.len()).unwrap_or(0)];
    out.extend(body);
    out
}
