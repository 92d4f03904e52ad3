//! Two ELs, one behind (it answers SYNCING while the other says VALID): after the first such
//! call the lagging one is catching up and its SYNCING no longer ties the vote, so blocks are
//! VALID again; its INVALID still counts at once.

use crate::support::mock_els::*;
use mock_el::{Behaviour, BehaviourKind, Status};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catching_up_el_no_longer_ties_the_vote() {
    let els = mocks(2).await;
    let running = proxy(&plain(&els), settings()).await;
    let cl = Cl::new(running.url());
    assert_eq!(status_of(&cl.new_payload(1).await), "VALID");

    els[1].set(Behaviour::Status(Status::Syncing));
    // The first call may tie (the proxy learns from it that el2 is behind); then VALID.
    let _ = cl.new_payload(2).await;
    for n in 3..=6 {
        assert_eq!(status_of(&cl.new_payload(n).await), "VALID", "block {n}");
        assert_eq!(status_of(&cl.fcu(n, false).await), "VALID", "head {n}");
    }
    let metrics = cl.metrics().await;
    assert!(
        metrics["syncing_nodes"]
            .as_array()
            .is_some_and(|a| a.iter().any(|u| *u == els[1].url())),
        "{metrics}"
    );

    // Its INVALID counts at once: never VALID over it.
    els[1].clear(BehaviourKind::Status);
    els[1].set(Behaviour::Status(Status::Invalid));
    assert_eq!(status_of(&cl.new_payload(7).await), "SYNCING");
    assert_eq!(status_of(&cl.new_payload(7).await), "SYNCING", "re-sent");
    assert_eq!(status_of(&cl.fcu(7, false).await), "SYNCING");

    // Caught up: VALID for the newest block, and it counts fully again.
    els[1].clear(BehaviourKind::Status);
    assert_eq!(status_of(&cl.new_payload(8).await), "VALID");
    let metrics = cl.metrics().await;
    assert_eq!(metrics["alive_nodes"].as_array().map(Vec::len), Some(2));
}
