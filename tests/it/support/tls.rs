//! Test certificates and a TLS client, made at test time (no private key is committed).

use std::sync::Arc;

use super::auth::token;

/// A CA and a server certificate it signed, for `localhost` and 127.0.0.1, in PEM files.
pub struct TestPki {
    pub dir: std::path::PathBuf,
    /// The CA certificate's PEM file.
    pub ca: std::path::PathBuf,
    /// A server config with the certificate the CA signed.
    pub server: Arc<eb_transport::tls::rustls::ServerConfig>,
    /// The server certificate and key, PEM.
    pub cert_pem: String,
    pub key_pem: String,
}

impl TestPki {
    pub fn new(tag: &str) -> Self {
        Self::for_names(tag, &["localhost", "127.0.0.1"])
    }

    pub fn for_names(tag: &str, names: &[&str]) -> Self {
        let dir = std::env::temp_dir().join(format!("eb-tls-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let ca_key = rcgen::KeyPair::generate().expect("CA key");
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(
            rcgen::DnType::CommonName,
            format!("executionbackup test CA {tag}"),
        );
        ca_params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca_params.self_signed(&ca_key).expect("CA cert");
        let key = rcgen::KeyPair::generate().expect("server key");
        let params = rcgen::CertificateParams::new(
            names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>(),
        )
        .expect("server params");
        let cert = params
            .signed_by(&key, &ca_cert, &ca_key)
            .expect("server cert");
        let ca = dir.join("ca.pem");
        std::fs::write(&ca, ca_cert.pem()).expect("write CA");
        let (cert_pem, key_pem) = (cert.pem(), key.serialize_pem());
        let server = eb_transport::tls::server_config(cert_pem.as_bytes(), key_pem.as_bytes())
            .expect("server config");
        Self {
            dir,
            ca,
            server,
            cert_pem,
            key_pem,
        }
    }
}

impl Drop for TestPki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A JSON-RPC POST as raw HTTP/1.1 (one request, then the connection closes), with the CL token.
pub fn http_post_request(body: &str) -> String {
    format!(
        "POST / HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        token(),
        body.len()
    )
}

/// POSTs `body` over TLS to `addr` (certificate checked for `localhost` against the CA in
/// `ca`); returns the whole HTTP response as text.
pub async fn tls_post(addr: std::net::SocketAddr, ca: &std::path::Path, body: &str) -> String {
    use eb_transport::tls::{self, rustls};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut roots = rustls::RootCertStore::empty();
    for cert in tls::certs_from_file(ca).expect("CA") {
        roots.add(cert).expect("root");
    }
    let config = rustls::ClientConfig::builder_with_provider(tls::provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let mut stream = tls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .expect("handshake");
    stream
        .write_all(http_post_request(body).as_bytes())
        .await
        .expect("write");
    let mut reply = Vec::new();
    let _ = stream.read_to_end(&mut reply).await;
    String::from_utf8_lossy(&reply).into_owned()
}
