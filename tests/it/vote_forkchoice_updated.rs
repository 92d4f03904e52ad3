//! engine_forkchoiceUpdatedV3 through three execution clients: the answer is always
//! `{payloadStatus, payloadId}`, the status is the vote, and payloadId is null unless the vote
//! is VALID.

// Scripted ELs (wiremock) rather than mock-el: per-EL forkchoiceUpdated answers with chosen
// statuses, latestValidHash, validationError and payloadId (and JSON-RPC errors), the vote's
// inputs; mock-el derives them from its own chain.

use crate::support::scripted_el::*;
use serde_json::{json, Value};

async fn vote(replies: [Reply; 3], attributes: bool) -> Value {
    let s = secret(0x61);
    let els = els(3, &s).await;
    for (el, reply) in els.iter().zip(replies) {
        el.on("engine_forkchoiceUpdatedV3", reply).await;
    }
    let specs: Vec<String> = els.iter().map(El::url).collect();
    let proxy = start_proxy(&s, &specs).await;
    let answer = proxy
        .call(
            json!(21),
            "engine_forkchoiceUpdatedV3",
            fcu_params(8, attributes),
        )
        .await;
    for (i, el) in els.iter().enumerate() {
        let calls = el.calls("engine_forkchoiceUpdatedV3").await;
        assert_eq!(calls.len(), 1, "node {i} got the fcU once");
        assert_eq!(calls[0]["params"], fcu_params(8, attributes));
    }
    assert_eq!(answer["id"], 21);
    answer
}

fn fcu_reply(status: &str, lvh: Option<&str>, error: Option<&str>, id: Option<&str>) -> Reply {
    Reply::result(fcu_result(payload_status(status, lvh, error), id))
}

fn assert_shape(result: &Value) {
    let keys: Vec<&String> = result.as_object().expect("an object").keys().collect();
    assert_eq!(keys.len(), 2, "{result}");
    assert!(result.get("payloadStatus").is_some() && result.get("payloadId").is_some());
}

#[tokio::test]
async fn unanimous_valid_without_attributes() {
    let head = byte_hash(8);
    let valid = || fcu_reply("VALID", Some(&head), None, None);
    let answer = vote([valid(), valid(), valid()], false).await;
    assert_shape(&answer["result"]);
    assert_eq!(
        answer["result"],
        fcu_result(payload_status("VALID", Some(&byte_hash(8)), None), None)
    );
}

#[tokio::test]
async fn one_invalid_against_valid_is_syncing_and_no_payload_id() {
    let answer = vote(
        [
            fcu_reply(
                "VALID",
                Some(&byte_hash(8)),
                None,
                Some("0x0000000000000001"),
            ),
            fcu_reply("INVALID", Some(&byte_hash(7)), Some("bad block"), None),
            fcu_reply(
                "VALID",
                Some(&byte_hash(8)),
                None,
                Some("0x0000000000000003"),
            ),
        ],
        true,
    )
    .await;
    assert_shape(&answer["result"]);
    assert_eq!(
        answer["result"],
        fcu_result(payload_status("SYNCING", None, None), None)
    );
}

#[tokio::test]
async fn majority_invalid_is_invalid_and_no_payload_id() {
    let answer = vote(
        [
            fcu_reply("INVALID", Some(&byte_hash(2)), Some("other"), None),
            fcu_reply("INVALID", Some(&byte_hash(7)), Some("bad block"), None),
            fcu_reply("INVALID", Some(&byte_hash(7)), Some("bad block"), None),
        ],
        false,
    )
    .await;
    assert_eq!(
        answer["result"],
        fcu_result(
            payload_status("INVALID", Some(&byte_hash(7)), Some("bad block")),
            None
        )
    );
}

#[tokio::test]
async fn unanimous_syncing_has_no_payload_id_even_if_els_sent_one() {
    let syncing = |id| fcu_reply("SYNCING", None, None, Some(id));
    let answer = vote(
        [
            syncing("0x00000000000000a1"),
            syncing("0x00000000000000a2"),
            syncing("0x00000000000000a3"),
        ],
        true,
    )
    .await;
    assert_eq!(
        answer["result"],
        fcu_result(payload_status("SYNCING", None, None), None)
    );
}

#[tokio::test]
async fn accepted_is_not_a_forkchoice_status_and_counts_as_syncing() {
    let accepted = || fcu_reply("ACCEPTED", None, None, None);
    let answer = vote([accepted(), accepted(), accepted()], false).await;
    assert_eq!(
        answer["result"],
        fcu_result(payload_status("SYNCING", None, None), None)
    );
}

#[tokio::test]
async fn the_same_error_everywhere_is_passed_on() {
    let error = || Reply::error(-38003, "Invalid payload attributes");
    let answer = vote([error(), error(), error()], true).await;
    assert_eq!(
        answer,
        json!({
            "jsonrpc": "2.0",
            "id": 21,
            "error": {"code": -38003, "message": "Invalid payload attributes"}
        })
    );
}
