//! Running one scenario: build the world, step it, apply the schedule between steps, check the
//! invariants after every step.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use mock_el::MockEl;

use crate::invariants::{Checker, Violation, PROXY_CHECK_EVERY};
use crate::schedule::Scenario;
use crate::tap;
use crate::trace::Exchange;
use crate::world::World;

/// What a run produced.
pub struct Outcome {
    /// The first broken invariant; the run stops there.
    pub violation: Option<Violation>,
    /// Hash of the event log (the same seed must give the same hash).
    pub hash: String,
    /// The event log, one line per event.
    pub lines: Vec<String>,
    pub exchanges: Vec<Exchange>,
    /// Every mock each EL ran, oldest first, with their call logs.
    pub mocks: BTreeMap<String, Vec<MockEl>>,
    /// Simulated time covered.
    pub simulated: Duration,
    /// Real time taken.
    pub real: Duration,
}

impl Outcome {
    /// The exchanges of one method (prefix match: `engine_newPayload` matches every version).
    pub fn calls(&self, method: &str) -> Vec<&Exchange> {
        self.exchanges
            .iter()
            .filter(|x| x.method.starts_with(method))
            .collect()
    }

    /// The exchanges of one method in one slot.
    pub fn in_slot(&self, method: &str, slot: u32) -> Vec<&Exchange> {
        self.calls(method)
            .into_iter()
            .filter(|x| x.slot == slot)
            .collect()
    }

    /// The mock the EL is running last.
    pub fn mock(&self, el: &str) -> Option<&MockEl> {
        self.mocks.get(el).and_then(|all| all.last())
    }

    /// Prints the event log to stdout (which the test harness shows only for failing tests).
    pub fn print(&self) {
        for line in &self.lines {
            println!("{line}");
        }
    }

    /// Panics with the violation and the end of the log, for tests.
    pub fn assert_ok(&self) {
        if let Some(v) = &self.violation {
            let tail = self.lines.len().saturating_sub(40);
            panic!(
                "{v}\n--- last events ---\n{}",
                self.lines[tail..].join("\n")
            );
        }
    }
}

/// Runs `scenario` to the end or to the first broken invariant.
pub fn run(scenario: &Scenario) -> Outcome {
    let started = Instant::now();
    let config = &scenario.config;
    tap::install(config.vote);
    let mut checker = Checker::new(config);
    let (mut world, mut violation) = match World::build(config) {
        Ok(world) => (world, None),
        Err(e) => {
            let v = Violation {
                invariant: 0,
                at: Duration::ZERO,
                what: e.to_string(),
            };
            return Outcome {
                violation: Some(v),
                hash: String::new(),
                lines: Vec::new(),
                exchanges: Vec::new(),
                mocks: BTreeMap::new(),
                simulated: Duration::ZERO,
                real: started.elapsed(),
            };
        }
    };
    let events = scenario.schedule.events();
    let mut next = 0;
    let mut next_proxy_check = PROXY_CHECK_EVERY;
    loop {
        let now = world.sim.elapsed();
        while let Some(event) = events.get(next).filter(|e| e.at <= now) {
            if !world.apply(&event.action) {
                break;
            }
            checker.on_action(now, &event.action);
            world.shared.trace.borrow_mut().event(now, &event.action);
            next += 1;
        }
        let finished = match world.sim.step() {
            Ok(finished) => finished,
            Err(e) => {
                violation = Some(Violation {
                    invariant: 5,
                    at: world.sim.elapsed(),
                    what: format!("simulation failed: {e}"),
                });
                break;
            }
        };
        let now = world.sim.elapsed();
        let checked = checker
            .check_exchanges(world.shared.trace.borrow().exchanges())
            .and_then(|()| checker.check_panics(now))
            .and_then(|()| {
                if now < next_proxy_check && !finished {
                    return Ok(());
                }
                next_proxy_check = now + PROXY_CHECK_EVERY;
                match world.proxy() {
                    Some(proxy) => checker.check_proxy(now, &proxy),
                    None => Ok(()),
                }
            });
        if let Err(v) = checked {
            violation = Some(v);
            break;
        }
        if finished {
            break;
        }
    }
    let simulated = world.sim.elapsed();
    let shared = world.shared.clone();
    drop(world);
    let trace = shared.trace.borrow();
    Outcome {
        violation,
        hash: trace.hash(),
        lines: trace.lines().to_vec(),
        exchanges: trace.exchanges().to_vec(),
        mocks: shared.mocks(),
        simulated,
        real: started.elapsed(),
    }
}
