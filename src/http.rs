//! The few HTTP response helpers every listener's routes share.

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{Response, StatusCode};
use http_body_util::Full;

pub type HttpResponse = Response<Full<Bytes>>;

/// A JSON body with `status`.
pub fn json(status: StatusCode, body: Bytes) -> HttpResponse {
    Response::builder()
        .status(status)
        .header(CONTENT_TYPE, "application/json")
        .body(Full::new(body))
        .unwrap_or_default()
}

/// `{"error": message}` with `status`.
pub fn json_error(status: StatusCode, message: &str) -> HttpResponse {
    let body = serde_json::to_vec(&serde_json::json!({ "error": message })).unwrap_or_default();
    json(status, Bytes::from(body))
}
