//! The node set changes at run time through the REST API: a fourth EL is added in slot 2 and
//! the first (the primary) removed in slot 4. Votes follow the set, reads fail over to the new
//! primary, the added EL is sent the block it missed, and the removed EL hears nothing more.

use sim::schedule::{ms, Action, Schedule};
use sim::world::{slot_time, Config, ElSpec};
use sim::{run, Scenario};

#[test]
fn node_added_and_node_removed() {
    let el4 = ElSpec::new("el4").timeout_ms(3_000).spare();
    let mut els: Vec<ElSpec> = (1..=3).map(|i| ElSpec::new(format!("el{i}"))).collect();
    els.push(el4.clone());
    let schedule = Schedule::new().at(1, ms(11_000), Action::Add(el4)).at(
        3,
        ms(11_000),
        Action::Remove("el1".into()),
    );
    let out = run(&Scenario::new(Config::new(20, els).slots(6), schedule));
    out.print();
    out.assert_ok();

    let admin: Vec<String> = out.calls("admin_").iter().map(|x| x.to_string()).collect();
    assert_eq!(admin.len(), 2);
    assert!(
        out.calls("admin_").iter().all(|x| x.reply.is_success()),
        "{admin:?}"
    );
    for (slot, votes) in [(1, 3), (2, 4), (3, 4), (4, 3), (5, 3), (6, 3)] {
        for x in out.in_slot("engine_", slot).iter().filter(|x| x.is_voted()) {
            assert_eq!((x.status(), x.votes()), ("VALID", votes), "{x}");
        }
    }
    assert!(out.calls("eth_").iter().all(|x| x.reply.is_success()));
    let el4_calls = out
        .mock("el4")
        .expect("el4 ran")
        .calls_to("engine_newPayload");
    // Keep-warm: the block of slot 1, sent before el4 was added, is replayed to it first.
    assert_eq!(
        el4_calls.len(),
        6,
        "slot 1's block replayed when added, then slots 2 to 6"
    );
    let el2_blocks: Vec<_> = out
        .mock("el2")
        .expect("el2 ran")
        .calls_to("engine_newPayload")
        .iter()
        .map(|c| c.block_hash)
        .collect();
    let el4_blocks: Vec<_> = el4_calls.iter().map(|c| c.block_hash).collect();
    assert_eq!(el4_blocks[..], el2_blocks[..], "the same blocks, in order");
    let removed = slot_time(4, ms(0));
    let el1 = out.mock("el1").expect("el1 ran");
    assert!(
        el1.calls().iter().all(|c| c.at < removed),
        "nothing after its removal"
    );
    assert_eq!(el1.calls_to("engine_newPayload").len(), 3);
}
