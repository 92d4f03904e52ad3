//! A node entry that leads back to the proxy through something the start-up check cannot see
//! through (here a TCP forwarder; a DNS name would do the same) is caught at run time: every
//! request the proxy sends carries its own marker, and a request arriving with it is refused
//! with 508 and logged, never forwarded again.

use std::process::Command;
use std::time::Duration;

use crate::support::mock_els::*;
use crate::support::processes::*;
use crate::support::relay::Relay;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_leads_back_to_the_proxy_is_refused_at_run_time() {
    let els = mocks(1).await;
    let dir = temp_dir("request-loop");
    let secret = write_secret(&dir, "jwt.hex", &SECRET);
    let port = free_port();
    // The forwarder listens before the proxy exists, and forwards to the proxy's port.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let forwarder = Relay::on(listener, format!("127.0.0.1:{port}").parse().expect("addr"));
    let mut cmd = Command::new(executionbackup());
    cmd.arg("--nodes")
        .arg(format!("{},{}", els[0].url(), forwarder.url()))
        .arg("--jwt-secret")
        .arg(&secret)
        .args(["--port", &port.to_string(), "--metrics-addr", "off"]);
    let (proc, url) = start_eb(cmd);

    let line = proc
        // A failure guard: a node found dead at start-up is probed again after 1, 2, 4 … s.
        .wait_for(Duration::from_secs(60), |l| l.contains("request loop"))
        .unwrap_or_else(|seen| panic!("no loop detected: {seen:#?}"));
    assert!(line.contains("ERROR"), "{line}");
    let markers = forwarder.header_values("x-executionbackup-loop");
    assert!(!markers.is_empty(), "{}", forwarder.requests());
    // The line is logged before the answer is written: wait for the answer to come back.
    let refused = eventually(Duration::from_secs(10), async || {
        forwarder.responses().contains("HTTP/1.1 508")
    })
    .await;
    assert!(refused, "{}", forwarder.responses());
    // The looped requests were never passed on to the real node: it saw only the proxy's own
    // probes and calls, each once.
    let cl = Cl::new(url);
    assert_eq!(status_of(&cl.new_payload(1).await), "VALID");
    let report = cl.metrics().await;
    assert!(
        !report["alive_nodes"]
            .as_array()
            .is_some_and(|a| a.iter().any(|n| n == &forwarder.url())),
        "the looping node counts as alive: {report}"
    );
    let syncing_probes = els[0].el().calls_to("eth_syncing").len();
    let new_payloads = els[0].el().calls_to("engine_newPayload").len();
    assert_eq!(
        new_payloads, 1,
        "the newPayload reached the EL {new_payloads} times"
    );
    println!("the real EL saw {syncing_probes} eth_syncing probes");
}
