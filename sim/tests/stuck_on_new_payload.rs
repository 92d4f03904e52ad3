//! An EL that hangs on newPayload but answers forkchoiceUpdated and the probes (it looks alive
//! to every probe). The first newPayload after it got stuck waits its timeout (it answers the
//! on-the-spot check, so it may just be slow); from then on it is lagging on newPayload, so
//! every later newPayload waits only the grace, and so does the forkchoiceUpdated queued behind
//! its stuck newPayload. At most one of six slots is delayed past the 4 s attestation deadline.

use mock_el::Behaviour;
use sim::schedule::{ms, Action, Schedule};
use sim::world::{Config, ElSpec};
use sim::{run, Scenario};

#[test]
fn stuck_on_new_payload_delays_one_slot_of_six() {
    let els = vec![ElSpec::new("el1"), ElSpec::new("el2"), ElSpec::new("el3")];
    let stuck = Behaviour::hang().scoped("engine_newPayload");
    let schedule = Schedule::new().at(2, ms(0), Action::Set("el3".into(), stuck));
    let out = run(&Scenario::new(Config::new(31, els).slots(8), schedule));
    out.print();
    out.assert_ok();

    let mut delayed = 0;
    for slot in 2..=7 {
        let np = out.in_slot("engine_newPayload", slot);
        assert_eq!(np[0].status(), "VALID", "{}", np[0]);
        if np[0].took() > ms(4_000) {
            delayed += 1;
        } else {
            assert!(np[0].took() <= ms(400), "{}", np[0]);
        }
        for fcu in out.in_slot("engine_forkchoiceUpdated", slot) {
            assert_eq!(fcu.status(), "VALID", "{fcu}");
            assert!(fcu.took() <= ms(400), "{fcu}");
        }
    }
    assert_eq!(
        delayed, 1,
        "only the first newPayload after it got stuck waits"
    );
}
