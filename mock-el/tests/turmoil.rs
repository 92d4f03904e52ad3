//! mock-el under the turmoil simulator: the same server code over a simulated network and
//! simulated time. Long latencies and SYNCING windows take no real time, and a seed replays
//! exactly.

mod common;

use std::cell::RefCell;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use common::*;
use eb_transport::{Listener, Network};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use mock_el::{Behaviour, MockEl};
use serde_json::{json, Value};
use tokio::time::Instant;

/// The network seam over turmoil (the sim crate has the shared one; this keeps mock-el's
/// tests free of a dependency on it).
#[derive(Clone, Copy)]
struct SimNet;

struct SimListener(turmoil::net::TcpListener);

impl Network for SimNet {
    type Stream = turmoil::net::TcpStream;
    type Listener = SimListener;

    async fn connect(&self, host: &str, port: u16) -> io::Result<Self::Stream> {
        turmoil::net::TcpStream::connect((host, port)).await
    }

    async fn bind(&self, addr: SocketAddr) -> io::Result<Self::Listener> {
        turmoil::net::TcpListener::bind(addr).await.map(SimListener)
    }
}

impl Listener for SimListener {
    type Stream = turmoil::net::TcpStream;

    async fn accept(&self) -> io::Result<(Self::Stream, SocketAddr)> {
        self.0.accept().await
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }
}

type Shared = Rc<RefCell<Option<MockEl>>>;

/// Adds host "el" running a mock on port 8551 built by `configure`; the mock's state handle is
/// put in the returned cell once it runs.
fn el_host(sim: &mut turmoil::Sim<'_>, configure: fn() -> mock_el::MockElBuilder) -> Shared {
    let cell: Shared = Rc::default();
    let host_cell = cell.clone();
    sim.host("el", move || {
        let cell = host_cell.clone();
        async move {
            let el = configure().spawn(SimNet, "0.0.0.0:8551".parse()?).await?;
            *cell.borrow_mut() = Some(el.el().clone());
            std::future::pending::<()>().await;
            drop(el);
            Ok(())
        }
    });
    cell
}

/// One JSON-RPC call on a fresh connection; `Err` when the connection fails or is dropped.
async fn call(method: &str, params: Value) -> Result<Value, Box<dyn std::error::Error>> {
    let stream = turmoil::net::TcpStream::connect(("el", 8551)).await?;
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let body = json!({"jsonrpc":"2.0","id":1,"method":method,"params":params}).to_string();
    let req = http::Request::post("/")
        .header("authorization", format!("Bearer {}", token_at(NOW)))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))?;
    let res = send.send_request(req).await?;
    let bytes = res.into_body().collect().await?.to_bytes();
    let value: Value = serde_json::from_slice(&bytes)?;
    Ok(value["result"].clone())
}

fn sim() -> turmoil::Sim<'static> {
    turmoil::Builder::new()
        .simulation_duration(Duration::from_secs(600))
        .rng_seed(1)
        .build()
}

/// Runs 30 calls against a flaky mock with random latency; returns (answered, sim time taken)
/// per call.
fn flaky_run() -> Vec<(bool, Duration)> {
    let mut sim = sim();
    el_host(&mut sim, || {
        builder()
            .seed(21)
            .behaviour(Behaviour::latency_range(
                Duration::from_millis(100),
                Duration::from_millis(2_000),
            ))
            .behaviour(Behaviour::flaky(0.3, 5))
    });
    let out = Rc::new(RefCell::new(Vec::new()));
    let client_out = out.clone();
    sim.client("cl", async move {
        for _ in 0..30 {
            let start = Instant::now();
            let ok = call("eth_chainId", json!([])).await.is_ok();
            client_out.borrow_mut().push((ok, start.elapsed()));
        }
        Ok(())
    });
    sim.run().expect("simulation");
    let result = out.borrow().clone();
    result
}

#[test]
fn replays_exactly_under_simulation() {
    let first = flaky_run();
    let second = flaky_run();
    assert_eq!(first, second, "same seeds, same run");
    let failed = first.iter().filter(|(ok, _)| !ok).count();
    assert!((3..=20).contains(&failed), "{failed} of 30 failed");
    // Latency happens in simulated time.
    assert!(first
        .iter()
        .all(|(_, took)| *took >= Duration::from_millis(100)));
    assert!(first
        .iter()
        .any(|(_, took)| *took >= Duration::from_millis(1_000)));
}

#[test]
fn dead_and_revived_and_syncing_in_simulated_time() {
    let mut sim = sim();
    let el = el_host(&mut sim, builder);
    sim.client("cl", async move {
        assert_eq!(call("eth_chainId", json!([])).await?, "0x539");
        let handle = el.borrow().clone().ok_or("mock not running")?;

        handle.set_dead(true);
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(call("eth_chainId", json!([])).await.is_err(), "dead");
        handle.set_dead(false);
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(call("eth_chainId", json!([])).await?, "0x539", "revived");

        handle.set(Behaviour::syncing_for(Duration::from_secs(300)));
        let s = call("engine_newPayloadV3", new_payload_params(1, &hash(1000))).await?;
        assert_eq!(s["status"], "SYNCING");
        assert!(call("eth_syncing", json!([])).await?.is_object());
        tokio::time::sleep(Duration::from_secs(301)).await;
        let s = call("engine_newPayloadV3", new_payload_params(1, &hash(1000))).await?;
        assert_eq!(s["status"], "VALID");
        assert_eq!(call("eth_syncing", json!([])).await?, false);

        let calls = handle.calls();
        assert_eq!(calls.len(), 6);
        assert!(calls
            .last()
            .is_some_and(|c| c.at >= Duration::from_secs(301)));
        Ok(())
    });
    sim.run().expect("simulation");
}
