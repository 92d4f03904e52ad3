//! The invariants can fail: with a deliberately wrong vote plugged into the proxy (a plain
//! majority that follows VALID over an INVALID answer), the explorer's random schedules find a
//! seed that breaks invariant 1 within a few seeds, and that seed replays to the same failure.
//! With the real vote the same seed passes.

use executionbackup::vote;
use sim::{run, wrong_vote, Scenario};

const SLOTS: u32 = 12;
const SEEDS: u64 = 30;

fn scenario(seed: u64, wrong: bool) -> Scenario {
    let mut s = Scenario::random(seed, SLOTS);
    s.config.vote = if wrong {
        wrong_vote::plain_majority
    } else {
        vote::decide_ballots
    };
    s
}

#[test]
fn explorer_catches_a_wrong_vote_and_the_seed_replays() {
    let (seed, first) = (0..SEEDS)
        .map(|seed| (seed, run(&scenario(seed, true))))
        .find(|(_, out)| out.violation.is_some())
        .unwrap_or_else(|| panic!("no seed of 0..{SEEDS} caught the wrong vote"));
    let violation = first.violation.clone().expect("found");
    assert_eq!(violation.invariant, 1, "{violation}");
    assert!(violation.what.contains("VALID"), "{violation}");

    let replay = run(&scenario(seed, true));
    assert_eq!(replay.violation, Some(violation));
    assert_eq!(replay.hash, first.hash);

    let right = run(&scenario(seed, false));
    right.assert_ok();
}
