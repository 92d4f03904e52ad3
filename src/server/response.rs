//! The head of a response on the engine port's hand-written HTTP/1.1 side (written with the
//! body by `eb_transport::client::write_both`).

use std::time::{Duration, UNIX_EPOCH};

use http::header::{CONNECTION, CONTENT_LENGTH, DATE};
use http::response::Parts;
use http::StatusCode;

/// The `Date` header's value, formatted once per second of the injected wall clock.
#[derive(Default)]
pub(super) struct DateCache {
    second: Option<u64>,
    text: String,
}

impl DateCache {
    pub(super) fn at(&mut self, unix_seconds: u64) -> &str {
        if self.second != Some(unix_seconds) {
            let at = UNIX_EPOCH + Duration::from_secs(unix_seconds);
            self.text = httpdate::fmt_http_date(at);
            self.second = Some(unix_seconds);
        }
        &self.text
    }
}

/// The status line and headers of `parts`, with `content-length`, `date` and, when `close`,
/// `connection: close` (each only if the handler did not set it).
pub(super) fn head(parts: &Parts, body_len: usize, close: bool, date: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(160);
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(parts.status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(
        parts
            .status
            .canonical_reason()
            .unwrap_or("<none>")
            .as_bytes(),
    );
    out.extend_from_slice(b"\r\n");
    for (name, value) in &parts.headers {
        if name == CONTENT_LENGTH {
            continue;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if has_body(parts.status) {
        out.extend_from_slice(b"content-length: ");
        out.extend_from_slice(body_len.to_string().as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if close && !parts.headers.contains_key(CONNECTION) {
        out.extend_from_slice(b"connection: close\r\n");
    }
    if !parts.headers.contains_key(DATE) {
        out.extend_from_slice(b"date: ");
        out.extend_from_slice(date.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// Whether a response with `status` carries a body (and so a length).
pub(super) fn has_body(status: StatusCode) -> bool {
    !(status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Response;

    fn parts(status: StatusCode, headers: &[(&str, &str)]) -> Parts {
        let mut b = Response::builder().status(status);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).expect("response").into_parts().0
    }

    #[test]
    fn a_json_answer() {
        let mut dates = DateCache::default();
        let date = dates.at(1_700_000_000).to_owned();
        assert_eq!(date, "Tue, 14 Nov 2023 22:13:20 GMT");
        let p = parts(StatusCode::OK, &[("content-type", "application/json")]);
        assert_eq!(
            String::from_utf8(head(&p, 42, false, &date)).expect("utf-8"),
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 42\r\ndate: Tue, 14 Nov 2023 22:13:20 GMT\r\n\r\n"
        );
    }

    #[test]
    fn close_is_said_once_and_no_content_has_no_length() {
        let p = parts(StatusCode::PAYLOAD_TOO_LARGE, &[("connection", "close")]);
        let text = String::from_utf8(head(&p, 3, true, "d")).expect("utf-8");
        assert_eq!(text.matches("connection: close").count(), 1, "{text}");
        let text = String::from_utf8(head(&parts(StatusCode::NO_CONTENT, &[]), 0, true, "d"))
            .expect("utf-8");
        assert_eq!(
            text,
            "HTTP/1.1 204 No Content\r\nconnection: close\r\ndate: d\r\n\r\n"
        );
    }
}
