//! `--vote-by client`: two processes of one implementation are one vote. Two geths that call a
//! block INVALID make a definitive INVALID when votes are counted per node; per client they
//! stand against one Nethermind's VALID, and the CL is told SYNCING (neither side is followed).

use crate::support::mock_els::*;
use executionbackup::config::{Settings, VoteBy};
use mock_el::Behaviour;

async fn vote_on_block_1(vote_by: VoteBy) -> String {
    let els = vec![
        mock_with_code("geth-a", 1, "GE").await,
        mock_with_code("geth-b", 2, "GE").await,
        mock_with_code("nethermind", 3, "NM").await,
    ];
    let bad: mock_el::B256 = hash(1).parse().expect("hash");
    els[0].set(Behaviour::InvalidHash(bad));
    els[1].set(Behaviour::InvalidHash(bad));
    let running = proxy(
        &plain(&els),
        Settings {
            vote_by,
            ..settings()
        },
    )
    .await;
    assert!(
        every_client_identified(&running).await,
        "every EL reported its client"
    );
    let cl = Cl::new(running.url());
    status_of(&cl.new_payload(1).await).to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_of_one_client_are_one_vote() {
    assert_eq!(vote_on_block_1(VoteBy::Node).await, "INVALID");
    assert_eq!(vote_on_block_1(VoteBy::Client).await, "SYNCING");
}
