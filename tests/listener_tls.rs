//! `--tls-cert`/`--tls-key`: the engine port speaks TLS (for a consensus client on another
//! host). A client that trusts the certificate gets JSON-RPC answers; a plain-HTTP client gets
//! no HTTP answer at all.
mod mocknet;

use std::sync::Arc;

use eb_transport::tls::{self, rustls};
use executionbackup::config::Settings;
use mocknet::*;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn client(pki: &TestPki) -> tls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    for cert in tls::certs_from_file(&pki.ca).expect("CA") {
        roots.add(cert).expect("root");
    }
    let config = rustls::ClientConfig::builder_with_provider(tls::provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls::TlsConnector::from(Arc::new(config))
}

fn request(body: &str) -> String {
    format!(
        "POST / HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        token(),
        body.len()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_port_serves_tls_when_given_a_certificate() {
    let pki = TestPki::new("listener");
    let els = mocks(2).await;
    let settings = Settings {
        tls: Some(pki.server.clone()),
        ..settings()
    };
    let running = proxy(&plain(&els), settings).await;
    let addr = running.local_addr;
    let body = json!({"jsonrpc":"2.0","id":7,"method":"engine_newPayloadV3","params":new_payload_params(1)})
        .to_string();

    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let mut stream = client(&pki).connect(name, tcp).await.expect("handshake");
    stream
        .write_all(request(&body).as_bytes())
        .await
        .expect("write");
    let mut reply = Vec::new();
    let _ = stream.read_to_end(&mut reply).await;
    let text = String::from_utf8_lossy(&reply);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains(r#""status":"VALID""#), "{text}");
    assert_eq!(els[0].calls_to("engine_newPayloadV3").len(), 1);

    // Plain HTTP to the TLS port: not answered in HTTP, and nothing reaches an EL.
    let mut tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    tcp.write_all(request(&body).as_bytes())
        .await
        .expect("write");
    let mut reply = Vec::new();
    let _ = tcp.read_to_end(&mut reply).await;
    assert!(
        !String::from_utf8_lossy(&reply).contains("HTTP/1.1"),
        "no HTTP answer"
    );
    assert_eq!(
        els[0].calls_to("engine_newPayloadV3").len(),
        1,
        "nothing forwarded"
    );
    running.shutdown().await;
}
