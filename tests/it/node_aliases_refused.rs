//! One EL, one vote: an entry that reaches an execution client already in the set under another
//! spelling (localhost for 127.0.0.1, another path, a trailing slash, credentials), or that
//! reaches the proxy itself, is refused: at start-up (exit 2, one line naming both) and on
//! `/add_nodes` (400, nothing changes).

use std::process::Command;
use std::time::Duration;

use crate::support::mock_els::*;
use crate::support::processes::*;
use serde_json::{json, Value};

fn eb(nodes: &str, secret: &std::path::Path) -> Command {
    let mut cmd = Command::new(executionbackup());
    cmd.arg("--nodes")
        .arg(nodes)
        .arg("--jwt-secret")
        .arg(secret)
        .args(["--metrics-addr", "off"]);
    cmd
}

/// Runs to its end (it must exit by itself); returns the exit code and everything printed.
fn refused(mut cmd: Command) -> (Option<i32>, String) {
    let mut proc = Proc::spawn({
        cmd.args(["--log-level", "warn"]);
        cmd
    });
    let status = proc.wait_exit(Duration::from_secs(20));
    let lines = proc
        .wait_for(Duration::from_millis(200), |_| false)
        .unwrap_err();
    (status.and_then(|s| s.code()), lines.join("\n"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_up_refuses_aliases_and_its_own_address() {
    let els = mocks(1).await;
    let port = els[0].addr().port();
    let dir = temp_dir("aliases-start");
    let secret = write_secret(&dir, "jwt.hex", &SECRET);
    let first = format!("http://127.0.0.1:{port}");
    for alias in [
        format!("http://localhost:{port}"),
        format!("http://127.0.0.1:{port}/x"),
        format!("http://127.0.0.1:{port}/"),
        format!("http://[::1]:{port}"),
        format!("http://0.0.0.0:{port}"),
        format!("http://LocalHost.:{port}#do-not-use"),
    ] {
        let mut cmd = eb(&format!("{first},{alias}"), &secret);
        cmd.args(["--port", "0"]);
        let (code, out) = refused(cmd);
        assert_eq!(code, Some(2), "{alias} was accepted next to {first}: {out}");
        assert!(
            out.contains("same execution client") && out.contains(&first),
            "{alias}: {out}"
        );
        assert_eq!(out.lines().count(), 1, "one line: {out}");
    }

    let own = free_port();
    for me in [
        format!("http://127.0.0.1:{own}"),
        format!("http://localhost:{own}/"),
    ] {
        let mut cmd = eb(&format!("{first},{me}"), &secret);
        cmd.args(["--port", &own.to_string()]);
        let (code, out) = refused(cmd);
        assert_eq!(code, Some(2), "{me} (the proxy itself) was accepted: {out}");
        assert!(out.contains("own address"), "{me}: {out}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_nodes_refuses_aliases_and_its_own_address() {
    let els = mocks(2).await;
    let port = els[0].addr().port();
    let dir = temp_dir("aliases-add");
    let secret = write_secret(&dir, "jwt.hex", &SECRET);
    let admin = write_secret(&dir, "admin.hex", &ADMIN_SECRET);
    let mut cmd = eb(&els[0].url(), &secret);
    cmd.arg("--admin-jwt-secret")
        .arg(&admin)
        .args(["--port", "0"]);
    let (_proxy, url) = start_eb(cmd);
    let own_port = url.rsplit(':').next().unwrap_or_default().to_owned();
    let cl = Cl::new(url.clone());
    let metrics = || async { cl.metrics().await };
    let before: Value = metrics().await;

    for bad in [
        format!("http://localhost:{port}"),
        format!("http://127.0.0.1:{port}/x"),
        format!("http://user:pw@127.0.0.1:{port}/"),
        format!("http://127.0.0.1:{own_port}"),
        format!("http://localhost:{own_port}/engine"),
    ] {
        // Alone, and next to a good node: nothing is added either way.
        for list in [json!([bad]), json!([els[1].url(), bad])] {
            let (status, answer) = cl.admin_post("/add_nodes", json!({ "nodes": list })).await;
            assert_eq!(status, 400, "{bad}: {answer}");
            let message = answer["error"].as_str().unwrap_or_default();
            assert!(
                message.contains("same execution client") || message.contains("own address"),
                "{bad}: {answer}"
            );
            assert!(!message.contains("pw@"), "{answer}");
            let now = metrics().await;
            assert_eq!(
                now,
                before_without_times(&before, &now),
                "{bad} changed the set"
            );
        }
    }
    // The same EL twice in one request.
    let twice =
        json!({"nodes": [els[1].url(), format!("http://localhost:{}", els[1].addr().port())]});
    let (status, answer) = cl.admin_post("/add_nodes", twice).await;
    assert_eq!(status, 400, "{answer}");
    assert!(els[1].el().calls().is_empty(), "a refused node was probed");

    // Removal takes any spelling of a configured node's URL.
    let (status, answer) = cl
        .admin_post("/add_nodes", json!({"nodes": [els[1].url()]}))
        .await;
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = cl
        .admin_post(
            "/remove_nodes",
            json!({"nodes": [format!("http://localhost:{port}/")]}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["alive_nodes"], json!([els[1].url()]), "{answer}");
}

/// `before` with the latencies of `now` (they move with every probe).
fn before_without_times(before: &Value, now: &Value) -> Value {
    let mut out = before.clone();
    out["response_times"] = now["response_times"].clone();
    out
}
