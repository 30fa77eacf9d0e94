//! The project's local PKI (`scripts/pki.sh`: one CA, a server and a client certificate per
//! component, and an unrelated "foreign" CA whose certificates must be refused), made once per
//! test process (the script keeps what is current and locks its directory), and the TLS
//! settings and clients the tests build from it.

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::OnceLock,
};

use tonic::transport::{Certificate, ClientTlsConfig, Identity};
use zte_runtime::{CertKey, ClientAuth, EnvPrefix, TlsConfig};

use crate::repo_root;

/// The PKI's directory and files.
#[derive(Debug, Clone)]
pub struct Pki {
    dir: PathBuf,
}

/// The PKI (`PKI_DIR` or `<repo>/.cache/pki`), made by `scripts/pki.sh foreign` on first use.
pub fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| {
        let dir = std::env::var_os("PKI_DIR")
            .map_or_else(|| repo_root().join(".cache/pki"), PathBuf::from);
        let output = Command::new("bash")
            .arg(repo_root().join("scripts/pki.sh"))
            .arg("foreign")
            .env("PKI_DIR", &dir)
            .output()
            .expect("running scripts/pki.sh");
        assert!(
            output.status.success(),
            "scripts/pki.sh foreign failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        Pki { dir }
    })
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

impl Pki {
    /// The PKI directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The CA certificate every component trusts.
    pub fn ca(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }

    /// The server certificate of `name` (`identity`, `orders`, `payments`, `kafka`, ...).
    pub fn server(&self, name: &str) -> CertKey {
        self.pair(&self.dir.join(name), "server")
    }

    /// The client certificate `CN=<name>` (`orders`, `payments`, `admin`, ...).
    pub fn client(&self, name: &str) -> CertKey {
        self.pair(&self.dir.join(name), "client")
    }

    /// The unrelated CA's certificate.
    pub fn foreign_ca(&self) -> PathBuf {
        self.dir.join("foreign/ca.crt")
    }

    /// A client certificate of the unrelated CA (`CN=admin, O=zte`, the real admin's subject).
    pub fn foreign_client(&self) -> CertKey {
        self.pair(&self.dir.join("foreign"), "client")
    }

    /// A server certificate of the unrelated CA for `127.0.0.1`/`localhost`.
    pub fn foreign_server(&self) -> CertKey {
        self.pair(&self.dir.join("foreign"), "server")
    }

    fn pair(&self, dir: &Path, base: &str) -> CertKey {
        CertKey {
            cert: dir.join(format!("{base}.crt")),
            key: dir.join(format!("{base}.key")),
        }
    }

    /// Server-side TLS for `name`'s certificate; as a client, trust this CA and present
    /// `name`'s client certificate.
    pub fn tls<P: EnvPrefix>(&self, name: &str) -> TlsConfig<P> {
        let (server, client) = (self.server(name), self.client(name));
        let mut tls = TlsConfig::default();
        tls.tls_cert = Some(server.cert);
        tls.tls_key = Some(server.key);
        tls.tls_ca = Some(self.ca());
        tls.tls_client_cert = Some(client.cert);
        tls.tls_client_key = Some(client.key);
        tls
    }

    /// [`Pki::tls`] plus mutual TLS: client certificates must chain to this CA (`auth`:
    /// required or optional).
    pub fn mutual_tls<P: EnvPrefix>(&self, name: &str, auth: ClientAuth) -> TlsConfig<P> {
        let mut tls = self.tls(name);
        tls.tls_client_ca = Some(self.ca());
        tls.tls_client_auth = auth;
        tls
    }

    /// A gRPC client's TLS: trust this CA, present `client` if given.
    pub fn grpc_tls(&self, client: Option<&CertKey>) -> ClientTlsConfig {
        grpc_tls(&self.ca(), client)
    }

    /// An HTTP client trusting only this CA (and presenting `client` if given).
    pub fn http_client(&self, client: Option<&CertKey>) -> reqwest::Client {
        https_client(&self.ca(), client)
    }
}

/// An HTTP client trusting only the CA in `ca` (and presenting `client` if given); a plain
/// `http://` URL is still sent in the clear (what a test of a plaintext attempt needs).
pub fn https_client(ca: &Path, client: Option<&CertKey>) -> reqwest::Client {
    https_builder(ca, client)
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .expect("an HTTPS client")
}

/// The builder of [`https_client`], without its timeout.
pub fn https_builder(ca: &Path, client: Option<&CertKey>) -> reqwest::ClientBuilder {
    let ca = reqwest::Certificate::from_pem(&read(ca)).expect("a PEM CA certificate");
    let mut builder = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(ca);
    if let Some(pair) = client {
        let mut pem = read(&pair.cert);
        pem.extend(read(&pair.key));
        builder = builder.identity(reqwest::Identity::from_pem(&pem).expect("a PEM identity"));
    }
    builder
}

/// An HTTP client for `url`: for `https://`, trusting only the PKI's CA and presenting the
/// `gateway` client certificate (so it passes a server requiring mutual TLS); plain otherwise.
pub fn http_client_for(url: &str) -> reqwest::Client {
    http_builder_for(url).build().expect("an HTTP client")
}

/// The builder of [`http_client_for`].
pub fn http_builder_for(url: &str) -> reqwest::ClientBuilder {
    if url.starts_with("https://") {
        let pki = pki();
        https_builder(&pki.ca(), Some(&pki.client("gateway")))
    } else {
        reqwest::Client::builder()
    }
}

/// How the kit dials a gRPC server of the stack at `addr`: TLS trusting the PKI's CA and
/// presenting the `gateway` client certificate (the caller the design puts in front of the
/// APIs) when `tls`, plaintext otherwise.
pub fn dial(addr: std::net::SocketAddr, tls: bool) -> crate::clients::Dial {
    if tls {
        let pki = pki();
        crate::clients::Dial::tls(addr, pki.grpc_tls(Some(&pki.client("gateway"))))
    } else {
        addr.into()
    }
}

/// A gRPC client's TLS: trust the CA in `ca`, present `client` if given.
pub fn grpc_tls(ca: &Path, client: Option<&CertKey>) -> ClientTlsConfig {
    let config = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(read(ca)));
    match client {
        Some(pair) => config.identity(Identity::from_pem(read(&pair.cert), read(&pair.key))),
        None => config,
    }
}
