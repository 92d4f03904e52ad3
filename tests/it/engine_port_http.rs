//! The engine port's HTTP/1.1, byte by byte on a raw socket: pipelined requests, heads and
//! bodies in small pieces, a refused request's body skipped, a connection that turns to hyper half way (chunked body, HTTP/1.0)
//! and keeps serving, a body that stops half way (408), and shutdown (an idle connection is
//! closed, a request in flight is answered first).

use std::time::Duration;

use crate::support::mock_els::*;
use crate::support::shapes::new_payload_params;
use eb_transport::TokioNet;
use executionbackup::app::Running;
use executionbackup::config::Settings;
use mock_el::Behaviour;
use mock_el::MockElHandle;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A failure guard only: every wait below ends on an event long before it.
const PATIENCE: Duration = Duration::from_secs(20);

fn rpc(id: u64) -> String {
    json!({"jsonrpc": "2.0", "id": id, "method": "eth_blockNumber", "params": []}).to_string()
}

/// A request with `Content-Length`, plus any extra header lines.
fn request(cl: &Cl, body: &str, extra: &str) -> Vec<u8> {
    format!(
        "POST / HTTP/1.1\r\nHost: proxy\r\nAuthorization: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{extra}\r\n{body}",
        cl.bearer(),
        body.len()
    )
    .into_bytes()
}

/// The same request with a chunked body, which hyper serves.
fn chunked(cl: &Cl, body: &str) -> Vec<u8> {
    let (a, b) = body.split_at(body.len() / 2);
    format!(
        "POST / HTTP/1.1\r\nHost: proxy\r\nAuthorization: {}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
        cl.bearer(),
        a.len(),
        b.len()
    )
    .into_bytes()
}

struct Answer {
    head: String,
    body: Vec<u8>,
}

impl Answer {
    fn status(&self) -> u16 {
        self.head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!("{e}: {}", String::from_utf8_lossy(&self.body));
        })
    }

    fn closes(&self) -> bool {
        self.head.lines().any(|l| l.trim() == "connection: close")
    }
}

/// Reads HTTP responses off one connection, however the bytes arrive.
struct Reader {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Reader {
    fn new(stream: TcpStream) -> Self {
        Self {
            stream,
            buf: Vec::new(),
        }
    }

    async fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 16 * 1024];
        match tokio::time::timeout(PATIENCE, self.stream.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
            Ok(_) => false,
            Err(_) => panic!("no bytes from the proxy within {PATIENCE:?}"),
        }
    }

    async fn answer(&mut self) -> Answer {
        loop {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.buf[..end]).to_ascii_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .map_or(0, |v| v.trim().parse().expect("content-length"));
                if self.buf.len() >= end + 4 + len {
                    let body = self.buf[end + 4..end + 4 + len].to_vec();
                    self.buf.drain(..end + 4 + len);
                    return Answer { head, body };
                }
            }
            assert!(
                self.fill().await,
                "the connection closed mid-answer: {:?}",
                String::from_utf8_lossy(&self.buf)
            );
        }
    }

    /// The next read finds the connection closed (and nothing else on it).
    async fn closed(&mut self) -> bool {
        self.buf.is_empty() && !self.fill().await
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write");
    }
}

/// The proxy in front of `els`, a consensus client's credentials, and one open connection.
async fn start(els: &[MockElHandle], settings: Settings) -> (Running<TokioNet>, Cl, Reader) {
    let running = proxy(&plain(els), settings).await;
    let cl = Cl::new(running.url());
    let conn = connect(running.local_addr).await;
    (running, cl, conn)
}

async fn connect(addr: std::net::SocketAddr) -> Reader {
    Reader::new(TcpStream::connect(addr).await.expect("connects"))
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order() {
    let els = mocks(1).await;
    let (_running, cl, mut conn) = start(&els, settings()).await;
    let mut all = request(&cl, &rpc(1), "");
    all.extend(request(&cl, &rpc(2), ""));
    all.extend(request(&cl, &rpc(3), "Connection: close\r\n"));
    conn.send(&all).await;
    for id in 1..=3 {
        let answer = conn.answer().await;
        assert_eq!(answer.status(), 200, "{}", answer.head);
        assert_eq!(answer.json()["id"], id);
        assert_eq!(answer.closes(), id == 3, "{}", answer.head);
    }
    assert!(
        conn.closed().await,
        "the connection stayed open after close"
    );
}

#[tokio::test]
async fn a_head_and_a_large_body_in_small_pieces_arrive_whole() {
    let els = vec![mock("el1", 1, |b| b.record_params(true)).await];
    let (_running, cl, mut conn) = start(&els, settings()).await;
    // Over 256 KiB, so the body is read into a pooled buffer, a few bytes at a time.
    let mut params = new_payload_params(1);
    params[0]["transactions"] = json!([format!("0x02{}", "ab".repeat(150 * 1024))]);
    let body =
        json!({"jsonrpc": "2.0", "id": 9, "method": "engine_newPayloadV3", "params": params})
            .to_string();
    let bytes = request(&cl, &body, "");
    for piece in bytes.chunks(1 + bytes.len() / 97) {
        conn.send(piece).await;
        tokio::task::yield_now().await;
    }
    let answer = conn.answer().await;
    assert_eq!(answer.status(), 200, "{}", answer.head);
    assert_eq!(answer.json()["id"], 9);
    let calls = els[0].arrivals_to("engine_newPayloadV3");
    let got: Value =
        serde_json::from_str(calls[0].params.as_deref().expect("params recorded")).expect("json");
    assert!(got == params, "the EL got another body");
    // The connection is kept alive and serves the next request.
    conn.send(&request(&cl, &rpc(10), "")).await;
    assert_eq!(conn.answer().await.json()["id"], 10);
}

#[tokio::test]
async fn a_refused_request_leaves_the_connection_in_step() {
    let els = mocks(1).await;
    let (_running, cl, mut conn) = start(&els, settings()).await;
    let body = rpc(1);
    let refused = format!(
        "POST / HTTP/1.1\r\nHost: proxy\r\nAuthorization: Bearer not.a.token\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut both = refused.into_bytes();
    both.extend(request(&cl, &rpc(2), ""));
    conn.send(&both).await;
    let answer = conn.answer().await;
    assert_eq!(answer.status(), 401, "{}", answer.head);
    // The refused body was skipped, not read as the next request's head.
    let answer = conn.answer().await;
    assert_eq!(answer.status(), 200, "{}", answer.head);
    assert_eq!(answer.json()["id"], 2);
    assert_eq!(
        els[0].calls_to("eth_blockNumber").len(),
        1,
        "only the second was forwarded"
    );
}

#[tokio::test]
async fn a_connection_that_turns_to_hyper_keeps_serving() {
    let els = mocks(1).await;
    let (_running, cl, mut conn) = start(&els, settings()).await;
    conn.send(&request(&cl, &rpc(1), "")).await;
    assert_eq!(conn.answer().await.json()["id"], 1);
    // A chunked body: hyper takes the connection from here, with the bytes read so far.
    conn.send(&chunked(&cl, &rpc(2))).await;
    let answer = conn.answer().await;
    assert_eq!(answer.status(), 200, "{}", answer.head);
    assert_eq!(answer.json()["id"], 2);
    conn.send(&request(&cl, &rpc(3), "")).await;
    assert_eq!(conn.answer().await.json()["id"], 3);
    conn.send(&request(&cl, &rpc(4), "Connection: close\r\n"))
        .await;
    let answer = conn.answer().await;
    assert_eq!(answer.json()["id"], 4);
    assert!(answer.closes(), "{}", answer.head);
    assert!(
        conn.closed().await,
        "the connection stayed open after close"
    );
}

#[tokio::test]
async fn an_http_1_0_request_is_answered_and_closed() {
    let els = mocks(1).await;
    let (_running, cl, mut conn) = start(&els, settings()).await;
    let bytes = String::from_utf8(request(&cl, &rpc(5), ""))
        .expect("utf-8")
        .replacen("HTTP/1.1", "HTTP/1.0", 1);
    conn.send(bytes.as_bytes()).await;
    let answer = conn.answer().await;
    assert_eq!(answer.status(), 200, "{}", answer.head);
    assert_eq!(answer.json()["id"], 5);
    assert!(conn.closed().await, "an HTTP/1.0 connection stayed open");
}

#[tokio::test]
async fn a_body_that_stops_half_way_gets_408_and_the_connection_closes() {
    let els = mocks(1).await;
    let settings = Settings {
        body_timeout: Duration::from_millis(300),
        ..settings()
    };
    let (_running, cl, mut conn) = start(&els, settings).await;
    let body = rpc(6);
    let mut bytes = request(&cl, &body, "");
    bytes.truncate(bytes.len() - body.len() / 2);
    conn.send(&bytes).await;
    let answer = conn.answer().await;
    assert_eq!(answer.status(), 408, "{}", answer.head);
    assert!(answer.closes(), "{}", answer.head);
    assert!(conn.closed().await, "the connection stayed open after 408");
}

#[tokio::test]
async fn shutdown_closes_idle_connections_and_answers_the_one_in_flight() {
    let els = mocks(1).await;
    els[0].set(Behaviour::latency(Duration::from_secs(2)).scoped("engine_newPayload"));
    // No probes after start-up: every request the EL counts from here on is the test's.
    let settings = Settings {
        health_interval: Duration::from_secs(3600),
        ..settings()
    };
    let (running, cl, mut idle) = start(&els, settings).await;
    let addr = running.local_addr;

    idle.send(&request(&cl, &rpc(1), "")).await;
    assert_eq!(idle.answer().await.json()["id"], 1);

    let before = els[0].requests_received();
    let mut busy = connect(addr).await;
    let body = json!({"jsonrpc": "2.0", "id": 7, "method": "engine_newPayloadV3", "params": new_payload_params(1)})
        .to_string();
    busy.send(&request(&cl, &body, "")).await;
    let arrived = eventually(PATIENCE, async || els[0].requests_received() > before).await;
    assert!(arrived, "the newPayload never reached the EL");

    // The EL answers two seconds after the request arrived; shutdown starts now.
    let stopping = tokio::spawn(running.shutdown());
    assert!(idle.closed().await, "an idle connection stayed open");
    // Not cut off by the shutdown: answered, then closed.
    let answer = busy.answer().await;
    assert_eq!(answer.status(), 200, "{}", answer.head);
    assert_eq!(answer.json()["id"], 7);
    assert_eq!(status_of(&answer.json()), "VALID");
    assert!(busy.closed().await, "the busy connection stayed open");
    tokio::time::timeout(PATIENCE, stopping)
        .await
        .expect("shutdown finished")
        .expect("join");
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "still accepting after shutdown"
    );
}
