//! `/readyz` follows the nodes: 200 while at least `--ready-min-nodes` voting nodes are alive
//! and synced, 503 with a JSON reason otherwise, and 200 again once they are back; `/healthz`
//! answers throughout. On the shipped binary: one ERROR line when no execution client is alive,
//! and one when one returns.

use std::process::Command;
use std::time::Duration;

use crate::support::mock_els::*;
use crate::support::processes::*;
use serde_json::Value;

async fn readyz(base: &str) -> (u16, Value) {
    let resp = reqwest::get(format!("{base}/readyz"))
        .await
        .expect("answers");
    let status = resp.status().as_u16();
    let body = resp.bytes().await.expect("body");
    (status, serde_json::from_slice(&body).expect("json"))
}

async fn healthz(base: &str) -> u16 {
    reqwest::get(format!("{base}/healthz"))
        .await
        .expect("answers")
        .status()
        .as_u16()
}

/// Drives voted calls until the node is alive again (answers both kinds in time, VALID for the
/// newest block), or `limit` passes.
async fn until_ready(cl: &Cl, base: &str, from: u64) -> bool {
    let mut n = from;
    eventually(Duration::from_secs(20), async || {
        if readyz(base).await.0 == 200 {
            return true;
        }
        n += 1;
        let _ = cl.new_payload(n).await;
        let _ = cl.fcu(n, false).await;
        false
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_turns_503_as_nodes_die_and_200_as_they_return() {
    let els = mocks(2).await;
    let settings = executionbackup::config::Settings {
        ready_min_nodes: 2,
        ..settings_with_metrics()
    };
    let running = proxy(&plain(&els), settings).await;
    let base = running.url();
    let prom = format!("http://{}", running.metrics_addr.expect("on"));
    let cl = Cl::new(base.clone());
    assert_eq!(status_of(&cl.new_payload(1).await), "VALID");
    let (status, body) = readyz(&base).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["alive"], 2);
    assert_eq!(body["needed"], 2);
    assert_eq!(
        readyz(&prom).await.0,
        200,
        "the Prometheus port answers too"
    );

    // One of two dies: below the minimum of two.
    els[1].set_dead(true);
    wait_refusing(&els[1]).await;
    let mut n = 1;
    let not_ready = eventually(Duration::from_secs(10), async || {
        n += 1;
        let _ = cl.new_payload(n).await;
        readyz(&base).await.0 == 503
    })
    .await;
    assert!(not_ready, "one node of two dead");
    let (_, body) = readyz(&base).await;
    assert_eq!(body["ready"], false);
    assert_eq!(body["alive"], 1);
    let reason = body["reason"].as_str().expect("a reason");
    assert!(reason.contains("1 of 2 nodes alive and synced"), "{reason}");
    assert!(
        reason.contains(&format!("{} dead", els[1].url())),
        "{reason}"
    );
    assert_eq!(healthz(&base).await, 200, "the process itself is fine");
    assert_eq!(healthz(&prom).await, 200);

    // Both dead.
    els[0].set_dead(true);
    wait_refusing(&els[0]).await;
    let none = eventually(Duration::from_secs(10), async || {
        n += 1;
        let _ = cl.new_payload(n).await;
        readyz(&base).await.1["alive"] == 0
    })
    .await;
    assert!(none, "no node alive");
    assert_eq!(readyz(&base).await.0, 503);

    // Both back.
    els[0].set_dead(false);
    els[1].set_dead(false);
    assert!(until_ready(&cl, &base, n).await, "ready again");
    let (_, body) = readyz(&base).await;
    assert_eq!(body["alive"], 2, "{body}");
    assert!(body.get("reason").is_none(), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn do_not_use_nodes_never_make_it_ready() {
    let els = mocks(2).await;
    let settings = executionbackup::config::Settings {
        ready_min_nodes: 2,
        ..settings()
    };
    let running = proxy(
        &[(els[0].url(), ""), (els[1].url(), "#do-not-use")],
        settings,
    )
    .await;
    let cl = Cl::new(running.url());
    assert_eq!(status_of(&cl.new_payload(1).await), "VALID");
    let (status, body) = readyz(&running.url()).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["alive"], 1);
    assert!(
        body["reason"]
            .as_str()
            .is_some_and(|r| r.contains("do-not-use")),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_line_when_no_execution_client_is_alive_and_when_one_returns() {
    let els = mocks(1).await;
    let dir = temp_dir("no-el-alive");
    let secret = write_secret(&dir, "jwt.hex", &SECRET);
    let mut cmd = Command::new(executionbackup());
    cmd.arg("--nodes")
        .arg(format!("{}#name=only-el", els[0].url()))
        .arg("--jwt-secret")
        .arg(&secret)
        .args([
            "--port",
            "0",
            "--metrics-addr",
            "off",
            "--health-interval",
            "1",
        ]);
    let (proc, url) = start_eb(cmd);
    let cl = Cl::new(url.clone());
    assert_eq!(status_of(&cl.new_payload(1).await), "VALID");

    els[0].set_dead(true);
    wait_refusing(&els[0]).await;
    let _ = cl.new_payload(2).await;
    let line = proc
        .wait_for(Duration::from_secs(20), |l| {
            l.contains("no execution client is alive and synced")
        })
        .unwrap_or_else(|seen| panic!("no ERROR line: {seen:#?}"));
    assert!(line.contains("ERROR"), "{line}");
    assert!(line.contains("only-el=dead"), "{line}");
    assert_eq!(readyz(&url).await.0, 503);

    els[0].set_dead(false);
    assert!(until_ready(&cl, &url, 2).await, "ready again");
    let line = proc
        .wait_for(Duration::from_secs(20), |l| {
            l.contains("alive and synced again")
        })
        .unwrap_or_else(|seen| panic!("no line for the return: {seen:#?}"));
    assert!(line.contains("ERROR"), "{line}");
    assert!(line.contains("alive=only-el"), "{line}");
}
