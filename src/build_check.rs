//! Does a built payload match the build the CL asked for? A payload is only ever chosen when
//! its `parentHash` is the forkchoiceUpdated's head and its `timestamp`, `prevRandao`,
//! `feeRecipient` and `withdrawals` are the payload attributes' (the `parentBeaconBlockRoot` is
//! not part of the execution payload; the EL commits to it in the block hash, which the CL
//! checks). Pure.

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

/// What the forkchoiceUpdated that started the build asked for.
#[derive(Clone, Debug, PartialEq)]
pub struct Expected {
    parent_hash: String,
    timestamp: String,
    prev_randao: String,
    fee_recipient: String,
    withdrawals: Option<Value>,
}

#[derive(Deserialize)]
struct State<'a> {
    #[serde(rename = "headBlockHash", borrow)]
    head: &'a str,
}

#[derive(Deserialize)]
struct Attributes<'a> {
    #[serde(borrow)]
    timestamp: &'a str,
    #[serde(rename = "prevRandao", borrow)]
    prev_randao: &'a str,
    #[serde(rename = "suggestedFeeRecipient", borrow)]
    fee_recipient: &'a str,
    #[serde(default)]
    withdrawals: Option<Value>,
}

#[derive(Deserialize)]
struct Request<'a> {
    #[serde(borrow)]
    params: Vec<&'a RawValue>,
}

/// A getPayloadV2+ result, read in one pass: the payload's checked fields and the value.
#[derive(Deserialize)]
struct Wrapped<'a> {
    #[serde(rename = "executionPayload", default, borrow)]
    execution_payload: Option<Payload<'a>>,
    #[serde(rename = "blockValue", default, borrow)]
    block_value: Option<&'a str>,
}

/// The checked fields of an execution payload; a missing one never matches.
#[derive(Deserialize)]
struct Payload<'a> {
    #[serde(rename = "parentHash", default, borrow)]
    parent_hash: Option<&'a str>,
    #[serde(default, borrow)]
    timestamp: Option<&'a str>,
    #[serde(rename = "prevRandao", default, borrow)]
    prev_randao: Option<&'a str>,
    #[serde(rename = "feeRecipient", default, borrow)]
    fee_recipient: Option<&'a str>,
    #[serde(default)]
    withdrawals: Option<Value>,
}

/// Reads the build request (the CL's forkchoiceUpdated with attributes); `None` when it has no
/// attributes.
pub fn expected(fcu_request: &[u8]) -> Option<Expected> {
    let request: Request<'_> = serde_json::from_slice(fcu_request).ok()?;
    let state: State<'_> = serde_json::from_str(request.params.first()?.get()).ok()?;
    let attributes: Attributes<'_> = serde_json::from_str(request.params.get(1)?.get()).ok()?;
    Some(Expected {
        parent_hash: state.head.to_ascii_lowercase(),
        timestamp: quantity(attributes.timestamp)?,
        prev_randao: attributes.prev_randao.to_ascii_lowercase(),
        fee_recipient: attributes.fee_recipient.to_ascii_lowercase(),
        withdrawals: attributes.withdrawals.map(lower),
    })
}

/// Reads a getPayload `result` (V1: the payload itself; V2+: `{executionPayload, blockValue,
/// …}`) in one pass, checks it against the build request when there is one, and returns its
/// `blockValue` (empty when it has none). `Err` names the first field that differs.
pub fn inspect(expected: Option<&Expected>, result: &[u8]) -> Result<String, String> {
    // V2+ in one pass; a V1 payload (no wrapper) is read again as a payload.
    let (payload, value) = match serde_json::from_slice::<Wrapped<'_>>(result) {
        Ok(Wrapped {
            execution_payload: Some(p),
            block_value,
        }) => (Some(p), block_value),
        Ok(Wrapped { block_value, .. }) => (None, block_value),
        Err(_) => (None, None),
    };
    let value = value.unwrap_or_default().to_owned();
    let Some(expected) = expected else {
        return Ok(value);
    };
    let payload = match payload {
        Some(p) => p,
        None => serde_json::from_slice::<Payload<'_>>(result)
            .map_err(|_| "not an execution payload".to_owned())?,
    };
    let differs = |field: &str, got: Option<&str>, want: &str| {
        Err(format!(
            "{field} is {}, the build asked for {want}",
            crate::rpc::truncate(got.unwrap_or("missing"), 80)
        ))
    };
    let same = |got: Option<&str>, want: &str| got.is_some_and(|g| g.eq_ignore_ascii_case(want));
    if !same(payload.parent_hash, &expected.parent_hash) {
        return differs("parentHash", payload.parent_hash, &expected.parent_hash);
    }
    if payload.timestamp.and_then(quantity).as_deref() != Some(expected.timestamp.as_str()) {
        return differs("timestamp", payload.timestamp, &expected.timestamp);
    }
    if !same(payload.prev_randao, &expected.prev_randao) {
        return differs("prevRandao", payload.prev_randao, &expected.prev_randao);
    }
    if !same(payload.fee_recipient, &expected.fee_recipient) {
        return differs(
            "feeRecipient",
            payload.fee_recipient,
            &expected.fee_recipient,
        );
    }
    if let Some(want) = &expected.withdrawals {
        if payload.withdrawals.map(lower).as_ref() != Some(want) {
            return Err("withdrawals differ from the build's".to_owned());
        }
    }
    Ok(value)
}

/// A hex quantity without leading zeros, lower case.
fn quantity(q: &str) -> Option<String> {
    let digits = q.strip_prefix("0x")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let trimmed = digits.trim_start_matches('0');
    Some(format!(
        "0x{}",
        if trimmed.is_empty() {
            "0".to_owned()
        } else {
            trimmed.to_ascii_lowercase()
        }
    ))
}

/// Withdrawals compared without regard to hex case or leading zeros of quantities.
fn lower(v: Value) -> Value {
    match v {
        Value::String(s) => Value::String(quantity(&s).unwrap_or_else(|| s.to_ascii_lowercase())),
        Value::Array(a) => Value::Array(a.into_iter().map(lower).collect()),
        Value::Object(o) => Value::Object(o.into_iter().map(|(k, v)| (k, lower(v))).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FCU: &str = r#"{"jsonrpc":"2.0","id":1,"method":"engine_forkchoiceUpdatedV3","params":[
        {"headBlockHash":"0xAA","safeBlockHash":"0xaa","finalizedBlockHash":"0x00"},
        {"timestamp":"0x64","prevRandao":"0x11","suggestedFeeRecipient":"0xFE","withdrawals":[{"index":"0x1","validatorIndex":"0x2","address":"0xAB","amount":"0x3"}],"parentBeaconBlockRoot":"0x22"}]}"#;

    fn payload(parent: &str, ts: &str, fee: &str, amount: &str) -> String {
        format!(
            r#"{{"executionPayload":{{"parentHash":"{parent}","timestamp":"{ts}","prevRandao":"0x11","feeRecipient":"{fee}","withdrawals":[{{"index":"0x1","validatorIndex":"0x2","address":"0xab","amount":"{amount}"}}],"transactions":[]}},"blockValue":"0xffff"}}"#
        )
    }

    #[test]
    fn a_payload_of_the_build_passes() {
        let e = expected(FCU.as_bytes()).expect("attributes");
        assert_eq!(
            inspect(Some(&e), payload("0xaa", "0x064", "0xfe", "0x3").as_bytes()),
            Ok("0xffff".to_owned())
        );
        assert_eq!(
            inspect(None, br#"{"executionPayload":{},"blockValue":"0x2a"}"#),
            Ok("0x2a".to_owned()),
            "no build request: the value only"
        );
        assert_eq!(inspect(None, br#"{"blockHash":"0x1"}"#), Ok(String::new()));
    }

    #[test]
    fn each_field_that_differs_is_named() {
        let e = expected(FCU.as_bytes()).expect("attributes");
        for (p, field) in [
            (payload("0xbb", "0x64", "0xfe", "0x3"), "parentHash"),
            (payload("0xaa", "0x65", "0xfe", "0x3"), "timestamp"),
            (payload("0xaa", "0x64", "0xff", "0x3"), "feeRecipient"),
            (payload("0xaa", "0x64", "0xfe", "0x4"), "withdrawals"),
        ] {
            let err = inspect(Some(&e), p.as_bytes()).expect_err(field);
            assert!(err.starts_with(field), "{err}");
        }
        assert!(inspect(Some(&e), b"[]").is_err());
    }

    #[test]
    fn no_attributes_no_expectation() {
        let fcu = r#"{"jsonrpc":"2.0","id":1,"method":"engine_forkchoiceUpdatedV3","params":[{"headBlockHash":"0xaa","safeBlockHash":"0xaa","finalizedBlockHash":"0x00"},null]}"#;
        assert_eq!(expected(fcu.as_bytes()), None);
    }
}
