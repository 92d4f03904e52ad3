//! A proxy in front of in-process mock-el execution clients, and a CL-side client.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use eb_transport::jwt::{self, Claims};
use eb_transport::{JwtSecret, SystemClock, TokioNet, WallClock};
use executionbackup::app::{self, Running};
use executionbackup::config::{self, NodeSpec, Settings};
use mock_el::{MockEl, MockElHandle, Status};
use serde_json::{json, Value};

pub const SECRET: [u8; 32] = [0x5a; 32];
/// The REST API's secret (`--admin-jwt-secret`): no EL holds it.
pub const ADMIN_SECRET: [u8; 32] = [0xad; 32];

pub fn secret() -> JwtSecret {
    JwtSecret::from_bytes(SECRET)
}

pub fn admin_secret() -> JwtSecret {
    JwtSecret::from_bytes(ADMIN_SECRET)
}

pub fn settings() -> Settings {
    Settings {
        listen: "127.0.0.1:0".parse().expect("addr"),
        health_interval: Duration::from_secs(1),
        admin_secret: Some(admin_secret()),
        ..Settings::default()
    }
}

/// `n` mock ELs named el1..elN, all VALID.
pub async fn mocks(n: usize) -> Vec<MockElHandle> {
    let mut out = Vec::new();
    for i in 1..=n {
        out.push(mock(&format!("el{i}"), i as u64, |b| b).await);
    }
    out
}

pub async fn mock(
    name: &str,
    seed: u64,
    tune: impl FnOnce(mock_el::MockElBuilder) -> mock_el::MockElBuilder,
) -> MockElHandle {
    tune(
        MockEl::builder()
            .secret(secret())
            .name(name)
            .seed(seed)
            .status(Status::Valid),
    )
    .spawn(TokioNet, "127.0.0.1:0".parse().expect("addr"))
    .await
    .expect("mock EL starts")
}

/// A VALID mock that reports `code` as its client in engine_getClientVersionV1.
pub async fn mock_with_code(name: &str, seed: u64, code: &str) -> MockElHandle {
    let code = code.to_owned();
    mock(name, seed, move |b| b.client_code(code)).await
}

/// Waits until the probe has learnt every node's client (engine_getClientVersionV1).
pub async fn every_client_identified(running: &Running<TokioNet>) -> bool {
    eventually(Duration::from_secs(10), async || {
        running
            .proxy
            .nodes
            .snapshot()
            .iter()
            .all(|n| n.client().is_some())
    })
    .await
}

/// Node configs for the mocks, each URL followed by `options` (e.g. `#timeout=300`).
pub fn nodes(urls: &[(String, &str)], settings: &Settings) -> Vec<config::NodeConfig> {
    urls.iter()
        .map(|(url, options)| {
            let spec = NodeSpec::parse(&format!("{url}{options}")).expect("spec");
            config::resolve_node(spec, Some(&secret()), settings.default_timeout).expect("node")
        })
        .collect()
}

pub async fn proxy(urls: &[(String, &str)], settings: Settings) -> Running<TokioNet> {
    let nodes = nodes(urls, &settings);
    app::start(
        TokioNet,
        Arc::new(SystemClock),
        settings,
        secret(),
        nodes,
        7,
    )
    .await
    .expect("proxy starts")
}

pub fn plain(els: &[MockElHandle]) -> Vec<(String, &'static str)> {
    els.iter().map(|e| (e.url(), "")).collect()
}

pub fn token() -> String {
    token_for(&secret())
}

/// A token for the REST API's changing calls.
pub fn admin_token() -> String {
    token_for(&admin_secret())
}

pub fn token_for(secret: &JwtSecret) -> String {
    jwt::sign(
        secret,
        &Claims {
            iat: SystemClock.unix_seconds(),
            ..Claims::default()
        },
    )
}

/// The CL side.
pub struct Cl {
    pub url: String,
    http: reqwest::Client,
}

impl Cl {
    pub fn new(url: String) -> Self {
        Self {
            url,
            http: reqwest::Client::new(),
        }
    }

    pub async fn post(&self, path: &str, body: Value, auth: bool) -> (u16, Value) {
        self.post_with(path, body, auth.then(token)).await
    }

    /// A REST API call signed with the admin secret.
    pub async fn admin_post(&self, path: &str, body: Value) -> (u16, Value) {
        self.post_with(path, body, Some(admin_token())).await
    }

    /// POSTs with `token` as the bearer token, if any.
    pub async fn post_with(&self, path: &str, body: Value, token: Option<String>) -> (u16, Value) {
        let mut req = self
            .http
            .post(format!("{}{path}", self.url))
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(token) = token {
            req = req.header("authorization", format!("Bearer {token}"));
        }
        let resp = req.send().await.expect("proxy answers");
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.expect("body");
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    pub async fn get(&self, path: &str, auth: bool) -> (u16, String) {
        self.get_with(path, auth.then(token)).await
    }

    /// GETs with `token` as the bearer token, if any.
    pub async fn get_with(&self, path: &str, token: Option<String>) -> (u16, String) {
        let mut req = self.http.get(format!("{}{path}", self.url));
        if let Some(token) = token {
            req = req.header("authorization", format!("Bearer {token}"));
        }
        let resp = req.send().await.expect("proxy answers");
        let status = resp.status().as_u16();
        (status, resp.text().await.expect("body"))
    }

    /// One JSON-RPC call; returns the whole response object.
    pub async fn rpc(&self, method: &str, params: Value) -> Value {
        let (status, body) = self
            .post(
                "/",
                json!({"jsonrpc":"2.0","id":1,"method":method,"params":params}),
                true,
            )
            .await;
        assert_eq!(status, 200, "{method}: {body}");
        body
    }

    pub async fn new_payload(&self, n: u64) -> Value {
        self.rpc("engine_newPayloadV3", new_payload_params(n)).await
    }

    pub async fn fcu(&self, n: u64, attributes: bool) -> Value {
        self.rpc("engine_forkchoiceUpdatedV3", fcu_params(n, attributes))
            .await
    }

    /// forkchoiceUpdated on block `n` with payload attributes; the payloadId of the VALID answer.
    pub async fn start_build(&self, n: u64) -> String {
        let fcu = self.fcu(n, true).await;
        assert_eq!(status_of(&fcu), "VALID", "{fcu}");
        payload_id(&fcu)
    }

    pub async fn metrics(&self) -> Value {
        let (status, text) = self.get("/metrics", false).await;
        assert_eq!(status, 200);
        serde_json::from_str(&text).expect("metrics JSON")
    }
}

pub fn hash(n: u64) -> String {
    format!("0x{n:064x}")
}

use crate::support::shapes;

pub fn new_payload_params(n: u64) -> Value {
    shapes::new_payload_params(&hash, n, n.saturating_sub(1))
}

pub fn fcu_params(n: u64, attributes: bool) -> Value {
    let ancestors = [n.saturating_sub(1), n.saturating_sub(2)];
    shapes::fcu_params(&hash, n, ancestors, attributes)
}

/// The payloadId of a forkchoiceUpdated answer.
pub fn payload_id(fcu: &Value) -> String {
    fcu["result"]["payloadId"]
        .as_str()
        .unwrap_or_else(|| panic!("no payloadId in {fcu}"))
        .to_owned()
}

pub fn status_of(response: &Value) -> &str {
    response["result"]["status"]
        .as_str()
        .or_else(|| response["result"]["payloadStatus"]["status"].as_str())
        .unwrap_or("<none>")
}

/// Waits (up to `limit`) until `f` holds.
pub async fn eventually(limit: Duration, mut f: impl AsyncFnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if f().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until `el` refuses new connections (a mock told to die stops listening a moment
/// later, not at once).
pub async fn wait_refusing(el: &MockElHandle) {
    let addr = el.addr();
    let refused = eventually(Duration::from_secs(5), async || {
        tokio::net::TcpStream::connect(addr).await.is_err()
    })
    .await;
    assert!(refused, "{addr} still accepts connections");
}

pub fn new_payload_v6_params(n: u64) -> Value {
    shapes::new_payload_v6_params(&hash, n, n.saturating_sub(1))
}

pub fn new_payload_v5_params(n: u64) -> Value {
    shapes::new_payload_v5_params(&hash, n, n.saturating_sub(1))
}

pub fn fcu_v4_params(n: u64, attributes: bool, v5: bool) -> Value {
    let ancestors = [n.saturating_sub(1), n.saturating_sub(2)];
    shapes::fcu_v4_params(&hash, n, ancestors, attributes, v5)
}

/// Sends one call straight to a mock EL (not through the proxy); returns the `result`.
pub async fn direct(el: &MockElHandle, method: &str, params: Value) -> Value {
    let body = json!({"jsonrpc":"2.0","id":1,"method":method,"params":params});
    let bytes = reqwest::Client::new()
        .post(el.url())
        .header("authorization", format!("Bearer {}", token()))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("mock answers")
        .bytes()
        .await
        .expect("body");
    let reply: Value = serde_json::from_slice(&bytes).expect("json");
    reply["result"].clone()
}

/// Test certificates, made at test time (no private key is committed).
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
