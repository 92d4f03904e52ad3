//! The primary EL dies between the forkchoiceUpdated that started the build and the
//! getPayload 4 s later. The other ELs were building too: the proposal survives, served by
//! one of them within the get-payload deadline (700 ms).
//!
//! How fast depends on how it dies. If its process exits, its connections close and the proxy
//! takes el2's or el3's payload at once. If its whole host goes away, the proxy's pooled
//! connection to it just goes silent, and with the default selection (the primary's payload
//! first) the proxy waits out the deadline before taking another node's payload.

use std::time::Duration;

use mock_el::Behaviour;
use sim::run::Outcome;
use sim::schedule::{ms, Action, Schedule};
use sim::world::Config;
use sim::{run, Scenario};

fn primary_dies(how: Action) -> Outcome {
    let schedule = Schedule::new().at(3, ms(2_000), how);
    let out = run(&Scenario::new(Config::with_els(21, 3).slots(5), schedule));
    out.print();
    out.assert_ok();

    let fcu = out.in_slot("engine_forkchoiceUpdated", 3);
    assert_eq!(fcu[0].votes(), 3, "all three started a build: {}", fcu[0]);
    // The block came from el2 or el3, and the live ELs accept it.
    let np = out.in_slot("engine_newPayload", 3);
    assert_eq!((np[0].status(), np[0].votes()), ("VALID", 2), "{}", np[0]);
    let asked = |el: &str| {
        out.mock(el)
            .expect("ran")
            .calls_to("engine_getPayload")
            .iter()
            .any(|c| c.at > fcu[0].done)
    };
    assert!(asked("el2") && asked("el3"));
    // Later slots keep producing blocks without el1.
    for slot in 4..=5 {
        assert!(out.in_slot("engine_getPayload", slot)[0].reply.is_success());
    }
    out
}

fn get_payload_time(out: &Outcome) -> Duration {
    let get = out.in_slot("engine_getPayload", 3);
    assert_eq!(get.len(), 1);
    assert!(get[0].reply.is_success(), "{}", get[0]);
    get[0].took()
}

#[test]
fn primary_process_exits() {
    let out = primary_dies(Action::Set("el1".into(), Behaviour::Dead(true)));
    let took = get_payload_time(&out);
    assert!(took < ms(50), "{took:?}");
}

#[test]
fn primary_host_crashes() {
    let out = primary_dies(Action::Crash("el1".into()));
    let took = get_payload_time(&out);
    // The other builder answers at once; the silent primary is awaited only the
    // getPayload grace (150 ms), not the whole getPayload deadline.
    assert!(took < ms(300), "{took:?}");
}
