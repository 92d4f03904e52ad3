//! A primary builder that never answers getPayload does not hold the proposal: every builder is
//! asked at once, and the other builder's payload is returned once the short grace after it
//! has passed, inside the CL's 1 s deadline for getPayload, however long
//! `--get-payload-timeout` is. (How fast, in simulated time: sim/tests/
//! primary_dies_before_get_payload.rs.)

use std::time::Duration;

use crate::support::mock_els::*;
use mock_el::Behaviour;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_other_builders_payload_is_returned() {
    let els = mocks(2).await;
    let settings = executionbackup::config::Settings {
        payload_timeout: Duration::from_secs(60),
        ..settings()
    };
    let running = proxy(&plain(&els), settings).await;
    let cl = Cl::new(running.url());
    assert_eq!(status_of(&cl.new_payload(1).await), "VALID");
    let id = cl.start_build(1).await;

    els[0].set(Behaviour::hang().scoped("engine_getPayload"));
    // The bound only keeps a regression from hanging the suite: the old behaviour waited for
    // the primary until --get-payload-timeout (60 s here).
    let got = tokio::time::timeout(
        Duration::from_secs(20),
        cl.rpc("engine_getPayloadV3", json!([id])),
    )
    .await
    .expect("answered before the silent primary");
    let payload = &got["result"]["executionPayload"];
    assert_eq!(payload["parentHash"], hash(1), "{got}");
    assert_eq!(els[1].calls_to("engine_getPayload").len(), 1);
    assert_eq!(
        els[0].calls_to("engine_getPayload").len(),
        1,
        "the primary was asked too"
    );
}
