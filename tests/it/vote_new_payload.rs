//! engine_newPayloadV3 through three execution clients: the proxy's answer is the vote of their
//! answers (unanimous VALID is passed on as the EL sent it; a single INVALID against a VALID
//! majority turns into SYNCING; a majority INVALID is INVALID with the most common details;
//! the same JSON-RPC error everywhere is passed on).

// Scripted ELs (wiremock) rather than mock-el: per-EL newPayload answers with chosen statuses,
// latestValidHash and validationError (and JSON-RPC errors), the vote's inputs; mock-el derives
// them from its own chain.

use crate::support::scripted_el::*;
use serde_json::{json, Value};

/// Starts three ELs answering newPayload with `replies` (in node order), asks the proxy once
/// with id `id`, and returns the whole response plus the ELs.
async fn vote(replies: [Reply; 3], id: Value) -> (Value, Vec<El>) {
    let s = secret(0x51);
    let els = els(3, &s).await;
    for (el, reply) in els.iter().zip(replies) {
        el.on("engine_newPayloadV3", reply).await;
    }
    let specs: Vec<String> = els.iter().map(El::url).collect();
    let proxy = start_proxy(&s, &specs).await;
    let answer = proxy
        .call(id, "engine_newPayloadV3", new_payload_params(7))
        .await;
    for (i, el) in els.iter().enumerate() {
        let calls = el.calls("engine_newPayloadV3").await;
        assert_eq!(calls.len(), 1, "node {i} got the newPayload once");
        assert_eq!(calls[0]["params"], new_payload_params(7), "node {i} params");
    }
    (answer, els)
}

fn syncing() -> Value {
    payload_status("SYNCING", None, None)
}

#[tokio::test]
async fn unanimous_valid_is_the_els_payload_status() {
    let lvh = byte_hash(7);
    let valid = || Reply::status("VALID", Some(&lvh), None);
    let (answer, _els) = vote([valid(), valid(), valid()], json!(11)).await;
    assert_eq!(
        answer,
        json!({"jsonrpc": "2.0", "id": 11, "result": payload_status("VALID", Some(&byte_hash(7)), None)})
    );
}

#[tokio::test]
async fn one_invalid_against_a_valid_majority_is_syncing() {
    // The Holesky rule: a definitive INVALID is never outvoted into VALID, wherever it sits.
    for invalid_at in 0..3 {
        let replies: [Reply; 3] = std::array::from_fn(|i| {
            if i == invalid_at {
                Reply::status("INVALID", Some(&byte_hash(6)), Some("invalid state root"))
            } else {
                Reply::status("VALID", Some(&byte_hash(7)), None)
            }
        });
        let (answer, _els) = vote(replies, json!("np")).await;
        assert_eq!(
            answer,
            json!({"jsonrpc": "2.0", "id": "np", "result": syncing()}),
            "INVALID at node {invalid_at}"
        );
        // Spelled out: the nulls are there, not missing.
        assert_eq!(answer["result"]["latestValidHash"], Value::Null);
        assert_eq!(answer["result"]["validationError"], Value::Null);
        assert!(answer["result"].as_object().is_some_and(
            |o| o.contains_key("latestValidHash") && o.contains_key("validationError")
        ));
    }
}

#[tokio::test]
async fn majority_invalid_carries_the_most_common_details() {
    let (answer, _els) = vote(
        [
            Reply::status("INVALID", Some(&byte_hash(3)), Some("minority reason")),
            Reply::status("INVALID", Some(&byte_hash(6)), Some("invalid state root")),
            Reply::status("INVALID", Some(&byte_hash(6)), Some("invalid state root")),
        ],
        json!(12),
    )
    .await;
    assert_eq!(
        answer["result"],
        payload_status("INVALID", Some(&byte_hash(6)), Some("invalid state root"))
    );
    assert_eq!(answer["id"], 12);

    // Two INVALID against one VALID: INVALID, with the INVALID voters' details.
    let (answer, _els) = vote(
        [
            Reply::status("VALID", Some(&byte_hash(7)), None),
            Reply::status("INVALID", None, Some("blob hashes mismatch")),
            Reply::status("INVALID", None, Some("blob hashes mismatch")),
        ],
        json!(13),
    )
    .await;
    assert_eq!(
        answer["result"],
        payload_status("INVALID", None, Some("blob hashes mismatch"))
    );
}

#[tokio::test]
async fn unanimous_syncing_is_syncing() {
    let syncing_reply = || Reply::status("SYNCING", None, None);
    let (answer, _els) = vote(
        [syncing_reply(), syncing_reply(), syncing_reply()],
        json!(14),
    )
    .await;
    assert_eq!(
        answer,
        json!({"jsonrpc": "2.0", "id": 14, "result": syncing()})
    );
}

#[tokio::test]
async fn the_same_error_everywhere_is_passed_on() {
    let error = || Reply::error(-38003, "Invalid payload attributes");
    let (answer, _els) = vote([error(), error(), error()], json!("e-1")).await;
    assert_eq!(
        answer,
        json!({
            "jsonrpc": "2.0",
            "id": "e-1",
            "error": {"code": -38003, "message": "Invalid payload attributes"}
        })
    );
}
