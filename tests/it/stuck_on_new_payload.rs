//! An EL that hangs on newPayload but answers forkchoiceUpdated and the health probes: the
//! first newPayload after it got stuck is awaited in full (it answers the on-the-spot check, so
//! it looks busy, not dead); from then on it is lagging on newPayload and awaited only the
//! grace. Over six slots, at most one waits its timeout.

use crate::support::mock_els::*;
use mock_el::Behaviour;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_most_one_of_six_slots_waits_for_it() {
    let els = mocks(3).await;
    let urls = vec![
        (els[0].url(), ""),
        (els[1].url(), ""),
        (els[2].url(), "#timeout=1500"),
    ];
    let running = proxy(&urls, settings()).await;
    let cl = Cl::new(running.url());
    els[2].set(Behaviour::hang().scoped("engine_newPayload"));
    for n in 1..=6u64 {
        assert_eq!(status_of(&cl.fcu(n - 1, false).await), "VALID");
        assert_eq!(status_of(&cl.new_payload(n).await), "VALID", "slot {n}");
        assert_eq!(status_of(&cl.fcu(n, false).await), "VALID");
    }
    let m = &running.proxy.metrics;
    let stuck = els[2].url();
    let waited_in_full = m.waits(&stuck, "timeout") + m.waits(&stuck, "cl_deadline");
    assert!(
        waited_in_full <= 1,
        "{waited_in_full} newPayloads waited for the stuck EL"
    );
    assert!(
        m.waits(&stuck, "grace") >= 5,
        "{}",
        m.waits(&stuck, "grace")
    );
    // It still got every newPayload (each one hangs in turn on its own lane).
    assert!(!els[2].calls_to("engine_newPayload").is_empty());
}
