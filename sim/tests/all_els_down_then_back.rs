//! Every EL crashes; two slots later they all come back. While they are down voted calls are
//! still sent to every EL and answered SYNCING after the lag grace (so the validator waits
//! instead of following anything) and reads fail;
//! once the probes find them again, within the 30 s dead-node back-off, everything is VALID.

use sim::schedule::{ms, Action, Schedule};
use sim::world::{slot_time, Config};
use sim::{run, Scenario};

#[test]
fn all_els_down_then_back() {
    let mut schedule = Schedule::new();
    for el in ["el1", "el2", "el3"] {
        schedule = schedule.at(2, ms(6_000), Action::Crash(el.into())).at(
            4,
            ms(6_000),
            Action::Restart(el.into()),
        );
    }
    let out = run(&Scenario::new(Config::with_els(22, 3).slots(9), schedule));
    out.print();
    out.assert_ok();

    for slot in 3..=4 {
        for x in out.in_slot("engine_", slot).iter().filter(|x| x.is_voted()) {
            assert_eq!((x.status(), x.votes()), ("SYNCING", 0), "{x}");
            // Every EL still gets the call; none answers, so only the lag grace is waited.
            assert!(x.took() < ms(400), "answered within the grace: {x}");
        }
        assert!(out.in_slot("engine_getPayload", slot).is_empty());
        for read in out.in_slot("eth_", slot) {
            assert!(!read.reply.is_success(), "{read}");
        }
    }
    let back = slot_time(4, ms(6_000)) + ms(32_000);
    let after: Vec<_> = out.exchanges.iter().filter(|x| x.sent >= back).collect();
    assert!(after.len() >= 14);
    for x in after {
        assert!(x.reply.is_success(), "{x}");
        if x.is_voted() {
            assert_eq!((x.status(), x.votes()), ("VALID", 3), "{x}");
        }
    }
}
