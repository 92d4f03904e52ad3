//! Invariant 6: the same seed gives the same run, event for event, so a failing seed replays;
//! different seeds give different runs.

use sim::{run, Scenario};

const SLOTS: u32 = 12;

#[test]
fn same_seed_same_trace_hash() {
    for seed in [3, 7] {
        let first = run(&Scenario::random(seed, SLOTS));
        let second = run(&Scenario::random(seed, SLOTS));
        first.assert_ok();
        assert_eq!(first.hash, second.hash, "seed {seed}");
        assert_eq!(first.lines, second.lines, "seed {seed}");
        // A real run: start-up, then 8 requests a slot (fewer when no payload was built).
        assert!(
            first.exchanges.len() > 6 * SLOTS as usize,
            "{}",
            first.exchanges.len()
        );
        assert_eq!(first.hash.len(), 16);
    }
}

#[test]
fn different_seeds_different_traces() {
    let hashes: std::collections::BTreeSet<String> = (0..4)
        .map(|seed| run(&Scenario::random(seed, SLOTS)).hash)
        .collect();
    assert_eq!(hashes.len(), 4, "{hashes:?}");
}
