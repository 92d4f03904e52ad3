//! `user:password@` in a node URL is never shown: not in the logs (even at debug level), not in
//! the open `GET /metrics` report, not in Prometheus labels, not in error messages. Nodes are
//! shown as `http://***@host:port`.

use std::process::Command;
use std::time::Duration;

use crate::support::mock_els::*;
use crate::support::processes::*;
use serde_json::json;

const USER: &str = "eb-user";
const PASSWORD: &str = "s3cr3t-pw";

fn assert_clean(what: &str, text: &str) {
    for secret in [PASSWORD, "eb-user:", "-pw@"] {
        assert!(!text.contains(secret), "{what} shows {secret:?}:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_appear_nowhere() {
    let els = mocks(1).await;
    let live = els[0].addr();
    let dead = free_port();
    let dir = temp_dir("credentials");
    let secret = write_secret(&dir, "jwt.hex", &SECRET);
    let metrics_port = free_port();
    // The dead node's own secret file is readable by everyone: one WARN line says so.
    let shared = dir.join("shared.hex");
    std::fs::write(&shared, "ab".repeat(32)).expect("write");
    std::fs::set_permissions(&shared, std::os::unix::fs::PermissionsExt::from_mode(0o644))
        .expect("chmod");
    let mut cmd = Command::new(executionbackup());
    cmd.arg("--nodes")
        .arg(format!(
            "http://{USER}:{PASSWORD}@{live},http://{USER}:{PASSWORD}2@127.0.0.1:{dead}/#jwt-secret={}",
            shared.display()
        ))
        .arg("--jwt-secret")
        .arg(&secret)
        .args(["--port", "0", "--log-level", "debug"])
        .args(["--metrics-addr", &format!("127.0.0.1:{metrics_port}")]);
    let proc = Proc::spawn(cmd);
    // Every line, the start-up ones included.
    let start_up = std::cell::RefCell::new(Vec::new());
    let line = proc
        .wait_for(Duration::from_secs(20), |l| {
            start_up.borrow_mut().push(l.to_owned());
            l.contains("listening for the consensus client")
        })
        .unwrap_or_else(|seen| panic!("did not start: {seen:#?}"));
    let url = format!("http://{}", addr_after(&line, "local_addr="));
    let mut log = start_up.into_inner();

    let cl = Cl::new(url.clone());
    assert_eq!(status_of(&cl.new_payload(1).await), "VALID");
    assert_eq!(cl.rpc("eth_chainId", json!([])).await["result"], "0x539");

    let report = cl.metrics().await;
    let report_text = report.to_string();
    assert_clean("GET /metrics", &report_text);
    let shown = format!("http://***@{live}");
    assert!(
        report["alive_nodes"] == json!([shown]),
        "the live node, redacted: {report}"
    );
    let prometheus = reqwest::get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .await
        .expect("scrape")
        .text()
        .await
        .expect("text");
    assert!(
        prometheus.contains(&format!("node=\"{shown}\"")),
        "{prometheus}"
    );
    assert_clean("Prometheus", &prometheus);

    // Everything logged so far (the dead node's failures included).
    let rest = proc
        .wait_for(Duration::from_secs(2), |_| false)
        .unwrap_err();
    log.extend(rest);
    let log = log.join("\n");
    assert!(
        log.contains(&format!("***@127.0.0.1:{dead}")),
        "the dead node is logged: {log}"
    );
    assert_clean("the log", &log);
    let warned: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("readable by group or others"))
        .collect();
    assert_eq!(warned.len(), 1, "{log}");
    assert!(
        warned[0].contains("WARN") && warned[0].contains("shared.hex"),
        "{log}"
    );

    // A bad entry's start-up error.
    let mut bad = Command::new(executionbackup());
    bad.arg("--nodes")
        .arg(format!("http://{USER}:{PASSWORD}@{live}#bogus"))
        .arg("--jwt-secret")
        .arg(&secret);
    let mut bad = Proc::spawn(bad);
    let status = bad.wait_exit(Duration::from_secs(20)).expect("exits");
    assert_eq!(status.code(), Some(2));
    let out = bad
        .wait_for(Duration::from_millis(200), |_| false)
        .unwrap_err()
        .join("\n");
    assert!(out.contains("#bogus"), "{out}");
    assert_clean("the start-up error", &out);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_nodes_answers_never_show_credentials() {
    let els = mocks(2).await;
    let dir = temp_dir("credentials-add");
    let secret = write_secret(&dir, "jwt.hex", &SECRET);
    let admin = write_secret(&dir, "admin.hex", &ADMIN_SECRET);
    let mut cmd = Command::new(executionbackup());
    cmd.arg("--nodes")
        .arg(els[0].url())
        .arg("--jwt-secret")
        .arg(&secret)
        .arg("--admin-jwt-secret")
        .arg(&admin)
        .args(["--port", "0", "--metrics-addr", "off"]);
    let (proc, url) = start_eb(cmd);
    let cl = Cl::new(url);
    for bad in [
        format!("http://{USER}:{PASSWORD}@{}#bogus", els[1].addr()),
        format!("http://{USER}:{PASSWORD}@{}", els[0].addr()),
        format!("http://{USER}:{PASSWORD}@127.0.0.1:99999"),
    ] {
        let (status, answer) = cl.admin_post("/add_nodes", json!({"nodes": [bad]})).await;
        assert_eq!(status, 400, "{answer}");
        assert_clean("an /add_nodes error", &answer.to_string());
    }
    let good = format!("http://{USER}:{PASSWORD}@{}", els[1].addr());
    let (status, answer) = cl.admin_post("/add_nodes", json!({"nodes": [good]})).await;
    assert_eq!(status, 200, "{answer}");
    assert_clean("the /add_nodes report", &answer.to_string());
    let (status, answer) = cl
        .admin_post(
            "/remove_nodes",
            json!({"nodes": [format!("http://{USER}:{PASSWORD}@{}", els[0].addr())]}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["alive_nodes"],
        json!([format!("http://***@{}", els[1].addr())])
    );
    let log = proc
        .wait_for(Duration::from_secs(1), |_| false)
        .unwrap_err()
        .join("\n");
    assert!(log.contains("node added through the API"), "{log}");
    assert_clean("the log", &log);
}
