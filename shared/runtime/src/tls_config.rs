//! The transport-security settings every service reads, once: one clap group with the
//! service's environment prefix ([`TlsConfig<P>`]: `ORDERS_TLS_CERT`, `IDENTITY_TLS_CERT`, ...)
//! and one check ([`TlsConfig::validate`]).
//!
//! - **Serving**: TLS is the default. A server needs `--tls-cert` and `--tls-key`, or
//!   `--plaintext`, which is refused unless the listen address is a loopback address.
//!   `--tls-client-ca` turns on mutual TLS: client certificates must chain to that CA
//!   (`--tls-client-auth required`, the default, refuses clients without one; `optional` lets
//!   them in, still refusing a certificate the CA did not sign).
//! - **Calling**: `--tls-ca` is the CA bundle this service trusts for the servers it calls
//!   (Identity's JWKS and token endpoint); without it, the public web PKI
//!   roots. `--tls-client-cert` / `--tls-client-key` is the certificate it presents (mTLS).
//! - Every certificate and key file is re-read when it changes (checked every
//!   `--tls-reload-interval`), so a renewed certificate takes effect without a restart.
//!
//! Only paths and switches live here; the TLS machinery (rustls) is in `zte-tls`, so this
//! crate stays free of it.

use std::{fmt, marker::PhantomData, net::SocketAddr, path::PathBuf, time::Duration};

use clap::{Args, ValueEnum};

use crate::{EnvPrefix, config::parse_duration};

/// Whether a server with `--tls-client-ca` requires a client certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ClientAuth {
    /// Refuse a client without a certificate signed by the client CA.
    Required,
    /// Accept a client without a certificate; refuse one whose certificate the CA did not
    /// sign.
    Optional,
}

impl fmt::Display for ClientAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Required => "required",
            Self::Optional => "optional",
        })
    }
}

/// A certificate chain and its private key (PEM files).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertKey {
    /// Certificate chain, leaf first.
    pub cert: PathBuf,
    /// PKCS#8 (or SEC1/PKCS#1) private key.
    pub key: PathBuf,
}

/// Transport-security settings of a service (flags `--tls-*`, `--plaintext`; environment
/// `<PREFIX>_TLS_*`, `<PREFIX>_PLAINTEXT`).
#[derive(Clone, Args)]
pub struct TlsConfig<P: EnvPrefix> {
    /// Serve without TLS (development only): refused unless the listen address is a
    /// loopback address.
    #[arg(long, env = P::env("PLAINTEXT"))]
    pub plaintext: bool,
    /// Server certificate chain (PEM, leaf first).
    #[arg(long, env = P::env("TLS_CERT"))]
    pub tls_cert: Option<PathBuf>,
    /// Private key of the server certificate (PEM).
    #[arg(long, env = P::env("TLS_KEY"))]
    pub tls_key: Option<PathBuf>,
    /// Mutual TLS: CA certificates (PEM) that client certificates must chain to.
    #[arg(long, env = P::env("TLS_CLIENT_CA"))]
    pub tls_client_ca: Option<PathBuf>,
    /// With --tls-client-ca: `required` refuses clients without a certificate, `optional`
    /// accepts them (a certificate the CA did not sign is refused either way).
    #[arg(long, env = P::env("TLS_CLIENT_AUTH"), value_enum, default_value_t = ClientAuth::Required)]
    pub tls_client_auth: ClientAuth,
    /// CA certificates (PEM) trusted for the servers this service calls (identity);
    /// default: the public web PKI roots.
    #[arg(long, env = P::env("TLS_CA"))]
    pub tls_ca: Option<PathBuf>,
    /// Client certificate (PEM) presented to the servers this service calls (mutual TLS).
    #[arg(long, env = P::env("TLS_CLIENT_CERT"))]
    pub tls_client_cert: Option<PathBuf>,
    /// Private key of the client certificate (PEM).
    #[arg(long, env = P::env("TLS_CLIENT_KEY"))]
    pub tls_client_key: Option<PathBuf>,
    /// How often certificate and key files are checked for changes (a changed file is
    /// loaded without a restart).
    #[arg(long, env = P::env("TLS_RELOAD_INTERVAL"), default_value = "10s", value_parser = parse_duration)]
    pub tls_reload_interval: Duration,
    #[arg(skip)]
    prefix: PhantomData<P>,
}

impl<P: EnvPrefix> fmt::Debug for TlsConfig<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field("plaintext", &self.plaintext)
            .field("tls_cert", &self.tls_cert)
            .field("tls_key", &self.tls_key)
            .field("tls_client_ca", &self.tls_client_ca)
            .field("tls_client_auth", &self.tls_client_auth)
            .field("tls_ca", &self.tls_ca)
            .field("tls_client_cert", &self.tls_client_cert)
            .field("tls_client_key", &self.tls_client_key)
            .field("tls_reload_interval", &self.tls_reload_interval)
            .finish()
    }
}

impl<P: EnvPrefix> Default for TlsConfig<P> {
    /// No files: a server must be given a certificate (or `--plaintext` on loopback).
    fn default() -> Self {
        Self {
            plaintext: false,
            tls_cert: None,
            tls_key: None,
            tls_client_ca: None,
            tls_client_auth: ClientAuth::Required,
            tls_ca: None,
            tls_client_cert: None,
            tls_client_key: None,
            tls_reload_interval: Duration::from_secs(10),
            prefix: PhantomData,
        }
    }
}

impl<P: EnvPrefix> TlsConfig<P> {
    /// A plaintext server on loopback that trusts the public roots: what in-process tests
    /// that do not exercise TLS start from.
    pub fn plaintext() -> Self {
        Self {
            plaintext: true,
            ..Self::default()
        }
    }

    /// The server certificate and key, when serving TLS.
    pub fn server_cert(&self) -> Option<CertKey> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) if !self.plaintext => Some(CertKey {
                cert: cert.clone(),
                key: key.clone(),
            }),
            _ => None,
        }
    }

    /// The client certificate and key presented to the servers this service calls.
    pub fn client_cert(&self) -> Option<CertKey> {
        match (&self.tls_client_cert, &self.tls_client_key) {
            (Some(cert), Some(key)) => Some(CertKey {
                cert: cert.clone(),
                key: key.clone(),
            }),
            _ => None,
        }
    }

    /// The URL scheme of this server: `https` unless `--plaintext`.
    pub fn scheme(&self) -> &'static str {
        if self.plaintext { "http" } else { "https" }
    }

    /// Checks the settings for a server listening on `listen`; the error is one line naming
    /// the setting.
    pub fn validate(&self, listen: SocketAddr) -> Result<(), String> {
        if self.plaintext {
            if !listen.ip().is_loopback() {
                return Err(format!(
                    "--plaintext with --listen {listen}: plaintext is only served on a \
                     loopback address; give --tls-cert and --tls-key"
                ));
            }
            if self.tls_cert.is_some() || self.tls_key.is_some() || self.tls_client_ca.is_some() {
                return Err(
                    "--plaintext excludes --tls-cert, --tls-key and --tls-client-ca".into(),
                );
            }
        } else if self.tls_cert.is_none() || self.tls_key.is_none() {
            return Err(
                "TLS needs --tls-cert and --tls-key (or --plaintext on a loopback \
                        --listen address, for development)"
                    .into(),
            );
        }
        if self.tls_client_cert.is_some() != self.tls_client_key.is_some() {
            return Err("--tls-client-cert and --tls-client-key go together".into());
        }
        crate::config::require_positive(&[("--tls-reload-interval", self.tls_reload_interval)])
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;
    use crate::test_args::Test;

    type Cli = crate::test_args::Cli<TlsConfig<Test>>;

    fn parse(args: &[&str]) -> TlsConfig<Test> {
        crate::test_args::parse(args)
    }

    const LOOPBACK: &str = "127.0.0.1:1";
    const ANY: &str = "0.0.0.0:1";

    #[test]
    fn tls_is_the_default_and_plaintext_only_binds_loopback() {
        let none = parse(&[]);
        let error = none.validate(LOOPBACK.parse().unwrap()).unwrap_err();
        assert!(error.contains("--tls-cert"), "{error}");

        let plaintext = parse(&["--plaintext"]);
        assert_eq!(plaintext.validate(LOOPBACK.parse().unwrap()), Ok(()));
        assert_eq!(plaintext.validate("[::1]:1".parse().unwrap()), Ok(()));
        let error = plaintext.validate(ANY.parse().unwrap()).unwrap_err();
        assert!(error.contains("loopback"), "{error}");
        assert_eq!(plaintext.scheme(), "http");
        assert!(plaintext.server_cert().is_none());

        let tls = parse(&["--tls-cert", "c.pem", "--tls-key", "k.pem"]);
        assert_eq!(tls.validate(ANY.parse().unwrap()), Ok(()));
        assert_eq!(tls.scheme(), "https");
        assert_eq!(tls.server_cert().unwrap().key, PathBuf::from("k.pem"));
    }

    #[test]
    fn contradictions_are_refused_with_the_setting_named() {
        let listen = LOOPBACK.parse().unwrap();
        let error = parse(&["--plaintext", "--tls-cert", "c", "--tls-key", "k"])
            .validate(listen)
            .unwrap_err();
        assert!(error.contains("--plaintext excludes"), "{error}");
        let error = parse(&[
            "--tls-cert",
            "c",
            "--tls-key",
            "k",
            "--tls-client-cert",
            "x",
        ])
        .validate(listen)
        .unwrap_err();
        assert!(error.contains("--tls-client-key"), "{error}");
        let error = parse(&["--plaintext", "--tls-reload-interval", "0"])
            .validate(listen)
            .unwrap_err();
        assert!(error.contains("--tls-reload-interval"), "{error}");
        assert!(
            Cli::try_parse_from(["t", "--tls-client-auth", "sometimes"]).is_err(),
            "an unknown client-auth mode"
        );
    }

    #[test]
    fn every_setting_reads_a_prefixed_environment_variable() {
        let names = crate::env_vars(&<Cli as clap::CommandFactory>::command()).join(" ");
        assert_eq!(
            names,
            "LOG_FORMAT RUST_LOG TEST_PLAINTEXT TEST_TLS_CA TEST_TLS_CERT TEST_TLS_CLIENT_AUTH \
             TEST_TLS_CLIENT_CA TEST_TLS_CLIENT_CERT TEST_TLS_CLIENT_KEY TEST_TLS_KEY \
             TEST_TLS_RELOAD_INTERVAL"
        );
    }
}
