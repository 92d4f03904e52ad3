//! HTTP connection handling: a request with `Connection: close` is answered with
//! `connection: close` and the server then closes the connection; without it the connection is
//! kept alive.

use std::net::SocketAddr;
use std::time::Duration;

use crate::support::mock_els::*;
use crate::support::proxy::raw_exchange;
use serde_json::json;

fn http_request(addr: SocketAddr, cl: &Cl, body: &str, close: bool) -> Vec<u8> {
    let mut head = format!(
        "POST / HTTP/1.1\r\nHost: {}\r\nAuthorization: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        addr,
        cl.bearer(),
        body.len()
    );
    if close {
        head.push_str("Connection: close\r\n");
    }
    head.push_str("\r\n");
    head.push_str(body);
    head.into_bytes()
}

fn split(response: &[u8]) -> (String, String) {
    let text = String::from_utf8_lossy(response).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("not an HTTP response: {text:?}"));
    (head.to_ascii_lowercase(), body.to_owned())
}

#[tokio::test]
async fn connection_close_is_honoured() {
    let els = mocks(1).await;
    let running = proxy(&plain(&els), settings()).await;
    let cl = Cl::new(running.url());
    let body = body_for(1);
    let addr = running.local_addr;

    let bytes = http_request(addr, &cl, &body, true);
    let (response, closed) =
        tokio::task::spawn_blocking(move || raw_exchange(addr, &bytes, Duration::from_secs(3)))
            .await
            .expect("join");
    // The event: the server closed the connection (within the read timeout, not by it).
    assert!(closed, "the server kept the connection open");
    let (head, body) = split(&response);
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(
        head.lines().any(|l| l.trim() == "connection: close"),
        "{head}"
    );
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).expect("json"),
        json!({"jsonrpc": "2.0", "id": 1, "result": "0x0"})
    );

    // Without it, the connection stays open after the answer.
    let bytes = http_request(addr, &cl, &body_for(2), false);
    let (response, closed) =
        tokio::task::spawn_blocking(move || raw_exchange(addr, &bytes, Duration::from_millis(500)))
            .await
            .expect("join");
    assert!(!closed, "a keep-alive connection was closed");
    let (head, _) = split(&response);
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(!head.contains("connection: close"), "{head}");
}

fn body_for(id: u64) -> String {
    json!({"jsonrpc": "2.0", "id": id, "method": "eth_blockNumber", "params": []}).to_string()
}
