//! TLS over the network seam: rustls with the `ring` provider, wrapped around whatever stream a
//! [`crate::Network`] gives (a tokio socket, or turmoil's in the simulation), so the code above
//! it is the same with and without TLS.
//!
//! Only the pieces both ends share live here: reading PEM files, the provider, a server config
//! for a certificate and key (the proxy's own listener, mock-el), what a client connects with
//! ([`ClientTls`], used by [`crate::client::HttpClient`]) and a bounded label for a failed
//! handshake. The daemon's client policy (which roots, the per-node CA) is its own
//! (`executionbackup::tls`).

use std::path::Path;
use std::sync::Arc;

pub use rustls;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
pub use tokio_rustls::{TlsAcceptor, TlsConnector};

/// What can be wrong with TLS material.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TlsError {
    #[error("{path}: {reason}")]
    File { path: String, reason: String },
    #[error("{0}")]
    Invalid(String),
}

/// What a TLS client connects with: the connector and the name the server's certificate must
/// carry.
#[derive(Clone)]
pub struct ClientTls {
    pub connector: TlsConnector,
    pub name: ServerName<'static>,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTls")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// A bounded label for why a handshake failed (metrics), from the error the handshake gave.
pub fn failure_label(error: &std::io::Error) -> &'static str {
    use rustls::{CertificateError, Error};
    let Some(inner) = error.get_ref().and_then(|e| e.downcast_ref::<Error>()) else {
        return "handshake";
    };
    match inner {
        Error::InvalidCertificate(c) => match c {
            CertificateError::UnknownIssuer => "unknown_issuer",
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                "wrong_name"
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => "expired",
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                "not_yet_valid"
            }
            CertificateError::Revoked => "revoked",
            CertificateError::BadSignature => "bad_signature",
            _ => "bad_certificate",
        },
        Error::AlertReceived(_) => "alert",
        Error::NoApplicationProtocol => "alpn",
        _ => "handshake",
    }
}

/// The one crypto provider everything here uses.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Every certificate in a PEM text. An empty result is an error: a file meant to hold
/// certificates that holds none is a mistake, never "trust nothing more".
pub fn certs_from_pem(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Invalid(format!("bad PEM: {e}")))?;
    if certs.is_empty() {
        return Err(TlsError::Invalid("no CERTIFICATE block in the PEM".into()));
    }
    Ok(certs)
}

/// The first private key (PKCS#8, PKCS#1 or SEC1) in a PEM text.
pub fn key_from_pem(pem: &[u8]) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(pem)
        .map_err(|e| TlsError::Invalid(format!("no usable private key in the PEM: {e}")))
}

/// Reads a file, naming it in the error.
pub fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| TlsError::File {
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}

/// Reads the certificates of a PEM file.
pub fn certs_from_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    certs_from_pem(&read(path)?).map_err(|e| TlsError::File {
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}

/// A server config (HTTP/1.1 over TLS 1.2 or 1.3, no client certificates) for a certificate
/// chain and its key, in PEM.
pub fn server_config(
    cert_pem: &[u8],
    key_pem: &[u8],
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let certs = certs_from_pem(cert_pem)?;
    let key = key_from_pem(key_pem)?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Invalid(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| TlsError::Invalid(format!("certificate and key do not go together: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// [`server_config`] from two PEM files.
pub fn server_config_from_files(
    cert: &Path,
    key: &Path,
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let cert_pem = read(cert)?;
    let key_pem = read(key)?;
    server_config(&cert_pem, &key_pem).map_err(|e| TlsError::File {
        path: format!("{} + {}", cert.display(), key.display()),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_labels_are_bounded() {
        let wrap = |e: rustls::Error| std::io::Error::new(std::io::ErrorKind::InvalidData, e);
        assert_eq!(
            failure_label(&wrap(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer
            ))),
            "unknown_issuer"
        );
        assert_eq!(
            failure_label(&wrap(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName
            ))),
            "wrong_name"
        );
        assert_eq!(failure_label(&std::io::Error::other("eof")), "handshake");
    }
}
