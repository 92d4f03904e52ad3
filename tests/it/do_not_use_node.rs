//! `#do-not-use` nodes receive every state-changing call (so they stay in sync) but never vote,
//! and are not the primary while another node answers.

use std::time::Duration;

use crate::support::mock_els::*;
use crate::support::proxy::{prometheus, sample};
use crate::support::shapes::{fcu_params, fcu_result, payload_status};
use mock_el::{Behaviour, Status, B256};
use serde_json::json;

fn b256(n: u64) -> B256 {
    B256::parse(&hash(n)).expect("hash")
}

#[tokio::test]
async fn a_do_not_use_node_gets_every_new_payload_but_never_votes() {
    let els = mocks(3).await;
    els[2].set_status(Status::Invalid);
    els[2].set(Behaviour::ValidationError("do-not-use says no".into()));
    let running = proxy(
        &[
            (els[2].url(), "#do-not-use"),
            (els[0].url(), ""),
            (els[1].url(), ""),
        ],
        settings(),
    )
    .await;
    let cl = Cl::new(running.url());

    for n in 1..=3u64 {
        let answer = cl
            .call(json!(n), "engine_newPayloadV3", new_payload_params(n))
            .await;
        assert_eq!(
            answer["result"],
            payload_status("VALID", Some(&hash(n)), None),
            "newPayload {n}"
        );
    }
    let answer = cl
        .call(json!(9), "engine_forkchoiceUpdatedV3", fcu_params(3, false))
        .await;
    assert_eq!(
        answer["result"],
        fcu_result(payload_status("VALID", Some(&hash(3)), None), None)
    );

    // Every call reached the do-not-use node, in order. Nobody waits for it, so its copies may
    // still be on the way when the CL has its answers: wait for them.
    let arrived = eventually(Duration::from_secs(10), async || {
        els[2].calls_to("engine_newPayloadV3").len() == 3
            && els[2].calls_to("engine_forkchoiceUpdatedV3").len() == 1
    })
    .await;
    assert!(arrived, "{:?}", els[2].calls());
    let got: Vec<Option<B256>> = els[2]
        .arrivals_to("engine_newPayloadV3")
        .iter()
        .map(|c| c.block_hash)
        .collect();
    assert_eq!(got, vec![Some(b256(1)), Some(b256(2)), Some(b256(3))]);
    // It answered them all INVALID, and that did not count.
    assert!(els[2]
        .calls_to("engine_")
        .iter()
        .filter(|c| c.block_hash.is_some())
        .all(|c| c.status == Some(Status::Invalid)));
    assert_eq!(els[2].calls_to("engine_forkchoiceUpdatedV3").len(), 1);

    // Listed first, yet not the primary.
    let metrics = cl.metrics().await;
    assert_eq!(metrics["primary_node"], json!(els[0].url()));
}

#[tokio::test]
async fn do_not_use_alone_cannot_make_a_majority() {
    // One normal node says VALID, one do-not-use node INVALID. A vote would make that SYNCING
    // (an INVALID dissent); the do-not-use node's answer must not count at all.
    let els = mocks(2).await;
    els[1].set_status(Status::Invalid);
    let running = proxy(
        &[(els[0].url(), ""), (els[1].url(), "#do-not-use")],
        settings(),
    )
    .await;
    let cl = Cl::new(running.url());
    let answer = cl
        .call(json!(1), "engine_newPayloadV3", new_payload_params(4))
        .await;
    assert_eq!(
        answer["result"],
        payload_status("VALID", Some(&hash(4)), None)
    );
    // It was asked, and said INVALID.
    let asked = eventually(Duration::from_secs(10), async || {
        els[1].calls_to("engine_newPayloadV3").len() == 1
    })
    .await;
    assert!(asked);
    assert_eq!(
        els[1].calls_to("engine_newPayloadV3")[0].status,
        Some(Status::Invalid)
    );
}

#[tokio::test]
async fn a_slow_do_not_use_node_does_not_delay_the_answer() {
    // The do-not-use node's answer cannot change the outcome, so the consensus client must not
    // wait for it. It never answers newPayload here (its probes are answered at once); the
    // events in order: the CL's answer, then the node's own timeout (5 s, inside the CL's 8 s
    // deadline for newPayloadV3). Had the proxy waited for the node, its timeout would have
    // come first.
    let els = mocks(3).await;
    els[2].set(Behaviour::hang().scoped("engine_newPayload"));
    let settings = settings_with_metrics();
    let running = proxy(
        &[
            (els[0].url(), ""),
            (els[1].url(), ""),
            (els[2].url(), "#do-not-use#name=observer#timeout=5000"),
        ],
        settings,
    )
    .await;
    let cl = Cl::new(running.url());
    let timeouts = async || {
        sample(
            &prometheus(&running).await,
            r#"eb_node_timeouts_total{node="observer"}"#,
        )
    };
    let answer = cl
        .call(json!(1), "engine_newPayloadV3", new_payload_params(5))
        .await;
    assert_eq!(
        answer["result"],
        payload_status("VALID", Some(&hash(5)), None)
    );
    assert_eq!(
        timeouts().await,
        0.0,
        "the answer waited for the do-not-use node's timeout"
    );
    let asked = eventually(Duration::from_secs(10), async || {
        els[2].calls_to("engine_newPayloadV3").len() == 1
    })
    .await;
    assert!(asked, "the do-not-use node was not asked");
    let timed_out = eventually(Duration::from_secs(15), async || timeouts().await == 1.0).await;
    assert!(
        timed_out,
        "the do-not-use node was still asked, until its own timeout"
    );
}
