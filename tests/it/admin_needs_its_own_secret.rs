//! Every execution client holds the engine secret, and the proxy sends each of them fresh
//! tokens signed with it. Neither the token an EL received nor a freshly minted engine token
//! may change the node set or trigger a recheck: the REST API's changing calls take only tokens
//! signed with `--admin-jwt-secret`. Without that flag they are off (403, with a hint).

use std::process::Command;

use crate::support::mock_els::*;
use crate::support::processes::*;
use crate::support::relay::Relay;
use serde_json::{json, Value};

async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = http
        .request(method, url)
        .header("authorization", format!("Bearer {token}"));
    if let Some(body) = body {
        req = req
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let resp = req.send().await.expect("answer");
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// The node set as `GET /metrics` shows it, latencies left out.
async fn node_set(http: &reqwest::Client, url: &str) -> Value {
    let text = http
        .get(format!("{url}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("body");
    let report: Value = serde_json::from_str(&text).expect("JSON");
    json!({
        "alive": report["alive_nodes"],
        "syncing": report["syncing_nodes"],
        "dead": report["dead_nodes"],
        "primary": report["primary_node"],
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_el_token_or_an_engine_token_changes_nothing() {
    let els = mocks(4).await;
    // The first EL is reached through a relay that shows what the proxy sends it.
    let spy = Relay::start(els[0].addr()).await;
    let dir = temp_dir("admin-own-secret");
    let engine = write_secret(&dir, "jwt.hex", &SECRET);
    let admin = write_secret(&dir, "admin.hex", &ADMIN_SECRET);
    let mut cmd = Command::new(executionbackup());
    cmd.arg("--nodes")
        .arg(format!("{},{},{}", spy.url(), els[1].url(), els[2].url()))
        .arg("--jwt-secret")
        .arg(&engine)
        .arg("--admin-jwt-secret")
        .arg(&admin)
        .args(["--port", "0", "--metrics-addr", "off"]);
    let (_proxy, url) = start_eb(cmd);
    let http = reqwest::Client::new();

    // A voted call, so the EL behind the relay gets a token like every EL does.
    let (status, np) = Cl::new(url.clone())
        .post(
            "/",
            json!({"jsonrpc":"2.0","id":1,"method":"engine_newPayloadV3","params":new_payload_params(1)}),
            true,
        )
        .await;
    assert_eq!((status, status_of(&np)), (200, "VALID"), "{np}");
    let seen = spy.header_values("authorization");
    let replayed = seen
        .last()
        .and_then(|h| h.strip_prefix("Bearer "))
        .unwrap_or_else(|| panic!("the proxy sent the EL no token: {seen:?}"))
        .to_owned();

    let before = node_set(&http, &url).await;
    assert_eq!(
        before["alive"].as_array().map(Vec::len),
        Some(3),
        "{before}"
    );
    let alias = format!("http://localhost:{}", els[1].addr().port());
    for (which, token) in [("replayed EL token", replayed), ("engine token", token())] {
        let attempts = [
            (reqwest::Method::GET, "/recheck", None),
            (
                reqwest::Method::POST,
                "/add_nodes",
                Some(json!({"nodes": [alias.clone(), els[3].url()]})),
            ),
            (
                reqwest::Method::POST,
                "/remove_nodes",
                Some(json!({"nodes": [els[1].url(), els[2].url()]})),
            ),
        ];
        for (method, path, body) in attempts {
            let (status, answer) = call(&http, method, &format!("{url}{path}"), &token, body).await;
            assert_eq!(status, 401, "{which} on {path}: {answer}");
            let message = answer["error"].as_str().unwrap_or_default();
            assert!(
                message.contains("--admin-jwt-secret"),
                "{which} on {path}: {answer}"
            );
            assert_eq!(
                node_set(&http, &url).await,
                before,
                "{which} on {path} changed the node set"
            );
        }
    }
    // The EL offered through /add_nodes never got a request.
    assert!(
        els[3].el().calls().is_empty(),
        "a refused /add_nodes probed the new node"
    );

    // A token minted by `--print-token --admin` does pass.
    let minted = Command::new(executionbackup())
        .args(["--print-token", "--admin", "--admin-jwt-secret"])
        .arg(&admin)
        .output()
        .expect("--print-token runs");
    assert!(minted.status.success(), "{minted:?}");
    let minted = String::from_utf8(minted.stdout).expect("utf8");
    let (status, answer) = call(
        &http,
        reqwest::Method::GET,
        &format!("{url}/recheck"),
        minted.trim(),
        None,
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer["recheck_time"].is_u64(), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_admin_secret_the_changing_calls_are_off() {
    let els = mocks(1).await;
    let dir = temp_dir("admin-off");
    let engine = write_secret(&dir, "jwt.hex", &SECRET);
    let mut cmd = Command::new(executionbackup());
    cmd.arg("--nodes")
        .arg(els[0].url())
        .arg("--jwt-secret")
        .arg(&engine)
        .args(["--port", "0", "--metrics-addr", "off"]);
    let (_proxy, url) = start_eb(cmd);
    let http = reqwest::Client::new();
    let before = node_set(&http, &url).await;
    for (method, path, body) in [
        (reqwest::Method::GET, "/recheck", None),
        (
            reqwest::Method::POST,
            "/add_nodes",
            Some(json!({"nodes": ["http://127.0.0.1:1"]})),
        ),
        (
            reqwest::Method::POST,
            "/remove_nodes",
            Some(json!({"nodes": [els[0].url()]})),
        ),
    ] {
        let (status, answer) = call(&http, method, &format!("{url}{path}"), &token(), body).await;
        assert_eq!(status, 403, "{path}: {answer}");
        let hint = answer["error"].as_str().unwrap_or_default();
        assert!(
            hint.contains("--admin-jwt-secret") && !hint.contains('\n'),
            "{path}: a one-line hint: {answer}"
        );
    }
    assert_eq!(node_set(&http, &url).await, before);
    // GET /metrics stays open.
    let status = http
        .get(format!("{url}/metrics"))
        .send()
        .await
        .expect("metrics")
        .status();
    assert_eq!(status, 200);
}
