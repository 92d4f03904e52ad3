//! Every EL is syncing: votes are SYNCING, no payload is built (so the CL imports other
//! proposers' blocks optimistically), and reads still work.

use mock_el::{Behaviour, BehaviourKind, Status};
use sim::schedule::{ms, Action, Schedule};
use sim::trace::Reply;
use sim::world::Config;
use sim::{run, Scenario};

#[test]
fn everyone_syncing() {
    let mut schedule = Schedule::new();
    for el in ["el1", "el2", "el3"] {
        schedule = schedule
            .at(
                2,
                ms(0),
                Action::Set(el.into(), Behaviour::Status(Status::Syncing)),
            )
            .at(5, ms(0), Action::Clear(el.into(), BehaviourKind::Status));
    }
    let out = run(&Scenario::new(Config::with_els(19, 3).slots(7), schedule));
    out.print();
    out.assert_ok();

    for slot in 2..=4 {
        let voted: Vec<_> = out
            .in_slot("engine_", slot)
            .into_iter()
            .filter(|x| x.is_voted())
            .collect();
        assert_eq!(voted.len(), 3);
        for x in voted {
            // Everyone reports SYNCING: they are catching up, so their SYNCING is set aside
            // (not a vote); with no votes at all the answer is SYNCING.
            let counted = x.counted.clone().unwrap_or_default();
            assert_eq!(x.status(), "SYNCING", "{x}");
            assert_eq!(x.votes() + counted.set_aside, 3, "{x}");
            assert!(
                !matches!(
                    &x.reply,
                    Reply::Status {
                        payload_id: Some(_),
                        ..
                    }
                ),
                "{x}"
            );
        }
        assert!(out.in_slot("engine_getPayload", slot).is_empty());
        for read in out.in_slot("eth_", slot) {
            assert!(read.reply.is_success(), "{read}");
        }
    }
    for slot in [1, 5, 6, 7] {
        assert_eq!(out.in_slot("engine_getPayload", slot).len(), 1);
        for x in out.in_slot("engine_", slot).iter().filter(|x| x.is_voted()) {
            assert_eq!(x.status(), "VALID", "{x}");
        }
    }
}
