//! The REST API: `GET /metrics` is open and keeps the original report's shape; `GET /recheck`,
//! `POST /add_nodes` and `POST /remove_nodes` change what the proxy trusts, so they need a
//! token signed with the admin secret, and a bad request changes nothing.

// Scripted ELs (wiremock) rather than mock-el: an EL reporting a syncing object with chosen
// numbers, and another on another chain, for the /metrics report pinned by a snapshot.

use crate::support::scripted_el::*;
use serde_json::{json, Value};

/// The report without the latency values (they move with every probe).
fn without_latencies(report: &Value) -> Value {
    let mut out = report.clone();
    if let Some(times) = out["response_times"].as_object_mut() {
        for v in times.values_mut() {
            *v = json!("[us]");
        }
    }
    out
}

/// Replaces every node URL (ports are random) with a stable name, keys included, so the
/// report can be snapshotted.
fn stable(report: &Value, names: &[(String, &str)]) -> Value {
    let rename = |s: &str| -> String {
        names
            .iter()
            .find(|(url, _)| url == s)
            .map(|(_, name)| (*name).to_owned())
            .unwrap_or_else(|| s.to_owned())
    };
    match report {
        Value::String(s) => Value::String(rename(s)),
        Value::Array(items) => Value::Array(items.iter().map(|v| stable(v, names)).collect()),
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map
                .iter()
                .map(|(k, v)| (rename(k), stable(v, names)))
                .collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(entries.into_iter().collect())
        }
        other => other.clone(),
    }
}

async fn get(proxy: &Proxy, path: &str, auth: Option<String>) -> HttpReply {
    let headers: Vec<(&str, String)> = auth.map(|a| vec![("authorization", a)]).unwrap_or_default();
    proxy
        .send(reqwest::Method::GET, path, &headers, Vec::new())
        .await
}

async fn post(proxy: &Proxy, path: &str, auth: Option<String>, body: &str) -> HttpReply {
    let mut headers = vec![("content-type", "application/json".to_owned())];
    if let Some(a) = auth {
        headers.push(("authorization", a));
    }
    proxy
        .send(reqwest::Method::POST, path, &headers, body.to_owned())
        .await
}

fn assert_json_error(reply: &HttpReply, status: u16, case: &str) {
    assert_eq!(reply.status, status, "{case}: {}", reply.text());
    assert_eq!(reply.content_type(), Some("application/json"), "{case}");
    let body = reply.json();
    let message = body["error"].as_str().unwrap_or_default();
    assert!(!message.is_empty(), "{case}: {body}");
}

#[tokio::test]
async fn metrics_is_open_and_keeps_the_original_shape() {
    let s = secret(0x01);
    let els = els(3, &s).await;
    els[2]
        .on(
            "eth_syncing",
            Reply::result(
                json!({"startingBlock": "0x0", "currentBlock": "0x10", "highestBlock": "0x20"}),
            ),
        )
        .await;
    let dead = format!("http://127.0.0.1:{}", free_port());
    let proxy = start_proxy(
        &s,
        &[
            els[0].url(),
            els[1].url(),
            format!("{}#timeout=2000", els[2].url()),
            dead.clone(),
        ],
    )
    .await;

    let reply = get(&proxy, "/metrics", None).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.content_type(), Some("application/json"));
    let report = reply.json();
    for el in &els {
        let us = report["response_times"][el.url()]
            .as_u64()
            .expect("a number");
        assert!(us > 0, "{} has a probe latency", el.url());
    }
    assert_eq!(report["response_times"][&dead], 0);

    let names = [
        (els[0].url(), "http://el-a"),
        (els[1].url(), "http://el-b"),
        (els[2].url(), "http://el-syncing"),
        (dead, "http://el-refusing"),
    ];
    insta::assert_json_snapshot!("metrics", stable(&without_latencies(&report), &names));
}

#[tokio::test]
async fn recheck_needs_the_admin_jwt() {
    let s = secret(0x02);
    let el = El::start(s.clone()).await;
    let proxy = start_proxy(&s, &[el.url()]).await;

    assert_json_error(&get(&proxy, "/recheck", None).await, 401, "no token");
    let wrong = format!("Bearer {}", cl_token(&secret(0x03), None, None));
    assert_json_error(
        &get(&proxy, "/recheck", Some(wrong)).await,
        401,
        "wrong secret",
    );

    let probes_before = el.calls("eth_syncing").await.len();
    let reply = get(&proxy, "/recheck", Some(proxy.admin_bearer())).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let report = reply.json();
    assert!(report["recheck_time"].is_u64(), "{report}");
    assert_eq!(report["alive_nodes"], json!([el.url()]));
    assert_eq!(report["primary_node"], json!(el.url()));
    // It really probed again.
    assert!(el.calls("eth_syncing").await.len() > probes_before);
}

#[tokio::test]
async fn add_nodes_needs_the_admin_jwt_and_adds_working_nodes() {
    let s = secret(0x04);
    let first = El::start(s.clone()).await;
    first
        .on(
            "engine_newPayloadV3",
            Reply::status("VALID", Some(&byte_hash(7)), None),
        )
        .await;
    let proxy = start_proxy(&s, &[first.url()]).await;
    let before = without_latencies(&proxy.metrics().await);

    let added = El::start(s.clone()).await;
    added
        .on(
            "engine_newPayloadV3",
            Reply::status("VALID", Some(&byte_hash(7)), None),
        )
        .await;
    let body = json!({"nodes": [added.url()]}).to_string();

    assert_json_error(
        &post(&proxy, "/add_nodes", None, &body).await,
        401,
        "no token",
    );
    let wrong = format!("Bearer {}", cl_token(&secret(0x05), None, None));
    assert_json_error(
        &post(&proxy, "/add_nodes", Some(wrong), &body).await,
        401,
        "wrong secret",
    );
    assert_eq!(
        without_latencies(&proxy.metrics().await),
        before,
        "a refused request changed nothing"
    );

    let reply = post(&proxy, "/add_nodes", Some(proxy.admin_bearer()), &body).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        reply.json()["alive_nodes"],
        json!([first.url(), added.url()])
    );
    let metrics = proxy.metrics().await;
    assert_eq!(metrics["alive_nodes"], json!([first.url(), added.url()]));
    assert_eq!(metrics["primary_node"], json!(first.url()));

    // The new node takes part in voted calls from now on.
    let answer = proxy
        .call(json!(1), "engine_newPayloadV3", new_payload_params(7))
        .await;
    assert_eq!(answer["result"]["status"], "VALID");
    assert_eq!(added.calls("engine_newPayloadV3").await.len(), 1);
}

#[tokio::test]
async fn bad_add_nodes_requests_are_400_and_change_nothing() {
    let s = secret(0x06);
    let first = El::start(s.clone()).await;
    let spare = El::start(s.clone()).await;
    let other_chain = El::start(s.clone()).await;
    other_chain
        .on("eth_chainId", Reply::result(json!("0x5")))
        .await;
    let proxy = start_proxy(&s, &[first.url()]).await;
    let before = without_latencies(&proxy.metrics().await);

    let cases = [
        ("not a URL", json!({"nodes": ["not a url"]}).to_string()),
        (
            "ftp scheme",
            json!({"nodes": ["ftp://127.0.0.1:1"]}).to_string(),
        ),
        (
            "bad port",
            json!({"nodes": ["http://127.0.0.1:99999"]}).to_string(),
        ),
        (
            "unknown option",
            json!({"nodes": [format!("{}#bogus", spare.url())]}).to_string(),
        ),
        (
            "good and bad together",
            json!({"nodes": [spare.url(), "http://"]}).to_string(),
        ),
        (
            "already configured",
            json!({"nodes": [first.url()]}).to_string(),
        ),
        (
            "another chain",
            json!({"nodes": [other_chain.url()]}).to_string(),
        ),
        ("empty list", json!({"nodes": []}).to_string()),
        ("not JSON", "nodes=http://x".to_owned()),
        ("wrong shape", json!(["http://127.0.0.1:1"]).to_string()),
    ];
    for (case, body) in cases {
        let reply = post(&proxy, "/add_nodes", Some(proxy.admin_bearer()), &body).await;
        assert_json_error(&reply, 400, case);
        assert_eq!(
            without_latencies(&proxy.metrics().await),
            before,
            "{case} changed the node set"
        );
    }
}

#[tokio::test]
async fn a_refused_add_nodes_request_does_not_settle_the_chain() {
    // The only configured node is down, so the proxy does not know the chain yet.
    let s = secret(0x09);
    let down = format!("http://127.0.0.1:{}", free_port());
    let proxy = start_proxy(&s, std::slice::from_ref(&down)).await;
    let mainnet = El::start(s.clone()).await;
    let other_chain = El::start(s.clone()).await;
    other_chain
        .on("eth_chainId", Reply::result(json!("0x5")))
        .await;

    // Two nodes on different chains in one request: refused, nothing added.
    let both = json!({"nodes": [other_chain.url(), mainnet.url()]}).to_string();
    let reply = post(&proxy, "/add_nodes", Some(proxy.admin_bearer()), &both).await;
    assert_json_error(&reply, 400, "nodes on two chains");
    let metrics = proxy.metrics().await;
    assert_eq!(metrics["dead_nodes"], json!([down]));
    assert_eq!(metrics["alive_nodes"], json!([]));

    // Nothing from that request was kept, so the mainnet node alone must now be accepted.
    let one = json!({"nodes": [mainnet.url()]}).to_string();
    let reply = post(&proxy, "/add_nodes", Some(proxy.admin_bearer()), &one).await;
    assert_eq!(
        reply.status,
        200,
        "a refused request left its chain id behind: {}",
        reply.text()
    );
    assert_eq!(reply.json()["alive_nodes"], json!([mainnet.url()]));
}

#[tokio::test]
async fn remove_nodes_needs_the_admin_jwt_and_never_empties_the_set() {
    let s = secret(0x07);
    let els = els(2, &s).await;
    let proxy = start_proxy(&s, &[els[0].url(), els[1].url()]).await;
    let before = without_latencies(&proxy.metrics().await);
    let body = json!({"nodes": [els[0].url()]}).to_string();

    assert_json_error(
        &post(&proxy, "/remove_nodes", None, &body).await,
        401,
        "no token",
    );
    assert_eq!(without_latencies(&proxy.metrics().await), before);

    for (case, bad) in [
        (
            "unknown node",
            json!({"nodes": ["http://127.0.0.1:1"]}).to_string(),
        ),
        (
            "all nodes",
            json!({"nodes": [els[0].url(), els[1].url()]}).to_string(),
        ),
    ] {
        let reply = post(&proxy, "/remove_nodes", Some(proxy.admin_bearer()), &bad).await;
        assert_json_error(&reply, 400, case);
        assert_eq!(without_latencies(&proxy.metrics().await), before, "{case}");
    }

    let reply = post(&proxy, "/remove_nodes", Some(proxy.admin_bearer()), &body).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let metrics = proxy.metrics().await;
    assert_eq!(metrics["alive_nodes"], json!([els[1].url()]));
    assert_eq!(metrics["primary_node"], json!(els[1].url()));
    assert!(metrics["response_times"].get(els[0].url()).is_none());
}

#[tokio::test]
async fn rest_endpoints_refuse_other_http_methods() {
    let s = secret(0x08);
    let el = El::start(s.clone()).await;
    let proxy = start_proxy(&s, &[el.url()]).await;
    for (method, path) in [
        (reqwest::Method::GET, "/add_nodes"),
        (reqwest::Method::GET, "/remove_nodes"),
        (reqwest::Method::DELETE, "/metrics"),
        (reqwest::Method::PUT, "/recheck"),
    ] {
        let reply = proxy
            .send(
                method.clone(),
                path,
                &[("authorization", proxy.bearer())],
                Vec::new(),
            )
            .await;
        assert_json_error(&reply, 405, &format!("{method} {path}"));
    }
}
