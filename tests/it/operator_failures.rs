//! What an operator sees when something is wrong, on the shipped binary: a consensus client with
//! the wrong secret (a WARN line naming the reason and the peer, and a counter), an unknown
//! `--log-level` (exit 2 with the levels), a port already taken (exit 3 naming the address and
//! the flag), the one start-up line (version, commit, addresses, nodes without credentials) and
//! `#name=` in the logs, the JSON report and the Prometheus labels.

use std::process::Command;
use std::time::Duration;

use crate::support::mock_els::*;
use crate::support::processes::*;
use eb_transport::JwtSecret;

/// Runs executionbackup to its exit (it must exit within 20 s); returns its status and output.
fn run_to_exit(cmd: Command) -> (Option<i32>, String) {
    let mut proc = Proc::spawn(cmd);
    let status = proc
        .wait_exit(Duration::from_secs(20))
        .expect("exits on its own");
    // The readers end with the process's pipes: this collects every line it printed.
    let lines = proc
        .wait_for(Duration::from_secs(10), |_| false)
        .unwrap_err();
    (status.code(), lines.join("\n"))
}

fn base(dir: &std::path::Path, nodes: &str) -> Command {
    let secret = write_secret(dir, "jwt.hex", &SECRET);
    let mut cmd = Command::new(executionbackup());
    cmd.arg("--nodes")
        .arg(nodes)
        .arg("--jwt-secret")
        .arg(secret);
    cmd
}

async fn scrape(addr: &str) -> String {
    reqwest::get(format!("http://{addr}/metrics"))
        .await
        .expect("Prometheus answers")
        .text()
        .await
        .expect("text")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_secret_is_logged_with_reason_and_peer_and_counted() {
    let els = mocks(1).await;
    let dir = temp_dir("wrong-secret");
    let mut cmd = base(&dir, &els[0].url());
    cmd.args(["--port", "0", "--metrics-addr", "127.0.0.1:0"]);
    let proc = Proc::spawn(cmd);
    let line = proc
        .wait_for(Duration::from_secs(20), |l| {
            l.contains("listening for the consensus client")
        })
        .unwrap_or_else(|seen| panic!("did not start: {seen:#?}"));
    let url = format!("http://{}", addr_after(&line, "local_addr="));
    let prometheus = addr_after(&line, "prometheus=");

    let other = JwtSecret::from_bytes([0x11; 32]);
    let cl = Cl::new(url);
    let (status, _) = cl
        .post_with(
            "/",
            serde_json::json!({"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}),
            Some(token_for(&other)),
        )
        .await;
    assert_eq!(status, 401);
    let logged = proc
        .wait_for(Duration::from_secs(20), |l| {
            l.contains("reason=\"wrong_secret\"")
        })
        .unwrap_or_else(|seen| panic!("no line for the refused request: {seen:#?}"));
    assert!(logged.contains("WARN"), "{logged}");
    assert!(logged.contains("peer=127.0.0.1:"), "{logged}");

    // Three more, and one without a token at all: every one is counted.
    for _ in 0..3 {
        cl.post_with("/", serde_json::json!({}), Some(token_for(&other)))
            .await;
    }
    let (status, _) = cl.post("/", serde_json::json!({}), false).await;
    assert_eq!(status, 401);
    let text = scrape(&prometheus).await;
    assert!(
        text.contains("eb_refused_requests_total{reason=\"wrong_secret\"} 4"),
        "{text}"
    );
    assert!(
        text.contains("eb_refused_requests_total{reason=\"no_token\"} 1"),
        "{text}"
    );
}

#[test]
fn unknown_log_level_exits_2_with_the_levels() {
    let dir = temp_dir("log-level");
    for level in ["verbose", "warning"] {
        let mut cmd = base(&dir, "http://127.0.0.1:1");
        cmd.args(["--port", "0", "--metrics-addr", "off", "--log-level", level]);
        let (code, out) = run_to_exit(cmd);
        assert_eq!(code, Some(2), "{level}: {out}");
        assert!(out.contains(level), "{out}");
        assert!(
            out.contains("off, error, warn, info, debug, trace"),
            "{out}"
        );
    }
    // The environment variable is checked the same way.
    let mut cmd = base(&dir, "http://127.0.0.1:1");
    cmd.args(["--port", "0", "--metrics-addr", "off"])
        .env("EB_LOG_LEVEL", "verbose");
    let (code, out) = run_to_exit(cmd);
    assert_eq!(code, Some(2), "{out}");
}

#[test]
fn a_taken_port_names_the_address_and_the_flag_and_exits_3() {
    let dir = temp_dir("taken-port");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr");

    let mut cmd = base(&dir, "http://127.0.0.1:1");
    cmd.args(["--port", &addr.port().to_string(), "--metrics-addr", "off"]);
    let (code, out) = run_to_exit(cmd);
    assert_eq!(code, Some(3), "{out}");
    assert!(
        out.contains(&format!(
            "cannot listen on {addr} (set by --listen-addr/--port)"
        )),
        "{out}"
    );
    assert_eq!(out.matches("in use").count(), 1, "said once: {out}");

    let mut cmd = base(&dir, "http://127.0.0.1:1");
    cmd.args(["--port", "0", "--metrics-addr", &addr.to_string()]);
    let (code, out) = run_to_exit(cmd);
    assert_eq!(code, Some(3), "{out}");
    assert!(
        out.contains(&format!("cannot listen on {addr} (set by --metrics-addr)")),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_up_line_and_node_names_in_logs_report_and_prometheus() {
    let els = mocks(2).await;
    let dir = temp_dir("names");
    let nodes = format!(
        "http://op:hunter2@{}#name=geth-1,{}#name=nethermind-1",
        els[0].addr(),
        els[1].url()
    );
    let mut cmd = base(&dir, &nodes);
    cmd.args(["--port", "0", "--metrics-addr", "127.0.0.1:0"]);
    let proc = Proc::spawn(cmd);
    let added = std::cell::RefCell::new(Vec::new());
    let line = proc
        .wait_for(Duration::from_secs(20), |l| {
            added.borrow_mut().push(l.to_owned());
            l.contains("listening for the consensus client")
        })
        .unwrap_or_else(|seen| panic!("did not start: {seen:#?}"));
    assert!(line.contains("INFO"), "{line}");
    assert!(
        line.contains(&format!("version=\"{}\"", env!("CARGO_PKG_VERSION")))
            || line.contains(&format!("version={}", env!("CARGO_PKG_VERSION"))),
        "{line}"
    );
    assert!(line.contains("commit="), "{line}");
    assert!(line.contains("local_addr=127.0.0.1:"), "{line}");
    assert!(line.contains("prometheus=127.0.0.1:"), "{line}");
    assert!(
        line.contains(&format!("geth-1=http://***@{}", els[0].addr())),
        "{line}"
    );
    assert!(
        line.contains(&format!("nethermind-1={}", els[1].url())),
        "{line}"
    );
    assert!(!line.contains("hunter2"), "{line}");
    let added = added.into_inner();
    assert!(
        added
            .iter()
            .any(|l| l.contains("node added") && l.contains("node=\"geth-1\"")),
        "{added:#?}"
    );

    let url = format!("http://{}", addr_after(&line, "local_addr="));
    let cl = Cl::new(url);
    assert_eq!(status_of(&cl.new_payload(1).await), "VALID");
    let report = cl.metrics().await;
    assert_eq!(
        report["node_names"][els[1].url()],
        "nethermind-1",
        "{report}"
    );
    let text = scrape(&addr_after(&line, "prometheus=")).await;
    for name in ["geth-1", "nethermind-1"] {
        assert!(
            text.contains(&format!(
                "eb_node_state{{node=\"{name}\",state=\"alive\"}} 1"
            )),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "eb_vote_waits_total{{node=\"{name}\",ended=\"answered\"}} 1"
            )),
            "{text}"
        );
    }
    assert!(!text.contains("hunter2"), "{text}");
}

#[test]
fn two_nodes_with_one_name_are_refused() {
    let dir = temp_dir("same-name");
    let mut cmd = base(&dir, "http://127.0.0.1:1#name=a,http://127.0.0.1:2#name=a");
    cmd.args(["--port", "0", "--metrics-addr", "off"]);
    let (code, out) = run_to_exit(cmd);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("#name=a is already the name of"), "{out}");
}
