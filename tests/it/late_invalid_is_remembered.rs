//! An INVALID that arrives after the CL got its answer is still read and remembered: the block
//! is never answered VALID while it stands, neither for a re-sent newPayload nor for a
//! forkchoiceUpdated whose head it is.

use std::time::Duration;

use crate::support::mock_els::*;
use mock_el::{Behaviour, BehaviourKind};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_invalid_turns_the_next_fcu_for_that_head_into_syncing() {
    let els = mocks(3).await;
    let urls = vec![
        (els[0].url(), ""),
        (els[1].url(), ""),
        (els[2].url(), "#timeout=3000"),
    ];
    let running = proxy(&urls, settings()).await;
    let cl = Cl::new(running.url());
    let m = &running.proxy.metrics;
    let slow = els[2].url();

    // el3 misses one newPayload's deadline: it is lagging on newPayload from then on.
    els[2].set(Behaviour::latency(Duration::from_secs(4)).scoped("engine_newPayload"));
    assert_eq!(status_of(&cl.new_payload(1).await), "VALID");
    let lagging = eventually(Duration::from_secs(10), async || {
        m.waits(&slow, "timeout") + m.waits(&slow, "grace") >= 1
    })
    .await;
    assert!(lagging);

    // Block 2: el3 calls it INVALID, 1 s late; the CL is told VALID by the two others (el3 is
    // awaited only the grace), then el3's INVALID arrives and is remembered.
    els[2].set(Behaviour::latency(Duration::from_secs(1)).scoped("engine_newPayload"));
    let bad: mock_el::B256 = hash(2).parse().expect("hash");
    els[2].set(Behaviour::InvalidHash(bad));
    let first = cl.new_payload(2).await;
    let remembered = eventually(Duration::from_secs(10), async || {
        running.proxy.invalid_blocks.contains(&hash(2))
    })
    .await;
    assert!(remembered, "the late INVALID was read ({first})");

    // el3 goes away: nobody says INVALID in time any more, yet block 2 is never VALID.
    els[2].clear(BehaviourKind::Latency);
    els[2].set_dead(true);
    wait_refusing(&els[2]).await;
    assert_eq!(status_of(&cl.fcu(2, false).await), "SYNCING");
    assert_eq!(status_of(&cl.new_payload(2).await), "SYNCING", "re-sent");
    // Other blocks are unaffected.
    assert_eq!(status_of(&cl.new_payload(3).await), "VALID");
}
