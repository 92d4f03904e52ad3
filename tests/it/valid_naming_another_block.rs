//! An EL answer is checked before it is trusted: a VALID whose latestValidHash is not the
//! block's own hash is not a vote (the spec says VALID carries the block's hash), so it is never
//! passed on to the consensus client and cannot make a majority.

// Scripted ELs (wiremock) rather than mock-el: an EL answers VALID naming another block's hash;
// mock-el's VALID always names the block itself.

use crate::support::scripted_el::*;
use serde_json::json;

#[tokio::test]
async fn a_valid_with_a_wrong_latest_valid_hash_is_not_passed_on() {
    let s = secret(0x61);
    let els = els(3, &s).await;
    // One EL says VALID and names another block; the other two are silent on this block's
    // status (SYNCING).
    els[0]
        .on(
            "engine_newPayloadV3",
            Reply::status("VALID", Some(&byte_hash(0x42)), None),
        )
        .await;
    for el in &els[1..] {
        el.on("engine_newPayloadV3", Reply::status("SYNCING", None, None))
            .await;
    }
    let specs: Vec<String> = els.iter().map(El::url).collect();
    let proxy = start_proxy(&s, &specs).await;
    let answer = proxy
        .call(json!(1), "engine_newPayloadV3", new_payload_params(7))
        .await;
    assert_eq!(
        answer["result"],
        payload_status("SYNCING", None, None),
        "{answer}"
    );
}
