//! An EL that accepts connections and requests but never answers (a black hole). On the first
//! voted call after it goes silent it is checked on the spot (the lag grace after the others
//! answered, then a short engine call on a fresh connection); it fails the check, so the call
//! costs about the grace and the check, not its 3 s timeout. From then on it is lagging: it
//! still gets every call but is awaited only the grace.

use mock_el::Behaviour;
use sim::schedule::{ms, Action, Schedule};
use sim::world::{Config, ElSpec};
use sim::{run, Scenario};

#[test]
fn black_holed_el() {
    let els = vec![
        ElSpec::new("el1"),
        ElSpec::new("el2").timeout_ms(3_000),
        ElSpec::new("el3"),
    ];
    // Just before slot 3's newPayload.
    let schedule = Schedule::new().at(3, ms(3_990), Action::Set("el2".into(), Behaviour::hang()));
    let out = run(&Scenario::new(Config::new(13, els).slots(7), schedule));
    out.print();
    out.assert_ok();

    let np = out.in_slot("engine_newPayload", 3);
    assert_eq!(np[0].status(), "VALID");
    assert!((ms(1_000)..ms(1_200)).contains(&np[0].took()), "{}", np[0]);
    let counted = np[0].counted.clone().unwrap_or_default();
    assert_eq!((counted.statuses.len(), counted.no_answer), (2, 1));

    // Exactly one request waited past the grace; voted calls after it wait the grace at most.
    let slow: Vec<_> = out
        .exchanges
        .iter()
        .filter(|x| x.took() > ms(400))
        .collect();
    assert_eq!(slow.len(), 1, "{slow:?}");
    for x in out
        .exchanges
        .iter()
        .filter(|x| x.is_voted() && x.sent > np[0].done)
    {
        assert_eq!((x.status(), x.votes()), ("VALID", 2), "{x}");
    }
    assert!(out.calls("eth_").iter().all(|x| x.reply.is_success()));
    // The black hole received the newPayload (and probes) but answered nothing after it.
    let el2 = out.mock("el2").expect("el2 ran");
    let hung = el2
        .calls()
        .iter()
        .filter(|c| c.outcome == mock_el::Outcome::Hung)
        .count();
    assert!(hung >= 2, "newPayload and at least one probe hung: {hung}");
    assert!(
        el2.calls_to("engine_newPayload").len() >= 4,
        "a lagging EL still gets every newPayload"
    );
}
