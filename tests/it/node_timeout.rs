//! Per-node timeouts (`#timeout=MS`): a node slower than its own timeout neither delays the
//! consensus client's answer beyond that timeout nor votes; the other nodes decide.

use std::time::Duration;

use crate::support::mock_els::*;
use crate::support::shapes::payload_status;
use mock_el::{Behaviour, Status};
use serde_json::json;

#[tokio::test]
async fn a_slow_node_is_cut_off_at_its_own_timeout_and_does_not_vote() {
    let els = mocks(3).await;
    // Had the slow node's INVALID been waited for, the answer would be SYNCING. Its probes are
    // answered at once: only newPayload is slow.
    els[2].set_status(Status::Invalid);
    els[2].set(Behaviour::ValidationError("late and wrong".into()));
    els[2].set(Behaviour::latency(Duration::from_secs(3)).scoped("engine_newPayload"));
    let running = proxy(
        &[
            (els[0].url(), ""),
            (els[1].url(), ""),
            (els[2].url(), "#timeout=300"),
        ],
        settings(),
    )
    .await;
    let cl = Cl::new(running.url());

    // VALID shows the slow node's INVALID was not counted. How long it was waited for (its
    // timeout, to the millisecond) is the simulation's to show: sim/tests/slow_el_timeout.rs.
    let answer = cl
        .call(json!(1), "engine_newPayloadV3", new_payload_params(7))
        .await;
    assert_eq!(
        answer,
        json!({"jsonrpc": "2.0", "id": 1, "result": payload_status("VALID", Some(&hash(7)), None)})
    );
    // It was asked, though (logged once the mock is done with it: answered, or abandoned by
    // the proxy).
    let asked = eventually(Duration::from_secs(10), async || {
        !els[2].calls_to("engine_newPayloadV3").is_empty()
    })
    .await;
    assert!(asked, "the slow node was not asked");
    assert_eq!(els[2].calls_to("engine_newPayloadV3").len(), 1);
}

#[tokio::test]
async fn a_nodes_own_timeout_overrides_the_default() {
    let els = mocks(2).await;
    // Later than the default timeout, well inside its own: its INVALID counts only if its own
    // timeout is the one honoured.
    els[1].set_status(Status::Invalid);
    els[1].set(Behaviour::ValidationError("slow and wrong".into()));
    els[1].set(Behaviour::latency(Duration::from_secs(1)).scoped("engine_newPayload"));
    let settings = executionbackup::config::Settings {
        default_timeout: Duration::from_millis(400),
        ..settings()
    };
    // The slow node has a long timeout of its own; the fast one uses the default.
    let running = proxy(
        &[(els[0].url(), ""), (els[1].url(), "#timeout=2500")],
        settings,
    )
    .await;
    let cl = Cl::new(running.url());
    let answer = cl
        .call(json!(2), "engine_newPayloadV3", new_payload_params(7))
        .await;
    // The own timeout (2.5 s), not the default (0.4 s), is honoured for the slow node: its
    // INVALID arrived in time and counts, so VALID and INVALID tie and the answer is SYNCING.
    // That a node is dropped at its own timeout, to the millisecond, is the simulation's to
    // show (sim/tests/slow_el_timeout.rs, an EL 100 ms over its 2 s timeout).
    assert_eq!(answer["result"], payload_status("SYNCING", None, None));
    let calls = els[1].calls_to("engine_newPayloadV3");
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].status, Some(Status::Invalid));
}
