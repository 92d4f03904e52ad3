//! Two of three ELs say INVALID for two slots: that is a majority, so the CL is told INVALID
//! and does not import the block. When they recover, blocks are VALID again.

use mock_el::{Behaviour, BehaviourKind, Status};
use sim::schedule::{ms, Action, Schedule};
use sim::world::Config;
use sim::{run, Scenario};

#[test]
fn majority_invalid() {
    let mut schedule = Schedule::new();
    for el in ["el2", "el3"] {
        schedule = schedule
            .at(
                3,
                ms(0),
                Action::Set(el.into(), Behaviour::Status(Status::Invalid)),
            )
            .at(5, ms(0), Action::Clear(el.into(), BehaviourKind::Status));
    }
    let out = run(&Scenario::new(Config::with_els(18, 3).slots(7), schedule));
    out.print();
    out.assert_ok();

    for slot in 3..=4 {
        let np = out.in_slot("engine_newPayload", slot);
        let counted = np[0].counted.clone().unwrap_or_default();
        assert_eq!(np[0].status(), "INVALID", "{}", np[0]);
        assert_eq!(
            counted.count(|s| s == executionbackup::vote::Status::Invalid),
            2
        );
        // Forkchoice updates on the old head: INVALID by the same majority, no payload id.
        for fcu in out.in_slot("engine_forkchoiceUpdated", slot) {
            assert_eq!(fcu.status(), "INVALID", "{fcu}");
        }
    }
    for slot in [1, 2, 5, 6, 7] {
        for x in out.in_slot("engine_", slot).iter().filter(|x| x.is_voted()) {
            assert_eq!(x.status(), "VALID", "{x}");
        }
    }
    // The head did not move during slots 3 and 4: block 3 is slot 5's.
    let numbers: Vec<String> = out
        .calls("eth_blockNumber")
        .iter()
        .map(|x| x.reply.to_string())
        .collect();
    assert_eq!(
        numbers,
        ["ok 0x1", "ok 0x2", "ok 0x2", "ok 0x2", "ok 0x3", "ok 0x4", "ok 0x5"]
    );
}
