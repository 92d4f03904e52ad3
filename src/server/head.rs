//! Reading a request head on the engine port: what the hand-written HTTP/1.1 side takes, and
//! what it leaves to hyper.
//!
//! It takes the requests consensus clients send: HTTP/1.1, a `Content-Length` body or none,
//! no `Expect`, no `Upgrade`, no `Transfer-Encoding`. Anything else (HTTP/1.0, chunked bodies,
//! `100-continue`, a head it cannot parse or that is too long) goes to hyper, which answers it
//! exactly as it always did.

use http::header::{HeaderName, HeaderValue, CONNECTION};
use http::{HeaderMap, Method, Request, Uri, Version};

/// A head longer than this is left to hyper (which has its own limit and answer).
pub const MAX_HEAD: usize = 64 * 1024;
/// More headers than this are left to hyper.
const MAX_HEADERS: usize = 64;

/// What the bytes at the start of the connection's buffer are.
#[derive(Debug)]
// Lives on the stack for one request and is never stored: boxing would only add an allocation.
#[allow(clippy::large_enum_variant)]
pub enum Head {
    /// Not a whole head yet: read more.
    Partial,
    /// A request this side serves.
    Complete {
        request: Request<()>,
        /// Bytes of the head, up to and including the blank line.
        head_len: usize,
        /// `Content-Length` (0 without one).
        body_len: usize,
        /// The client asked for the connection to be closed after the answer.
        close: bool,
    },
    /// Anything else: hyper serves the connection from here on.
    Hyper,
}

/// Reads the head at the start of `buf`.
pub fn parse(buf: &[u8]) -> Head {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let head_len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() <= MAX_HEAD => return Head::Partial,
        Ok(httparse::Status::Partial) | Err(_) => return Head::Hyper,
    };
    if req.version != Some(1) {
        return Head::Hyper;
    }
    let Some(method) = req
        .method
        .and_then(|m| Method::from_bytes(m.as_bytes()).ok())
        .filter(|m| *m != Method::HEAD && *m != Method::CONNECT)
    else {
        return Head::Hyper;
    };
    let Some(uri) = req.path.and_then(|p| p.parse::<Uri>().ok()) else {
        return Head::Hyper;
    };
    let mut map = HeaderMap::with_capacity(req.headers.len());
    let mut body_len = None;
    let mut close = false;
    for h in req.headers.iter() {
        let Ok(name) = HeaderName::from_bytes(h.name.as_bytes()) else {
            return Head::Hyper;
        };
        let Ok(value) = HeaderValue::from_bytes(h.value) else {
            return Head::Hyper;
        };
        match name.as_str() {
            "transfer-encoding" | "expect" | "upgrade" => return Head::Hyper,
            "content-length" => match (body_len, content_length(h.value)) {
                (None, Some(n)) => body_len = Some(n),
                _ => return Head::Hyper,
            },
            _ if name == CONNECTION => close |= asks_to_close(h.value),
            _ => {}
        }
        map.append(name, value);
    }
    let mut request = Request::new(());
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.version_mut() = Version::HTTP_11;
    *request.headers_mut() = map;
    Head::Complete {
        request,
        head_len,
        body_len: body_len.unwrap_or(0),
        close,
    }
}

/// A `Content-Length` value: decimal digits only, no sign, no list.
fn content_length(value: &[u8]) -> Option<usize> {
    let value = value.trim_ascii();
    if value.is_empty() || value.len() > 19 || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(value).ok()?.parse().ok()
}

/// Whether a `Connection` header's tokens include `close`.
pub(super) fn asks_to_close(value: &[u8]) -> bool {
    value
        .split(|&b| b == b',')
        .any(|token| token.trim_ascii().eq_ignore_ascii_case(b"close"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete(raw: &[u8]) -> (Request<()>, usize, usize, bool) {
        match parse(raw) {
            Head::Complete {
                request,
                head_len,
                body_len,
                close,
            } => (request, head_len, body_len, close),
            other => panic!("{other:?} for {:?}", String::from_utf8_lossy(raw)),
        }
    }

    #[test]
    fn a_consensus_clients_request_is_taken() {
        let raw = b"POST / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\nContent-Type: application/json\r\nContent-Length: 12\r\n\r\n{\"id\":1}...";
        let (req, head_len, body_len, close) = complete(raw);
        assert_eq!(req.method(), Method::POST);
        assert_eq!(req.uri().path(), "/");
        assert_eq!(req.headers()["authorization"], "Bearer t");
        assert_eq!(&raw[head_len..head_len + 8], b"{\"id\":1}");
        assert_eq!(body_len, 12);
        assert!(!close);
    }

    #[test]
    fn a_get_without_a_body_and_a_close() {
        let (req, _, body_len, close) =
            complete(b"GET /metrics?x=1 HTTP/1.1\r\nConnection: keep-alive, Close\r\n\r\n");
        assert_eq!(req.uri().query(), Some("x=1"));
        assert_eq!(body_len, 0);
        assert!(close);
    }

    #[test]
    fn a_head_in_pieces_is_partial_until_its_blank_line() {
        let raw = b"POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\n";
        for end in 0..raw.len() {
            assert!(matches!(parse(&raw[..end]), Head::Partial), "{end}");
        }
        complete(raw);
    }

    #[test]
    fn what_hyper_keeps() {
        for raw in [
            &b"POST / HTTP/1.0\r\nContent-Length: 2\r\n\r\n"[..],
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n",
            b"GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: +2\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: 2, 2\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
            b"HEAD / HTTP/1.1\r\n\r\n",
            b"GARBAGE\r\n\r\n",
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
        ] {
            assert!(
                matches!(parse(raw), Head::Hyper),
                "{:?}",
                String::from_utf8_lossy(raw)
            );
        }
    }

    #[test]
    fn a_head_that_never_ends_goes_to_hyper() {
        let mut raw = b"POST / HTTP/1.1\r\nX-Long: ".to_vec();
        raw.resize(MAX_HEAD, b'a');
        assert!(matches!(parse(&raw), Head::Partial));
        raw.push(b'a');
        assert!(matches!(parse(&raw), Head::Hyper));
    }

    #[test]
    fn too_many_headers_go_to_hyper() {
        let mut raw = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..=MAX_HEADERS {
            raw.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        raw.extend_from_slice(b"\r\n");
        assert!(matches!(parse(&raw), Head::Hyper));
    }
}
