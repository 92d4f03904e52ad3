//! Per-node timeouts (`#timeout=MS`): a node slower than its own timeout neither delays the
//! consensus client's answer beyond that timeout nor votes; the other nodes decide.

// Scripted ELs (wiremock) rather than mock-el: one EL answers INVALID with a chosen
// latestValidHash after a fixed delay while its probes are answered at once; mock-el's latency
// applies by method prefix to every version and its INVALID names the parent.

use std::time::Duration;

use crate::support::scripted_el::*;
use serde_json::json;

#[tokio::test]
async fn a_slow_node_is_cut_off_at_its_own_timeout_and_does_not_vote() {
    let s = secret(0x81);
    let els = els(3, &s).await;
    els[0]
        .on(
            "engine_newPayloadV3",
            Reply::status("VALID", Some(&byte_hash(7)), None),
        )
        .await;
    els[1]
        .on(
            "engine_newPayloadV3",
            Reply::status("VALID", Some(&byte_hash(7)), None),
        )
        .await;
    // Had the slow node's INVALID been waited for, the answer would be SYNCING.
    els[2]
        .on(
            "engine_newPayloadV3",
            Reply::status("INVALID", None, Some("late and wrong")).delayed(Duration::from_secs(3)),
        )
        .await;
    let proxy = start_proxy(
        &s,
        &[
            els[0].url(),
            els[1].url(),
            format!("{}#timeout=300", els[2].url()),
        ],
    )
    .await;

    // VALID shows the slow node's INVALID was not counted. How long it was waited for (its
    // timeout, to the millisecond) is the simulation's to show: sim/tests/slow_el_timeout.rs.
    let answer = proxy
        .call(json!(1), "engine_newPayloadV3", new_payload_params(7))
        .await;
    assert_eq!(
        answer,
        json!({"jsonrpc": "2.0", "id": 1, "result": payload_status("VALID", Some(&byte_hash(7)), None)})
    );
    // It was asked, though.
    assert_eq!(els[2].calls("engine_newPayloadV3").await.len(), 1);
}

#[tokio::test]
async fn a_nodes_own_timeout_overrides_the_default() {
    let s = secret(0x82);
    let els = els(2, &s).await;
    els[0]
        .on(
            "engine_newPayloadV3",
            Reply::status("VALID", Some(&byte_hash(7)), None),
        )
        .await;
    // Later than the default timeout, well inside its own: its INVALID counts only if its own
    // timeout is the one honoured.
    els[1]
        .on(
            "engine_newPayloadV3",
            Reply::status("INVALID", Some(&byte_hash(6)), Some("slow and wrong"))
                .delayed(Duration::from_secs(1)),
        )
        .await;
    let settings = executionbackup::config::Settings {
        default_timeout: Duration::from_millis(400),
        ..settings()
    };
    // The slow node has a long timeout of its own; the fast one uses the default.
    let proxy = start_proxy_with(
        settings,
        &s,
        &[els[0].url(), format!("{}#timeout=2500", els[1].url())],
    )
    .await;
    let answer = proxy
        .call(json!(2), "engine_newPayloadV3", new_payload_params(7))
        .await;
    // The own timeout (2.5 s), not the default (0.4 s), is honoured for the slow node: its
    // INVALID arrived in time and counts, so VALID and INVALID tie and the answer is SYNCING.
    // That a node is dropped at its own timeout, to the millisecond, is the simulation's to
    // show (sim/tests/slow_el_timeout.rs, an EL 100 ms over its 2 s timeout).
    assert_eq!(answer["result"], payload_status("SYNCING", None, None));
    assert_eq!(els[1].calls("engine_newPayloadV3").await.len(), 1);
}
