//! JSON-RPC 2.0 framing, parsed only as far as routing needs.
//!
//! A request is read into borrowed views (method, raw id, raw params) over the body the client
//! sent; the request bytes themselves are kept as a [`Bytes`] slice of that body, so forwarding
//! to every EL reuses the exact same buffer. Responses are assembled from raw JSON fragments and
//! echo the client's `id` byte for byte.

use std::borrow::Cow;
use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

pub const PARSE_ERROR: i64 = -32700;
pub const INVALID_REQUEST: i64 = -32600;
pub const METHOD_NOT_FOUND: i64 = -32601;
pub const INVALID_PARAMS: i64 = -32602;
pub const INTERNAL_ERROR: i64 = -32603;
pub const SERVER_ERROR: i64 = -32000;
pub const UNKNOWN_PAYLOAD: i64 = -38001;

/// A JSON-RPC error object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RpcError {
    pub code: i64,
    pub message: Cow<'static, str>,
    /// Raw JSON of the `data` member, when there is one.
    pub data: Option<Box<str>>,
}

impl RpcError {
    pub fn new(code: i64, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code,
            message: message.into(),
            data: None,
        }
    }

    pub fn parse_error() -> Self {
        Self::new(PARSE_ERROR, "Parse error")
    }

    pub fn invalid_request(why: &str) -> Self {
        Self::new(INVALID_REQUEST, format!("Invalid Request: {why}"))
    }

    pub fn method_not_found(method: &str) -> Self {
        Self::new(
            METHOD_NOT_FOUND,
            format!("Method not found: {}", truncate(method, 64)),
        )
    }

    pub fn internal(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(INTERNAL_ERROR, message)
    }

    fn write_json(&self, out: &mut BytesMut) {
        out.put_slice(b"{\"code\":");
        out.put_slice(self.code.to_string().as_bytes());
        out.put_slice(b",\"message\":");
        // Serializing a string into a Vec cannot fail.
        let message = serde_json::to_vec(self.message.as_ref()).unwrap_or_default();
        out.put_slice(&message);
        if let Some(data) = &self.data {
            out.put_slice(b",\"data\":");
            out.put_slice(data.as_bytes());
        }
        out.put_u8(b'}');
    }
}

impl fmt::Display for RpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

/// Cuts a string for use in messages and logs, on a character boundary.
pub fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// One request from the client, ready to route and forward.
#[derive(Clone, Debug)]
pub struct Call {
    /// The request object exactly as the client sent it (a slice of the body).
    pub bytes: Bytes,
    /// Raw JSON of the id; `None` for a notification (no `id` member).
    pub id: Option<Bytes>,
    pub method: Box<str>,
    /// Raw JSON of `params`, if present (a slice of the body).
    pub params: Option<Bytes>,
}

impl Call {
    /// The id to echo in a response: the client's, or `null`.
    pub fn response_id(&self) -> &[u8] {
        self.id.as_deref().unwrap_or(b"null")
    }

    /// Builds a request for the same method and id with other params (used where each EL needs
    /// its own value, such as a per-node payloadId).
    pub fn with_params(&self, params: &str) -> Bytes {
        let mut out = BytesMut::with_capacity(64 + self.method.len() + params.len());
        out.put_slice(b"{\"jsonrpc\":\"2.0\",\"id\":");
        out.put_slice(self.response_id());
        out.put_slice(b",\"method\":");
        out.put_slice(&serde_json::to_vec(self.method.as_ref()).unwrap_or_default());
        out.put_slice(b",\"params\":");
        out.put_slice(params.as_bytes());
        out.put_u8(b'}');
        out.freeze()
    }
}

/// One element of what the client sent: a call, or an element that is not a valid request
/// (answered with an error, in place, carrying its id if one could be read).
#[derive(Debug)]
pub enum Item {
    Call(Call),
    Invalid { id: Option<Bytes>, error: RpcError },
}

/// A whole request body.
#[derive(Debug)]
pub enum Incoming {
    Single(Item),
    Batch(Vec<Item>),
}

#[derive(Deserialize)]
struct RequestView<'a> {
    #[serde(borrow)]
    jsonrpc: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "present")]
    id: Option<&'a RawValue>,
    #[serde(borrow)]
    method: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "present")]
    params: Option<&'a RawValue>,
}

/// Distinguishes `"id": null` (Some("null")) from a missing id (None).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

#[derive(Deserialize)]
struct IdOnly<'a> {
    #[serde(default, borrow, deserialize_with = "present")]
    id: Option<&'a RawValue>,
}

/// Parses a request body. `Err` means the body is not JSON at all (answer -32700) or is an empty
/// batch (answer -32600), in both cases with a single error object and a null id.
pub fn parse(body: &Bytes, max_batch: usize) -> Result<Incoming, RpcError> {
    let first = body.iter().copied().find(|b| !b.is_ascii_whitespace());
    match first {
        Some(b'[') => {
            let elements: Vec<&RawValue> =
                serde_json::from_slice(body).map_err(|_| RpcError::parse_error())?;
            if elements.is_empty() {
                return Err(RpcError::invalid_request("empty batch"));
            }
            if elements.len() > max_batch {
                return Err(RpcError::invalid_request("batch too large"));
            }
            Ok(Incoming::Batch(
                elements.into_iter().map(|raw| item(body, raw)).collect(),
            ))
        }
        Some(b'{') => {
            // The hot path reads the body once. Only a body that is not a well-formed request
            // takes the slower path that tells a parse error from an invalid request.
            if let Ok(view) = serde_json::from_slice::<RequestView<'_>>(body) {
                let raw = body.slice_ref(body.trim_ascii());
                return Ok(Incoming::Single(from_view(body, raw, view)));
            }
            let raw: &RawValue =
                serde_json::from_slice(body).map_err(|_| RpcError::parse_error())?;
            Ok(Incoming::Single(item(body, raw)))
        }
        Some(_) => {
            // Valid JSON that is neither an object nor an array is an invalid request; anything
            // else is a parse error.
            match serde_json::from_slice::<&RawValue>(body) {
                Ok(_) => Err(RpcError::invalid_request("not an object or array")),
                Err(_) => Err(RpcError::parse_error()),
            }
        }
        None => Err(RpcError::parse_error()),
    }
}

fn item(body: &Bytes, raw: &RawValue) -> Item {
    match serde_json::from_str::<RequestView<'_>>(raw.get()) {
        Ok(view) => from_view(body, body.slice_ref(raw.get().as_bytes()), view),
        Err(_) => {
            let id = serde_json::from_str::<IdOnly<'_>>(raw.get())
                .ok()
                .and_then(|v| v.id)
                .filter(|id| valid_id(id))
                .map(|id| body.slice_ref(id.get().as_bytes()));
            Item::Invalid {
                id,
                error: RpcError::invalid_request("not a request object"),
            }
        }
    }
}

/// Checks a parsed request object; `raw` is the object's bytes (a slice of `body`).
fn from_view(body: &Bytes, raw: Bytes, view: RequestView<'_>) -> Item {
    let slice = |v: &RawValue| body.slice_ref(v.get().as_bytes());
    let id = view.id.filter(|id| valid_id(id)).map(slice);
    if view.id.is_some() && id.is_none() {
        return Item::Invalid {
            id: None,
            error: RpcError::invalid_request("id must be a string, number or null"),
        };
    }
    if view.jsonrpc.as_deref() != Some("2.0") {
        return Item::Invalid {
            id,
            error: RpcError::invalid_request("jsonrpc must be \"2.0\""),
        };
    }
    let Some(method) = view.method else {
        return Item::Invalid {
            id,
            error: RpcError::invalid_request("missing method"),
        };
    };
    if let Some(params) = view.params {
        let kind = params.get().as_bytes().first().copied();
        if !matches!(kind, Some(b'[') | Some(b'{')) && params.get() != "null" {
            return Item::Invalid {
                id,
                error: RpcError::invalid_request("params must be an array or object"),
            };
        }
    }
    Item::Call(Call {
        bytes: raw,
        id,
        method: method.into_owned().into_boxed_str(),
        params: view.params.map(slice),
    })
}

fn valid_id(id: &RawValue) -> bool {
    matches!(
        id.get().as_bytes().first(),
        Some(b'"' | b'-' | b'0'..=b'9' | b'n')
    )
}

/// Builds `{"jsonrpc":"2.0","id":ID,"result":RESULT}`.
pub fn result_response(id: &[u8], result: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(40 + id.len() + result.len());
    out.put_slice(b"{\"jsonrpc\":\"2.0\",\"id\":");
    out.put_slice(id);
    out.put_slice(b",\"result\":");
    out.put_slice(result);
    out.put_u8(b'}');
    out.freeze()
}

/// Builds `{"jsonrpc":"2.0","id":ID,"error":{...}}`.
pub fn error_response(id: &[u8], error: &RpcError) -> Bytes {
    let mut out = BytesMut::with_capacity(80 + id.len() + error.message.len());
    out.put_slice(b"{\"jsonrpc\":\"2.0\",\"id\":");
    out.put_slice(id);
    out.put_slice(b",\"error\":");
    error.write_json(&mut out);
    out.put_u8(b'}');
    out.freeze()
}

/// Joins response objects into a batch response.
pub fn batch_response(parts: &[Bytes]) -> Bytes {
    let len = parts.iter().map(|p| p.len() + 1).sum::<usize>() + 2;
    let mut out = BytesMut::with_capacity(len);
    out.put_u8(b'[');
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            out.put_u8(b',');
        }
        out.put_slice(part);
    }
    out.put_u8(b']');
    out.freeze()
}

/// An EL's answer to one request, parsed just enough to know whether it is a result or an error.
#[derive(Debug)]
pub enum Reply<'a> {
    Result(&'a RawValue),
    Error(RpcError),
}

#[derive(Deserialize)]
struct ReplyView<'a> {
    #[serde(default, borrow, deserialize_with = "present")]
    id: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    result: Option<&'a RawValue>,
    #[serde(default, borrow)]
    error: Option<ErrorView<'a>>,
}

#[derive(Deserialize)]
struct ErrorView<'a> {
    code: i64,
    #[serde(borrow, default)]
    message: Cow<'a, str>,
    #[serde(default, borrow, deserialize_with = "present")]
    data: Option<&'a RawValue>,
}

/// Why an EL's body could not be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReplyError {
    #[error("response is not a JSON-RPC response object")]
    NotJsonRpc,
    #[error("response id {got} does not match the request id {want}")]
    WrongId { got: String, want: String },
}

/// Parses an EL's response to a request that was sent with id `sent_id` (raw JSON). The flag is
/// true when the EL echoed the id byte for byte, so its body can be passed on as it is.
pub fn parse_reply<'a>(body: &'a [u8], sent_id: &[u8]) -> Result<(Reply<'a>, bool), ReplyError> {
    let view: ReplyView<'a> = serde_json::from_slice(body).map_err(|_| ReplyError::NotJsonRpc)?;
    let got = view.id.map(|id| id.get()).unwrap_or("null");
    let exact = got.as_bytes() == sent_id;
    if !exact && !same_id(got.as_bytes(), sent_id) {
        return Err(ReplyError::WrongId {
            got: truncate(got, 80).to_owned(),
            want: truncate(&String::from_utf8_lossy(sent_id), 80).to_owned(),
        });
    }
    match (view.result, view.error) {
        (_, Some(e)) => Ok((
            Reply::Error(RpcError {
                code: e.code,
                message: Cow::Owned(truncate(&e.message, 1024).to_owned()),
                data: e.data.map(|d| Box::from(d.get())),
            }),
            exact,
        )),
        (Some(result), None) => Ok((Reply::Result(result), exact)),
        (None, None) => Err(ReplyError::NotJsonRpc),
    }
}

/// Compares two raw JSON ids. Byte equality is the fast path; otherwise both are compared as
/// JSON values, so `1` matches `1` however the EL formatted it. Numbers compare as IEEE doubles:
/// execution clients written in JavaScript (EthereumJS) parse the id into one and echo it back
/// re-serialized, so `1.0` comes back as `1` and `9007199254740993` as `9007199254740992`.
fn same_id(a: &[u8], b: &[u8]) -> bool {
    use serde_json::Value;
    if a == b {
        return true;
    }
    match (
        serde_json::from_slice::<Value>(a),
        serde_json::from_slice::<Value>(b),
    ) {
        (Ok(Value::Number(x)), Ok(Value::Number(y))) => x.as_f64() == y.as_f64(),
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(s: &str) -> Result<Incoming, RpcError> {
        parse(&Bytes::copy_from_slice(s.as_bytes()), 100)
    }

    fn call(item: &Item) -> &Call {
        match item {
            Item::Call(c) => c,
            Item::Invalid { error, .. } => panic!("expected a call, got {error}"),
        }
    }

    #[test]
    fn single_request_keeps_raw_pieces() {
        let body = r#" {"jsonrpc":"2.0","id":"a\"b","method":"eth_chainId","params":[ ]} "#;
        let Ok(Incoming::Single(item)) = parse_str(body) else {
            panic!("single")
        };
        let c = call(&item);
        assert_eq!(&c.bytes[..], body.trim().as_bytes());
        assert_eq!(c.response_id(), br#""a\"b""#);
        assert_eq!(&*c.method, "eth_chainId");
        assert_eq!(c.params.as_deref(), Some(&b"[ ]"[..]));
    }

    #[test]
    fn ids_number_string_null_and_missing() {
        for (raw, want) in [
            ("1", Some("1")),
            ("18446744073709551616123", Some("18446744073709551616123")),
            ("-1.5e3", Some("-1.5e3")),
            ("\"x\"", Some("\"x\"")),
            ("null", Some("null")),
        ] {
            let body = format!(r#"{{"jsonrpc":"2.0","id":{raw},"method":"m"}}"#);
            let Ok(Incoming::Single(item)) = parse_str(&body) else {
                panic!("{raw}")
            };
            assert_eq!(call(&item).id.as_deref(), want.map(str::as_bytes));
        }
        let Ok(Incoming::Single(item)) = parse_str(r#"{"jsonrpc":"2.0","method":"m"}"#) else {
            panic!()
        };
        assert!(call(&item).id.is_none());
        for bad in [
            r#"{"jsonrpc":"2.0","id":[1],"method":"m"}"#,
            r#"{"jsonrpc":"2.0","id":{},"method":"m"}"#,
        ] {
            let Ok(Incoming::Single(Item::Invalid { error, .. })) = parse_str(bad) else {
                panic!("{bad}")
            };
            assert_eq!(error.code, INVALID_REQUEST);
        }
    }

    #[test]
    fn malformed_bodies() {
        for (body, code) in [
            ("", PARSE_ERROR),
            ("   ", PARSE_ERROR),
            ("{", PARSE_ERROR),
            ("[1,", PARSE_ERROR),
            ("nope", PARSE_ERROR),
            ("42", INVALID_REQUEST),
            ("\"str\"", INVALID_REQUEST),
            ("[]", INVALID_REQUEST),
        ] {
            let err = parse_str(body).expect_err(body);
            assert_eq!(err.code, code, "{body:?}");
        }
        let Ok(Incoming::Single(Item::Invalid { id, error })) =
            parse_str(r#"{"jsonrpc":"1.0","id":7,"method":"m"}"#)
        else {
            panic!()
        };
        assert_eq!(id.as_deref(), Some(&b"7"[..]));
        assert_eq!(error.code, INVALID_REQUEST);
        let Ok(Incoming::Single(Item::Invalid { error, .. })) =
            parse_str(r#"{"jsonrpc":"2.0","id":7,"method":"m","params":5}"#)
        else {
            panic!()
        };
        assert_eq!(error.code, INVALID_REQUEST);
        assert!(parse_str(&format!("[{}]", vec!["1"; 101].join(","))).is_err());
    }

    #[test]
    fn batch_elements_are_judged_one_by_one() {
        let Ok(Incoming::Batch(items)) = parse_str(
            r#"[{"jsonrpc":"2.0","id":1,"method":"a"}, 5, {"id":3}, {"jsonrpc":"2.0","id":4,"method":"b","params":{}}]"#,
        ) else {
            panic!()
        };
        assert_eq!(items.len(), 4);
        assert_eq!(&*call(&items[0]).method, "a");
        assert!(matches!(&items[1], Item::Invalid { id: None, .. }));
        assert!(matches!(&items[2], Item::Invalid { id: Some(id), .. } if &id[..] == b"3"));
        assert_eq!(&*call(&items[3]).method, "b");
    }

    #[test]
    fn responses() {
        assert_eq!(
            &result_response(b"\"x\"", b"{\"a\":1}")[..],
            br#"{"jsonrpc":"2.0","id":"x","result":{"a":1}}"#
        );
        let err = RpcError::new(-38001, "Unknown \"payload\"");
        assert_eq!(
            &error_response(b"null", &err)[..],
            br#"{"jsonrpc":"2.0","id":null,"error":{"code":-38001,"message":"Unknown \"payload\""}}"#
        );
        let joined = batch_response(&[Bytes::from_static(b"1"), Bytes::from_static(b"2")]);
        assert_eq!(&joined[..], b"[1,2]");
        let c = Call {
            bytes: Bytes::new(),
            id: Some(Bytes::from_static(b"9")),
            method: "engine_getPayloadV3".into(),
            params: None,
        };
        let v: serde_json::Value =
            serde_json::from_slice(&c.with_params("[\"0x01\"]")).expect("json");
        assert_eq!(v["id"], 9);
        assert_eq!(v["params"][0], "0x01");
    }

    #[test]
    fn replies() {
        let Ok((Reply::Result(r), true)) =
            parse_reply(br#"{"jsonrpc":"2.0","id":1,"result":null}"#, b"1")
        else {
            panic!()
        };
        assert_eq!(r.get(), "null");
        let Ok((Reply::Result(_), false)) =
            parse_reply(br#"{"jsonrpc":"2.0","id":"\u0061","result":1}"#, b"\"a\"")
        else {
            panic!("same id, but not the same bytes")
        };
        let Ok((Reply::Error(e), _)) = parse_reply(
            br#"{"jsonrpc":"2.0","id":"a","error":{"code":-32000,"message":"m","data":{"err":"x"}}}"#,
            b"\"a\"",
        ) else {
            panic!()
        };
        assert_eq!(
            (e.code, e.data.as_deref()),
            (-32000, Some(r#"{"err":"x"}"#))
        );
        assert!(matches!(
            parse_reply(br#"{"jsonrpc":"2.0","id":2,"result":1}"#, b"1"),
            Err(ReplyError::WrongId { .. })
        ));
        // Numeric ids as a JavaScript EL echoes them: parsed into a double, printed again.
        for (echoed, sent) in [
            ("1", "1.0"),
            ("1.0", "1"),
            ("100", "1e2"),
            ("9007199254740992", "9007199254740993"),
            ("1.8446744073709552e+22", "18446744073709551616123"),
        ] {
            let body = format!(r#"{{"jsonrpc":"2.0","id":{echoed},"result":1}}"#);
            let Ok((Reply::Result(_), false)) = parse_reply(body.as_bytes(), sent.as_bytes())
            else {
                panic!("{echoed} is how a JavaScript EL echoes {sent}")
            };
        }
        assert!(parse_reply(br#"{"jsonrpc":"2.0","id":"1","result":1}"#, b"1").is_err());
        assert!(parse_reply(br#"{"jsonrpc":"2.0","id":1.5,"result":1}"#, b"1").is_err());
        assert!(parse_reply(b"unauthorized", b"1").is_err());
        assert!(parse_reply(br#"{"jsonrpc":"2.0","id":1}"#, b"1").is_err());
    }
}

/// Property tests: no input makes the framing panic, and what it accepts it reproduces.
#[cfg(test)]
mod props {
    use super::*;
    use crate::proptest_cases as cases;
    use proptest::prelude::*;

    fn json_id() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<i64>().prop_map(|n| n.to_string()),
            any::<u64>().prop_map(|n| format!("{n}{n}")),
            "[a-zA-Z0-9 _\\-]{0,40}".prop_map(|s| serde_json::to_string(&s).unwrap_or_default()),
            Just("null".to_string()),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: cases(2000), ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let body = Bytes::from(bytes);
            if let Ok(Incoming::Batch(items)) = parse(&body, 64) {
                prop_assert!(!items.is_empty() && items.len() <= 64);
            }
        }

        #[test]
        fn jsonish_text_never_panics(text in "[\\[\\]{}\",:0-9a-z .\\\\-]{0,200}") {
            let _ = parse(&Bytes::from(text), 64);
        }

        #[test]
        fn requests_round_trip(id in json_id(), method in "[a-zA-Z_]{1,30}", n in 1usize..8) {
            let one = format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"{method}","params":[1,"x"]}}"#);
            let batch = format!("[{}]", vec![one.clone(); n].join(","));
            let Ok(Incoming::Batch(items)) = parse(&Bytes::from(batch), 64) else {
                return Err(TestCaseError::fail("batch not parsed"));
            };
            prop_assert_eq!(items.len(), n);
            for item in items {
                let Item::Call(call) = item else { return Err(TestCaseError::fail("not a call")) };
                prop_assert_eq!(&call.bytes[..], one.as_bytes());
                prop_assert_eq!(call.response_id(), id.as_bytes());
                prop_assert_eq!(&*call.method, method.as_str());
                let reply = result_response(call.response_id(), b"true");
                let parsed = parse_reply(&reply, id.as_bytes());
                prop_assert!(matches!(parsed, Ok((Reply::Result(_), true))));
            }
        }
    }
}
