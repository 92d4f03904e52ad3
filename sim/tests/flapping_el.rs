//! An EL that goes down and up every 1.7 s for five and a half slots. Down means refused connections, so it
//! never costs a timeout: every voted call is answered at once and VALID, and reads never fail.

use mock_el::Behaviour;
use sim::schedule::{ms, Action, Schedule};
use sim::world::{slot_time, Config};
use sim::{run, Scenario};

#[test]
fn flapping_el() {
    let mut schedule = Schedule::new();
    let start = slot_time(2, ms(0));
    for i in 0..40u32 {
        let dead = i % 2 == 0;
        schedule.push(
            start + ms(1_700) * i,
            Action::Set("el2".into(), Behaviour::Dead(dead)),
        );
    }
    let out = run(&Scenario::new(Config::with_els(16, 3).slots(8), schedule));
    out.print();
    out.assert_ok();

    let voted: Vec<_> = out.exchanges.iter().filter(|x| x.is_voted()).collect();
    assert_eq!(voted.len(), 24);
    for x in &voted {
        assert_eq!(x.status(), "VALID", "{x}");
        assert!(x.votes() >= 2, "{x}");
        assert!(x.took() < ms(100), "{x}");
    }
    // It flapped while the CL was talking: some calls had its vote, some did not.
    let flapping = slot_time(2, ms(0))..slot_time(7, ms(0));
    let during: Vec<usize> = voted
        .iter()
        .filter(|x| flapping.contains(&x.sent))
        .map(|x| x.votes())
        .collect();
    assert!(during.contains(&2) && during.contains(&3), "{during:?}");
    assert!(out.calls("eth_").iter().all(|x| x.reply.is_success()));
    assert!(out
        .calls("engine_getPayload")
        .iter()
        .all(|x| x.reply.is_success()));
}
