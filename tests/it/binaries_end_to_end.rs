//! The shipped binaries together: executionbackup in front of three mock-el processes, a vote
//! through it, then SIGTERM: in-flight calls finish and the exit code is 0.

use std::process::Command;
use std::time::Duration;

use crate::support::mock_els::{hash, new_payload_params, token, SECRET};
use crate::support::processes::*;
use serde_json::{json, Value};

struct Setup {
    _els: Proc,
    proxy: Proc,
    url: String,
    controls: Vec<String>,
    _dir: std::path::PathBuf,
}

fn start(latency_ms: u64) -> Setup {
    let dir = temp_dir(&format!("bin-test-{latency_ms}"));
    let secret = write_secret(&dir, "jwt.hex", &SECRET);

    let latency = latency_ms.to_string();
    let (els, engines, controls) = spawn_mock_els(
        &secret,
        3,
        &[
            "--latency-ms",
            &latency,
            "--fault-scope",
            "engine_newPayload",
        ],
    );

    let mut cmd = Command::new(executionbackup());
    cmd.arg("--nodes")
        .arg(engines.join(","))
        .arg("--jwt-secret")
        .arg(&secret)
        .args([
            "--port",
            "0",
            "--metrics-addr",
            "off",
            "--log-level",
            "info",
        ]);
    let (proxy, url) = start_eb(cmd);
    Setup {
        _els: els,
        proxy,
        url,
        controls,
        _dir: dir,
    }
}

async fn new_payload(url: &str, n: u64) -> Value {
    let body = json!({"jsonrpc":"2.0","id":n,"method":"engine_newPayloadV3","params":new_payload_params(n)});
    let resp = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {}", token()))
        .body(body.to_string())
        .send()
        .await
        .expect("answer");
    serde_json::from_slice(&resp.bytes().await.expect("body")).expect("json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_binary_votes_over_mock_el_binaries() {
    let setup = start(0);
    let reply = new_payload(&setup.url, 1).await;
    assert_eq!(reply["result"]["status"], "VALID", "{reply}");
    assert_eq!(reply["result"]["latestValidHash"], hash(1));

    let status = reqwest::Client::new()
        .post(format!("{}/behaviour", setup.controls[2]))
        .body(r#"{"status":"INVALID"}"#)
        .send()
        .await
        .expect("control API")
        .status();
    assert!(status.is_success());
    let reply = new_payload(&setup.url, 2).await;
    assert_eq!(reply["result"]["status"], "SYNCING", "{reply}");
    assert_eq!(reply["result"]["latestValidHash"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_in_flight_calls_and_exits_zero() {
    let mut setup = start(800);
    let url = setup.url.clone();
    let in_flight = tokio::spawn(async move { new_payload(&url, 3).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    setup.proxy.signal("TERM");
    let reply = in_flight.await.expect("task");
    assert_eq!(
        reply["result"]["status"], "VALID",
        "the in-flight call is answered: {reply}"
    );
    let status = setup
        .proxy
        .wait_exit(Duration::from_secs(15))
        .expect("exits");
    assert_eq!(status.code(), Some(0));
    // No new connections after shutdown.
    assert!(reqwest::Client::new()
        .get(format!("{}/metrics", setup.url))
        .send()
        .await
        .is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_exits_at_once() {
    let mut setup = start(3000);
    let url = setup.url.clone();
    let _in_flight = tokio::spawn(async move { new_payload(&url, 4).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    setup.proxy.signal("TERM");
    tokio::time::sleep(Duration::from_millis(200)).await;
    setup.proxy.signal("INT");
    let status = setup
        .proxy
        .wait_exit(Duration::from_secs(2))
        .expect("exits at once");
    assert_eq!(status.code(), Some(130));
}
