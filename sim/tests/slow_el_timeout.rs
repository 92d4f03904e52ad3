//! An EL slower than usual on newPayload: 100 ms under its 2 s timeout its answer still counts;
//! 100 ms over, it does not: the first newPayload takes exactly the timeout (the EL answers the
//! spot check, so it is awaited in full), then it is lagging on newPayload and awaited only the
//! grace, and so is the forkchoiceUpdated queued behind its slow newPayload.

use std::time::Duration;

use mock_el::Behaviour;
use sim::run::Outcome;
use sim::schedule::{ms, Action, Schedule};
use sim::world::{Config, ElSpec};
use sim::{run, Scenario};

fn with_latency(latency: Duration) -> Outcome {
    let els = vec![
        ElSpec::new("el1"),
        ElSpec::new("el2").timeout_ms(2_000),
        ElSpec::new("el3"),
    ];
    let slow = Behaviour::latency(latency).scoped("engine_newPayload");
    let schedule = Schedule::new().at(2, ms(0), Action::Set("el2".into(), slow));
    let out = run(&Scenario::new(Config::new(15, els).slots(5), schedule));
    out.print();
    out.assert_ok();
    out
}

#[test]
fn slow_el_just_under_its_timeout_counts() {
    let out = with_latency(ms(1_900));
    for slot in 2..=5 {
        let np = out.in_slot("engine_newPayload", slot);
        assert_eq!((np[0].status(), np[0].votes()), ("VALID", 3), "{}", np[0]);
        assert!((ms(1_900)..ms(2_000)).contains(&np[0].took()), "{}", np[0]);
    }
    // Never seen as dead: every forkchoiceUpdated has its vote too.
    for x in out.calls("engine_forkchoiceUpdated") {
        assert_eq!(x.votes(), 3, "{x}");
    }
}

#[test]
fn slow_el_just_over_its_timeout_does_not() {
    let out = with_latency(ms(2_100));
    for slot in 2..=5 {
        let np = out.in_slot("engine_newPayload", slot);
        let counted = np[0].counted.clone().unwrap_or_default();
        assert_eq!(np[0].status(), "VALID");
        assert_eq!(
            (counted.statuses.len(), counted.no_answer),
            (2, 1),
            "{}",
            np[0]
        );
        if slot == 2 {
            assert!((ms(2_000)..ms(2_100)).contains(&np[0].took()), "{}", np[0]);
        } else {
            assert!(np[0].took() < ms(400), "lagging: only the grace {}", np[0]);
        }
        // The forkchoiceUpdated right after is queued behind el2's slow newPayload: el2 is
        // awaited only the grace there too, so it does not hold the head update.
        let fcu = out.in_slot("engine_forkchoiceUpdated", slot);
        let last = fcu.last().expect("a forkchoiceUpdated after newPayload");
        assert_eq!(last.status(), "VALID", "{last}");
        assert!(last.took() < ms(400), "{last}");
    }
}
