//! A consensus client that probes for the SSZ/REST engine transport (EIP-8161) the way
//! Lighthouse does, first an HTTP/2 connection (prior knowledge), then
//! `GET /engine/v1/capabilities` over HTTP/1.1, gets a clean refusal each time and then talks
//! JSON-RPC on the same port as before.

use std::time::Duration;

use crate::support::mock_els::*;
use crate::support::proxy::raw_exchange;

/// The HTTP/2 connection preface (RFC 9113 §3.4) and an empty SETTINGS frame.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_probe_is_refused_cleanly_and_json_rpc_works() {
    let els = mocks(1).await;
    let running = proxy(&plain(&els), settings()).await;
    let cl = Cl::new(running.url());
    let addr = running.local_addr;

    // 1. HTTP/2 with prior knowledge: not spoken here. The connection is closed (with at most an
    //    HTTP/1.1 error status), never left hanging and never answered in HTTP/2.
    let (reply, closed) = tokio::task::spawn_blocking(move || {
        raw_exchange(addr, H2_PREFACE, Duration::from_secs(30))
    })
    .await
    .expect("join");
    assert!(closed, "the connection is closed, not left open");
    let text = String::from_utf8_lossy(&reply);
    assert!(
        reply.is_empty() || text.starts_with("HTTP/1.1 4") || text.starts_with("HTTP/1.1 5"),
        "{text}"
    );

    // 2. The REST capabilities probe: a plain 404 on HTTP/1.1.
    let probe = b"GET /engine/v1/capabilities HTTP/1.1\r\nHost: x\r\nAccept: application/json\r\nConnection: close\r\n\r\n";
    let (reply, closed) =
        tokio::task::spawn_blocking(move || raw_exchange(addr, probe, Duration::from_secs(30)))
            .await
            .expect("join");
    assert!(closed);
    let text = String::from_utf8_lossy(&reply);
    assert!(text.starts_with("HTTP/1.1 404"), "{text}");

    // 3. JSON-RPC, as ever.
    let answer = cl.new_payload(1).await;
    assert_eq!(answer["result"]["status"], "VALID", "{answer}");
    assert_eq!(els[0].el().calls_to("engine_newPayloadV3").len(), 1);
}
