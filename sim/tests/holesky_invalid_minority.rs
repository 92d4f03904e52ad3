//! The Holesky case: one EL says INVALID while the others say VALID. A plain majority would
//! follow the VALID ones into an invalid chain; the proxy answers SYNCING instead, every time,
//! and VALID again as soon as every EL agrees.

use mock_el::{Behaviour, Status};
use sim::schedule::Schedule;
use sim::world::{Config, ElSpec};
use sim::{run, Scenario};

#[test]
fn one_invalid_among_valid_is_never_valid() {
    // el3 finds every third block invalid.
    let els = vec![
        ElSpec::new("el1"),
        ElSpec::new("el2"),
        ElSpec::new("el3").with(Behaviour::InvalidEvery(3)),
    ];
    let out = run(&Scenario::new(
        Config::new(17, els).slots(7),
        Schedule::new(),
    ));
    out.print();
    out.assert_ok();

    let np = out.calls("engine_newPayload");
    assert_eq!(np.len(), 7);
    for (i, x) in np.iter().enumerate() {
        let block = i + 1;
        let counted = x.counted.clone().unwrap_or_default();
        let invalid = counted.count(|s| s == executionbackup::vote::Status::Invalid);
        if block % 3 == 0 {
            assert_eq!((x.status(), invalid, x.votes()), ("SYNCING", 1, 3), "{x}");
        } else {
            assert_eq!((x.status(), invalid), ("VALID", 0), "{x}");
        }
    }
    // The CL imported blocks 3 and 6 optimistically; el3 keeps calling them INVALID as heads,
    // and those forkchoice updates are SYNCING too, with no payload id.
    for x in out.calls("engine_forkchoiceUpdated") {
        let counted = x.counted.clone().unwrap_or_default();
        if counted.count(|s| s == executionbackup::vote::Status::Invalid) > 0 {
            assert_eq!(x.reply.status(), Some("SYNCING"), "{x}");
            assert!(!matches!(
                &x.reply,
                sim::trace::Reply::Status {
                    payload_id: Some(_),
                    ..
                }
            ));
        }
    }
    let el3 = out.mock("el3").expect("el3 ran");
    let said_invalid = el3
        .calls_to("engine_newPayload")
        .iter()
        .filter(|c| c.status == Some(Status::Invalid))
        .count();
    assert_eq!(said_invalid, 2, "blocks 3 and 6");
}
