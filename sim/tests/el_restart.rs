//! An EL crashes and comes back a slot later with a fresh process (empty chain, no builds).
//! While it is down the proxy votes with the other two; once a probe finds it again it gets
//! every voted call and its answers count again.

use sim::schedule::{ms, Action, Schedule};
use sim::world::{slot_time, Config};
use sim::{run, Scenario};

#[test]
fn el_restart() {
    let schedule = Schedule::new()
        .at(2, ms(6_000), Action::Crash("el2".into()))
        .at(3, ms(6_000), Action::Restart("el2".into()));
    let out = run(&Scenario::new(Config::with_els(12, 3).slots(6), schedule));
    out.print();
    out.assert_ok();

    // Down during slot 3: two votes.
    for x in out.in_slot("engine_", 3).iter().filter(|x| x.is_voted()) {
        assert_eq!((x.status(), x.votes()), ("VALID", 2), "{x}");
    }
    // Back from slot 4 on: three votes, every one VALID.
    for slot in 4..=6 {
        for x in out.in_slot("engine_", slot).iter().filter(|x| x.is_voted()) {
            assert_eq!((x.status(), x.votes()), ("VALID", 3), "{x}");
        }
    }
    // Two processes: the first saw slots 1 and 2, the second slots 4 to 6.
    let runs = &out.mocks["el2"];
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0].calls_to("engine_newPayload").len(), 2);
    // Slot 3's newPayload was still in flight to the silent host, and is delivered once
    // it is back: no EL misses a block while the proxy doubts it.
    assert!(runs[1].calls_to("engine_newPayload").len() >= 3);
    // The restarted EL serves builds again: slot 4's fcU gave it one.
    assert!(runs[1]
        .calls_to("engine_forkchoiceUpdated")
        .iter()
        .any(|c| c.payload_id.is_some()));
    let restarted_at = slot_time(3, ms(6_000));
    assert!(out
        .calls("eth_")
        .iter()
        .all(|x| x.reply.is_success() || x.sent < restarted_at));
}
