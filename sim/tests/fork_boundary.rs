//! A run that crosses the Amsterdam fork with a slow EL: before the fork the consensus client
//! sends Prague/Osaka shapes (newPayloadV3, 8 s deadline), after it Amsterdam's (newPayloadV5
//! with blockAccessList, forkchoiceUpdatedV4 with its third parameter, getPayloadV6, 6 s
//! deadline). An EL answering newPayload in 6.5 s, inside its own 7.5 s timeout, is awaited before
//! the fork; after it the consensus client is still answered inside 6 s (invariant 11).

use mock_el::Behaviour;
use sim::schedule::{ms, Action, Schedule};
use sim::world::{Config, ElSpec};
use sim::{run, Scenario};

#[test]
fn newpayload_v5_is_answered_inside_six_seconds_across_the_fork() {
    let els = vec![ElSpec::new("el1"), ElSpec::new("el2"), ElSpec::new("el3")];
    let slow = Behaviour::latency(ms(6_500)).scoped("engine_newPayload");
    let schedule = Schedule::new()
        .at(2, ms(0), Action::Set("el3".into(), slow))
        // Read by the consensus client at the start of its next slot (4).
        .at(3, ms(6_000), Action::Amsterdam);
    let out = run(&Scenario::new(Config::new(21, els).slots(7), schedule));
    out.print();
    out.assert_ok();

    let before = out.calls("engine_newPayloadV3");
    let after = out.calls("engine_newPayloadV5");
    assert!(
        !before.is_empty() && !after.is_empty(),
        "both sides of the fork"
    );
    assert_eq!(
        out.calls("engine_forkchoiceUpdatedV3").len(),
        2 * 3,
        "slots 1 to 3"
    );
    assert!(!out.calls("engine_forkchoiceUpdatedV4").is_empty());
    assert!(!out.calls("engine_getPayloadV6").is_empty());
    for x in &after {
        assert_eq!(x.status(), "VALID", "{x}");
        assert!(x.took() < ms(6_000), "inside the CL's 6 s: {x}");
    }
    // The first slow newPayload before the fork is awaited past 6 s (8 s deadline, 7.5 s node
    // timeout): the fork changed what the proxy waits for, not the EL.
    assert!(
        before.iter().any(|x| x.took() >= ms(6_000)),
        "{}",
        before
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    );
    // Every EL got Amsterdam's shapes after the fork, el3 included.
    for (name, mocks) in &out.mocks {
        let calls: Vec<_> = mocks
            .iter()
            .flat_map(|m| m.calls_to("engine_newPayloadV5"))
            .collect();
        assert!(!calls.is_empty(), "{name} got newPayloadV5");
    }
}
