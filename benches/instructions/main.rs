//! Instruction counts of the proxy's own work per call (gungraun, under valgrind's callgrind).
//!
//! Everything runs in this process on one thread: a stub consensus client writes an HTTP request
//! into the proxy's server, the proxy does all it does in production (HTTP, JWT, framing,
//! routing, fan-out through the node lanes, HTTP to the ELs, vote, answer), and stub ELs answer
//! at once without copying what they receive (see `stub.rs`). Setup (building the payload,
//! starting the proxy, a warm-up call that opens the connections) is not counted.
//!
//! `cargo bench --bench instructions` runs them; `.ci/check-instructions.sh` compares the figures
//! with `benches/instructions/baseline.txt`.

mod stub;

use std::hint::black_box;
use std::sync::Arc;

use bytes::Bytes;
use eb_transport::{JwtSecret, Network, TokenCache, WallClock};
use executionbackup::config::{NodeConfig, NodeSpec, Settings};
use executionbackup::proxy::Proxy;
use executionbackup::server;
use executionbackup::vote::{self, Answer, Kind, Status};
use gungraun::{library_benchmark, library_benchmark_group, main};

use crate::stub::{ClHandle, StubNet};

/// The stub ELs behind the proxy.
const ELS: usize = 3;
/// A fixed wall clock (JWT `iat`), so the proxy's token checks take the same path every run.
const NOW: u64 = 1_700_000_000;

struct FixedClock;

impl WallClock for FixedClock {
    fn unix_seconds(&self) -> u64 {
        NOW
    }
}

/// A running proxy with its stub CL connection, and the request to measure.
pub struct Harness {
    rt: tokio::runtime::Runtime,
    cl: ClHandle,
    request: Bytes,
    _proxy: Arc<Proxy<StubNet>>,
}

impl Harness {
    fn start() -> Self {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime");
        let secret = JwtSecret::from_bytes([7; 32]);
        let net = StubNet::new();
        let proxy = rt.block_on(async {
            let proxy = Proxy::new(
                Settings::default(),
                secret.clone(),
                net.clone(),
                Arc::new(FixedClock),
                1,
            );
            let nodes = (0..ELS)
                .map(|i| NodeConfig {
                    spec: NodeSpec::parse(&format!("http://127.0.0.1:{}", 8551 + i))
                        .expect("node spec"),
                    secret: secret.clone(),
                    timeout: std::time::Duration::from_secs(8),
                    tls: None,
                })
                .collect();
            proxy.add_nodes(nodes).expect("nodes");
            let listener = net
                .bind(([127, 0, 0, 1], 0).into())
                .await
                .expect("listener");
            tokio::spawn(server::serve(
                proxy.clone(),
                server::Front::new(&proxy.settings, secret.clone()),
                listener,
                std::future::pending(),
            ));
            proxy
        });
        let cl = net.cl_connect();
        let mut h = Self {
            rt,
            cl,
            request: Bytes::new(),
            _proxy: proxy,
        };
        h.request = h.http(&rpc("eth_chainId", "[]"));
        h.roundtrip();
        h
    }

    /// The HTTP request a CL sends with `body`.
    fn http(&self, body: &str) -> Bytes {
        let token = TokenCache::new(JwtSecret::from_bytes([7; 32])).authorization(&FixedClock);
        let mut out = format!(
            "POST / HTTP/1.1\r\nhost: 127.0.0.1:8551\r\nauthorization: {token}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        out.extend_from_slice(body.as_bytes());
        Bytes::from(out)
    }

    /// Sends the request, returns the JSON answer.
    fn roundtrip(&self) -> Bytes {
        let answer = self.rt.block_on(self.cl.roundtrip(self.request.clone()));
        Bytes::copy_from_slice(stub::body_of(&answer))
    }

    /// Makes `body` the measured request, after checking (and warming up) with one call.
    fn measure(mut self, body: &str, want: &str) -> Self {
        self.request = self.http(body);
        for _ in 0..2 {
            let answer = self.roundtrip();
            let text = String::from_utf8_lossy(&answer);
            assert!(text.contains(want), "unexpected answer: {text}");
        }
        self
    }
}

fn rpc(method: &str, params: &str) -> String {
    format!(r#"{{"jsonrpc":"2.0","id":1,"method":"{method}","params":{params}}}"#)
}

/// A small deterministic generator for payload bytes.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    fn hex(&mut self, bytes: usize) -> String {
        let mut s = String::with_capacity(2 + bytes * 2);
        s.push_str("0x");
        for _ in 0..bytes {
            s.push_str(&format!("{:02x}", self.next() as u8));
        }
        s
    }
}

/// An `engine_newPayloadV3` request of about `size` bytes (transactions of random bytes).
pub fn new_payload_body(size: usize) -> String {
    let mut g = Lcg(size as u64);
    let mut txs = Vec::new();
    let mut len = 1400;
    while len < size {
        let tx_len = 100 + (g.next() as usize % 600);
        let tx = g.hex(tx_len);
        len += tx.len() + 3;
        txs.push(format!("\"{tx}\""));
    }
    let withdrawals: Vec<String> = (0..16)
        .map(|i| {
            format!(
                r#"{{"index":"0x{i:x}","validatorIndex":"0x{:x}","address":"{}","amount":"0x{:x}"}}"#,
                1000 + i,
                g.hex(20),
                g.next()
            )
        })
        .collect();
    let payload = format!(
        r#"{{"parentHash":"{}","feeRecipient":"{}","stateRoot":"{}","receiptsRoot":"{}","logsBloom":"{}","prevRandao":"{}","blockNumber":"0x10","gasLimit":"0x1c9c380","gasUsed":"0x1","timestamp":"0x6553f100","extraData":"0x","baseFeePerGas":"0x7","blockHash":"{}","transactions":[{}],"withdrawals":[{}],"blobGasUsed":"0x0","excessBlobGas":"0x0"}}"#,
        g.hex(32),
        g.hex(20),
        g.hex(32),
        g.hex(32),
        g.hex(256),
        g.hex(32),
        g.hex(32),
        txs.join(","),
        withdrawals.join(","),
    );
    rpc(
        "engine_newPayloadV3",
        &format!("[{payload},[\"{}\"],\"{}\"]", g.hex(32), g.hex(32)),
    )
}

fn fcu_body(attributes: bool) -> String {
    let state = r#"{"headBlockHash":"0x7777777777777777777777777777777777777777777777777777777777777777","safeBlockHash":"0x7777777777777777777777777777777777777777777777777777777777777777","finalizedBlockHash":"0x6666666666666666666666666666666666666666666666666666666666666666"}"#;
    let attrs = if attributes {
        // No withdrawals: the stub builders' payload (stub.rs) must match the build request.
        let withdrawals: Vec<String> = Vec::new();
        format!(
            r#"{{"timestamp":"0x6553f10c","prevRandao":"0x6666666666666666666666666666666666666666666666666666666666666666","suggestedFeeRecipient":"0x3333333333333333333333333333333333333333","withdrawals":[{}],"parentBeaconBlockRoot":"0x8888888888888888888888888888888888888888888888888888888888888888"}}"#,
            withdrawals.join(",")
        )
    } else {
        "null".to_owned()
    };
    rpc("engine_forkchoiceUpdatedV3", &format!("[{state},{attrs}]"))
}

// ---- setups (not counted) -------------------------------------------------------------------

fn setup_new_payload(size: usize) -> Harness {
    Harness::start().measure(&new_payload_body(size), "\"VALID\"")
}

fn setup_fcu() -> Harness {
    Harness::start().measure(&fcu_body(false), "\"VALID\"")
}

fn setup_get_payload() -> Harness {
    let h = Harness::start().measure(&fcu_body(true), "payloadId");
    let answer = h.roundtrip();
    let v: serde_json::Value = serde_json::from_slice(&answer).expect("fcU answer");
    let id = v["result"]["payloadId"]
        .as_str()
        .expect("payloadId")
        .to_owned();
    h.measure(
        &rpc("engine_getPayloadV3", &format!("[\"{id}\"]")),
        "blockValue",
    )
}

fn setup_block_number() -> Harness {
    Harness::start().measure(&rpc("eth_blockNumber", "[]"), "0x1234")
}

// ---- benchmarks ---------------------------------------------------------------------------

#[library_benchmark]
#[bench::kb2(args = (2 * 1024), setup = setup_new_payload)]
#[bench::kb128(args = (128 * 1024), setup = setup_new_payload)]
#[bench::mb1(args = (1024 * 1024), setup = setup_new_payload)]
#[bench::mb4(args = (4 * 1024 * 1024), setup = setup_new_payload)]
fn new_payload_v3(h: Harness) -> (Harness, Bytes) {
    let answer = h.roundtrip();
    (h, black_box(answer))
}

#[library_benchmark]
#[bench::head(setup = setup_fcu)]
fn forkchoice_updated_v3(h: Harness) -> (Harness, Bytes) {
    let answer = h.roundtrip();
    (h, black_box(answer))
}

#[library_benchmark]
#[bench::mapped(setup = setup_get_payload)]
fn get_payload_v3(h: Harness) -> (Harness, Bytes) {
    let answer = h.roundtrip();
    (h, black_box(answer))
}

#[library_benchmark]
#[bench::primary(setup = setup_block_number)]
fn eth_block_number(h: Harness) -> (Harness, Bytes) {
    let answer = h.roundtrip();
    (h, black_box(answer))
}

#[library_benchmark]
#[bench::three_els()]
fn vote_three() {
    let answers = [
        Answer::status(Status::Valid),
        Answer::status(Status::Valid),
        Answer::status(Status::Syncing),
    ];
    black_box(vote::decide(Kind::NewPayload, black_box(&answers), 0.6));
}

library_benchmark_group!(
    name = hot_path,
    benchmarks = [
        new_payload_v3,
        forkchoice_updated_v3,
        get_payload_v3,
        eth_block_number,
        vote_three
    ]
);

main!(library_benchmark_groups = hot_path);
