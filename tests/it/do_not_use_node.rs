//! `#do-not-use` nodes receive every state-changing call (so they stay in sync) but never vote,
//! and are not the primary while another node answers.

// Scripted ELs (wiremock) rather than mock-el: answers with a null or a chosen latestValidHash,
// and one answer held for an hour while the same EL answers its probes at once; mock-el's VALID
// always names the block and its faults do not pick one method version.

use crate::support::eventually;
use crate::support::proxy::{prometheus, sample};
use crate::support::scripted_el::*;
use executionbackup::config::Settings;
use serde_json::json;

#[tokio::test]
async fn a_do_not_use_node_gets_every_new_payload_but_never_votes() {
    let s = secret(0x91);
    let els = els(3, &s).await;
    // VALID without a latestValidHash: one fixed answer serves blocks 1 to 3 (a VALID naming
    // another block's hash would not be a vote).
    for el in &els[..2] {
        el.on("engine_newPayloadV3", Reply::status("VALID", None, None))
            .await;
        el.on(
            "engine_forkchoiceUpdatedV3",
            Reply::result(fcu_result(payload_status("VALID", None, None), None)),
        )
        .await;
    }
    els[2]
        .on(
            "engine_newPayloadV3",
            Reply::status("INVALID", None, Some("do-not-use says no")),
        )
        .await;
    els[2]
        .on(
            "engine_forkchoiceUpdatedV3",
            Reply::result(fcu_result(
                payload_status("INVALID", None, Some("do-not-use says no")),
                None,
            )),
        )
        .await;
    let proxy = start_proxy(
        &s,
        &[
            format!("{}#do-not-use", els[2].url()),
            els[0].url(),
            els[1].url(),
        ],
    )
    .await;

    for n in 1..=3u8 {
        let answer = proxy
            .call(json!(n), "engine_newPayloadV3", new_payload_params(n))
            .await;
        assert_eq!(
            answer["result"],
            payload_status("VALID", None, None),
            "newPayload {n}"
        );
    }
    let answer = proxy
        .call(json!(9), "engine_forkchoiceUpdatedV3", fcu_params(3, false))
        .await;
    assert_eq!(
        answer["result"],
        fcu_result(payload_status("VALID", None, None), None)
    );

    // Every call reached the do-not-use node, in order. Nobody waits for it, so its copies may
    // still be on the way when the CL has its answers: give them a moment.
    let mut got = Vec::new();
    for _ in 0..100 {
        got = els[2]
            .calls("engine_newPayloadV3")
            .await
            .into_iter()
            .map(|c| c["params"][0]["blockHash"].clone())
            .collect();
        if got.len() == 3 && els[2].calls("engine_forkchoiceUpdatedV3").await.len() == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        got,
        vec![
            json!(byte_hash(1)),
            json!(byte_hash(2)),
            json!(byte_hash(3))
        ]
    );
    assert_eq!(els[2].calls("engine_forkchoiceUpdatedV3").await.len(), 1);

    // Listed first, yet not the primary.
    let metrics = proxy.metrics().await;
    assert_eq!(metrics["primary_node"], json!(els[0].url()));
}

#[tokio::test]
async fn do_not_use_alone_cannot_make_a_majority() {
    // One normal node says VALID, one do-not-use node INVALID. A vote would make that SYNCING
    // (an INVALID dissent); the do-not-use node's answer must not count at all.
    let s = secret(0x92);
    let els = els(2, &s).await;
    els[0]
        .on(
            "engine_newPayloadV3",
            Reply::status("VALID", Some(&byte_hash(4)), None),
        )
        .await;
    els[1]
        .on(
            "engine_newPayloadV3",
            Reply::status("INVALID", None, Some("x")),
        )
        .await;
    let proxy = start_proxy(&s, &[els[0].url(), format!("{}#do-not-use", els[1].url())]).await;
    let answer = proxy
        .call(json!(1), "engine_newPayloadV3", new_payload_params(4))
        .await;
    assert_eq!(
        answer["result"],
        payload_status("VALID", Some(&byte_hash(4)), None)
    );
}

#[tokio::test]
async fn a_slow_do_not_use_node_does_not_delay_the_answer() {
    // The do-not-use node's answer cannot change the outcome, so the consensus client must not
    // wait for it. It never answers here; the events in order: the CL's answer, then the node's
    // own timeout (5 s, inside the CL's 8 s deadline for newPayloadV3). Had the proxy waited
    // for the node, its timeout would have come first.
    let s = secret(0x93);
    let els = els(3, &s).await;
    for el in &els[..2] {
        el.on(
            "engine_newPayloadV3",
            Reply::status("VALID", Some(&byte_hash(5)), None),
        )
        .await;
    }
    els[2]
        .on(
            "engine_newPayloadV3",
            Reply::status("VALID", Some(&byte_hash(5)), None)
                .delayed(std::time::Duration::from_secs(3600)),
        )
        .await;
    let settings = Settings {
        metrics: Some("127.0.0.1:0".parse().expect("addr")),
        ..settings()
    };
    let proxy = start_proxy_with(
        settings,
        &s,
        &[
            els[0].url(),
            els[1].url(),
            format!("{}#do-not-use#name=observer#timeout=5000", els[2].url()),
        ],
    )
    .await;
    let timeouts = async || {
        sample(
            &prometheus(&proxy.running).await,
            r#"eb_node_timeouts_total{node="observer"}"#,
        )
    };
    let answer = proxy
        .call(json!(1), "engine_newPayloadV3", new_payload_params(5))
        .await;
    assert_eq!(
        answer["result"],
        payload_status("VALID", Some(&byte_hash(5)), None)
    );
    assert_eq!(
        timeouts().await,
        0.0,
        "the answer waited for the do-not-use node's timeout"
    );
    assert_eq!(els[2].calls("engine_newPayloadV3").await.len(), 1);
    let timed_out = eventually(std::time::Duration::from_secs(15), async || {
        timeouts().await == 1.0
    })
    .await;
    assert!(
        timed_out,
        "the do-not-use node was still asked, until its own timeout"
    );
}
