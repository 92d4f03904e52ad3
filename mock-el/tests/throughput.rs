//! How many small requests per second one mock answers on one core.
//!
//! The mock runs on its own single-threaded runtime; clients are raw keep-alive TCP
//! connections that send a prepared request and read the response, so the client costs little.
//! The default run checks a floor low enough for a debug build on a busy machine;
//! `cargo test -p mock-el --release --test throughput -- --ignored --nocapture` prints the rate
//! against the 20k/s target.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Starts a mock on a dedicated one-thread runtime; returns its address and a stop sender.
fn mock_on_one_core() -> (
    SocketAddr,
    std::sync::mpsc::Sender<()>,
    std::thread::JoinHandle<()>,
) {
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let el = spawn(builder().max_calls(1000)).await;
            addr_tx.send(el.addr()).expect("send addr");
            // Poll the stop channel without blocking the runtime.
            while stop_rx.try_recv().is_err() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            el.shutdown().await;
        });
    });
    let addr = addr_rx.recv().expect("addr");
    (addr, stop_tx, thread)
}

async fn client(addr: SocketAddr, request: Vec<u8>, deadline: Instant) -> u64 {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.set_nodelay(true).expect("nodelay");
    let mut buf = vec![0u8; 16 * 1024];
    let mut done = 0;
    while Instant::now() < deadline {
        s.write_all(&request).await.expect("write");
        // Read one response: headers, then Content-Length bytes of body.
        let mut have = 0;
        loop {
            let n = s.read(&mut buf[have..]).await.expect("read");
            assert!(n > 0, "connection closed");
            have += n;
            let text = &buf[..have];
            if let Some(end) = text.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = std::str::from_utf8(&text[..end]).expect("utf8");
                assert!(head.starts_with("HTTP/1.1 200"), "{head}");
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length: "))
                    .and_then(|v| v.parse().ok())
                    .expect("content-length");
                if have >= end + 4 + len {
                    break;
                }
            }
        }
        done += 1;
    }
    done
}

async fn measure(duration: Duration, connections: usize) -> f64 {
    let (addr, stop, thread) = mock_on_one_core();
    let body = json!({"jsonrpc":"2.0","id":1,"method":"engine_forkchoiceUpdatedV3","params":[fcu_state(&hash(1)), null]}).to_string();
    let request = format!(
        "POST / HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{}",
        token_at(NOW),
        body.len(),
        body
    )
    .into_bytes();
    let start = Instant::now();
    let deadline = start + duration;
    let tasks: Vec<_> = (0..connections)
        .map(|_| tokio::spawn(client(addr, request.clone(), deadline)))
        .collect();
    let mut total = 0;
    for t in tasks {
        total += t.await.expect("client");
    }
    let rate = total as f64 / start.elapsed().as_secs_f64();
    stop.send(()).expect("stop");
    thread.join().expect("mock thread");
    rate
}

#[tokio::test(flavor = "current_thread")]
async fn answers_thousands_of_small_requests_per_second() {
    let rate = measure(Duration::from_millis(700), 8).await;
    println!("{rate:.0} requests/s");
    assert!(rate > 2_000.0, "only {rate:.0} requests/s");
}

#[tokio::test(flavor = "current_thread")]
#[ignore = "benchmark: run with --release --ignored"]
async fn throughput_target() {
    let rate = measure(Duration::from_secs(3), 16).await;
    println!("{rate:.0} requests/s (target 20000)");
    assert!(rate > 20_000.0, "only {rate:.0} requests/s");
}
