//! The other requests a CL sends (forkchoiceUpdated, getPayload, eth_ reads) and reading the
//! answers.

use bytes::Bytes;
use serde_json::Value;

/// What one answer said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// A result, and for voted calls a `VALID` status.
    Ok,
    /// A result whose status is not `VALID` (the status).
    NotValid(String),
    /// No usable answer: transport failure, HTTP error, JSON-RPC error, bad JSON.
    Failed(String),
}

/// `engine_forkchoiceUpdatedV3` to `head`, starting a build when `attributes` is given.
pub fn forkchoice_updated(id: u64, head: &str, attributes: Option<&Attributes>) -> Bytes {
    let attrs = match attributes {
        Some(a) => format!(
            "{{\"timestamp\":\"{:#x}\",\"prevRandao\":\"{}\",\"suggestedFeeRecipient\":\"{}\",\"withdrawals\":{},\"parentBeaconBlockRoot\":\"{}\"}}",
            a.timestamp, a.prev_randao, a.fee_recipient, a.withdrawals, a.beacon_root
        ),
        None => "null".into(),
    };
    Bytes::from(format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":{id},\"method\":\"engine_forkchoiceUpdatedV3\",\"params\":[{{\"headBlockHash\":\"{head}\",\"safeBlockHash\":\"{head}\",\"finalizedBlockHash\":\"{head}\"}},{attrs}]}}"
    ))
}

/// Payload attributes (the parts that matter for size: 16 withdrawals).
pub struct Attributes {
    pub timestamp: u64,
    pub prev_randao: String,
    pub fee_recipient: String,
    /// JSON array.
    pub withdrawals: String,
    pub beacon_root: String,
}

pub fn get_payload(id: u64, payload_id: &str) -> Bytes {
    Bytes::from(format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":{id},\"method\":\"engine_getPayloadV4\",\"params\":[\"{payload_id}\"]}}"
    ))
}

/// `eth_getBlockByNumber("latest", false)`: a typical read passed through to the primary.
pub fn latest_block(id: u64) -> Bytes {
    Bytes::from(format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":{id},\"method\":\"eth_getBlockByNumber\",\"params\":[\"latest\",false]}}"
    ))
}

pub fn chain_id(id: u64) -> Bytes {
    Bytes::from(format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":{id},\"method\":\"eth_chainId\",\"params\":[]}}"
    ))
}

/// The `result` of an answer, or why there is none.
pub fn result(body: &[u8]) -> Result<Value, String> {
    let mut v: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    if let Some(e) = v.get("error") {
        return Err(format!("JSON-RPC error {e}"));
    }
    match v.get_mut("result") {
        Some(r) => Ok(r.take()),
        None => Err("no result".into()),
    }
}

/// Judges a newPayload answer.
pub fn new_payload_verdict(body: &[u8]) -> Verdict {
    match result(body) {
        Ok(r) => status_verdict(&r),
        Err(e) => Verdict::Failed(e),
    }
}

/// Judges a forkchoiceUpdated answer; also returns its payloadId.
pub fn forkchoice_verdict(body: &[u8]) -> (Verdict, Option<String>) {
    match result(body) {
        Ok(r) => (
            status_verdict(&r["payloadStatus"]),
            r["payloadId"].as_str().map(str::to_owned),
        ),
        Err(e) => (Verdict::Failed(e), None),
    }
}

/// Judges a getPayload answer; also returns the built block's hash.
pub fn get_payload_verdict(body: &[u8]) -> (Verdict, Option<String>) {
    match result(body) {
        Ok(r) => match r["executionPayload"]["blockHash"].as_str() {
            Some(h) => (Verdict::Ok, Some(h.to_owned())),
            None => (
                Verdict::Failed("no executionPayload.blockHash".into()),
                None,
            ),
        },
        Err(e) => (Verdict::Failed(e), None),
    }
}

/// Judges a read: any result will do.
pub fn read_verdict(body: &[u8]) -> Verdict {
    match result(body) {
        Ok(_) => Verdict::Ok,
        Err(e) => Verdict::Failed(e),
    }
}

fn status_verdict(status: &Value) -> Verdict {
    match status["status"].as_str() {
        Some("VALID") => Verdict::Ok,
        Some(other) => Verdict::NotValid(other.to_owned()),
        None => Verdict::Failed("no status".into()),
    }
}

/// Tallies of answers by verdict.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Tally {
    pub ok: u64,
    pub not_valid: u64,
    pub failed: u64,
    /// The first failure or non-VALID status seen, to explain the counts.
    pub first_problem: Option<String>,
}

impl Tally {
    pub fn add(&mut self, v: &Verdict) {
        match v {
            Verdict::Ok => self.ok += 1,
            Verdict::NotValid(s) => {
                self.not_valid += 1;
                self.first_problem.get_or_insert_with(|| s.clone());
            }
            Verdict::Failed(e) => {
                self.failed += 1;
                self.first_problem.get_or_insert_with(|| e.clone());
            }
        }
    }

    pub fn merge(&mut self, other: &Tally) {
        self.ok += other.ok;
        self.not_valid += other.not_valid;
        self.failed += other.failed;
        if self.first_problem.is_none() {
            self.first_problem.clone_from(&other.first_problem);
        }
    }

    pub fn all_ok(&self) -> bool {
        self.not_valid == 0 && self.failed == 0 && self.ok > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts() {
        let valid =
            br#"{"jsonrpc":"2.0","id":1,"result":{"status":"VALID","latestValidHash":"0x1"}}"#;
        assert_eq!(new_payload_verdict(valid), Verdict::Ok);
        let syncing = br#"{"jsonrpc":"2.0","id":1,"result":{"status":"SYNCING"}}"#;
        assert_eq!(
            new_payload_verdict(syncing),
            Verdict::NotValid("SYNCING".into())
        );
        let err = br#"{"jsonrpc":"2.0","id":1,"error":{"code":-32000,"message":"x"}}"#;
        assert!(matches!(new_payload_verdict(err), Verdict::Failed(_)));
        let fcu = br#"{"jsonrpc":"2.0","id":1,"result":{"payloadStatus":{"status":"VALID"},"payloadId":"0x01"}}"#;
        assert_eq!(forkchoice_verdict(fcu), (Verdict::Ok, Some("0x01".into())));
        let body = forkchoice_updated(3, "0xab", None);
        let v: Value = serde_json::from_slice(&body).expect("JSON");
        assert_eq!(v["params"][1], Value::Null);
    }
}
