//! One HTTP/1.1 request and its response on one connection, written by hand for the one shape
//! the clients here need: a `POST` with a `Content-Length` body out, and back a status, a few
//! headers and a body framed by `Content-Length`, by `chunked` transfer coding, or by the end of
//! the connection.
//!
//! The answer comes from a server that is not trusted: the head is at most [`MAX_HEAD`] bytes
//! and [`MAX_HEADERS`] headers, the body at most the caller's limit (checked against
//! `Content-Length` before anything is read, and as chunks arrive), and anything outside the
//! grammar is an error, after which the connection is not used again.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use http::StatusCode;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The longest response head read, in bytes.
pub const MAX_HEAD: usize = 64 * 1024;
/// The most response headers read.
pub const MAX_HEADERS: usize = 64;
/// Bodies up to this size go out in one write together with the head (one copy of a small
/// body costs less than a second packet); larger ones are written from the caller's buffer.
const COALESCE: usize = 16 * 1024;
/// Read granularity.
const READ_CHUNK: usize = 16 * 1024;

/// The most read-buffer capacity an idle connection keeps (a larger one, left by a large
/// answer, is let go rather than held by a pooled connection).
const KEEP_READ: usize = 64 * 1024;

/// A connection's reusable buffers.
#[derive(Default)]
pub struct Buffers {
    /// Bytes read and not used yet.
    read: BytesMut,
    /// The request head being written.
    write: Vec<u8>,
}

impl Buffers {
    /// Lets go of a read buffer grown by a large answer. The answer's body shares its
    /// allocation, so keeping it would hold that much memory for as long as the connection
    /// stays in the pool.
    fn release_large(&mut self) {
        if self.read.capacity() > KEEP_READ {
            self.read = BytesMut::new();
        }
    }
}

/// A complete response.
#[derive(Debug)]
pub struct Response {
    pub status: StatusCode,
    pub body: Bytes,
    /// `Content-Encoding`, when present and not `identity`.
    pub encoding: Option<String>,
    /// Whether the connection may carry another request: the server did not ask to close it,
    /// the body was framed, and nothing followed it.
    pub reusable: bool,
}

/// How an exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    /// The connection ended (or was reset) before a single byte of the response arrived.
    #[error("connection closed before the response")]
    ClosedEarly,
    #[error("response body over {0} bytes")]
    TooLarge(usize),
    #[error("{0}")]
    Broken(String),
}

impl ExchangeError {
    fn broken(what: impl Into<String>) -> Self {
        Self::Broken(what.into())
    }
}

fn io_error(e: io::Error, got_any: bool) -> ExchangeError {
    let early = matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::UnexpectedEof
    );
    if early && !got_any {
        ExchangeError::ClosedEarly
    } else {
        ExchangeError::Broken(format!("connection failed: {e}"))
    }
}

/// Sends `head_prefix` (the request line and fixed headers, each ending in CRLF), then
/// `authorization` and `Content-Length`, then `body`; reads the response. At most `max_body`
/// bytes of body are accepted.
pub async fn exchange<S>(
    io: &mut S,
    bufs: &mut Buffers,
    head_prefix: &[u8],
    authorization: Option<&[u8]>,
    body: &[u8],
    max_body: usize,
) -> Result<Response, ExchangeError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let w = &mut bufs.write;
    w.clear();
    w.extend_from_slice(head_prefix);
    if let Some(value) = authorization {
        w.extend_from_slice(b"authorization: ");
        w.extend_from_slice(value);
        w.extend_from_slice(b"\r\n");
    }
    w.extend_from_slice(b"content-length: ");
    w.extend_from_slice(itoa(body.len(), &mut [0; 20]));
    w.extend_from_slice(b"\r\n\r\n");
    let sent = if body.len() <= COALESCE {
        w.extend_from_slice(body);
        io.write_all(w).await
    } else {
        write_both(io, w, body).await
    };
    let sent = match sent {
        Ok(()) => io.flush().await,
        Err(e) => Err(e),
    };
    if let Err(e) = sent {
        // A server may answer and close before taking the whole body (a 413, say): read what
        // it said. If it said nothing, the write failed on a connection the server had already
        // closed, the same "closed before the response" as an empty read.
        let read = read_response(io, &mut bufs.read, max_body).await;
        bufs.release_large();
        return match read {
            Ok(mut response) => {
                response.reusable = false;
                Ok(response)
            }
            Err(_) => Err(io_error(e, false)),
        };
    }
    let read = read_response(io, &mut bufs.read, max_body).await;
    bufs.release_large();
    read
}

/// `n` in decimal, in `buf`.
fn itoa(mut n: usize, buf: &mut [u8; 20]) -> &[u8] {
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[at..];
        }
    }
}

/// Writes `a` then `b` with vectored writes where the stream supports them (no flush).
pub async fn write_both<S: AsyncWrite + Unpin>(io: &mut S, a: &[u8], b: &[u8]) -> io::Result<()> {
    let (mut a, mut b) = (a, b);
    while !a.is_empty() {
        let n = std::future::poll_fn(|cx| {
            let bufs = [io::IoSlice::new(a), io::IoSlice::new(b)];
            Pin::new(&mut *io).poll_write_vectored(cx, &bufs)
        })
        .await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        let from_a = n.min(a.len());
        a = &a[from_a..];
        b = &b[n - from_a..];
    }
    io.write_all(b).await
}

/// Reads more bytes into `buf`; false at the end of the stream.
async fn fill<S: AsyncRead + Unpin>(
    io: &mut S,
    buf: &mut BytesMut,
    got_any: bool,
) -> Result<bool, ExchangeError> {
    buf.reserve(READ_CHUNK);
    let n = io
        .read_buf(buf)
        .await
        .map_err(|e| io_error(e, got_any || !buf.is_empty()))?;
    Ok(n > 0)
}

struct Head {
    status: StatusCode,
    length: Option<usize>,
    chunked: bool,
    close: bool,
    encoding: Option<String>,
}

async fn read_response<S: AsyncRead + Unpin>(
    io: &mut S,
    buf: &mut BytesMut,
    max_body: usize,
) -> Result<Response, ExchangeError> {
    // Bytes left over from an earlier exchange mean the server is out of step.
    if !buf.is_empty() {
        return Err(ExchangeError::broken(
            "unexpected bytes before the response",
        ));
    }
    let head = loop {
        match parse_head(buf)? {
            Some(head) if head.status.is_informational() => {
                if head.status == StatusCode::SWITCHING_PROTOCOLS {
                    return Err(ExchangeError::broken("server switched protocols"));
                }
            }
            Some(head) => break head,
            None => {
                if buf.len() > MAX_HEAD {
                    return Err(ExchangeError::broken("response head too long"));
                }
                if !fill(io, buf, false).await? {
                    return Err(if buf.is_empty() {
                        ExchangeError::ClosedEarly
                    } else {
                        ExchangeError::broken("connection closed inside the response head")
                    });
                }
            }
        }
    };
    let no_body = head.status == StatusCode::NO_CONTENT || head.status == StatusCode::NOT_MODIFIED;
    let (body, framed) = if no_body {
        (Bytes::new(), true)
    } else if head.chunked {
        (read_chunked(io, buf, max_body).await?, true)
    } else if let Some(length) = head.length {
        if length > max_body {
            return Err(ExchangeError::TooLarge(max_body));
        }
        buf.reserve(length.saturating_sub(buf.len()));
        while buf.len() < length {
            if !fill(io, buf, true).await? {
                return Err(ExchangeError::broken("connection closed inside the body"));
            }
        }
        (buf.split_to(length).freeze(), true)
    } else {
        // Framed by the end of the connection.
        loop {
            if buf.len() > max_body {
                return Err(ExchangeError::TooLarge(max_body));
            }
            if !fill(io, buf, true).await? {
                break;
            }
        }
        (buf.split().freeze(), false)
    };
    Ok(Response {
        status: head.status,
        body,
        encoding: head.encoding,
        reusable: framed && !head.close && buf.is_empty(),
    })
}

/// The response head at the start of `buf`, consumed from it; `None` while incomplete.
fn parse_head(buf: &mut BytesMut) -> Result<Option<Head>, ExchangeError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let used = match response.parse(buf) {
        Ok(httparse::Status::Complete(used)) => used,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(ExchangeError::broken(format!("bad response head: {e}"))),
    };
    let status = response
        .code
        .and_then(|c| StatusCode::from_u16(c).ok())
        .ok_or_else(|| ExchangeError::broken("bad status code"))?;
    // HTTP/1.0 closes after the response unless asked to keep the connection.
    let mut close = response.version != Some(1);
    let (mut length, mut chunked, mut encoding) = (None, false, None);
    for h in response.headers.iter() {
        let value = h.value;
        if h.name.eq_ignore_ascii_case("content-length") {
            let n = std::str::from_utf8(value)
                .ok()
                .map(str::trim)
                .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|s| s.parse::<usize>().ok())
                .ok_or_else(|| ExchangeError::broken("bad Content-Length"))?;
            if length.is_some_and(|m| m != n) {
                return Err(ExchangeError::broken("conflicting Content-Length"));
            }
            length = Some(n);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            // Only `chunked` (last) frames a body this client can read.
            let last = value.rsplit(|&b| b == b',').next().unwrap_or(value);
            if !last.trim_ascii().eq_ignore_ascii_case(b"chunked") {
                return Err(ExchangeError::broken("unsupported Transfer-Encoding"));
            }
            chunked = true;
        } else if h.name.eq_ignore_ascii_case("connection") {
            for token in value.split(|&b| b == b',') {
                let token = token.trim_ascii();
                if token.eq_ignore_ascii_case(b"close") {
                    close = true;
                } else if token.eq_ignore_ascii_case(b"keep-alive") && response.version == Some(0) {
                    close = false;
                }
            }
        } else if h.name.eq_ignore_ascii_case("content-encoding") {
            let v = String::from_utf8_lossy(value).trim().to_owned();
            if !v.eq_ignore_ascii_case("identity") {
                encoding = Some(v);
            }
        }
    }
    if chunked && length.is_some() {
        return Err(ExchangeError::broken(
            "both Content-Length and Transfer-Encoding",
        ));
    }
    buf.advance(used);
    Ok(Some(Head {
        status,
        length,
        chunked,
        close,
        encoding,
    }))
}

/// A `chunked` body: `size[;ext] CRLF data CRLF` ... `0 CRLF [trailers] CRLF`.
async fn read_chunked<S: AsyncRead + Unpin>(
    io: &mut S,
    buf: &mut BytesMut,
    max_body: usize,
) -> Result<Bytes, ExchangeError> {
    let mut body = BytesMut::new();
    loop {
        let line = read_line(io, buf).await?;
        let digits = line.split(|&b| b == b';').next().unwrap_or(&line[..]);
        let digits = std::str::from_utf8(digits.trim_ascii())
            .ok()
            .filter(|s| !s.is_empty() && s.len() <= 16)
            .ok_or_else(|| ExchangeError::broken("bad chunk size"))?;
        let size = usize::from_str_radix(digits, 16)
            .map_err(|_| ExchangeError::broken("bad chunk size"))?;
        if size == 0 {
            // Trailers, up to the empty line.
            while !read_line(io, buf).await?.is_empty() {}
            return Ok(body.freeze());
        }
        if body.len().saturating_add(size) > max_body {
            return Err(ExchangeError::TooLarge(max_body));
        }
        while buf.len() < size + 2 {
            if !fill(io, buf, true).await? {
                return Err(ExchangeError::broken("connection closed inside a chunk"));
            }
        }
        body.extend_from_slice(&buf[..size]);
        if &buf[size..size + 2] != b"\r\n" {
            return Err(ExchangeError::broken("chunk not followed by CRLF"));
        }
        buf.advance(size + 2);
    }
}

/// One CRLF-terminated line (without the CRLF), consumed from `buf`.
async fn read_line<S: AsyncRead + Unpin>(
    io: &mut S,
    buf: &mut BytesMut,
) -> Result<Bytes, ExchangeError> {
    loop {
        if let Some(i) = buf.windows(2).position(|w| w == b"\r\n") {
            let line = buf.split_to(i).freeze();
            buf.advance(2);
            return Ok(line);
        }
        if buf.len() > MAX_HEAD {
            return Err(ExchangeError::broken("chunk line too long"));
        }
        if !fill(io, buf, true).await? {
            return Err(ExchangeError::broken("connection closed inside a chunk"));
        }
    }
}

/// Whether an idle connection still looks usable: nothing to read and not closed. Checked
/// without waiting; a closed, reset or chattering connection is dropped instead of reused.
pub fn idle_and_open<S: AsyncRead + Unpin>(io: &mut S) -> bool {
    let mut cx = Context::from_waker(std::task::Waker::noop());
    let mut byte = [0u8; 1];
    let mut buf = tokio::io::ReadBuf::new(&mut byte);
    matches!(Pin::new(io).poll_read(&mut cx, &mut buf), Poll::Pending)
}

#[cfg(test)]
mod tests;
