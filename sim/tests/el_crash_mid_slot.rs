//! An EL's host crashes while a newPayload is in flight to it. A crashed host sends nothing, not
//! even a reset, so the proxy waits out that EL's timeout, then answers with the other two ELs'
//! VALID, and asks the crashed EL nothing more.

use mock_el::{Behaviour, Outcome};
use sim::schedule::{ms, Action, Schedule};
use sim::world::{Config, ElSpec};
use sim::{run, Scenario};

#[test]
fn el_crash_mid_slot() {
    let els = vec![
        ElSpec::new("el1"),
        ElSpec::new("el2").timeout_ms(3_000),
        ElSpec::new("el3"),
    ];
    // el2 takes 200 ms over newPayload, and crashes 100 ms into slot 3's.
    let slow = Behaviour::latency(ms(200)).scoped("engine_newPayload");
    let schedule = Schedule::new()
        .at(2, ms(0), Action::Set("el2".into(), slow))
        .at(3, ms(4_110), Action::Crash("el2".into()));
    let out = run(&Scenario::new(Config::new(11, els).slots(6), schedule));
    out.print();
    out.assert_ok();

    let np = out.in_slot("engine_newPayload", 3);
    assert_eq!(np.len(), 1);
    assert_eq!(np[0].status(), "VALID");
    let counted = np[0].counted.clone().unwrap_or_default();
    assert_eq!(
        (counted.statuses.len(), counted.no_answer),
        (2, 1),
        "{}",
        np[0]
    );
    assert!(
        (ms(1_000)..ms(1_200)).contains(&np[0].took()),
        "waited for the grace and the spot check, not el2's 3 s timeout: {}",
        np[0]
    );

    // Every later voted call asks only el1 and el3, and is fast.
    let later: Vec<_> = out
        .exchanges
        .iter()
        .filter(|x| x.is_voted() && x.sent >= np[0].done)
        .collect();
    assert_eq!(
        later.len(),
        10,
        "slot 3's last forkchoiceUpdated and three per slot after"
    );
    for x in later {
        assert_eq!((x.status(), x.votes()), ("VALID", 2), "{x}");
        assert!(x.took() < ms(400), "at most the lag grace: {x}");
    }
    // The crashed mock never answered slot 3's newPayload.
    let el2 = out.mock("el2").expect("el2 ran");
    let answered: Vec<_> = el2
        .calls_to("engine_newPayload")
        .into_iter()
        .filter(|c| c.outcome == Outcome::Answered)
        .collect();
    assert_eq!(answered.len(), 2, "slots 1 and 2 only");
    assert!(out.calls("eth_").iter().all(|x| x.reply.is_success()));
}
