//! The TLS side of a server: its certificate and key, and for mutual TLS the CA its clients'
//! certificates must chain to, as one rustls configuration rebuilt when any of those files
//! changes.

use std::{path::PathBuf, sync::Arc, time::Duration};

use rustls::{ServerConfig, server::WebPkiClientVerifier};
use tokio_rustls::TlsAcceptor;
use zte_runtime::{ClientAuth, EnvPrefix, TlsConfig};

use crate::{TlsError, pem, provider, reload::Reloading};

/// ALPN of a gRPC server: HTTP/2 only.
pub const ALPN_GRPC: &[&[u8]] = &[b"h2"];
/// ALPN of an HTTP server: HTTP/2 and HTTP/1.1.
pub const ALPN_HTTP: &[&[u8]] = &[b"h2", b"http/1.1"];

/// A server's TLS configuration (TLS 1.3 only), reloaded from its files. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ServerTls {
    config: Arc<Reloading<ServerConfig>>,
    reload_interval: Duration,
    mutual: Option<ClientAuth>,
}

impl ServerTls {
    /// The TLS configuration `tls` describes for a server speaking `alpn`, or `None` for a
    /// plaintext server. Reads and checks every file now (a bad file fails the start).
    pub fn from_config<P: EnvPrefix>(
        tls: &TlsConfig<P>,
        alpn: &[&[u8]],
    ) -> Result<Option<Self>, TlsError> {
        let Some(cert_key) = tls.server_cert() else {
            return Ok(None);
        };
        let mut files = vec![cert_key.cert, cert_key.key];
        let mutual = tls.tls_client_ca.clone().map(|ca| {
            files.push(ca);
            tls.tls_client_auth
        });
        let alpn: Vec<Vec<u8>> = alpn.iter().map(|p| p.to_vec()).collect();
        let paths = files.clone();
        let config = Reloading::load("server certificate", files, move |contents| {
            build(&paths, contents, mutual, &alpn)
        })?;
        Ok(Some(Self {
            config,
            reload_interval: tls.tls_reload_interval,
            mutual,
        }))
    }

    /// An acceptor with the current configuration (take one per connection, so a reloaded
    /// certificate is used from the next handshake on).
    pub fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.config.current())
    }

    /// Whether client certificates are verified, and required.
    pub fn client_auth(&self) -> Option<ClientAuth> {
        self.mutual
    }

    /// Re-reads the files every reload interval until dropped (a task of the service).
    pub fn reloader(&self) -> impl Future<Output = ()> + Send + 'static {
        self.config.clone().run(self.reload_interval)
    }
}

/// `contents` holds the certificate chain, the key and (for mutual TLS) the client CA, read
/// from `paths` in that order.
fn build(
    paths: &[PathBuf],
    contents: &[Vec<u8>],
    mutual: Option<ClientAuth>,
    alpn: &[Vec<u8>],
) -> Result<ServerConfig, TlsError> {
    let certs = pem::certs(&paths[0], &contents[0])?;
    let key = pem::key(&paths[1], &contents[1])?;
    let provider = provider();
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])?;
    let builder = match mutual {
        None => builder.with_no_client_auth(),
        Some(auth) => {
            let roots = pem::roots(&paths[2], &contents[2])?;
            let verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
            let verifier = match auth {
                ClientAuth::Required => verifier,
                ClientAuth::Optional => verifier.allow_unauthenticated(),
            };
            builder.with_client_cert_verifier(
                verifier
                    .build()
                    .map_err(|e| TlsError::ClientCa(e.to_string()))?,
            )
        }
    };
    let mut config = builder.with_single_cert(certs, key)?;
    config.alpn_protocols = alpn.to_vec();
    Ok(config)
}
