//! TLS to execution clients (`https://` nodes).
//!
//! Trust: Mozilla's root set as shipped in the `webpki-roots` crate (the same on every machine,
//! including minimal containers without a CA bundle), plus every certificate in the file
//! `SSL_CERT_FILE` names when it is set (the convention curl and OpenSSL users expect), plus the
//! node's own `#ca=PATH` (a private CA). The certificate chain and the host name are always
//! verified: there is no setting that turns either off.
//!
//! The handshake runs over the stream the [`eb_transport::Network`] seam gives, so the same code
//! runs over tokio sockets and in the simulation. A plain `http://` node never touches any of
//! this (its [`crate::upstream::Upstream`] holds no connector). What a connection is made with
//! ([`ClientTls`]) and the bounded label of a failed handshake ([`failure_label`]) live in
//! `eb_transport::tls`, next to the pooled client that uses them.

use std::path::Path;
use std::sync::Arc;

use eb_transport::tls::{self, rustls, TlsConnector, TlsError};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, RootCertStore};

/// The environment variable naming an extra PEM bundle of trusted roots.
pub const SSL_CERT_FILE: &str = "SSL_CERT_FILE";

pub use eb_transport::tls::{failure_label, ClientTls};

/// Builds the TLS client for a node at `host`, trusting the built-in roots, the certificates in
/// `extra_roots` (the `SSL_CERT_FILE` bundle) and in `ca` (the node's `#ca=`).
pub fn client(
    host: &str,
    extra_roots: Option<&Path>,
    ca: Option<&Path>,
) -> Result<ClientTls, TlsError> {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    for path in extra_roots.into_iter().chain(ca) {
        let certs = tls::certs_from_file(path)?;
        let (added, ignored) = roots.add_parsable_certificates(certs);
        if added == 0 {
            return Err(TlsError::File {
                path: path.display().to_string(),
                reason: format!("none of its {ignored} certificates can be a trust anchor"),
            });
        }
    }
    let mut config = ClientConfig::builder_with_provider(tls::provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Invalid(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let name = ServerName::try_from(host.to_owned()).map_err(|e| {
        TlsError::Invalid(format!(
            "{host:?} cannot be checked against a certificate: {e}"
        ))
    })?;
    Ok(ClientTls {
        connector: TlsConnector::from(Arc::new(config)),
        name,
    })
}

/// The `SSL_CERT_FILE` path, when set and not empty.
pub fn env_roots() -> Option<std::path::PathBuf> {
    std::env::var_os(SSL_CERT_FILE)
        .filter(|v| !v.is_empty())
        .map(std::path::PathBuf::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_without_certificates_is_refused() {
        let dir = std::env::temp_dir().join(format!("eb-tls-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, b"not a pem\n").expect("write");
        let e = client("localhost", None, Some(&empty)).expect_err("no certificates");
        assert!(e.to_string().contains("empty.pem"), "{e}");
        let missing = dir.join("missing.pem");
        let e = client("localhost", Some(&missing), None).expect_err("missing file");
        assert!(e.to_string().contains("missing.pem"), "{e}");
        assert!(
            client("127.0.0.1", None, None).is_ok(),
            "an IP is a valid name to check"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
