//! The link between the proxy and one EL drops everything for three slots, then heals. During
//! the partition the proxy votes with the other two ELs; after the heal its dead-node probes
//! (backing off to at most 30 s) find the EL again and its votes count again.

use sim::schedule::{ms, Action, Schedule};
use sim::world::{slot_time, Config};
use sim::{run, Scenario};

#[test]
fn partition_heal() {
    let schedule = Schedule::new()
        .at(2, ms(6_000), Action::Partition("el2".into()))
        .at(5, ms(6_000), Action::Heal("el2".into()));
    let out = run(&Scenario::new(Config::with_els(14, 3).slots(10), schedule));
    out.print();
    out.assert_ok();

    let healed = slot_time(5, ms(6_000));
    for x in out.exchanges.iter().filter(|x| x.is_voted()) {
        assert_eq!(x.status(), "VALID", "{x}");
        if (slot_time(3, ms(0))..healed).contains(&x.sent) {
            assert_eq!(x.votes(), 2, "partitioned: {x}");
        }
    }
    // Back within 30 s (plus a probe) of the heal, for good.
    let back = healed + ms(32_000);
    let after: Vec<_> = out
        .exchanges
        .iter()
        .filter(|x| x.is_voted() && x.sent >= back)
        .collect();
    assert!(after.len() >= 6);
    assert!(after.iter().all(|x| x.votes() == 3), "{after:?}");
    // The EL got the blocks it missed only after the heal; nothing crossed the partition.
    let el2 = out.mock("el2").expect("el2 ran");
    let during = el2
        .calls()
        .iter()
        .filter(|c| c.at > slot_time(2, ms(6_100)) && c.at < healed)
        .count();
    assert_eq!(during, 0);
    assert!(el2.calls_to("engine_newPayload").len() >= 5);
    assert!(out.calls("eth_").iter().all(|x| x.reply.is_success()));
}
