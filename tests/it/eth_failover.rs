//! Reads (`eth_*`) go to the primary and fail over to the next node when the primary cannot
//! answer; the consensus client's id comes back exactly as it sent it.

// Scripted ELs (wiremock) rather than mock-el: an EL that re-serializes the ids it echoes (1.50 as
// 1.5), and one answering an HTTP error page; mock-el echoes ids byte for byte.

use crate::support::eventually;
use crate::support::scripted_el::*;
use executionbackup::config::Settings;
use serde_json::json;

#[tokio::test]
async fn a_refused_primary_fails_over_and_the_id_is_echoed_byte_for_byte() {
    let s = secret(0xb1);
    let backup = El::start(s.clone()).await;
    // The backup echoes ids re-serialized (1.50 -> 1.5): the proxy must still give the CL its
    // own id, byte for byte.
    backup
        .on(
            "eth_chainId",
            Reply::result(json!(CHAIN_ID)).normalized_id(),
        )
        .await;
    let refused = format!("http://127.0.0.1:{}", free_port());
    let proxy = start_proxy(&s, &[refused.clone(), backup.url()]).await;

    for raw_id in [
        r#"1.50"#,
        r#""cl-7""#,
        r#""a\"b""#,
        "18446744073709551616000",
        "null",
    ] {
        let body =
            format!(r#"{{"jsonrpc":"2.0","id":{raw_id},"method":"eth_chainId","params":[]}}"#);
        let reply = proxy.post_raw(body).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert_eq!(
            reply.text(),
            format!(r#"{{"jsonrpc":"2.0","id":{raw_id},"result":"{CHAIN_ID}"}}"#),
            "id {raw_id}"
        );
    }
    assert_eq!(
        backup
            .calls_with_id("eth_chainId", &json!("cl-7"))
            .await
            .len(),
        1
    );
    let metrics = proxy.metrics().await;
    assert_eq!(metrics["dead_nodes"], json!([refused]));
    assert_eq!(metrics["primary_node"], json!(backup.url()));
}

#[tokio::test]
async fn a_primary_that_goes_away_is_failed_over_within_the_request() {
    let s = secret(0xb4);
    let mut els = els(2, &s).await;
    els[0]
        .on("eth_blockNumber", Reply::result(json!("0x100")))
        .await;
    els[1]
        .on("eth_blockNumber", Reply::result(json!("0x101")))
        .await;
    // No probe after the first round: only the failed request itself can show the primary gone.
    let settings = Settings {
        health_interval: std::time::Duration::from_secs(3600),
        ..settings()
    };
    let proxy = start_proxy_with(settings, &s, &[els[0].url(), els[1].url()]).await;
    let probed = eventually(std::time::Duration::from_secs(10), async || {
        proxy.metrics().await["alive_nodes"]
            .as_array()
            .map(Vec::len)
            == Some(2)
    })
    .await;
    assert!(probed, "the first probe round finds both nodes alive");
    let answer = proxy.call(json!(1), "eth_blockNumber", json!([])).await;
    assert_eq!(answer["result"], "0x100");

    let gone = els.remove(0);
    let gone_url = gone.url();
    drop(gone);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;

    // Answered by the next node, on this very request: no probe is due for an hour.
    let answer = proxy.call(json!(2), "eth_blockNumber", json!([])).await;
    assert_eq!(
        answer,
        json!({"jsonrpc": "2.0", "id": 2, "result": "0x101"})
    );
    let metrics = proxy.metrics().await;
    assert_eq!(metrics["dead_nodes"], json!([gone_url]));
    assert_eq!(metrics["primary_node"], json!(els[0].url()));
}

#[tokio::test]
async fn a_primary_answering_http_errors_fails_over_per_request() {
    let s = secret(0xb2);
    let els = els(2, &s).await;
    els[0]
        .on("eth_blockNumber", Reply::http(503, "overloaded"))
        .await;
    els[1]
        .on("eth_blockNumber", Reply::result(json!("0x2a")))
        .await;
    let proxy = start_proxy(&s, &[els[0].url(), els[1].url()]).await;
    let answer = proxy.call(json!("bn"), "eth_blockNumber", json!([])).await;
    assert_eq!(
        answer,
        json!({"jsonrpc": "2.0", "id": "bn", "result": "0x2a"})
    );
    // The primary was tried first.
    assert_eq!(els[0].calls("eth_blockNumber").await.len(), 1);
    assert_eq!(els[1].calls("eth_blockNumber").await.len(), 1);
}

#[tokio::test]
async fn a_json_rpc_error_from_the_primary_is_an_answer_not_a_failure() {
    let s = secret(0xb3);
    let els = els(2, &s).await;
    els[0]
        .on("eth_call", Reply::error(-32000, "execution reverted"))
        .await;
    els[1].on("eth_call", Reply::result(json!("0x"))).await;
    let proxy = start_proxy(&s, &[els[0].url(), els[1].url()]).await;
    let answer = proxy
        .call(json!(4), "eth_call", json!([{}, "latest"]))
        .await;
    assert_eq!(
        answer,
        json!({"jsonrpc": "2.0", "id": 4, "error": {"code": -32000, "message": "execution reverted"}})
    );
    assert_eq!(els[1].calls("eth_call").await.len(), 0);
}
