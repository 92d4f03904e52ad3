//! JSON-RPC 2.0 framing: requests (single or batch) borrowed from the body, responses written
//! straight into one output buffer.
//!
//! Nothing here copies `params`: a request is a few slices into the request body, so a 1 MB
//! `engine_newPayload` costs one validating scan of the body plus whatever the method reads.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{IgnoredAny, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

/// A JSON-RPC error object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RpcError {
    pub code: i64,
    pub message: Cow<'static, str>,
}

impl RpcError {
    pub const PARSE: RpcError = RpcError::fixed(-32700, "Parse error");
    pub const INVALID_REQUEST: RpcError = RpcError::fixed(-32600, "Invalid Request");
    pub const METHOD_NOT_FOUND: RpcError = RpcError::fixed(-32601, "Method not found");
    pub const UNKNOWN_PAYLOAD: RpcError = RpcError::fixed(-38001, "Unknown payload");
    pub const TOO_LARGE: RpcError = RpcError::fixed(-38004, "Too large request");

    pub const fn fixed(code: i64, message: &'static str) -> Self {
        Self {
            code,
            message: Cow::Borrowed(message),
        }
    }

    /// -32602 with a reason.
    pub fn invalid_params(reason: impl fmt::Display) -> Self {
        Self {
            code: -32602,
            message: Cow::Owned(format!("Invalid params: {reason}")),
        }
    }
}

/// One request of a body.
#[derive(Debug)]
pub(crate) struct Request<'a> {
    /// The id exactly as sent (`None` when absent or `null`, echoed as `null`).
    pub id: Option<&'a RawValue>,
    pub method: Cow<'a, str>,
    pub params: Option<&'a RawValue>,
}

/// One element of a body: a request, or why it is not one.
pub(crate) type Item<'a> = Result<Request<'a>, (Option<&'a RawValue>, RpcError)>;

/// A parsed body.
pub(crate) enum Body<'a> {
    Single(Item<'a>),
    Batch(Vec<Item<'a>>),
    /// Not JSON, or an empty batch: answered with one error and a null id.
    Broken(RpcError),
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default)]
    jsonrpc: Option<&'a RawValue>,
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    method: Option<&'a RawValue>,
    #[serde(borrow, default)]
    params: Option<&'a RawValue>,
}

/// Splits a request body into requests.
pub(crate) fn parse(body: &[u8]) -> Body<'_> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if first == Some(&b'[') {
        match serde_json::from_slice::<Vec<&RawValue>>(body) {
            Ok(items) if items.is_empty() => Body::Broken(RpcError::INVALID_REQUEST),
            Ok(items) => Body::Batch(
                items
                    .into_iter()
                    .map(
                        |raw| match serde_json::from_str::<Envelope<'_>>(raw.get()) {
                            Ok(env) => item(env),
                            Err(_) => Err((None, RpcError::INVALID_REQUEST)),
                        },
                    )
                    .collect(),
            ),
            Err(_) => Body::Broken(RpcError::PARSE),
        }
    } else {
        match serde_json::from_slice::<Envelope<'_>>(body) {
            Ok(env) => Body::Single(item(env)),
            Err(e) if e.is_data() => Body::Single(Err((None, RpcError::INVALID_REQUEST))),
            Err(_) => Body::Broken(RpcError::PARSE),
        }
    }
}

/// Checks an envelope's fields.
fn item(env: Envelope<'_>) -> Item<'_> {
    let id = env.id.filter(|id| id.get() != "null");
    if let Some(id) = id {
        let first = id.get().as_bytes().first();
        // Ids are strings, numbers or null.
        if !matches!(first, Some(b'"' | b'-' | b'0'..=b'9')) {
            return Err((None, RpcError::INVALID_REQUEST));
        }
    }
    if env.jsonrpc.map(RawValue::get) != Some("\"2.0\"") {
        return Err((id, RpcError::INVALID_REQUEST));
    }
    let Some(method) = env.method.and_then(|m| json_str(m.get())) else {
        return Err((id, RpcError::INVALID_REQUEST));
    };
    let params = env.params.filter(|p| p.get() != "null");
    if let Some(p) = params {
        if !matches!(p.get().as_bytes().first(), Some(b'[' | b'{')) {
            return Err((id, RpcError::INVALID_REQUEST));
        }
    }
    Ok(Request { id, method, params })
}

/// The content of a JSON string literal, borrowed when it has no escapes.
fn json_str(raw: &str) -> Option<Cow<'_, str>> {
    let inner = raw.strip_prefix('"')?.strip_suffix('"')?;
    if inner.contains('\\') {
        serde_json::from_str::<String>(raw).ok().map(Cow::Owned)
    } else {
        Some(Cow::Borrowed(inner))
    }
}

/// Writes `{"jsonrpc":"2.0","id":…,` — the common prefix of a response.
pub(crate) fn write_head(out: &mut Vec<u8>, id: Option<&RawValue>) {
    out.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"id\":");
    out.extend_from_slice(id.map_or("null", RawValue::get).as_bytes());
    out.push(b',');
}

/// Writes a complete error response.
pub(crate) fn write_error(out: &mut Vec<u8>, id: Option<&RawValue>, err: &RpcError) {
    write_head(out, id);
    out.extend_from_slice(b"\"error\":{\"code\":");
    out.extend_from_slice(err.code.to_string().as_bytes());
    out.extend_from_slice(b",\"message\":");
    // Serializing a string into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, err.message.as_ref());
    out.extend_from_slice(b"}}");
}

/// The first two positional params; the rest are skipped without being decoded. A missing
/// second param reads as `None`.
pub(crate) struct Leading<A, B>(pub A, pub Option<B>);

impl<'de, A: Deserialize<'de>, B: Deserialize<'de>> Deserialize<'de> for Leading<A, B> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<A, B>(PhantomData<(A, B)>);
        impl<'de, A: Deserialize<'de>, B: Deserialize<'de>> Visitor<'de> for V<A, B> {
            type Value = Leading<A, B>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a params array")
            }
            fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Self::Value, S::Error> {
                let a = seq
                    .next_element::<A>()?
                    .ok_or_else(|| serde::de::Error::invalid_length(0, &"at least one param"))?;
                let b = seq.next_element::<B>()?;
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Leading(a, b))
            }
        }
        d.deserialize_seq(V(PhantomData))
    }
}

/// Decodes the leading params borrowed from the request.
pub(crate) fn leading<'a, A: Deserialize<'a>, B: Deserialize<'a>>(
    params: Option<&'a RawValue>,
) -> Result<Leading<A, B>, RpcError> {
    let raw = params.ok_or_else(|| RpcError::invalid_params("missing params"))?;
    serde_json::from_str(raw.get()).map_err(RpcError::invalid_params)
}

/// Decodes the first param only.
pub(crate) fn first<'a, A: Deserialize<'a>>(params: Option<&'a RawValue>) -> Result<A, RpcError> {
    leading::<A, IgnoredAny>(params).map(|l| l.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn single(body: &str) -> Item<'_> {
        match parse(body.as_bytes()) {
            Body::Single(i) => i,
            _ => panic!("not single: {body}"),
        }
    }

    #[test]
    fn requests_and_ids() {
        let r = single(r#"{"jsonrpc":"2.0","id":"a\"b","method":"eth_chainId","params":[]}"#)
            .expect("request");
        assert_eq!(r.id.map(RawValue::get), Some(r#""a\"b""#));
        assert_eq!(r.method, "eth_chainId");
        let r = single(r#" {"jsonrpc":"2.0","id":null,"method":"x"}"#).expect("request");
        assert!(r.id.is_none() && r.params.is_none());
        let (id, e) = single(r#"{"jsonrpc":"1.0","id":7,"method":"x"}"#).expect_err("bad");
        assert_eq!((id.map(RawValue::get), e.code), (Some("7"), -32600));
        assert_eq!(
            single(r#"{"jsonrpc":"2.0","id":7}"#)
                .expect_err("bad")
                .1
                .code,
            -32600
        );
        assert_eq!(single("42").expect_err("bad").1.code, -32600);
        assert_eq!(
            single(r#"{"jsonrpc":"2.0","id":{},"method":"x"}"#)
                .expect_err("bad")
                .1
                .code,
            -32600
        );
        assert!(matches!(parse(b"{nope"), Body::Broken(e) if e.code == -32700));
        assert!(matches!(parse(b"[1,"), Body::Broken(e) if e.code == -32700));
        assert!(matches!(parse(b" [] "), Body::Broken(e) if e.code == -32600));
        assert!(matches!(parse(b"[1, {}]"), Body::Batch(v) if v.len() == 2));
    }

    #[test]
    fn leading_params_skip_the_rest() {
        #[derive(Deserialize)]
        struct H<'a> {
            #[serde(rename = "blockHash")]
            block_hash: &'a str,
        }
        let raw: &RawValue =
            serde_json::from_str(r#"[{"blockHash":"0x01","transactions":["0xff"]},[],"0x02"]"#)
                .expect("json");
        let l: Leading<H<'_>, Vec<String>> = leading(Some(raw)).expect("params");
        assert_eq!(l.0.block_hash, "0x01");
        assert_eq!(l.1, Some(vec![]));
        let empty: &RawValue = serde_json::from_str("[]").expect("json");
        assert_eq!(
            first::<H<'_>>(Some(empty)).err().map(|e| e.code),
            Some(-32602)
        );
    }

    #[test]
    fn error_response_shape() {
        let mut out = Vec::new();
        let id: &RawValue = serde_json::from_str("\"x\"").expect("json");
        write_error(&mut out, Some(id), &RpcError::UNKNOWN_PAYLOAD);
        assert_eq!(
            String::from_utf8(out).expect("utf8"),
            r#"{"jsonrpc":"2.0","id":"x","error":{"code":-38001,"message":"Unknown payload"}}"#
        );
    }
}
