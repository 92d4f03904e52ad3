//! Ready to propose: before a forkchoiceUpdated with payload attributes goes out, which nodes
//! can build on its head, i.e. answered VALID for that block. Shown per node on `/metrics`
//! (`eb_node_ready_to_build`), with a WARN line when one node or none can: a proposal then
//! rests on a single EL, or on none.

use std::sync::Arc;

use eb_transport::Network;

use crate::node::Node;

/// Records which of `nodes` can build on `head`; returns how many can.
pub fn note<N: Network>(head: &str, nodes: &[Arc<Node<N>>]) -> usize {
    let mut ready = 0;
    let mut voters = 0;
    for node in nodes.iter().filter(|n| !n.do_not_use()) {
        voters += 1;
        let can = node.health.knows_valid(head);
        ready += usize::from(can);
        node.metrics().set_ready(can);
    }
    if voters > 1 && ready <= 1 {
        let not_ready: Vec<&str> = nodes
            .iter()
            .filter(|n| !n.do_not_use() && !n.health.knows_valid(head))
            .map(|n| n.label())
            .collect();
        tracing::warn!(
            head,
            ready,
            of = voters,
            not_ready = ?not_ready,
            "proposal: {} execution client(s) can build on the head; the others have not answered VALID for it",
            ready
        );
    }
    ready
}
