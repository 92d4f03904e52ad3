//! A read the primary answers too late (here engine_getBlobsV1) only moves reads elsewhere: the
//! primary keeps its vote, so its INVALID is never outvoted into VALID.

use std::time::Duration;

use crate::support::mock_els::*;
use mock_el::{Behaviour, Status};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_get_blobs_on_the_invalid_primary_never_gives_valid() {
    let els = mocks(3).await;
    els[0].set(Behaviour::Status(Status::Invalid));
    els[0].set(Behaviour::latency(Duration::from_secs(3)).scoped("engine_getBlobs"));
    let urls = vec![
        (els[0].url(), "#timeout=500"),
        (els[1].url(), ""),
        (els[2].url(), ""),
    ];
    let running = proxy(&urls, settings()).await;
    let cl = Cl::new(running.url());
    for n in 1..=5u64 {
        let blobs = cl.rpc("engine_getBlobsV1", json!([[hash(1000 + n)]])).await;
        assert!(blobs.get("result").is_some(), "{blobs}");
        let answer = cl.new_payload(n).await;
        assert_eq!(status_of(&answer), "SYNCING", "block {n}: {answer}");
    }
    // The primary's reads failed; its engine path did not.
    let proxy = &running.proxy;
    assert_eq!(proxy.metrics.waits(&els[0].url(), "answered"), 5);
}
