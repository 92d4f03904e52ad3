//! An in-process network for the instruction-count benchmarks: the consensus client and the
//! execution clients are stubs on the same thread, so only the proxy's own work is measured.
//!
//! * EL side: every `connect` gives a [`Conn`] that reads the HTTP request the proxy writes
//!   (headers, then counts the body's bytes without copying them) and, once the request is
//!   complete, offers a canned answer for its method (echoing the request id).
//! * CL side: the listener hands out one [`Conn`] that the benchmark feeds requests into and
//!   reads answers from ([`ClHandle::roundtrip`]).
//!
//! The stubs' work is not counted (see [`NOT_COUNTED`]): what they do stands for the kernel's
//! socket calls and for the other processes in production. Their largest item would otherwise
//! be a copy of every request body into the proxy's read buffer (the kernel's `recv`), which
//! callgrind counts at one instruction per byte (`rep movsb`), as much as the proxy's own work
//! at 128 KB.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use bytes::{Buf, Bytes};
use eb_transport::{Listener, Network};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{mpsc, Notify};

/// The stubs' entry points while a call is measured, where callgrind stops counting until they
/// return (`--toggle-collect` flips counting on entry and on exit). Outside the measured call
/// (setup and warm-up, where counting is off) the stubs take other paths, so these toggles
/// never switch counting on there. Each is `#[inline(never)]`, none calls another, and nothing
/// of the proxy runs inside them (waking a task only queues it).
pub const NOT_COUNTED: [&str; 4] = [
    "--toggle-collect=instructions::stub::Conn::read_uncounted",
    "--toggle-collect=instructions::stub::Conn::write_uncounted",
    "--toggle-collect=instructions::stub::ClHandle::send_uncounted",
    "--toggle-collect=instructions::stub::ClHandle::take_uncounted",
];

/// Set by the benchmark around the measured call only.
static MEASURING: AtomicBool = AtomicBool::new(false);

/// Marks the measured call (`true` before it, `false` after).
pub fn set_measuring(on: bool) {
    MEASURING.store(on, Ordering::Relaxed);
}

fn measuring() -> bool {
    MEASURING.load(Ordering::Relaxed)
}

/// The network: `connect` reaches a stub EL, `bind` gives the listener the CL connects to.
#[derive(Clone)]
pub struct StubNet {
    incoming: Arc<Mutex<Option<mpsc::UnboundedReceiver<Conn>>>>,
    outgoing: mpsc::UnboundedSender<Conn>,
}

impl StubNet {
    pub fn new() -> Self {
        let (outgoing, rx) = mpsc::unbounded_channel();
        Self {
            incoming: Arc::new(Mutex::new(Some(rx))),
            outgoing,
        }
    }

    /// Opens a connection from the stub CL to the proxy's listener.
    pub fn cl_connect(&self) -> ClHandle {
        let shared = Arc::new(Mutex::new(ClState::default()));
        let notify = Arc::new(Notify::new());
        let conn = Conn::Cl(ClConn {
            shared: shared.clone(),
            notify: notify.clone(),
        });
        // The listener lives as long as the proxy; a closed channel only means no server.
        let _ = self.outgoing.send(conn);
        ClHandle { shared, notify }
    }
}

impl Network for StubNet {
    type Stream = Conn;
    type Listener = StubListener;

    async fn connect(&self, _host: &str, _port: u16) -> io::Result<Conn> {
        Ok(Conn::El(Box::default()))
    }

    async fn bind(&self, _addr: SocketAddr) -> io::Result<StubListener> {
        let rx = self
            .incoming
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .ok_or_else(|| io::Error::other("bound twice"))?;
        Ok(StubListener {
            rx: tokio::sync::Mutex::new(rx),
        })
    }
}

pub struct StubListener {
    rx: tokio::sync::Mutex<mpsc::UnboundedReceiver<Conn>>,
}

impl Listener for StubListener {
    type Stream = Conn;

    async fn accept(&self) -> io::Result<(Conn, SocketAddr)> {
        let conn = self.rx.lock().await.recv().await;
        conn.map(|c| (c, SocketAddr::from(([127, 0, 0, 1], 1))))
            .ok_or_else(|| io::Error::other("network closed"))
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(SocketAddr::from(([127, 0, 0, 1], 8551)))
    }
}

/// One stub connection, either end.
pub enum Conn {
    El(Box<ElConn>),
    Cl(ClConn),
}

// ---- the EL end ---------------------------------------------------------------------------

/// How much of each request body the stub EL keeps to pick its answer.
const SNIFF: usize = 4096;

#[derive(Default)]
pub struct ElConn {
    head: Vec<u8>,
    /// Body bytes still to come; `None` while reading headers.
    body_left: Option<usize>,
    sniff: Vec<u8>,
    out: Bytes,
    read_waker: Option<Waker>,
}

impl ElConn {
    fn take(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            match self.body_left {
                None => {
                    let before = self.head.len();
                    self.head.extend_from_slice(data);
                    let Some(end) = memchr::memmem::find(&self.head, b"\r\n\r\n") else {
                        return;
                    };
                    let used = end + 4 - before;
                    self.body_left = Some(content_length(&self.head[..end]));
                    self.head.clear();
                    data = &data[used..];
                }
                Some(left) => {
                    let n = left.min(data.len());
                    let keep = (SNIFF - self.sniff.len()).min(n);
                    self.sniff.extend_from_slice(&data[..keep]);
                    data = &data[n..];
                    self.body_left = Some(left - n);
                }
            }
            if self.body_left == Some(0) {
                self.body_left = None;
                self.out = el_answer(&self.sniff);
                self.sniff.clear();
                if let Some(w) = self.read_waker.take() {
                    w.wake();
                }
            }
        }
    }
}

/// A canned answer for the method in `body` (its first bytes), with the request's id.
fn el_answer(body: &[u8]) -> Bytes {
    let id = field(body, b"\"id\":").unwrap_or(b"null");
    let method = field(body, b"\"method\":").unwrap_or(b"");
    let has = |s: &[u8]| memchr::memmem::find(body, s).is_some();
    let result: &[u8] = if method.starts_with(b"\"engine_newPayload") {
        br#"{"status":"VALID","latestValidHash":null,"validationError":null}"#
    } else if method.starts_with(b"\"engine_forkchoiceUpdated") {
        if has(b"suggestedFeeRecipient") {
            br#"{"payloadStatus":{"status":"VALID","latestValidHash":null,"validationError":null},"payloadId":"0x0102030405060708"}"#
        } else {
            br#"{"payloadStatus":{"status":"VALID","latestValidHash":null,"validationError":null},"payloadId":null}"#
        }
    } else if method.starts_with(b"\"engine_getPayload") {
        GET_PAYLOAD_RESULT.as_bytes()
    } else if method == b"\"eth_blockNumber\"" {
        br#""0x1234""#
    } else if method == b"\"eth_chainId\"" {
        br#""0x1""#
    } else {
        return http_ok(&[
            br#"{"jsonrpc":"2.0","id":"#,
            id,
            br#","error":{"code":-32601,"message":"Method not found"}}"#,
        ]);
    };
    http_ok(&[
        br#"{"jsonrpc":"2.0","id":"#,
        id,
        br#","result":"#,
        result,
        b"}",
    ])
}

const GET_PAYLOAD_RESULT: &str = concat!(
    r#"{"executionPayload":{"parentHash":"0x7777777777777777777777777777777777777777777777777777777777777777","#,
    r#""feeRecipient":"0x3333333333333333333333333333333333333333","#,
    r#""stateRoot":"0x4444444444444444444444444444444444444444444444444444444444444444","#,
    r#""receiptsRoot":"0x5555555555555555555555555555555555555555555555555555555555555555","#,
    r#""logsBloom":"0x00","prevRandao":"0x6666666666666666666666666666666666666666666666666666666666666666","#,
    r#""blockNumber":"0x10","gasLimit":"0x1c9c380","gasUsed":"0x0","timestamp":"0x6553f10c","extraData":"0x","#,
    r#""baseFeePerGas":"0x7","blockHash":"0x9999999999999999999999999999999999999999999999999999999999999999","#,
    r#""transactions":[],"withdrawals":[],"blobGasUsed":"0x0","excessBlobGas":"0x0"},"#,
    r#""blockValue":"0x1","blobsBundle":{"commitments":[],"proofs":[],"blobs":[]},"shouldOverrideBuilder":false}"#
);

fn http_ok(parts: &[&[u8]]) -> Bytes {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    let mut out = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {len}\r\n\r\n"
    )
    .into_bytes();
    for p in parts {
        out.extend_from_slice(p);
    }
    Bytes::from(out)
}

/// The raw JSON value after `key` up to the next `,` or `}` (ids and method names here).
fn field<'a>(body: &'a [u8], key: &[u8]) -> Option<&'a [u8]> {
    let at = memchr::memmem::find(body, key)? + key.len();
    let rest = &body[at..];
    let end = rest.iter().position(|b| matches!(b, b',' | b'}'))?;
    Some(&rest[..end])
}

fn content_length(head: &[u8]) -> usize {
    // hyper writes header names in lower case: one search finds it (the stubs' cost counts).
    if let Some(at) = memchr::memmem::find(head, b"\ncontent-length: ") {
        return head[at + 17..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .fold(0usize, |n, &d| n * 10 + usize::from(d - b'0'));
    }
    head.split(|&b| b == b'\n')
        .filter_map(|line| {
            let colon = line.iter().position(|&b| b == b':')?;
            let (k, v) = line.split_at(colon);
            k.eq_ignore_ascii_case(b"content-length").then(|| {
                v[1..]
                    .iter()
                    .filter(|b| b.is_ascii_digit())
                    .fold(0usize, |n, &d| n * 10 + usize::from(d - b'0'))
            })
        })
        .next()
        .unwrap_or(0)
}

// ---- the CL end ---------------------------------------------------------------------------

#[derive(Default)]
struct ClState {
    /// Request bytes still to be read by the proxy.
    inbox: VecDeque<Bytes>,
    read_waker: Option<Waker>,
    /// What the proxy wrote back so far.
    answer: Vec<u8>,
}

pub struct ClConn {
    shared: Arc<Mutex<ClState>>,
    notify: Arc<Notify>,
}

/// The benchmark's end of the CL connection.
pub struct ClHandle {
    shared: Arc<Mutex<ClState>>,
    notify: Arc<Notify>,
}

impl ClHandle {
    /// Sends one whole HTTP request and waits for the whole answer's JSON body.
    pub async fn roundtrip(&self, request: Bytes) -> Bytes {
        self.send(request);
        loop {
            let notified = self.notify.notified();
            if let Some(answer) = self.take_answer() {
                return answer;
            }
            notified.await;
        }
    }

    /// Queues a request for the proxy to read (not counted while measuring).
    fn send(&self, request: Bytes) {
        if measuring() {
            self.send_uncounted(request);
        } else {
            self.queue(request);
        }
    }

    #[inline(never)]
    fn send_uncounted(&self, request: Bytes) {
        self.queue(request);
    }

    #[inline(always)]
    fn queue(&self, request: Bytes) {
        let mut s = self.shared.lock().unwrap_or_else(|p| p.into_inner());
        s.inbox.push_back(request);
        if let Some(w) = s.read_waker.take() {
            w.wake();
        }
    }

    /// The body of the first complete answer, if there is one (not counted while measuring).
    fn take_answer(&self) -> Option<Bytes> {
        if measuring() {
            self.take_uncounted()
        } else {
            self.take()
        }
    }

    #[inline(never)]
    fn take_uncounted(&self) -> Option<Bytes> {
        self.take()
    }

    #[inline(always)]
    fn take(&self) -> Option<Bytes> {
        let mut s = self.shared.lock().unwrap_or_else(|p| p.into_inner());
        let len = complete(&s.answer)?;
        let answer = Bytes::copy_from_slice(body_of(&s.answer[..len]));
        s.answer.drain(..len);
        Some(answer)
    }
}

/// The length of the first complete HTTP response in `buf`, if there is one.
fn complete(buf: &[u8]) -> Option<usize> {
    let end = memchr::memmem::find(buf, b"\r\n\r\n")?;
    let total = end + 4 + content_length(&buf[..end]);
    (buf.len() >= total).then_some(total)
}

/// The JSON body of an HTTP response.
fn body_of(response: &[u8]) -> &[u8] {
    match memchr::memmem::find(response, b"\r\n\r\n") {
        Some(end) => &response[end + 4..],
        None => response,
    }
}

// ---- the byte-stream traits ----------------------------------------------------------------

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if measuring() {
            this.read_uncounted(cx, buf)
        } else {
            this.read(cx, buf)
        }
    }
}

impl Conn {
    /// The kernel's `recv` in production: not counted (see [`NOT_COUNTED`]).
    #[inline(never)]
    fn read_uncounted(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.read(cx, buf)
    }

    #[inline(always)]
    fn read(&mut self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self {
            Conn::El(el) => {
                if el.out.is_empty() {
                    el.read_waker = Some(cx.waker().clone());
                    return Poll::Pending;
                }
                let n = el.out.len().min(buf.remaining());
                buf.put_slice(&el.out[..n]);
                el.out.advance(n);
                Poll::Ready(Ok(()))
            }
            Conn::Cl(cl) => {
                let mut s = cl.shared.lock().unwrap_or_else(|p| p.into_inner());
                while s.inbox.front().is_some_and(|b| b.is_empty()) {
                    s.inbox.pop_front();
                }
                let Some(front) = s.inbox.front_mut() else {
                    s.read_waker = Some(cx.waker().clone());
                    return Poll::Pending;
                };
                let n = front.len().min(buf.remaining());
                buf.put_slice(&front[..n]);
                front.advance(n);
                Poll::Ready(Ok(()))
            }
        }
    }
}

impl Conn {
    fn write_one(&mut self, data: &[u8]) {
        if measuring() {
            self.write_uncounted(data);
        } else {
            self.write(data);
        }
    }

    /// The kernel's `send` and the other process in production: not counted.
    #[inline(never)]
    fn write_uncounted(&mut self, data: &[u8]) {
        self.write(data);
    }

    #[inline(always)]
    fn write(&mut self, data: &[u8]) {
        match self {
            Conn::El(el) => el.take(data),
            Conn::Cl(cl) => {
                cl.shared
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .answer
                    .extend_from_slice(data);
                cl.notify.notify_one();
            }
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().write_one(data);
        Poll::Ready(Ok(data.len()))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let mut total = 0;
        for b in bufs {
            this.write_one(b);
            total += b.len();
        }
        Poll::Ready(Ok(total))
    }

    fn is_write_vectored(&self) -> bool {
        // Like a TCP socket: hyper then queues body buffers instead of copying them.
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
