//! The block a voted call is about (newPayload's `blockHash`, forkchoiceUpdated's
//! `headBlockHash`), lower-cased, when it looks like a hash. The scan itself is
//! [`Call::block_hash`].

use crate::rpc::Call;

/// The hash, when the params carry one that looks like a 32-byte hash.
pub fn of(call: &Call) -> Option<String> {
    let hash = call.block_hash()?;
    let ok = hash.len() == 66
        && hash.starts_with("0x")
        && hash[2..].bytes().all(|b| b.is_ascii_hexdigit());
    ok.then(|| hash.to_ascii_lowercase())
}
