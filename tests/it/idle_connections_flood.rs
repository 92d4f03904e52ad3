//! Any local process can open connections without credentials. 1,000 idle connections on the
//! engine port and 3,000 on the Prometheus port, against a proxy limited to 1,024 file
//! descriptors, must still leave a new consensus-client request answered (and a scrape too):
//! unauthenticated connections make room for new ones, the Prometheus listener has its own
//! cap, and the descriptors never run out.

use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::mock_els::*;
use crate::support::processes::*;
use serde_json::json;
use tokio::net::TcpStream;

const ENGINE_IDLE: usize = 1_000;
const METRICS_IDLE: usize = 3_000;
/// A failure guard only: the answer is waited for, not timed.
const PATIENCE: Duration = Duration::from_secs(10);

/// This test process holds 4,000 sockets itself: raise its own soft limit to the hard one.
fn raise_own_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit read or write the struct passed, which outlives the call.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        limit.rlim_cur = limit.rlim_max;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
    }
    assert!(
        limit.rlim_cur >= (ENGINE_IDLE + METRICS_IDLE + 512) as libc::rlim_t,
        "this test needs a hard open-file limit of at least {} (have {})",
        ENGINE_IDLE + METRICS_IDLE + 512,
        limit.rlim_cur
    );
}

/// Opens `n` connections to `addr` and keeps them, sending nothing. Returns those that
/// connected (a connection the proxy closed later is still held here).
async fn idle(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    let mut held = Vec::with_capacity(n);
    for _ in 0..n {
        if let Ok(Ok(s)) =
            tokio::time::timeout(Duration::from_secs(3), TcpStream::connect(addr)).await
        {
            held.push(s);
        }
    }
    held
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consensus_client_gets_in_past_thousands_of_idle_connections() {
    raise_own_limit();
    let els = mocks(1).await;
    let dir = temp_dir("idle-flood");
    let secret = write_secret(&dir, "jwt.hex", &SECRET);
    let metrics_port = free_port();
    let mut cmd = Command::new(executionbackup());
    cmd.arg("--nodes")
        .arg(els[0].url())
        .arg("--jwt-secret")
        .arg(&secret)
        .args(["--port", "0"])
        .args(["--metrics-addr", &format!("127.0.0.1:{metrics_port}")]);
    // SAFETY: only setrlimit, which is async-signal-safe, runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 1024,
                rlim_max: 1024,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let (proxy, url) = start_eb(cmd);
    let engine: SocketAddr = url
        .trim_start_matches("http://")
        .parse()
        .expect("engine address");
    let metrics: SocketAddr = format!("127.0.0.1:{metrics_port}").parse().expect("addr");

    // The Prometheus port first (it may take a while where nothing makes room), then the
    // engine port, so that the consensus client comes right after the engine flood, while
    // every one of those connections is still fresh.
    let started = Instant::now();
    let metrics_held = idle(metrics, METRICS_IDLE).await;
    let metrics_took = started.elapsed();
    let started = Instant::now();
    let engine_held = idle(engine, ENGINE_IDLE).await;
    println!(
        "opened {} idle metrics connections in {metrics_took:?}, then {} idle engine connections in {:?}",
        metrics_held.len(),
        engine_held.len(),
        started.elapsed()
    );

    // A consensus client on a fresh connection, once, no retry.
    let cl = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .timeout(PATIENCE)
        .build()
        .expect("client");
    let asked = Instant::now();
    let answer = cl
        .post(&url)
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {}", token()))
        .body(json!({"jsonrpc":"2.0","id":1,"method":"engine_newPayloadV3","params":new_payload_params(1)}).to_string())
        .send()
        .await
        .unwrap_or_else(|e| panic!("the consensus client did not get in: {e}"));
    assert_eq!(answer.status(), 200);
    let body: serde_json::Value =
        serde_json::from_str(&answer.text().await.expect("body")).expect("JSON");
    assert_eq!(status_of(&body), "VALID", "{body}");
    println!(
        "consensus client answered {:?} after asking (informational)",
        asked.elapsed()
    );

    // A scrape still gets through its own listener, and the process is alive.
    let scrape = cl
        .get(format!("http://{metrics}/metrics"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("the Prometheus listener is locked out: {e}"));
    assert_eq!(scrape.status(), 200);
    assert!(scrape.text().await.expect("text").contains("eb_node_state"));
    assert!(
        std::fs::metadata(format!("/proc/{}", proxy.pid())).is_ok(),
        "the proxy died"
    );
    drop((engine_held, metrics_held));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_up_says_when_the_descriptor_limit_is_below_the_budget() {
    let els = mocks(1).await;
    let dir = temp_dir("fd-limit");
    let secret = write_secret(&dir, "jwt.hex", &SECRET);
    let mut cmd = Command::new(executionbackup());
    cmd.arg("--nodes")
        .arg(els[0].url())
        .arg("--jwt-secret")
        .arg(&secret)
        .args(["--port", "0", "--metrics-addr", "off"]);
    // 256 engine connections and a node pool of 130 do not fit in 200 descriptors, and the hard
    // limit leaves no room to raise the soft one.
    // SAFETY: only setrlimit, which is async-signal-safe, runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 200,
                rlim_max: 200,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let proc = Proc::spawn(cmd);
    let seen = std::cell::RefCell::new(Vec::new());
    proc.wait_for(Duration::from_secs(20), |l| {
        seen.borrow_mut().push(l.to_owned());
        l.contains("listening for the consensus client")
    })
    .unwrap_or_else(|lines| panic!("did not start: {lines:#?}"));
    let seen = seen.into_inner();
    let warning: Vec<&String> = seen
        .iter()
        .filter(|l| l.contains("RLIMIT_NOFILE"))
        .collect();
    assert_eq!(warning.len(), 1, "{seen:#?}");
    assert!(
        warning[0].contains("WARN") && warning[0].contains("limit=200"),
        "{}",
        warning[0]
    );
}
