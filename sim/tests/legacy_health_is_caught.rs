//! The explorer catches the health model this proxy had before health was kept per path
//! (`HealthModel::Legacy`: a failed read marked a node down for votes too, nodes marked down got
//! no voted calls, every node was awaited up to its whole timeout, SYNCING always counted). The
//! seeds below break an invariant with the old model and pass with the current one; they were
//! found with `cargo run -p sim --release -- --seeds 60 --legacy-health --keep-going`, where every
//! one of the 60 seeds failed (59 by invariant 8, seed 21 by invariant 9).

use executionbackup::config::HealthModel;
use sim::{run, Scenario};

const SLOTS: u32 = 30;

fn scenario(seed: u64, model: HealthModel) -> Scenario {
    let mut s = Scenario::random(seed, SLOTS);
    s.config.health_model = model;
    s
}

/// (seed, the invariant the old model breaks)
const CAUGHT: [(u64, u8); 4] = [(0, 8), (1, 8), (2, 8), (21, 9)];

#[test]
fn the_old_health_model_breaks_invariants_the_current_one_keeps() {
    for (seed, invariant) in CAUGHT {
        let old = run(&scenario(seed, HealthModel::Legacy));
        let violation = old
            .violation
            .unwrap_or_else(|| panic!("seed {seed}: the old model passed"));
        assert_eq!(violation.invariant, invariant, "seed {seed}: {violation}");
        run(&scenario(seed, HealthModel::Current)).assert_ok();
    }
}
