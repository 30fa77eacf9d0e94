//! PEM contents to rustls types: certificate chains, private keys, trust anchors.

use std::path::Path;

use rustls::RootCertStore;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject as _};

use crate::TlsError;

fn pem_error(path: &Path, what: impl Into<String>) -> TlsError {
    TlsError::Pem {
        path: path.to_path_buf(),
        what: what.into(),
    }
}

/// Every certificate in `pem` (read from `path`), in order; at least one.
pub(crate) fn certs(path: &Path, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(path, format!("malformed certificate PEM: {e}")))?;
    if certs.is_empty() {
        return Err(pem_error(path, "no certificate"));
    }
    Ok(certs)
}

/// The first private key in `pem` (PKCS#8, SEC1 or PKCS#1).
pub(crate) fn key(path: &Path, pem: &[u8]) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| pem_error(path, format!("no private key: {e}")))
}

/// The certificates in `pem` as trust anchors.
pub(crate) fn roots(path: &Path, pem: &[u8]) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in certs(path, pem)? {
        roots
            .add(cert)
            .map_err(|e| pem_error(path, format!("unusable CA certificate: {e}")))?;
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_garbage_files_are_refused_with_their_path() {
        let path = Path::new("x.pem");
        let error = certs(path, b"").unwrap_err().to_string();
        assert!(error.starts_with("x.pem: no certificate"), "{error}");
        assert!(key(path, b"-----BEGIN NOTHING-----\n").is_err());
        assert!(roots(path, b"hello").is_err());
    }
}
