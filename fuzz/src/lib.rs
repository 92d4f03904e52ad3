//! The fuzz targets' bodies, one function per target. Each takes arbitrary bytes and must never
//! panic; where a property is cheap to check, it is asserted (a failed assertion is a crash).

use std::net::SocketAddr;

use bytes::Bytes;
use eb_transport::jwt::{self, Claims};
use eb_transport::{JwtSecret, Verifier};
use executionbackup::config::{self, NodeSpec};
use executionbackup::reply;
use executionbackup::rpc::{self, Reply};
use executionbackup::vote::{self, Answer, Kind, Outcome, Status};
use serde::Deserialize;

/// JSON-RPC framing of a request body from the consensus client.
pub fn rpc_parse(data: &[u8]) {
    let body = Bytes::copy_from_slice(data);
    for max_batch in [1, 1024] {
        if let Ok(rpc::Incoming::Batch(items)) = rpc::parse(&body, max_batch) {
            assert!(!items.is_empty() && items.len() <= max_batch);
        }
    }
}

const NOW: u64 = 1_700_000_000;

/// JWT verification: arbitrary tokens, and tokens correctly signed over an arbitrary payload
/// (so the claims parser is reached past the signature check). The first byte picks which.
pub fn jwt_verify(data: &[u8]) {
    let secret = JwtSecret::from_bytes([0x42; 32]);
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let verifier = Verifier::new(secret.clone());
    match mode % 3 {
        0 => {
            let _ = jwt::verify(&secret, &text, NOW);
            let _ = verifier.verify(&text, NOW);
            let _ = jwt::bearer_token(Some(rest));
        }
        1 => {
            // A signed token whose payload is the input.
            let token = signed(&secret, br#"{"alg":"HS256","typ":"JWT"}"#, rest);
            let once = jwt::verify(&secret, &token, NOW);
            // The cached path must agree with the full check.
            assert_eq!(verifier.verify(&token, NOW).is_ok(), once.is_ok());
            assert_eq!(verifier.verify(&token, NOW).is_ok(), once.is_ok());
            if let Ok(claims) = once {
                assert!(claims.iat.abs_diff(NOW) <= jwt::MAX_IAT_SKEW_SECS);
            }
            // Never with another secret.
            assert!(jwt::verify(&JwtSecret::from_bytes([0x43; 32]), &token, NOW).is_err());
        }
        _ => {
            // A signed token whose header is the input: only HS256 may pass.
            let token = signed(&secret, rest, format!(r#"{{"iat":{NOW}}}"#).as_bytes());
            if jwt::verify(&secret, &token, NOW).is_ok() {
                // Read leniently: members the verifier ignores may hold any JSON, even numbers
                // no f64 can hold (`1E999999`, which `serde_json::Value` refuses), but `alg`
                // itself must be exactly HS256.
                #[derive(serde::Deserialize)]
                struct Header {
                    alg: String,
                }
                let text = String::from_utf8_lossy(rest);
                let header: Header = serde_json::from_str(&text).expect("a passing header is JSON");
                assert_eq!(header.alg, "HS256", "{text}");
            }
        }
    }
    // Our own tokens always verify.
    let own = jwt::sign(
        &secret,
        &Claims {
            iat: NOW,
            ..Claims::default()
        },
    );
    assert!(jwt::verify(&secret, &own, NOW).is_ok());
}

/// `header.payload.signature`, both parts base64url-encoded as given and signed with `secret`:
/// what anyone holding the key could send.
fn signed(secret: &JwtSecret, header: &[u8], payload: &[u8]) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    use hmac::Mac;
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let key = hex::decode(secret.to_hex()).expect("hex");
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).expect("any key length");
    mac.update(signing_input.as_bytes());
    format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    )
}

/// `--nodes` entries: parsing, the duplicate key and the redaction of credentials.
pub fn nodes_parse(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let own: Vec<SocketAddr> = vec![
        SocketAddr::from(([127, 0, 0, 1], 7000)),
        SocketAddr::from(([0, 0, 0, 0], 7070)),
    ];
    for entry in text.split(',') {
        if let Ok(spec) = NodeSpec::parse(entry) {
            if spec.had_credentials {
                assert!(spec.url.contains("***@"), "{:?}", spec.url);
            }
            assert!(spec.port != 0);
            // An entry is always a duplicate of itself.
            assert!(config::check_distinct([&spec, &spec.clone()], &[]).is_err());
            let _ = config::check_distinct([&spec], &own);
            for addr in &own {
                let _ = spec.points_at(*addr);
            }
        }
        // The same entry behind credentials: the password shows nowhere, parsed or refused.
        if !entry.contains(PASSWORD) {
            let with_credentials = format!("http://eb-user:{PASSWORD}@{entry}");
            let shown = match NodeSpec::parse(&with_credentials) {
                Ok(spec) => format!("{spec:?} {}", spec.url),
                Err(e) => e.to_string(),
            };
            assert!(!shown.contains(PASSWORD), "{shown}");
            assert!(!config::redact(&with_credentials).contains(PASSWORD));
        }
    }
}

const PASSWORD: &str = "pw-4f1c9a";

#[derive(Deserialize)]
struct StatusView<'a> {
    #[serde(borrow)]
    status: std::borrow::Cow<'a, str>,
    #[serde(rename = "latestValidHash", default, borrow)]
    latest_valid_hash: Option<std::borrow::Cow<'a, str>>,
    #[serde(rename = "validationError", default, borrow)]
    validation_error: Option<std::borrow::Cow<'a, str>>,
    /// Read for its type only (true, false or null), as the daemon does.
    #[serde(rename = "inclusionListSatisfied", default)]
    _inclusion_list_satisfied: Option<bool>,
}

#[derive(Deserialize)]
struct ForkchoiceView<'a> {
    #[serde(rename = "payloadStatus", borrow)]
    payload_status: &'a serde_json::value::RawValue,
    /// Read for its type only (a string or null), as the daemon does.
    #[serde(rename = "payloadId", default, borrow)]
    _payload_id: Option<std::borrow::Cow<'a, str>>,
}

/// An execution client's answers to a voted call: each input line is one EL's whole response
/// body; they are parsed as replies, their PayloadStatus read, and the vote taken. The vote's
/// safety rule is asserted: an INVALID is never outvoted into VALID.
pub fn el_answer(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let bodies: Vec<&str> = text.split('\n').take(7).collect();
    for kind in [Kind::NewPayload, Kind::ForkchoiceUpdated] {
        let mut owned: Vec<(Status, Option<String>, Option<String>)> = Vec::new();
        let mut answers_kind: Vec<u8> = Vec::new(); // 0 status, 1 error code, 2 none
        let mut codes = Vec::new();
        for body in &bodies {
            // The daemon's own reader (the direct read of the usual shape, else serde) must
            // agree with this harness's independent serde reading below.
            let parsed =
                reply::parse_voted(kind, &Bytes::copy_from_slice(body.as_bytes()), b"1", None);
            let before = (owned.len(), codes.len());
            match rpc::parse_reply(body.as_bytes(), b"1") {
                Ok((Reply::Result(raw), _)) => {
                    let status_raw = match kind {
                        Kind::NewPayload => Some(raw.get()),
                        Kind::ForkchoiceUpdated => {
                            serde_json::from_str::<ForkchoiceView>(raw.get())
                                .ok()
                                .map(|v| v.payload_status.get())
                        }
                    };
                    let view = status_raw.and_then(|r| serde_json::from_str::<StatusView>(r).ok());
                    match view.and_then(|v| Status::parse(&v.status).map(|s| (s, v))) {
                        Some((s, v)) => {
                            owned.push((
                                s,
                                v.latest_valid_hash.map(|h| h.into_owned()),
                                v.validation_error
                                    .map(|e| rpc::truncate(&e, 4096).to_owned()),
                            ));
                            answers_kind.push(0);
                        }
                        None => answers_kind.push(2),
                    }
                }
                Ok((Reply::Error(e), _)) => {
                    codes.push(e.code);
                    answers_kind.push(1);
                }
                Err(_) => answers_kind.push(2),
            }
            match &parsed {
                reply::Parsed::Status {
                    status,
                    latest_valid_hash,
                    validation_error,
                    ..
                } => {
                    assert_eq!(owned.len(), before.0 + 1, "{body}: {parsed}");
                    let (s, lvh, err) = &owned[before.0];
                    assert_eq!(
                        (status, latest_valid_hash, validation_error),
                        (s, lvh, err),
                        "{body}"
                    );
                }
                reply::Parsed::Error(e) => {
                    assert_eq!(codes.len(), before.1 + 1, "{body}: {parsed}");
                    assert_eq!(e.code, codes[before.1], "{body}");
                }
                reply::Parsed::Nothing(_) => {
                    assert_eq!((owned.len(), codes.len()), before, "{body}: {parsed}");
                }
            }
        }
        let mut statuses = owned.iter();
        let mut errors = codes.iter();
        let answers: Vec<Answer<'_>> = answers_kind
            .iter()
            .map(|k| match k {
                0 => statuses
                    .next()
                    .map(|(s, lvh, err)| Answer::Status {
                        status: *s,
                        latest_valid_hash: lvh.as_deref(),
                        validation_error: err.as_deref(),
                    })
                    .unwrap_or(Answer::NoAnswer),
                1 => errors
                    .next()
                    .map(|c| Answer::Error { code: *c })
                    .unwrap_or(Answer::NoAnswer),
                _ => Answer::NoAnswer,
            })
            .collect();
        for majority in [0.5, 0.6, 1.0] {
            let decision = vote::decide(kind, &answers, majority);
            let any_invalid = answers.iter().any(|a| {
                matches!(
                    a,
                    Answer::Status {
                        status: Status::Invalid | Status::InvalidBlockHash,
                        ..
                    }
                )
            });
            if let Outcome::Follow { status, index } = decision.outcome {
                assert!(index < answers.len());
                assert!(
                    !(status == Status::Valid && any_invalid),
                    "an INVALID was outvoted into VALID: {answers:?}"
                );
            }
        }
    }
}

/// The engine port's request head reader: never panics, never claims more head than it was
/// given, and a head it takes says exactly the body length its one `Content-Length` says.
pub fn request_head(data: &[u8]) {
    use executionbackup::server::head::{self, Head};
    match head::parse(data) {
        Head::Complete {
            request,
            head_len,
            body_len,
            ..
        } => {
            assert!(head_len <= data.len());
            assert!(data[..head_len].ends_with(b"\n"));
            assert!(!request.headers().contains_key("transfer-encoding"));
            let declared = request.headers().get_all("content-length").iter().count();
            assert!(declared <= 1);
            if declared == 0 {
                assert_eq!(body_len, 0);
            }
            // Any shorter prefix is not a whole head.
            assert!(!matches!(
                head::parse(&data[..head_len - 1]),
                Head::Complete { .. }
            ));
        }
        Head::Partial => assert!(data.len() <= head::MAX_HEAD),
        Head::Hyper => {}
    }
}
