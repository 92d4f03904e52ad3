//! `https://` execution clients: an EL behind a private CA (`#ca=`) gets every voted call and
//! read with a valid JWT; an EL whose certificate the proxy cannot verify gets nothing at all
//! (not one byte of a request: the handshake fails first), is reported dead, and the reason is in
//! the Prometheus exposition.
//!
//! Certificates are made at test time (rcgen): no private key is committed.

use std::time::Duration;

use crate::support::mock_els::*;
use crate::support::tls::TestPki;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_el_behind_a_private_ca_gets_every_call_with_a_valid_jwt() {
    let pki = TestPki::new("private");
    let plain = mock("el1", 1, |b| b).await;
    let secure = mock("el2", 2, |b| b.tls(pki.server.clone())).await;
    assert!(
        secure.url().starts_with("https://127.0.0.1:"),
        "{}",
        secure.url()
    );
    let ca_option = format!("#ca={}", pki.ca.display());
    // The https node first: it is the primary, so reads go to it too.
    let urls = vec![(secure.url(), ca_option.as_str()), (plain.url(), "")];
    let running = proxy(&urls, settings()).await;
    let cl = Cl::new(running.url());

    for n in 1..=3 {
        assert_eq!(status_of(&cl.new_payload(n).await), "VALID");
        assert_eq!(status_of(&cl.fcu(n, false).await), "VALID");
    }
    let block = cl.rpc("eth_blockNumber", serde_json::json!([])).await;
    assert!(block.get("result").is_some(), "{block}");
    assert_eq!(
        secure.calls_to("eth_blockNumber").len(),
        1,
        "the read went over TLS"
    );

    let new_payloads = secure.calls_to("engine_newPayload");
    let fcus = secure.calls_to("engine_forkchoiceUpdated");
    assert_eq!(new_payloads.len(), 3, "{new_payloads:?}");
    assert_eq!(fcus.len(), 3, "{fcus:?}");
    assert_eq!(
        secure.auth_failures(),
        0,
        "every request carried a valid JWT"
    );
    assert_eq!(secure.tls_failures(), 0);
    assert_eq!(
        plain.calls_to("engine_newPayload").len(),
        3,
        "the plain node is served as before"
    );
    let state = running.proxy.nodes.snapshot();
    assert!(
        state
            .iter()
            .all(|n| !n.health.engine().down && n.health.reads_up()),
        "both nodes healthy"
    );
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_el_with_an_untrusted_certificate_gets_nothing_and_is_reported() {
    let trusted = TestPki::new("trusted");
    let other = TestPki::new("other");
    let good = mock("el1", 1, |b| b).await;
    // Its certificate is signed by a CA the proxy was not told about.
    let rogue = mock("el2", 2, |b| b.tls(other.server.clone())).await;
    let ca_option = format!("#ca={}", trusted.ca.display());
    let urls = vec![(good.url(), ""), (rogue.url(), ca_option.as_str())];
    let running = proxy(&urls, settings()).await;
    let cl = Cl::new(running.url());
    let rogue_url = rogue.url();

    for n in 1..=3 {
        assert_eq!(status_of(&cl.new_payload(n).await), "VALID");
        assert_eq!(status_of(&cl.fcu(n, false).await), "VALID");
    }
    let reported = eventually(Duration::from_secs(20), async || {
        running
            .proxy
            .metrics
            .tls_failures(&rogue_url, "unknown_issuer")
            > 0
            && running
                .proxy
                .nodes
                .snapshot()
                .iter()
                .any(|n| n.url() == rogue_url && n.health.engine().down)
    })
    .await;
    assert!(reported, "the node is dead for its certificate");
    assert!(rogue.calls().is_empty(), "not one request reached it");
    assert_eq!(rogue.auth_failures(), 0, "not even an unauthenticated one");
    assert!(rogue.tls_failures() > 0, "the handshake was refused");

    let nodes: Vec<_> = running
        .proxy
        .nodes
        .snapshot()
        .iter()
        .map(|n| (n.url().to_owned(), n.health.state()))
        .collect();
    let text = running.proxy.metrics.render(&nodes, None);
    let line =
        format!("eb_node_tls_failures_total{{node=\"{rogue_url}\",reason=\"unknown_issuer\"}}");
    assert!(text.contains(&line), "{text}");
    assert!(
        !text.contains(&format!(
            "eb_node_tls_failures_total{{node=\"{}\"",
            good.url()
        )),
        "the plain node has no TLS failures"
    );
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_for_another_name_is_refused() {
    // Signed by the CA the proxy trusts, but for another host than the one in the node's URL.
    let pki = TestPki::for_names("name", &["el.example"]);
    let el = mock("el1", 1, |b| b.tls(pki.server.clone())).await;
    let good = mock("el2", 2, |b| b).await;
    let ca_option = format!("#ca={}", pki.ca.display());
    let urls = vec![(good.url(), ""), (el.url(), ca_option.as_str())];
    let running = proxy(&urls, settings()).await;
    let cl = Cl::new(running.url());
    assert_eq!(status_of(&cl.new_payload(1).await), "VALID");
    let wrong = el.url();
    let reported = eventually(Duration::from_secs(20), async || {
        running.proxy.metrics.tls_failures(&wrong, "wrong_name") > 0
    })
    .await;
    assert!(reported, "a name mismatch is reported as such");
    assert!(el.calls().is_empty(), "nothing reached it");
    running.shutdown().await;
}
