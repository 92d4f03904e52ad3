//! An EL's answer to a voted call, parsed once (by the node's lane) into what the vote, the
//! health model and the payload map use. Nothing in it is trusted before it is checked:
//!
//! - a VALID whose `latestValidHash` is present and is not the block's own hash is not a vote
//!   (the spec says VALID carries the block's hash); it counts as that node's fault;
//! - free text (`validationError`) is cut to [`MAX_TEXT`] bytes before it can reach the CL or
//!   the logs.

use std::borrow::Cow;

use bytes::Bytes;
use serde::Deserialize;
use serde_json::value::RawValue;

mod canonical;

use crate::rpc::{self, Reply, RpcError};
use crate::vote::{Answer, Kind, Status};

/// Longest `validationError` (and other EL text) passed on, in bytes.
pub const MAX_TEXT: usize = 4096;

/// One node's answer to a voted call.
#[derive(Clone, Debug)]
pub enum Parsed {
    Status {
        status: Status,
        latest_valid_hash: Option<String>,
        validation_error: Option<String>,
        /// The PayloadStatus object to pass on: as the EL sent it, or rebuilt when its text had
        /// to be cut.
        raw: Bytes,
        payload_id: Option<String>,
        /// PayloadStatusV2's `inclusionListSatisfied` (Bogota): `None` when the field is
        /// absent, `Some(None)` when it is `null`.
        inclusion: Option<Option<bool>>,
    },
    Error(RpcError),
    Nothing(String),
}

impl Parsed {
    pub fn as_answer(&self) -> Answer<'_> {
        match self {
            Parsed::Status {
                status,
                latest_valid_hash,
                validation_error,
                ..
            } => Answer::Status {
                status: *status,
                latest_valid_hash: latest_valid_hash.as_deref(),
                validation_error: validation_error.as_deref(),
            },
            Parsed::Error(e) => Answer::Error { code: e.code },
            Parsed::Nothing(_) => Answer::NoAnswer,
        }
    }

    pub fn status(&self) -> Option<Status> {
        match self {
            Parsed::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// How the answer reads in a log line (formatted only when the line is written).
impl std::fmt::Display for Parsed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Parsed::Status {
                status,
                latest_valid_hash,
                validation_error,
                ..
            } => {
                f.write_str(status.as_str())?;
                if let Some(h) = latest_valid_hash {
                    write!(f, " lvh={h}")?;
                }
                if let Some(e) = validation_error {
                    write!(f, " error={:?}", rpc::truncate(e, 120))?;
                }
                Ok(())
            }
            Parsed::Error(e) => write!(f, "rpc error {e}"),
            Parsed::Nothing(why) => write!(f, "no answer ({why})"),
        }
    }
}

#[derive(Deserialize)]
struct StatusView<'a> {
    #[serde(borrow)]
    status: Cow<'a, str>,
    #[serde(rename = "latestValidHash", default, borrow)]
    latest_valid_hash: Option<Cow<'a, str>>,
    #[serde(rename = "validationError", default, borrow)]
    validation_error: Option<Cow<'a, str>>,
    #[serde(
        rename = "inclusionListSatisfied",
        default,
        deserialize_with = "present"
    )]
    inclusion_list_satisfied: Option<Option<bool>>,
}

/// A field that is present (`null` included): `Some`. Absent fields take the default, `None`.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<bool>>, D::Error> {
    Option::<bool>::deserialize(d).map(Some)
}

#[derive(Deserialize)]
struct ForkchoiceView<'a> {
    #[serde(rename = "payloadStatus", borrow)]
    payload_status: &'a RawValue,
    #[serde(rename = "payloadId", default, borrow)]
    payload_id: Option<Cow<'a, str>>,
}

/// Parses a voted call's answer (newPayload: a PayloadStatus; fcU: {payloadStatus, payloadId}).
/// `block_hash` is the block the call is about (newPayload's blockHash, fcU's head), when known.
/// The usual compact shape is read directly ([`canonical`]); any other goes through serde.
pub fn parse_voted(kind: Kind, body: &Bytes, sent_id: &[u8], block_hash: Option<&str>) -> Parsed {
    match canonical::read(kind, body, sent_id) {
        Some(c) => checked(
            body,
            c.status_raw,
            StatusView {
                status: Cow::Borrowed(c.status),
                latest_valid_hash: c.latest_valid_hash.map(Cow::Borrowed),
                validation_error: c.validation_error.map(Cow::Borrowed),
                inclusion_list_satisfied: None,
            },
            c.payload_id.map(str::to_owned),
            block_hash,
        ),
        None => parse_voted_in_full(kind, body, sent_id, block_hash),
    }
}

/// [`parse_voted`] for any shape, through serde.
fn parse_voted_in_full(
    kind: Kind,
    body: &Bytes,
    sent_id: &[u8],
    block_hash: Option<&str>,
) -> Parsed {
    let result = match rpc::parse_reply(body, sent_id) {
        Ok((Reply::Result(raw), _)) => raw,
        Ok((Reply::Error(mut e), _)) => {
            if e.message.len() > MAX_TEXT {
                e.message = Cow::Owned(rpc::truncate(&e.message, MAX_TEXT).to_owned());
            }
            if e.data.as_ref().is_some_and(|d| d.len() > MAX_TEXT) {
                e.data = None;
            }
            return Parsed::Error(e);
        }
        Err(e) => return Parsed::Nothing(e.to_string()),
    };
    let (status_raw, payload_id) = match kind {
        Kind::NewPayload => (result, None),
        Kind::ForkchoiceUpdated => match serde_json::from_str::<ForkchoiceView<'_>>(result.get()) {
            Ok(v) => (v.payload_status, v.payload_id.map(Cow::into_owned)),
            Err(_) => return Parsed::Nothing("result is not {payloadStatus, payloadId}".into()),
        },
    };
    let view: StatusView<'_> = match serde_json::from_str(status_raw.get()) {
        Ok(v) => v,
        Err(_) => return Parsed::Nothing("result is not a PayloadStatus".into()),
    };
    checked(
        body,
        status_raw.get().as_bytes(),
        view,
        payload_id,
        block_hash,
    )
}

/// The checks every answer goes through, however it was read: a known status, a VALID that
/// names its own block, free text cut to [`MAX_TEXT`]. `status_raw` borrows from `body`.
fn checked(
    body: &Bytes,
    status_raw: &[u8],
    view: StatusView<'_>,
    payload_id: Option<String>,
    block_hash: Option<&str>,
) -> Parsed {
    let Some(status) = Status::parse(&view.status) else {
        return Parsed::Nothing(format!(
            "unknown status {:?}",
            rpc::truncate(&view.status, 40)
        ));
    };
    if status == Status::Valid {
        if let (Some(lvh), Some(hash)) = (view.latest_valid_hash.as_deref(), block_hash) {
            if !lvh.eq_ignore_ascii_case(hash) {
                return Parsed::Nothing(format!(
                    "VALID with latestValidHash {} for block {hash}",
                    rpc::truncate(lvh, 80)
                ));
            }
        }
    }
    let mut raw = body.slice_ref(status_raw);
    let validation_error = view.validation_error.map(|e| {
        if e.len() > MAX_TEXT {
            let cut = rpc::truncate(&e, MAX_TEXT).to_owned();
            raw = rebuild_status(
                status,
                view.latest_valid_hash.as_deref(),
                &cut,
                view.inclusion_list_satisfied,
            );
            cut
        } else {
            e.into_owned()
        }
    });
    Parsed::Status {
        status,
        latest_valid_hash: view.latest_valid_hash.map(Cow::into_owned),
        validation_error,
        raw,
        payload_id,
        inclusion: view.inclusion_list_satisfied,
    }
}

fn rebuild_status(
    status: Status,
    lvh: Option<&str>,
    error: &str,
    inclusion: Option<Option<bool>>,
) -> Bytes {
    let mut value = serde_json::json!({
        "status": status.as_str(),
        "latestValidHash": lvh,
        "validationError": error,
    });
    if let (Some(flag), Some(map)) = (inclusion, value.as_object_mut()) {
        map.insert("inclusionListSatisfied".into(), serde_json::json!(flag));
    }
    Bytes::from(serde_json::to_vec(&value).unwrap_or_default())
}

/// `raw` (a PayloadStatus object) with its `inclusionListSatisfied` set to `flag`. Runs only
/// when the ELs disagreed on the flag; the status object is small. `None` if `raw` is not an
/// object.
pub fn with_inclusion(raw: &[u8], flag: Option<bool>) -> Option<Bytes> {
    let mut value: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(raw).ok()?;
    value.insert("inclusionListSatisfied".into(), serde_json::json!(flag));
    serde_json::to_vec(&value).ok().map(Bytes::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(result: &str) -> Bytes {
        Bytes::from(format!(r#"{{"jsonrpc":"2.0","id":1,"result":{result}}}"#))
    }

    #[test]
    fn valid_with_another_blocks_hash_is_not_a_vote() {
        let b = body(r#"{"status":"VALID","latestValidHash":"0xAB","validationError":null}"#);
        assert!(matches!(
            parse_voted(Kind::NewPayload, &b, b"1", Some("0xab")),
            Parsed::Status {
                status: Status::Valid,
                ..
            }
        ));
        assert!(matches!(
            parse_voted(Kind::NewPayload, &b, b"1", Some("0xcd")),
            Parsed::Nothing(_)
        ));
        // INVALID names the last valid ancestor, which is another block.
        let b = body(r#"{"status":"INVALID","latestValidHash":"0x01","validationError":"x"}"#);
        assert_eq!(
            parse_voted(Kind::NewPayload, &b, b"1", Some("0xcd")).status(),
            Some(Status::Invalid)
        );
    }

    #[test]
    fn long_validation_errors_are_cut() {
        let long = "e".repeat(100_000);
        let b = body(&format!(
            r#"{{"status":"INVALID","latestValidHash":"0x01","validationError":"{long}"}}"#
        ));
        let Parsed::Status {
            validation_error,
            raw,
            ..
        } = parse_voted(Kind::NewPayload, &b, b"1", None)
        else {
            panic!("a status");
        };
        assert_eq!(validation_error.map(|e| e.len()), Some(MAX_TEXT));
        assert!(raw.len() < MAX_TEXT + 200, "{}", raw.len());
        let v: serde_json::Value = serde_json::from_slice(&raw).expect("json");
        assert_eq!(v["status"], "INVALID");
        assert_eq!(v["latestValidHash"], "0x01");
    }

    #[test]
    fn inclusion_list_satisfied_is_read_present_null_or_absent() {
        let read = |result: &str| match parse_voted(Kind::NewPayload, &body(result), b"1", None) {
            Parsed::Status { inclusion, .. } => inclusion,
            other => panic!("{other}"),
        };
        let v = r#"{"status":"VALID","latestValidHash":null,"validationError":null"#;
        assert_eq!(read(&format!("{v}}}")), None);
        assert_eq!(
            read(&format!(r#"{v},"inclusionListSatisfied":null}}"#)),
            Some(None)
        );
        assert_eq!(
            read(&format!(r#"{v},"inclusionListSatisfied":false}}"#)),
            Some(Some(false))
        );
        assert_eq!(
            read(&format!(r#"{v},"inclusionListSatisfied":true}}"#)),
            Some(Some(true))
        );
        let rewritten = with_inclusion(
            br#"{"status":"VALID","latestValidHash":"0x01","validationError":null,"inclusionListSatisfied":true}"#,
            Some(false),
        )
        .expect("an object");
        let back: serde_json::Value = serde_json::from_slice(&rewritten).expect("json");
        assert_eq!(back["inclusionListSatisfied"], false);
        assert_eq!(back["latestValidHash"], "0x01");
    }

    #[test]
    fn long_error_messages_are_cut() {
        let long = "m".repeat(50_000);
        let b = Bytes::from(format!(
            r#"{{"jsonrpc":"2.0","id":1,"error":{{"code":-32000,"message":"{long}"}}}}"#
        ));
        let Parsed::Error(e) = parse_voted(Kind::NewPayload, &b, b"1", None) else {
            panic!("an error");
        };
        assert!(e.message.len() <= MAX_TEXT, "{}", e.message.len());
    }
}

#[cfg(test)]
mod same_as_in_full {
    //! The direct reading of the usual shape gives what the general parse gives.
    use super::*;
    use proptest::prelude::*;

    /// Pieces an answer is built from: the usual ones, and ones that leave the usual shape.
    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("null".to_owned()),
            Just(r#""VALID""#.to_owned()),
            Just(r#""INVALID""#.to_owned()),
            Just(r#""SYNCING""#.to_owned()),
            Just(r#""ACCEPTED""#.to_owned()),
            Just(r#""INVALID_BLOCK_HASH""#.to_owned()),
            Just(r#""valid""#.to_owned()),
            Just(format!(r#""0x{}""#, "ab".repeat(32))),
            Just(format!(r#""0x{}""#, "AB".repeat(32))),
            Just(r#""0x01""#.to_owned()),
            Just(r#""bad \"quoted\" block""#.to_owned()),
            Just("\"tab\there\"".to_owned()),
            Just(r#""caf\u00e9""#.to_owned()),
            Just("\"café\"".to_owned()),
            Just(format!("\"{}\"", "e".repeat(MAX_TEXT + 10))),
            Just("\"unterminated".to_owned()),
            Just("1".to_owned()),
            Just("true".to_owned()),
            Just(r#"{"a":1}"#.to_owned()),
        ]
    }

    fn status_object() -> impl Strategy<Value = String> {
        (text(), text(), text(), 0..6u8).prop_map(|(s, lvh, e, shape)| match shape {
            0..=2 => format!(r#"{{"status":{s},"latestValidHash":{lvh},"validationError":{e}}}"#),
            3 => format!(r#"{{ "status": {s}, "latestValidHash": {lvh}, "validationError": {e} }}"#),
            4 => format!(r#"{{"latestValidHash":{lvh},"status":{s},"validationError":{e}}}"#),
            _ => format!(
                r#"{{"status":{s},"latestValidHash":{lvh},"validationError":{e},"inclusionListSatisfied":true}}"#
            ),
        })
    }

    fn answer() -> impl Strategy<Value = (Kind, String)> {
        let kind = prop_oneof![Just(Kind::NewPayload), Just(Kind::ForkchoiceUpdated)];
        let id = prop_oneof![
            Just("7"),
            Just("7.0"),
            Just("8"),
            Just("\"7\""),
            Just("null")
        ];
        let tail = prop_oneof![Just(""), Just("\n"), Just(" \r\n"), Just("x"), Just(",")];
        (kind, status_object(), text(), id, tail, 0..5u8).prop_map(
            |(kind, status, payload_id, id, tail, shape)| {
                let result = match kind {
                    Kind::NewPayload => status,
                    Kind::ForkchoiceUpdated => {
                        format!(r#"{{"payloadStatus":{status},"payloadId":{payload_id}}}"#)
                    }
                };
                let body = match shape {
                    0..=2 => format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{result}}}{tail}"#),
                    3 => format!(r#"{{"id":{id},"jsonrpc":"2.0","result":{result}}}{tail}"#),
                    _ => format!(
                        r#"{{"jsonrpc":"2.0","id":{id},"error":{{"code":-32000,"message":"m"}}}}{tail}"#
                    ),
                };
                (kind, body)
            },
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]
        #[test]
        fn direct_and_full_agree((kind, body) in answer(), hash in prop_oneof![
            Just(None), Just(Some("0xabababababababababababababababababababababababababababababababab")),
            Just(Some("0x01")),
        ]) {
            let body = Bytes::from(body);
            let direct = parse_voted(kind, &body, b"7", hash);
            let full = parse_voted_in_full(kind, &body, b"7", hash);
            prop_assert_eq!(format!("{direct:?}"), format!("{full:?}"));
        }
    }

    #[test]
    fn the_usual_shape_is_read_directly() {
        let lvh = format!("0x{}", "ab".repeat(32));
        let status =
            format!(r#"{{"status":"VALID","latestValidHash":"{lvh}","validationError":null}}"#);
        let body = format!("{{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{status}}}\n");
        let c = canonical::read(Kind::NewPayload, body.as_bytes(), b"7").expect("usual shape");
        assert_eq!(c.status, "VALID");
        assert_eq!(c.latest_valid_hash, Some(lvh.as_str()));
        assert_eq!(c.validation_error, None);
        assert_eq!(c.status_raw, status.as_bytes());

        let body = format!(
            r#"{{"jsonrpc":"2.0","id":"a","result":{{"payloadStatus":{status},"payloadId":"0x0102"}}}}"#
        );
        let c = canonical::read(Kind::ForkchoiceUpdated, body.as_bytes(), br#""a""#)
            .expect("usual shape");
        assert_eq!(c.payload_id, Some("0x0102"));
        assert_eq!(c.status_raw, status.as_bytes());

        // Anything else is left to the full parse.
        for other in [
            body.replace(r#""id":"a""#, r#""id":"b""#),
            body.replace("\"result\":", "\"result\": "),
            body.replace("\"VALID\"", "\"VAL\\u0049D\""),
            format!("{body}x"),
            body[..body.len() - 1].to_owned(),
        ] {
            assert_eq!(
                canonical::read(Kind::ForkchoiceUpdated, other.as_bytes(), br#""a""#),
                None,
                "{other}"
            );
        }
        assert_eq!(
            canonical::read(Kind::NewPayload, body.as_bytes(), br#""a""#),
            None
        );
    }
}
