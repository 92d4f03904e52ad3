//! `--tls-cert`/`--tls-key`: the engine port speaks TLS (for a consensus client on another
//! host). A client that trusts the certificate gets JSON-RPC answers; a plain-HTTP client gets
//! no HTTP answer at all.

use crate::support::mock_els::*;
use crate::support::tls::{http_post_request, tls_post, TestPki};
use executionbackup::config::Settings;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

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

    let text = tls_post(addr, &pki.ca, &body).await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains(r#""status":"VALID""#), "{text}");
    assert_eq!(els[0].calls_to("engine_newPayloadV3").len(), 1);

    // Plain HTTP to the TLS port: not answered in HTTP, and nothing reaches an EL.
    let mut tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    tcp.write_all(http_post_request(&body).as_bytes())
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
