//! Keeping ELs warm: an EL that is down for ten blocks and comes back with its state is sent
//! the ten newPayloads it missed, in order, then the latest forkchoiceUpdated, and votes VALID
//! on the next block (an EL that lacks a block's parent says SYNCING, as a real one does).

use std::time::Duration;

use crate::support::mock_els::*;
use executionbackup::config::Settings;
use mock_el::B256;

async fn strict(name: &str, seed: u64) -> mock_el::MockElHandle {
    // Block 1's parent is hash(0): the mocks' genesis.
    mock(name, seed, |b| {
        b.require_parent(true).genesis_hash(B256::ZERO)
    })
    .await
}

fn b256(n: u64) -> B256 {
    hash(n).parse().expect("hash")
}

async fn run(keep_warm: usize) -> (Vec<B256>, String) {
    let els = vec![
        strict("el1", 1).await,
        strict("el2", 2).await,
        strict("el3", 3).await,
    ];
    let running = proxy(
        &plain(&els),
        Settings {
            keep_warm,
            ..settings()
        },
    )
    .await;
    let cl = Cl::new(running.url());
    assert_eq!(status_of(&cl.new_payload(1).await), "VALID");
    assert_eq!(status_of(&cl.fcu(1, false).await), "VALID");

    els[2].set_dead(true);
    wait_refusing(&els[2]).await;
    let el3 = els[2].url();
    let down = eventually(Duration::from_secs(10), async || {
        running
            .proxy
            .nodes
            .snapshot()
            .iter()
            .any(|n| n.url() == el3 && n.health.engine().down)
    })
    .await;
    assert!(down, "el3 is seen down");
    for n in 2..=11 {
        assert_eq!(status_of(&cl.new_payload(n).await), "VALID", "block {n}");
        assert_eq!(status_of(&cl.fcu(n, false).await), "VALID", "head {n}");
    }
    els[2].clear_calls();
    els[2].set_dead(false);
    // Back: the probe finds it (and, with keep-warm, the replay runs).
    let back = eventually(Duration::from_secs(15), async || {
        running
            .proxy
            .nodes
            .snapshot()
            .iter()
            .any(|n| n.url() == el3 && !n.health.engine().down)
    })
    .await;
    assert!(back, "el3 is seen up again");
    if keep_warm > 0 {
        let warm = eventually(Duration::from_secs(15), async || {
            els[2].head().hash == b256(11)
        })
        .await;
        assert!(warm, "el3 is back at the head: {:?}", els[2].head());
    }
    let replayed: Vec<B256> = els[2]
        .calls_to("engine_newPayload")
        .iter()
        .filter_map(|c| c.block_hash)
        .collect();
    // The next block, as the CL sends it: how el3 votes on it.
    let _ = cl.new_payload(12).await;
    let el3_answer = els[2]
        .calls_to("engine_newPayload")
        .iter()
        .rev()
        .find(|c| c.block_hash == Some(b256(12)))
        .and_then(|c| c.status)
        .map_or("none".to_owned(), |s| format!("{s:?}"));
    (replayed, el3_answer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_returning_el_gets_what_it_missed_and_votes_valid_again() {
    let (replayed, answer) = run(64).await;
    let missed: Vec<B256> = (2..=11).map(b256).collect();
    assert_eq!(replayed, missed, "the ten missed newPayloads, in order");
    assert_eq!(answer, "Valid");
}

/// The same without keep-warm: the EL lacks the parent and cannot vote VALID.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_keep_warm_the_el_stays_behind() {
    let (replayed, answer) = run(0).await;
    assert!(replayed.is_empty(), "{replayed:?}");
    assert_eq!(answer, "Syncing");
}
