//! The block a voted call is about: newPayload's `blockHash`, forkchoiceUpdated's
//! `headBlockHash`, lower-cased.

use serde::Deserialize;

use crate::rpc::Call;
use crate::vote::Kind;

#[derive(Deserialize)]
struct First<'a> {
    #[serde(rename = "blockHash", default, borrow)]
    block_hash: Option<&'a str>,
    #[serde(rename = "headBlockHash", default, borrow)]
    head_block_hash: Option<&'a str>,
}

/// The hash, when the params carry one that looks like a hash.
pub fn of(call: &Call, kind: Kind) -> Option<String> {
    let params = call.params.as_ref()?;
    let list: Vec<&serde_json::value::RawValue> = serde_json::from_slice(params).ok()?;
    let first: First<'_> = serde_json::from_str(list.first()?.get()).ok()?;
    let hash = match kind {
        Kind::NewPayload => first.block_hash?,
        Kind::ForkchoiceUpdated => first.head_block_hash?,
    };
    let ok = hash.len() == 66
        && hash.starts_with("0x")
        && hash[2..].bytes().all(|b| b.is_ascii_hexdigit());
    ok.then(|| hash.to_ascii_lowercase())
}
