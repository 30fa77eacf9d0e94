//! The TLS side of a client: the servers it trusts (`--tls-ca`, else the public web PKI
//! roots) and the certificate it presents for mutual TLS, reloaded when its files change.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use rustls::{
    ClientConfig, RootCertStore, SignatureScheme, client::ResolvesClientCert, sign::CertifiedKey,
};
use zte_runtime::{EnvPrefix, TlsConfig};

use crate::{TlsError, pem, provider, reload::Reloading};

/// What a service trusts and presents when it calls another one. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ClientTls {
    config: Arc<ClientConfig>,
    ca_file: Option<PathBuf>,
    identity: Option<Arc<Reloading<CertifiedKey>>>,
    reload_interval: Duration,
}

impl ClientTls {
    /// The client side of `tls`: trust `--tls-ca` (or the web PKI roots), present
    /// `--tls-client-cert` if given. Reads and checks every file now.
    pub fn from_config<P: EnvPrefix>(tls: &TlsConfig<P>) -> Result<Self, TlsError> {
        let roots = match &tls.tls_ca {
            Some(path) => {
                let pem = std::fs::read(path).map_err(|source| TlsError::Read {
                    path: path.clone(),
                    source,
                })?;
                pem::roots(path, &pem)?
            }
            None => RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            },
        };
        let identity = tls
            .client_cert()
            .map(|pair| {
                let paths = vec![pair.cert, pair.key];
                let names = paths.clone();
                Reloading::load("client certificate", paths, move |contents| {
                    certified_key(&names, contents)
                })
            })
            .transpose()?;
        let builder = ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_root_certificates(roots);
        let config = match &identity {
            Some(identity) => {
                builder.with_client_cert_resolver(Arc::new(ReloadingIdentity(identity.clone())))
            }
            None => builder.with_no_client_auth(),
        };
        Ok(Self {
            config: Arc::new(config),
            ca_file: tls.tls_ca.clone(),
            identity,
            reload_interval: tls.tls_reload_interval,
        })
    }

    /// The rustls configuration (no ALPN: HTTP/1.1 for reqwest).
    pub fn rustls_config(&self) -> ClientConfig {
        (*self.config).clone()
    }

    /// A reqwest client builder that uses exactly this trust and client certificate for
    /// `https://` URLs (which `http://` URLs are allowed at all is the configuration's check).
    pub fn http_client(&self) -> reqwest::ClientBuilder {
        reqwest::Client::builder().use_preconfigured_tls(self.rustls_config())
    }

    /// The CA bundle file, for clients that take a path (librdkafka's `ssl.ca.location`);
    /// `None` means the system's default trust.
    pub fn ca_file(&self) -> Option<&Path> {
        self.ca_file.as_deref()
    }

    /// Re-reads the client certificate every reload interval until dropped (a task of the
    /// service); nothing to do without one.
    pub fn reloader(&self) -> impl Future<Output = ()> + Send + 'static {
        let identity = self.identity.clone();
        let every = self.reload_interval;
        async move {
            match identity {
                Some(identity) => identity.run(every).await,
                None => std::future::pending().await,
            }
        }
    }
}

fn certified_key(paths: &[PathBuf], contents: &[Vec<u8>]) -> Result<CertifiedKey, TlsError> {
    let certs = pem::certs(&paths[0], &contents[0])?;
    let key = pem::key(&paths[1], &contents[1])?;
    let signing_key = provider().key_provider.load_private_key(key)?;
    let certified = CertifiedKey::new(certs, signing_key);
    certified.keys_match()?;
    Ok(certified)
}

/// Presents the current client certificate at each handshake.
#[derive(Debug)]
struct ReloadingIdentity(Arc<Reloading<CertifiedKey>>);

impl ResolvesClientCert for ReloadingIdentity {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        Some(self.0.current())
    }

    fn has_certs(&self) -> bool {
        true
    }
}
