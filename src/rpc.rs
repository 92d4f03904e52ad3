//! JSON-RPC 2.0 framing, parsed only as far as routing needs.
//!
//! A single request is read by a shallow scan ([`parse`]): the envelope (`jsonrpc`, `id`,
//! `method`, the object's syntax and what follows it) is checked strictly, while `params` is only
//! followed through its brackets and string boundaries to find where it ends; its bytes are
//! forwarded as received and the ELs judge them. Anything that is not the plain well-formed
//! shape, and every batch, takes a full `serde_json` parse, which gives the exact error answers.
//! The request bytes themselves are kept as a [`Bytes`] slice of the body, so forwarding to
//! every EL reuses the exact same buffer. Responses are assembled from raw JSON fragments and
//! echo the client's `id` byte for byte.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

use bytes::{BufMut, Bytes, BytesMut};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use crate::routing::{metric_label, route, Route};

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
    /// Known method names are static strings; only an unknown one is allocated.
    pub method: Cow<'static, str>,
    /// Raw JSON of `params`, if present (a slice of the body).
    pub params: Option<Bytes>,
}

impl Call {
    /// The block a voted call is about: `params[0].blockHash` of an `engine_newPayloadV*`,
    /// `params[0].headBlockHash` of an `engine_forkchoiceUpdatedV*`; `None` for other methods or
    /// when params do not have it as a plain string. Reads only params[0]'s own members,
    /// skipping nested values by their brackets; nothing is allocated.
    pub fn block_hash(&self) -> Option<&str> {
        let key: &[u8] = match route(&self.method) {
            Route::NewPayload => b"blockHash",
            Route::ForkchoiceUpdated => b"headBlockHash",
            _ => return None,
        };
        member_str(self.params.as_deref()?, key)
    }

    /// Whether `params` is an array whose second element is present and not `null` (a
    /// forkchoiceUpdated with payload attributes). Skips params[0] by its brackets only.
    pub fn has_second_param(&self) -> bool {
        let Some(raw) = self.params.as_deref() else {
            return false;
        };
        let at = skip_ws(raw, 0);
        if raw.get(at) != Some(&b'[') {
            return false;
        }
        let at = skip_ws(raw, at + 1);
        let Some(end) = (match raw.get(at) {
            Some(b'{' | b'[') => skip_container(raw, at),
            _ => None,
        }) else {
            return false;
        };
        let at = skip_ws(raw, end);
        if raw.get(at) != Some(&b',') {
            return false;
        }
        let at = skip_ws(raw, at + 1);
        !matches!(raw.get(at), None | Some(b']')) && literal(raw, at, b"null").is_none()
    }

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
            // The hot path: a shallow scan that skips params without validating their bytes.
            if let Some(found) = shallow(body) {
                return Ok(Incoming::Single(Item::Call(from_shallow(body, found))));
            }
            // Any other shape is read in full, which tells a parse error from an invalid
            // request and judges odd but valid requests (escapes, unknown members) exactly.
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
        method: intern(&method),
        params: view.params.map(slice),
    })
}

/// A known method's static name, or an owned copy of an unknown one.
fn intern(method: &str) -> Cow<'static, str> {
    match metric_label(method) {
        known if known == method => Cow::Borrowed(known),
        _ => Cow::Owned(method.to_owned()),
    }
}

fn from_shallow(body: &Bytes, found: Shallow) -> Call {
    // `shallow` checked the method's UTF-8.
    let method = std::str::from_utf8(&body[found.method]).map_or(Cow::Borrowed(""), intern);
    Call {
        bytes: body.slice(found.object),
        id: found.id.map(|r| body.slice(r)),
        method,
        params: found.params.map(|r| body.slice(r)),
    }
}

// ---- the shallow scan of a single request ---------------------------------------------------

/// Where the pieces of a single request are in the body (byte ranges).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Shallow {
    /// The request object, from `{` to `}`.
    object: Range<usize>,
    /// Raw JSON of the id, when there is one.
    id: Option<Range<usize>>,
    /// The method name, without its quotes (no escapes in it).
    method: Range<usize>,
    /// Raw JSON of `params`, when present (an array, an object or `null`).
    params: Option<Range<usize>>,
}

/// JSON's four whitespace bytes (not form feed, which `is_ascii_whitespace` also accepts).
fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

fn skip_ws(body: &[u8], mut at: usize) -> usize {
    while body.get(at).copied().is_some_and(is_ws) {
        at += 1;
    }
    at
}

/// Reads a single request without looking inside `params` beyond finding where it ends.
///
/// The envelope is checked as strictly as a full parse would: the object's syntax, the keys,
/// `"jsonrpc":"2.0"`, the method (a string of valid UTF-8 without control characters), the id
/// (a string, a number in JSON's grammar, or `null`), and nothing but whitespace after the
/// object. `None` means "not the plain, well-formed shape": an escape in a key, the method or a
/// string id, an unknown or repeated member, a missing `jsonrpc` or `method`, params that are
/// not an array, object or `null`, nesting deeper than 128, or anything malformed. The caller
/// then takes the full parse, which gives the exact answer for every such body. Inside `params`
/// only the brackets and the string boundaries are followed: the bytes are forwarded as
/// received, and the ELs judge them.
fn shallow(body: &[u8]) -> Option<Shallow> {
    let start = skip_ws(body, 0);
    if body.get(start) != Some(&b'{') {
        return None;
    }
    let (mut jsonrpc, mut id, mut method, mut params) = (false, None, None, None);
    let mut at = start + 1;
    loop {
        at = skip_ws(body, at);
        if body.get(at) != Some(&b'"') {
            return None;
        }
        let key_end = plain_string(body, at + 1)?;
        let key = &body[at + 1..key_end];
        at = skip_ws(body, key_end + 1);
        if body.get(at) != Some(&b':') {
            return None;
        }
        at = skip_ws(body, at + 1);
        let value_end = match key {
            b"jsonrpc" if !jsonrpc => {
                jsonrpc = true;
                if body.get(at..at + 5) != Some(b"\"2.0\"") {
                    return None;
                }
                at + 5
            }
            b"method" if method.is_none() => {
                if body.get(at) != Some(&b'"') {
                    return None;
                }
                let end = plain_string(body, at + 1)?;
                std::str::from_utf8(&body[at + 1..end]).ok()?;
                method = Some(at + 1..end);
                end + 1
            }
            b"id" if id.is_none() => {
                let end = match body.get(at)? {
                    b'"' => {
                        let end = plain_string(body, at + 1)?;
                        std::str::from_utf8(&body[at + 1..end]).ok()?;
                        end + 1
                    }
                    b'n' => literal(body, at, b"null")?,
                    _ => number(body, at)?,
                };
                id = Some(at..end);
                end
            }
            b"params" if params.is_none() => {
                let end = match body.get(at)? {
                    b'[' | b'{' => skip_container(body, at)?,
                    b'n' => literal(body, at, b"null")?,
                    _ => return None,
                };
                params = Some(at..end);
                end
            }
            _ => return None,
        };
        at = skip_ws(body, value_end);
        match body.get(at)? {
            b',' => at += 1,
            b'}' => break,
            _ => return None,
        }
    }
    let end = at + 1;
    if skip_ws(body, end) != body.len() || !jsonrpc {
        return None;
    }
    Some(Shallow {
        object: start..end,
        id,
        method: method?,
        params,
    })
}

/// The end (the closing quote) of a string that starts at `from`, when it has no escapes and
/// no control characters; the bytes are not checked for UTF-8 here.
fn plain_string(body: &[u8], from: usize) -> Option<usize> {
    let rest = body.get(from..)?;
    let len = memchr::memchr2(b'"', b'\\', rest)?;
    if rest[len] != b'"' || rest[..len].iter().any(|&b| b < 0x20) {
        return None;
    }
    Some(from + len)
}

fn literal(body: &[u8], at: usize, word: &[u8]) -> Option<usize> {
    (body.get(at..at + word.len())? == word).then_some(at + word.len())
}

/// The end of a number in JSON's grammar: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
fn number(body: &[u8], mut at: usize) -> Option<usize> {
    let digits = |mut at: usize| {
        let from = at;
        while body.get(at).is_some_and(u8::is_ascii_digit) {
            at += 1;
        }
        (at > from).then_some(at)
    };
    if body.get(at) == Some(&b'-') {
        at += 1;
    }
    at = match body.get(at)? {
        b'0' => at + 1,
        b'1'..=b'9' => digits(at)?,
        _ => return None,
    };
    if body.get(at) == Some(&b'.') {
        at = digits(at + 1)?;
    }
    if matches!(body.get(at), Some(b'e' | b'E')) {
        at += 1;
        if matches!(body.get(at), Some(b'+' | b'-')) {
            at += 1;
        }
        at = digits(at)?;
    }
    Some(at)
}

/// The end of the array or object that starts at `at`, following only brackets and string
/// boundaries (strings are skipped with a vectorised search for `"`). At most 128 deep.
fn skip_container(body: &[u8], mut at: usize) -> Option<usize> {
    // One bit per open level: 1 for an object, 0 for an array.
    let mut kinds: u128 = 0;
    let mut depth: u32 = 0;
    while let Some(&b) = body.get(at) {
        match b {
            b'"' => {
                // To the next quote that is not escaped, i.e. not preceded by an odd run of
                // backslashes (a run cannot reach back past the quote the search started at).
                at += 1;
                loop {
                    let rest = body.get(at..)?;
                    let i = memchr::memchr(b'"', rest)?;
                    let run = rest[..i].iter().rev().take_while(|&&b| b == b'\\').count();
                    at += i + 1;
                    if run % 2 == 0 {
                        break;
                    }
                }
                continue;
            }
            b'[' | b'{' => {
                if depth == 128 {
                    return None;
                }
                kinds = (kinds << 1) | u128::from(b == b'{');
                depth += 1;
            }
            b']' | b'}' => {
                if depth == 0 || (kinds & 1 == 1) != (b == b'}') {
                    return None;
                }
                kinds >>= 1;
                depth -= 1;
                if depth == 0 {
                    return Some(at + 1);
                }
            }
            _ => {}
        }
        at += 1;
    }
    None
}

/// The string value of `key` in the object that starts `raw` (after optional whitespace and
/// one level of array: `[{...` or `{...`), when it is a plain string. Only the object's own
/// members are looked at; nested values are skipped by their brackets.
fn member_str<'a>(raw: &'a [u8], key: &[u8]) -> Option<&'a str> {
    let mut at = skip_ws(raw, 0);
    if raw.get(at) == Some(&b'[') {
        at = skip_ws(raw, at + 1);
    }
    if raw.get(at) != Some(&b'{') {
        return None;
    }
    at += 1;
    loop {
        at = skip_ws(raw, at);
        if raw.get(at) != Some(&b'"') {
            return None;
        }
        let key_end = plain_string(raw, at + 1)?;
        let this = &raw[at + 1..key_end];
        at = skip_ws(raw, key_end + 1);
        if raw.get(at) != Some(&b':') {
            return None;
        }
        at = skip_ws(raw, at + 1);
        let value_end = match raw.get(at)? {
            b'"' => {
                let end = plain_string(raw, at + 1)?;
                if this == key {
                    return std::str::from_utf8(&raw[at + 1..end]).ok();
                }
                end + 1
            }
            b'[' | b'{' => skip_container(raw, at)?,
            _ => {
                let rest = &raw[at..];
                at + rest.iter().position(|&b| matches!(b, b',' | b'}'))?
            }
        };
        if this == key {
            return None;
        }
        at = skip_ws(raw, value_end);
        match raw.get(at)? {
            b',' => at += 1,
            _ => return None,
        }
    }
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
    fn second_param_present_only_when_not_null() {
        let has = |params: &str| {
            let body = format!(
                r#"{{"jsonrpc":"2.0","id":1,"method":"engine_forkchoiceUpdatedV3","params":{params}}}"#
            );
            let Ok(Incoming::Single(item)) = parse_str(&body) else {
                panic!("single: {body}")
            };
            call(&item).has_second_param()
        };
        assert!(has(r#"[{"headBlockHash":"0x1"},{"timestamp":"0x1"}]"#));
        assert!(has(r#"[ {"a":"]}"} , {"t":1} ]"#));
        assert!(!has(r#"[{"headBlockHash":"0x1"},null]"#));
        assert!(!has(r#"[{"headBlockHash":"0x1"}, null ]"#));
        assert!(!has(r#"[{"headBlockHash":"0x1"}]"#));
        assert!(!has(r#"[]"#));
        assert!(!has(r#"{"a":1}"#));
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

    fn shallow_str(s: &str) -> Option<Shallow> {
        shallow(s.as_bytes())
    }

    #[test]
    fn shallow_scan_reads_the_plain_shape() {
        let body = " {\"jsonrpc\" : \"2.0\",\n\"method\":\"engine_newPayloadV3\", \"params\":[{\"a\":\"x\\\"]}\"},[1,2]] ,\"id\":-1.5e3}\r\n";
        let found = shallow_str(body).expect("plain shape");
        assert_eq!(&body[found.object.clone()], body.trim());
        assert_eq!(&body[found.method], "engine_newPayloadV3");
        assert_eq!(found.id.map(|r| &body[r]), Some("-1.5e3"));
        assert_eq!(
            found.params.map(|r| &body[r]),
            Some("[{\"a\":\"x\\\"]}\"},[1,2]]")
        );
        let found = shallow_str(r#"{"jsonrpc":"2.0","method":"m","params":null}"#).expect("null");
        assert!(found.id.is_none());
        // Backslash runs before quotes: even closes the string, odd escapes the quote.
        let body = r#"{"jsonrpc":"2.0","method":"m","params":["a\\",["\\\"]\\\\"],"\"}"]}"#;
        let found = shallow_str(body).expect("escapes");
        assert_eq!(
            found.params.map(|r| &body[r]),
            Some(r#"["a\\",["\\\"]\\\\"],"\"}"]"#)
        );
    }

    #[test]
    fn params_bytes_are_not_judged_but_their_extent_is() {
        // Junk inside params is the ELs' business: forwarded as received.
        for body in [
            r#"{"jsonrpc":"2.0","id":1,"method":"eth_call","params":[1,,tru]}"#,
            "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_call\",\"params\":[\"\u{1}\\q\"]}",
        ] {
            let Ok(Incoming::Single(item)) = parse_str(body) else {
                panic!("{body}")
            };
            assert_eq!(&call(&item).bytes[..], body.as_bytes());
        }
        // An unclosed or mismatched params is a broken envelope.
        for body in [
            r#"{"jsonrpc":"2.0","id":1,"method":"eth_call","params":[1,2}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"eth_call","params":["]}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"eth_call","params":[[1]"#,
        ] {
            assert!(shallow_str(body).is_none(), "{body}");
            assert_eq!(parse_str(body).expect_err(body).code, PARSE_ERROR, "{body}");
        }
    }

    #[test]
    fn odd_shapes_take_the_full_parse() {
        for body in [
            r#"{"jsonrpc":"2.0","id":1,"method":"eth_\u0063hainId"}"#,
            r#"{"jsonrpc":"2.0","id":"a\"b","method":"eth_chainId"}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"eth_chainId","extra":{"x":[1]}}"#,
            r#"{"jsonrpc":"2.0","id":1,"id":2,"method":"eth_chainId"}"#,
            r#"{"jsonrpc":"2.0","id":01,"method":"eth_chainId"}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":5}"#,
            r#"{"id":1,"method":"eth_chainId"}"#,
            "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_chainId\"}\u{c}",
        ] {
            assert!(shallow_str(body).is_none(), "{body}");
        }
        let deep = format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"eth_call","params":{}{}}}"#,
            "[".repeat(200),
            "]".repeat(200)
        );
        assert!(shallow_str(&deep).is_none());
        let Ok(Incoming::Single(item)) = parse_str(&deep) else {
            panic!("deep params are valid JSON")
        };
        assert_eq!(call(&item).params.as_ref().map(Bytes::len), Some(400));
        let Ok(Incoming::Single(item)) =
            parse_str(r#"{"jsonrpc":"2.0","id":1,"method":"eth_\u0063hainId"}"#)
        else {
            panic!()
        };
        assert_eq!(&*call(&item).method, "eth_chainId");
    }

    #[test]
    fn known_methods_are_not_allocated() {
        let Ok(Incoming::Single(item)) =
            parse_str(r#"{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"}"#)
        else {
            panic!()
        };
        assert!(matches!(
            call(&item).method,
            Cow::Borrowed("eth_blockNumber")
        ));
        let Ok(Incoming::Single(item)) =
            parse_str(r#"{"jsonrpc":"2.0","id":1,"method":"eth_somethingNew"}"#)
        else {
            panic!()
        };
        assert!(matches!(&call(&item).method, Cow::Owned(m) if m == "eth_somethingNew"));
    }

    #[test]
    fn block_hash_of_voted_calls() {
        let np = r#"{"jsonrpc":"2.0","id":1,"method":"engine_newPayloadV3","params":[{"parentHash":"0x01","transactions":["0x02","0x03"],"withdrawals":[{"index":"0x0"}],"blockNumber":"0x10","blockHash":"0xabc"},["0x04"],"0x05"]}"#;
        let fcu = r#"{"jsonrpc":"2.0","id":1,"method":"engine_forkchoiceUpdatedV3","params":[ { "safeBlockHash":"0x1", "headBlockHash" : "0xdef","finalizedBlockHash":"0x2"},{"timestamp":"0x1"}]}"#;
        for (body, want) in [(np, Some("0xabc")), (fcu, Some("0xdef"))] {
            let Ok(Incoming::Single(item)) = parse_str(body) else {
                panic!("{body}")
            };
            assert_eq!(call(&item).block_hash(), want);
        }
        for body in [
            // Not a voted call, no params, a nested blockHash only, not a string, malformed.
            r#"{"jsonrpc":"2.0","id":1,"method":"eth_getBlockByHash","params":[{"blockHash":"0x1"}]}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"engine_newPayloadV3"}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"engine_newPayloadV3","params":[{"x":{"blockHash":"0x1"}}]}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"engine_newPayloadV3","params":[{"blockHash":7}]}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"engine_newPayloadV3","params":[{"a" "blockHash":"0x1"}]}"#,
        ] {
            let Ok(Incoming::Single(item)) = parse_str(body) else {
                panic!("{body}")
            };
            assert_eq!(call(&item).block_hash(), None, "{body}");
        }
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

    /// Any JSON value, as text with random whitespace between tokens.
    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        use serde_json::Value;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            any::<String>().prop_map(Value::String),
            "[\\[\\]{}\"\\\\,:a-z0-9]{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::btree_map("[a-zA-Z\"\\\\]{0,6}", inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn spaced(json: &str, ws: &[u8]) -> String {
        // Whitespace after structural characters outside strings, chosen by `ws`.
        let mut out = String::with_capacity(json.len() * 2);
        let (mut in_string, mut escaped, mut k) = (false, false, 0);
        for c in json.chars() {
            out.push(c);
            if in_string {
                match (escaped, c) {
                    (true, _) => escaped = false,
                    (false, '\\') => escaped = true,
                    (false, '"') => in_string = false,
                    _ => {}
                }
            } else if c == '"' {
                in_string = true;
            } else if matches!(c, '[' | '{' | ',' | ':') {
                let w = ws.get(k % ws.len().max(1)).copied().unwrap_or(0);
                k += 1;
                out.push_str(["", " ", "\n", "\t", "\r\n "][usize::from(w) % 5]);
            }
        }
        out
    }

    /// A request object in many spellings: members in any order, some missing, odd ids and
    /// methods, extra members, whitespace.
    fn request_text() -> impl Strategy<Value = String> {
        let id = prop_oneof![
            json_id(),
            Just("1.0".to_string()),
            Just("-0e+5".to_string()),
            Just("\"\\u0041\"".to_string()),
            Just("[1]".to_string()),
            Just("true".to_string()),
        ];
        let method = prop_oneof![
            "[a-zA-Z_]{0,24}".prop_map(|m| format!("\"{m}\"")),
            any::<String>().prop_map(|m| serde_json::to_string(&m).unwrap_or_default()),
            Just("\"eth_\\u0063hainId\"".to_string()),
            Just("7".to_string()),
        ];
        let jsonrpc = prop_oneof![
            4 => Just("\"2.0\"".to_string()),
            1 => Just("\"1.0\"".to_string()),
            1 => Just("2.0".to_string()),
        ];
        let params = prop_oneof![
            json_value().prop_map(|v| v.to_string()),
            Just("null".to_string()),
        ];
        (
            proptest::option::weighted(0.95, jsonrpc),
            proptest::option::weighted(0.9, id),
            proptest::option::weighted(0.95, method),
            proptest::option::weighted(0.8, params),
            proptest::option::weighted(0.1, json_value()),
            any::<u32>(),
            proptest::collection::vec(any::<u8>(), 1..8),
        )
            .prop_map(|(jsonrpc, id, method, params, extra, order, ws)| {
                let mut members: Vec<String> = Vec::new();
                for (key, value) in [
                    ("jsonrpc", jsonrpc),
                    ("id", id),
                    ("method", method),
                    ("params", params),
                ] {
                    if let Some(v) = value {
                        members.push(format!("\"{key}\":{v}"));
                    }
                }
                if let Some(extra) = extra {
                    members.push(format!("\"extra\":{extra}"));
                }
                let n = members.len().max(1);
                members.rotate_left(order as usize % n);
                if order % 3 == 0 && members.len() > 1 {
                    members.swap(0, 1);
                }
                spaced(&format!("{{{}}}", members.join(",")), &ws)
            })
    }

    /// What the full parse makes of a single request.
    fn full(body: &[u8]) -> Option<Item> {
        let bytes = Bytes::copy_from_slice(body);
        let view = serde_json::from_slice::<RequestView<'_>>(&bytes).ok()?;
        let raw = bytes.slice_ref(bytes.trim_ascii());
        Some(from_view(&bytes, raw, view))
    }

    /// The shallow scan agrees with the full parse: whatever it reads, serde reads the same
    /// method, id and params from it; and a request serde reads in full as a call is read by
    /// the shallow scan too, unless it has one of the odd shapes left to the full parse.
    fn agree(text: &str) -> Result<(), TestCaseError> {
        let found = shallow(text.as_bytes());
        let full = full(text.as_bytes());
        match (&found, &full) {
            (Some(found), Some(Item::Call(call))) => {
                prop_assert_eq!(&text[found.object.clone()], text.trim());
                prop_assert_eq!(&text[found.method.clone()], &*call.method);
                prop_assert_eq!(
                    found.id.clone().map(|r| text[r].as_bytes()),
                    call.id.as_deref()
                );
                prop_assert_eq!(
                    found.params.clone().map(|r| text[r].as_bytes()),
                    call.params.as_deref()
                );
            }
            (Some(_), other) => {
                return Err(TestCaseError::fail(format!(
                    "shallow read a request that the full parse makes {other:?}: {text}"
                )))
            }
            (None, Some(Item::Call(call))) => {
                // Left to the full parse on purpose: escapes, extra members, deep params.
                let odd = text.contains('\\')
                    || text.contains("\"extra\"")
                    || call.params.as_ref().is_some_and(|p| p.len() > 200);
                prop_assert!(odd, "shallow refused a plain request: {}", text);
            }
            (None, _) => {}
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: cases(3000), ..ProptestConfig::default() })]

        #[test]
        fn shallow_scan_agrees_with_the_full_parse(text in request_text()) {
            agree(&text)?;
        }

        #[test]
        fn shallow_scan_refuses_broken_envelopes(
            text in request_text(),
            at in any::<prop::sample::Index>(),
            byte in prop_oneof![Just(b'"'), Just(b'}'), Just(b','), Just(b':'), Just(b'x'), Just(b'\x01'), any::<u8>()],
            how in 0u8..3,
        ) {
            // Break one byte of the text outside params (or cut it short) and check that the
            // shallow scan reads it only when the full parse reads it the same way.
            let mut bytes = text.into_bytes();
            let i = at.index(bytes.len().max(1));
            let params = shallow(&bytes).and_then(|f| f.params);
            if params.is_some_and(|p| p.contains(&i)) {
                return Ok(());
            }
            match how {
                0 => { bytes.insert(i.min(bytes.len()), byte); }
                1 => { if i < bytes.len() { bytes.remove(i); } }
                _ => bytes.truncate(i),
            }
            let found = shallow(&bytes);
            if found.is_some() {
                let full = full(&bytes);
                prop_assert!(
                    matches!(full, Some(Item::Call(_))),
                    "shallow read a broken envelope: {:?}", String::from_utf8_lossy(&bytes)
                );
                agree(std::str::from_utf8(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?)?;
            }
        }
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
