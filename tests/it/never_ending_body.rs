//! A request body that never ends (a chunk now and then, forever) is cut off: the proxy answers
//! 408 and closes the connection instead of reading for ever. Run with the default body
//! timeout, so it takes about ten seconds.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::mock_els::*;
use crate::support::processes::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A failure guard only, well past the default body timeout.
const PATIENCE: Duration = Duration::from_secs(40);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_never_ends_is_cut_off() {
    let els = mocks(1).await;
    let dir = temp_dir("never-ending-body");
    let secret = write_secret(&dir, "jwt.hex", &SECRET);
    let mut cmd = Command::new(executionbackup());
    cmd.arg("--nodes")
        .arg(els[0].url())
        .arg("--jwt-secret")
        .arg(&secret)
        .args(["--port", "0", "--metrics-addr", "off"]);
    let (_proxy, url) = start_eb(cmd);
    let addr = url.trim_start_matches("http://").to_owned();

    let stream = TcpStream::connect(&addr).await.expect("connects");
    let (mut read, mut write) = stream.into_split();
    let head = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nAuthorization: Bearer {}\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n[\r\n",
        token()
    );
    write.write_all(head.as_bytes()).await.expect("headers");
    // One space every 100 ms, for ever (until the proxy stops reading).
    let drip = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if write.write_all(b"1\r\n \r\n").await.is_err() {
                break;
            }
        }
    });
    let started = Instant::now();
    let mut answer = Vec::new();
    let read_all = async {
        let mut buf = [0u8; 4096];
        loop {
            match read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
    };
    let ended = tokio::time::timeout(PATIENCE, read_all).await;
    drip.abort();
    let text = String::from_utf8_lossy(&answer).into_owned();
    assert!(
        ended.is_ok(),
        "still reading the body after {PATIENCE:?}; answer so far: {text:?}"
    );
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(
        text.to_ascii_lowercase().contains("connection: close"),
        "{text}"
    );
    let body = text.split("\r\n\r\n").nth(1).unwrap_or_default();
    let json: serde_json::Value = serde_json::from_str(body).expect("a JSON-RPC error");
    assert_eq!(json["error"]["code"], -32600, "{json}");
    assert_eq!(json["id"], serde_json::Value::Null);
    println!("cut off after {:?} (informational)", started.elapsed());
}
