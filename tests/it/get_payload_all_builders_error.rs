//! When every builder answers getPayload with an error other than "unknown payload" (here
//! -38005, unsupported fork), that error is the answer, and the forkchoiceUpdated that started
//! the build is not sent again (that would be outside the CL's order).

use crate::support::mock_els::*;
use mock_el::Behaviour;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_error_is_returned_and_no_fcu_is_replayed() {
    let els = mocks(3).await;
    let running = proxy(&plain(&els), settings()).await;
    let cl = Cl::new(running.url());
    let id = cl.start_build(1).await;
    for el in &els {
        el.set(Behaviour::rpc_error(-38005, "Unsupported fork").scoped("engine_getPayload"));
    }
    let got = cl.rpc("engine_getPayloadV3", json!([id])).await;
    assert_eq!(got["error"]["code"], -38005, "{got}");
    for el in &els {
        assert_eq!(el.calls_to("engine_getPayload").len(), 1);
        assert_eq!(
            el.calls_to("engine_forkchoiceUpdated").len(),
            1,
            "no forkchoiceUpdated replayed"
        );
    }
}
