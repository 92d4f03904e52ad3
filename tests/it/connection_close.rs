//! HTTP connection handling: a request with `Connection: close` is answered with
//! `connection: close` and the server then closes the connection; without it the connection is
//! kept alive.

use std::time::{Duration, Instant};

use crate::support::scripted_el::*;
use serde_json::json;

fn http_request(proxy: &Proxy, body: &str, close: bool) -> Vec<u8> {
    let mut head = format!(
        "POST / HTTP/1.1\r\nHost: {}\r\nAuthorization: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        proxy.addr(),
        proxy.bearer(),
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
    let s = secret(0xe1);
    let el = El::start(s.clone()).await;
    el.on("eth_blockNumber", Reply::result(json!("0x2"))).await;
    let proxy = start_proxy(&s, &[el.url()]).await;
    let body = body_for(1);
    let addr = proxy.addr();

    let bytes = http_request(&proxy, &body, true);
    let started = Instant::now();
    let (response, closed) =
        tokio::task::spawn_blocking(move || raw_exchange(addr, &bytes, Duration::from_secs(3)))
            .await
            .expect("join");
    assert!(closed, "the server kept the connection open");
    assert!(started.elapsed() < Duration::from_secs(2));
    let (head, body) = split(&response);
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(
        head.lines().any(|l| l.trim() == "connection: close"),
        "{head}"
    );
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).expect("json"),
        json!({"jsonrpc": "2.0", "id": 1, "result": "0x2"})
    );

    // Without it, the connection stays open after the answer.
    let bytes = http_request(&proxy, &body_for(2), false);
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
    request(json!(id), "eth_blockNumber", json!([])).to_string()
}
