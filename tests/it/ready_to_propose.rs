//! Ready to propose: before a forkchoiceUpdated with payload attributes, the proxy knows which
//! nodes answered VALID for its head (they can build on it) and shows it per node.

use crate::support::mock_els::*;
use mock_el::Behaviour;

fn ready_line(text: &str, url: &str) -> Option<String> {
    let prefix = format!("eb_node_ready_to_build{{node=\"{url}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix).map(str::to_owned))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_that_know_the_head_are_ready_to_build() {
    let els = mocks(3).await;
    let running = proxy(&plain(&els), settings()).await;
    let cl = Cl::new(running.url());

    // el3 has not got block 1 (it says SYNCING for it); el1 and el2 call it VALID.
    els[2].set(Behaviour::Status(mock_el::Status::Syncing));
    assert_eq!(status_of(&cl.new_payload(1).await), "VALID");
    let _ = cl.start_build(1).await;

    let text = executionbackup::admin::prometheus(&running.proxy);
    assert_eq!(
        ready_line(&text, &els[0].url()).as_deref(),
        Some("1"),
        "{text}"
    );
    assert_eq!(
        ready_line(&text, &els[1].url()).as_deref(),
        Some("1"),
        "{text}"
    );
    assert_eq!(
        ready_line(&text, &els[2].url()).as_deref(),
        Some("0"),
        "{text}"
    );
    let report = cl.metrics().await;
    assert_eq!(
        report["ready_to_build_nodes"],
        serde_json::json!([els[0].url(), els[1].url()]),
        "{report}"
    );

    // A forkchoiceUpdated without attributes is not a proposal: nothing changes. Once el3 has
    // the block, the next proposal on it finds all three ready.
    els[2].clear(mock_el::BehaviourKind::Status);
    assert_eq!(status_of(&cl.new_payload(1).await), "VALID");
    let _ = cl.start_build(1).await;
    let text = executionbackup::admin::prometheus(&running.proxy);
    assert_eq!(
        ready_line(&text, &els[2].url()).as_deref(),
        Some("1"),
        "{text}"
    );
}
