//! The HTTP control API and the `mock-el` binary.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use eb_transport::TokioNet;
use serde_json::{json, Value};

async fn get(url: &str) -> (u16, Value) {
    let res = http().get(url).send().await.expect("sent");
    let status = res.status().as_u16();
    let text = res.text().await.expect("text");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn send(method: reqwest::Method, url: &str, body: &str) -> (u16, Value) {
    let res = http()
        .request(method, url)
        .body(body.to_string())
        .send()
        .await
        .expect("sent");
    let status = res.status().as_u16();
    let text = res.text().await.expect("text");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test]
async fn control_api_changes_behaviour_and_reads_the_log() {
    let el = spawn(builder().name("ctl")).await;
    let control = el
        .spawn_control(TokioNet, "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("control");
    let base = control.url();
    let rpc = Rpc::new(&el);

    let (status, health) = get(&format!("{base}/health")).await;
    assert_eq!(status, 200);
    assert_eq!(health, json!({"name": "ctl", "engine_url": el.url()}));

    let (_, settings) = get(&format!("{base}/behaviour")).await;
    assert_eq!(settings["status"], "VALID");
    assert_eq!(settings["chain_id"], 1337);
    assert_eq!(settings["hang"], Value::Null);

    let (status, settings) = send(
        reqwest::Method::POST,
        &format!("{base}/behaviour"),
        r#"{"status":"INVALID"}"#,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(settings["status"], "INVALID");
    let s = rpc
        .call("engine_newPayloadV3", new_payload_params(1, &hash(1000)))
        .await;
    assert_eq!(s["status"], "INVALID");

    let (status, settings) = send(
        reqwest::Method::POST,
        &format!("{base}/behaviour"),
        r#"[{"rpc_error":{"code":-32001,"message":"nope","scope":"eth_chainId"}},{"syncing_for_ms":60000},{"http_500":"engine_getBlobs"}]"#,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(settings["rpc_error"]["scope"], "eth_chainId");
    assert!(settings["syncing_remaining_ms"]
        .as_u64()
        .is_some_and(|ms| ms > 50_000));
    assert_eq!(settings["http_500"], "engine_getBlobs");
    assert_eq!(rpc.error_code("eth_chainId", json!([])).await, -32001);

    let (status, settings) = send(
        reqwest::Method::DELETE,
        &format!("{base}/behaviour/rpc_error"),
        "",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(settings["rpc_error"], Value::Null);
    assert_eq!(settings["status"], "INVALID", "other slots untouched");
    assert_eq!(rpc.call("eth_chainId", json!([])).await, "0x539");

    let (status, _) = send(
        reqwest::Method::POST,
        &format!("{base}/behaviour"),
        r#"{"explode":1}"#,
    )
    .await;
    assert_eq!(status, 400);
    let (status, _) = send(
        reqwest::Method::DELETE,
        &format!("{base}/behaviour/nothing"),
        "",
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = get(&format!("{base}/nowhere")).await;
    assert_eq!(status, 404);

    let (_, settings) = send(
        reqwest::Method::POST,
        &format!("{base}/behaviour"),
        r#"{"close_mid_response":null}"#,
    )
    .await;
    assert_eq!(settings["close_mid_response"], "*", "every method");

    let (_, settings) = send(reqwest::Method::POST, &format!("{base}/reset"), "").await;
    assert_eq!(settings["close_mid_response"], Value::Null);
    assert_eq!(settings["status"], "VALID");
    assert_eq!(settings["syncing_remaining_ms"], Value::Null);
    assert_eq!(settings["http_500"], Value::Null);

    // Dead through the control API, revived through it too.
    send(
        reqwest::Method::POST,
        &format!("{base}/behaviour"),
        r#"{"dead":true}"#,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(http().post(el.url()).body("{}").send().await.is_err());
    send(
        reqwest::Method::DELETE,
        &format!("{base}/behaviour/dead"),
        "",
    )
    .await;
    let mut back = false;
    for _ in 0..100 {
        if http()
            .post(el.url())
            .bearer_auth(token_at(NOW))
            .body("{}")
            .send()
            .await
            .is_ok()
        {
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(back);

    let (_, calls) = get(&format!("{base}/calls")).await;
    let calls = calls.as_array().expect("array").clone();
    assert_eq!(calls.len(), 3, "{calls:?}");
    assert_eq!(calls[0]["method"], "engine_newPayloadV3");
    assert_eq!(calls[0]["status"], "INVALID");
    assert_eq!(
        calls[0]["claims"],
        json!({"iat": NOW, "id": null, "clv": null})
    );
    assert_eq!(calls[0]["outcome"], "answered");
    assert!(calls[0]["at_us"].is_u64());
    assert_eq!(calls[1]["error_code"], -32001);
    let (_, filtered) = get(&format!("{base}/calls?method=engine_")).await;
    assert_eq!(filtered.as_array().map(Vec::len), Some(1));
    let (_, chain) = get(&format!("{base}/chain")).await;
    assert_eq!(chain["head"]["number"], 0);
    assert_eq!(chain["calls_received"], 3);
    let (status, _) = send(reqwest::Method::DELETE, &format!("{base}/calls"), "").await;
    assert_eq!(status, 200);
    let (_, calls) = get(&format!("{base}/calls")).await;
    assert_eq!(calls, json!([]));

    control.shutdown().await;
    el.shutdown().await;
}

/// Kills the child process when the test ends, however it ends.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn binary_starts_several_els_with_control_ports() {
    let dir = std::env::temp_dir().join(format!("mock-el-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let secret_path = dir.join("jwt.hex");
    std::fs::write(&secret_path, format!("0x{}\n", "42".repeat(32))).expect("secret");

    let mut child = Child(
        Command::new(env!("CARGO_BIN_EXE_mock-el"))
            .args([
                "--count",
                "2",
                "--base-port",
                "0",
                "--control-base-port",
                "0",
            ])
            .arg("--jwt-secret")
            .arg(&secret_path)
            .args(["--status", "invalid", "--name-prefix", "cli"])
            .env("MOCK_EL_CHAIN_ID", "5")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("binary starts"),
    );
    let stdout = child.0.stdout.take().expect("stdout");
    let lines = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .take(2)
            .collect::<Result<Vec<_>, _>>()
    })
    .await
    .expect("join")
    .expect("two lines");
    let mut engines = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let mut parts = line.split_whitespace();
        assert_eq!(parts.next(), Some(format!("cli-{i}").as_str()), "{line}");
        let engine = parts
            .next()
            .and_then(|p| p.strip_prefix("engine="))
            .expect("engine url");
        let control = parts
            .next()
            .and_then(|p| p.strip_prefix("control="))
            .expect("control url");
        let (status, health) = get(&format!("{control}/health")).await;
        assert_eq!(status, 200);
        assert_eq!(health["name"], format!("cli-{i}"));
        engines.push(engine.to_string());
    }
    assert_ne!(engines[0], engines[1]);
    // The engine ports take the secret file's key and answer with the flags' behaviour
    // (the system clock is used, so mint a token for now).
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    for url in &engines {
        let rpc = Rpc {
            url: url.clone(),
            http: http(),
            token: token_at(now),
        };
        let s = rpc
            .call("engine_newPayloadV3", new_payload_params(1, &hash(1000)))
            .await;
        assert_eq!(s["status"], "INVALID");
        assert_eq!(rpc.call("eth_chainId", json!([])).await, "0x5");
    }
    drop(child);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn help_documents_behaviours_and_the_control_api() {
    let out = Command::new(env!("CARGO_BIN_EXE_mock-el"))
        .arg("--help")
        .output()
        .expect("runs");
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "--count",
        "--base-port",
        "--jwt-secret",
        "--control-port-offset",
        "--control-base-port",
        "--latency-range-ms",
        "--invalid-every",
        "--invalid-hash",
        "--syncing-for-secs",
        "--flaky",
        "--hang",
        "--dead",
        "--http-500",
        "--rpc-error",
        "--close-mid-response",
        "--fault-scope",
        "MOCK_EL_STATUS",
        "CONTROL API",
        "POST   /behaviour",
        "GET    /calls",
    ] {
        assert!(help.contains(needle), "--help lacks {needle}");
    }
    let bad = Command::new(env!("CARGO_BIN_EXE_mock-el"))
        .args(["--jwt-secret", "/nonexistent/jwt.hex"])
        .output()
        .expect("runs");
    assert!(!bad.status.success());
}
