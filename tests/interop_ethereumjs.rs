//! executionbackup in front of real execution clients: two EthereumJS processes (each with its
//! own JWT secret, given per node with `#jwt-secret=`) and one mock-el, driven by the mock-cl
//! driver the way a consensus client drives its EL.
//!
//! Runs when EthereumJS is installed in `interop/node_modules` (`bash .ci/interop-install.sh`);
//! otherwise it prints a loud SKIPPED notice and passes, except under CI (`CI` set), where a
//! missing client fails it.
//!
//! The scenario, in order (node order `[ejs-a, ejs-b, mock]`, so ejs-a is the primary):
//!
//! 1. **Direct baseline.** The driver builds blocks straight on ejs-a's engine port
//!    (transactions sent to ejs-a's RPC port); the same blocks are then replayed into ejs-b's
//!    engine port (newPayload of blocks it did not build: full execution). Both latencies are
//!    the "direct" numbers.
//! 2. **Through the proxy.** At least 20 blocks with transactions sent to ejs-a's RPC port; both
//!    EthereumJS end on the same head (`eth_getBlockByNumber("latest")` on their RPC ports, same
//!    hash), and a transaction sent only to ejs-a has a receipt on ejs-b.
//! 3. **One EL answers INVALID.** The mock is told that the block just built is INVALID; the
//!    proxy answers the CL's newPayload SYNCING (not VALID) while both EthereumJS answer VALID
//!    for it (asked directly afterwards). The driver does not build on a block that was not
//!    VALID, so the next slot proposes again on the same parent, and that block is VALID.
//! 4. **A real EL crashes mid-slot.** ejs-a (the primary, whose payload the CL just got) is
//!    killed with SIGKILL between getPayload and newPayload. Production continues on ejs-b
//!    (+ mock) with no missed slot after the first.
//! 5. **Restart with an empty data dir, and catching up.** ejs-a comes back on the same ports
//!    with an empty data dir, as a node that has to sync (no `--isSingleNode`; with that flag
//!    EthereumJS calls itself synchronized from the start, answers `eth_syncing: false` at
//!    genesis and would be taken back at once, then answer SYNCING to everything and hold some
//!    forkchoiceUpdated calls for about 8 s, which the proxy waits out up to its 7.5 s node
//!    timeout). Without a peer and before any CL head, EthereumJS answers `eth_syncing` with
//!    JSON-RPC error -32603 ("no peer available for synchronization"), so the proxy's probe
//!    keeps it dead: it gets no traffic and production goes on with ejs-b and the mock.
//!
//!    How it catches up: not through the proxy, which replays nothing, and not by itself (with
//!    `--maxPeers 0` it has no one to backfill from; EthereumJS needs the chain from peers).
//!    The test plays the part of its sync: it replays the whole chain (the driver's recorded
//!    newPayloadV3 params, then one forkchoiceUpdatedV3) into ejs-a's engine port, with block
//!    production paused so that no gap opens. Then EthereumJS answers `eth_syncing: false`,
//!    the proxy's probe takes it back, its votes agree with the others again, it sits on the
//!    same head as ejs-b, and it is in use: with ejs-b killed too, it becomes the primary and
//!    the blocks are built on it (empty ones: without `--isSingleNode` and a peer, EthereumJS
//!    refuses transactions on its RPC port).
//!
//! Prints blocks produced per phase and newPayload p50/p99 direct vs through the proxy.

mod interop;

use std::sync::Arc;
use std::time::Duration;

use eb_transport::{SystemClock, TokioNet};
use executionbackup::app::{self, Running};
use executionbackup::config::Settings;
use executionbackup::health::NodeState;
use mock_el::cl::{self, Driver, DriverConfig, Head, RpcClient, Stats, Wallet};
use mock_el::{Behaviour, MockEl, MockElHandle, B256};
use serde_json::json;
use tokio::time::Instant;

use interop::{ms, node, quantity, say, Ejs};

const SLOT: Duration = Duration::from_millis(300);
const TXS_PER_SLOT: usize = 2;
const NEW_PAYLOAD: &str = "engine_newPayloadV3";

fn config(seed: u64) -> DriverConfig {
    DriverConfig {
        seed,
        ..DriverConfig::default()
    }
}

/// Sends `n` transfers from the dev account to `rpc` (an EL's plain RPC port).
async fn send_txs(rpc: &RpcClient<TokioNet>, wallet: &mut Wallet, n: usize) -> Vec<String> {
    let mut hashes = Vec::new();
    for _ in 0..n {
        let tx = wallet.transfer([0x11; 20], 1, cl::Fees::default());
        let hash = rpc
            .call("eth_sendRawTransaction", json!([tx.raw_hex()]))
            .await
            .unwrap_or_else(|e| panic!("{} refused transaction {}: {e}", rpc.url(), tx.nonce));
        assert_eq!(hash.as_str(), Some(tx.hash_hex().as_str()));
        hashes.push(tx.hash_hex());
    }
    hashes
}

/// Sets the wallet's nonce from `rpc`'s latest state.
async fn sync_nonce(rpc: &RpcClient<TokioNet>, wallet: &mut Wallet) {
    let n = rpc
        .call(
            "eth_getTransactionCount",
            json!([wallet.address_hex(), "latest"]),
        )
        .await
        .expect("nonce");
    wallet.nonce = quantity(&n);
}

/// Runs `slots` slots, sending transactions to `tx_rpc` before each; returns per-slot success.
async fn run_with_txs(
    driver: &mut Driver<TokioNet>,
    slots: usize,
    tx_rpc: &RpcClient<TokioNet>,
    wallet: &mut Wallet,
) -> Vec<bool> {
    let mut ticks = tokio::time::interval(SLOT);
    let mut outcomes = Vec::new();
    for _ in 0..slots {
        ticks.tick().await;
        send_txs(tx_rpc, wallet, TXS_PER_SLOT).await;
        outcomes.push(driver.slot().await.is_ok());
    }
    outcomes
}

fn state_of(proxy: &Running<TokioNet>, url: &str) -> NodeState {
    proxy
        .proxy
        .nodes
        .snapshot()
        .iter()
        .find(|n| n.url() == url)
        .map(|n| n.health.state())
        .expect("node in the set")
}

fn primary(proxy: &Running<TokioNet>) -> String {
    proxy
        .proxy
        .nodes
        .update_primary()
        .map(|n| n.url().to_owned())
        .unwrap_or_default()
}

/// Disagreements the proxy counted against `url` (from its Prometheus text).
fn disagreements(proxy: &Running<TokioNet>, url: &str) -> u64 {
    let nodes: Vec<(String, NodeState)> = proxy
        .proxy
        .nodes
        .snapshot()
        .iter()
        .map(|n| (n.url().to_owned(), n.health.state()))
        .collect();
    let text = proxy.proxy.metrics.render(&nodes, None);
    let prefix = format!("eb_node_disagreements_total{{node=\"{url}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map_or(0, |n| n.trim().parse().unwrap_or(0))
}

fn line(name: &str, stats: &Stats, method: &str) -> String {
    format!(
        "  {name:<44} n={:<3} p50={:>9}  p99={:>9}",
        stats.latencies.get(method).map_or(0, Vec::len),
        ms(stats.percentile(method, 50.0)),
        ms(stats.percentile(method, 99.0)),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_ethereumjs_and_a_mock_behind_executionbackup() {
    let Some(entry) = interop::client() else {
        return;
    };
    let test_started = Instant::now();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let clock = Arc::new(SystemClock);
    let (mut a, mut b) = tokio::join!(Ejs::start(&entry, "ejs-a"), Ejs::start(&entry, "ejs-b"));
    let genesis = a.head().await;
    assert_eq!(genesis.number, 0);
    assert_eq!(
        b.head().await,
        genesis,
        "both EthereumJS start from one genesis"
    );
    let chain_id = quantity(&a.rpc().call("eth_chainId", json!([])).await.expect("chain"));
    let mut wallet = Wallet::from_hex(cl::DEV_KEY, chain_id).expect("dev key");
    let (a_rpc, b_rpc) = (a.rpc(), b.rpc());
    sync_nonce(&a_rpc, &mut wallet).await;

    // ---- 1. direct baseline ------------------------------------------------------------------
    let mut direct = Driver::starting_at(a.engine(), clock.clone(), config(1), genesis.clone());
    let outcomes = run_with_txs(&mut direct, 10, &a_rpc, &mut wallet).await;
    assert!(
        outcomes.iter().all(|ok| *ok),
        "direct production failed:\n{}",
        direct.stats.summary()
    );
    let replayed = cl::replay(&b.engine(), &direct.history)
        .await
        .expect("replay into ejs-b");
    assert_eq!(replayed.status.status, "VALID", "{replayed:?}");
    assert_eq!(b.head().await, *direct.head(), "ejs-b caught up by replay");

    // ---- 2. through the proxy ----------------------------------------------------------------
    let mock_secret = interop::random_secret();
    let genesis_hash: B256 = genesis.hash.parse().expect("genesis hash");
    let mock: MockElHandle = MockEl::builder()
        .secret(mock_secret.clone())
        .name("mock")
        .chain_id(chain_id)
        .genesis_hash(genesis_hash)
        .spawn(TokioNet, "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("mock starts");
    let cl_secret = interop::random_secret();
    let settings = Settings {
        listen: "127.0.0.1:0".parse().expect("addr"),
        metrics: None,
        health_interval: Duration::from_secs(1),
        ..Settings::default()
    };
    let (a_url, b_url) = (a.engine_url(), b.engine_url());
    let proxy = app::start(
        TokioNet,
        clock.clone(),
        settings,
        cl_secret.clone(),
        vec![
            node(&a_url, &a.secret),
            node(&b_url, &b.secret),
            node(&mock.url(), &mock_secret),
        ],
        0x5eed,
    )
    .await
    .expect("proxy starts");
    assert_eq!(primary(&proxy), a_url);
    let engine = RpcClient::new(
        TokioNet,
        &proxy.url(),
        Some(cl_secret.clone()),
        clock.clone(),
    )
    .expect("proxy url");
    let mut driver = Driver::new(engine, clock.clone(), config(2))
        .await
        .expect("head through the proxy");
    assert_eq!(driver.head(), direct.head());
    let first_tx = send_txs(&a_rpc, &mut wallet, 1).await.remove(0);
    let outcomes = run_with_txs(&mut driver, 24, &a_rpc, &mut wallet).await;
    let phase2 = std::mem::take(&mut driver.stats);
    assert!(
        outcomes.iter().all(|ok| *ok),
        "production through the proxy:\n{}",
        phase2.summary()
    );
    assert!(phase2.produced >= 20);
    assert!(
        phase2.transactions >= 20 * TXS_PER_SLOT as u64,
        "transactions sent to ejs-a's RPC port are in the blocks:\n{}",
        phase2.summary()
    );
    let (head_a, head_b) = (a.head().await, b.head().await);
    assert_eq!(head_a, head_b, "both EthereumJS on the same head");
    assert_eq!(&head_a, driver.head());
    let receipt = b_rpc
        .call("eth_getTransactionReceipt", json!([first_tx]))
        .await
        .expect("receipt");
    assert_eq!(
        receipt.get("status").and_then(|s| s.as_str()),
        Some("0x1"),
        "a transaction sent only to ejs-a executed on ejs-b: {receipt}"
    );

    // ---- 3. one EL answers INVALID -----------------------------------------------------------
    let parent = driver.head().clone();
    let mut invalid_block = None;
    let result = driver
        .slot_with(|built| {
            let hash: B256 = built.block_hash.parse().expect("block hash");
            mock.set(Behaviour::InvalidHash(hash));
            invalid_block = Some(built.clone());
        })
        .await;
    let invalid_block = invalid_block.expect("a block was built");
    assert!(
        result.is_err(),
        "a block one EL calls INVALID is not adopted"
    );
    assert_eq!(driver.stats.count(NEW_PAYLOAD, "SYNCING"), 1);
    assert_eq!(driver.stats.count(NEW_PAYLOAD, "VALID"), 0);
    let mock_said: Vec<_> = mock
        .calls_to("engine_newPayload")
        .into_iter()
        .filter(|c| c.block_hash == invalid_block.block_hash.parse().ok())
        .map(|c| c.status)
        .collect();
    assert_eq!(mock_said, [Some(mock_el::Status::Invalid)]);
    for el in [&a, &b] {
        let direct_answer = el
            .engine()
            .call(NEW_PAYLOAD, invalid_block.new_payload_params.clone())
            .await
            .expect("newPayload directly");
        assert_eq!(
            direct_answer["status"], "VALID",
            "{} says VALID for the block the mock calls INVALID",
            el.name
        );
    }
    assert_eq!(driver.head(), &parent, "not built on");
    let next = driver
        .slot()
        .await
        .expect("the next slot builds on the parent");
    assert_eq!(next.built.parent_hash, parent.hash);
    assert_ne!(next.built.block_hash, invalid_block.block_hash);
    let phase3 = std::mem::take(&mut driver.stats);

    // ---- 4. the primary crashes mid-slot -----------------------------------------------------
    let mut outcomes = Vec::new();
    let mut ticks = tokio::time::interval(SLOT);
    for slot in 0..12 {
        ticks.tick().await;
        let killed = !a.is_running();
        let tx_rpc = if killed { &b_rpc } else { &a_rpc };
        send_txs(tx_rpc, &mut wallet, TXS_PER_SLOT).await;
        let result = if slot == 2 {
            driver.slot_with(|_| a.kill()).await
        } else {
            driver.slot().await
        };
        if slot == 2 {
            sync_nonce(&b_rpc, &mut wallet).await;
        }
        outcomes.push(result.is_ok());
    }
    let phase4 = std::mem::take(&mut driver.stats);
    assert!(
        outcomes[3..].iter().all(|ok| *ok),
        "no missed slot after the first one following the crash: {outcomes:?}\n{}",
        phase4.summary()
    );
    assert_eq!(state_of(&proxy, &a_url), NodeState::Dead);
    assert_eq!(primary(&proxy), b_url);
    assert_eq!(b.head().await, *driver.head());

    // ---- 5. restart with an empty data dir; catching up --------------------------------------
    a.restart_empty(false).await;
    assert_eq!(a.head().await, genesis, "empty data dir: back at genesis");
    let not_synced = a.engine().call("eth_syncing", json!([])).await;
    assert!(
        matches!(&not_synced, Err(cl::ClError::Rpc { code: -32603, .. })),
        "EthereumJS with no peer and no CL head answers eth_syncing with an error: {not_synced:?}"
    );
    let outcomes = run_with_txs(&mut driver, 4, &b_rpc, &mut wallet).await;
    assert!(
        outcomes.iter().all(|ok| *ok),
        "production goes on while ejs-a syncs:\n{}",
        driver.stats.summary()
    );
    assert!(
        matches!(
            state_of(&proxy, &a_url),
            NodeState::Syncing | NodeState::Dead
        ),
        "not synced: catching up (its SYNCING set aside), never alive"
    );
    assert_eq!(primary(&proxy), b_url, "reads stay on the synced node");
    assert_eq!(a.head().await.number, 0, "no peers: it does not backfill");
    // The EL's own sync, played by the test: the whole chain, oldest first, into its engine port.
    let chain: Vec<_> = direct.history.iter().chain(driver.history.iter()).collect();
    let caught_up = cl::replay(&a.engine(), chain.iter().copied())
        .await
        .expect("replay into ejs-a");
    assert_eq!(caught_up.status.status, "VALID", "{caught_up:?}");
    assert_eq!(a.head().await, *driver.head());
    assert_eq!(
        a.engine()
            .call("eth_syncing", json!([]))
            .await
            .expect("eth_syncing"),
        json!(false),
        "caught up: ejs-a reports synced"
    );
    // Back in use once it answers voted calls in time, VALID for the newest block: one slot.
    let outcomes = run_with_txs(&mut driver, 1, &b_rpc, &mut wallet).await;
    assert!(outcomes.iter().all(|ok| *ok), "{}", driver.stats.summary());
    let waiting = Instant::now();
    while state_of(&proxy, &a_url) != NodeState::Alive {
        assert!(
            waiting.elapsed() < Duration::from_secs(40),
            "the proxy never took ejs-a back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let back_after = waiting.elapsed();
    assert_eq!(
        primary(&proxy),
        b_url,
        "the primary is kept while it stays alive"
    );
    let before = disagreements(&proxy, &a_url);
    let outcomes = run_with_txs(&mut driver, 4, &b_rpc, &mut wallet).await;
    assert!(outcomes.iter().all(|ok| *ok), "{}", driver.stats.summary());
    assert_eq!(
        disagreements(&proxy, &a_url),
        before,
        "back in use: ejs-a votes with the others\n{}",
        a.log_tail(60)
    );
    assert_eq!(a.head().await, b.head().await, "same head again");
    assert_eq!(a.head().await, *driver.head());
    // In use: with ejs-b gone too, ejs-a is the primary and builds the blocks.
    // (Without --isSingleNode and with no peer, EthereumJS refuses eth_sendRawTransaction: "no
    // peer connection available"; these blocks are empty.)
    b.kill();
    let mut outcomes = Vec::new();
    let mut ticks = tokio::time::interval(SLOT);
    for _ in 0..4 {
        ticks.tick().await;
        outcomes.push(driver.slot().await.is_ok());
    }
    let phase5 = std::mem::take(&mut driver.stats);
    assert!(
        outcomes[1..].iter().all(|ok| *ok),
        "{outcomes:?}\n{}",
        phase5.summary()
    );
    assert_eq!(primary(&proxy), a_url);
    assert_eq!(a.head().await, *driver.head());

    // ---- report ------------------------------------------------------------------------------
    let produced = phase2.produced + phase3.produced + phase4.produced + phase5.produced;
    let replay_stats = Stats {
        latencies: [(
            NEW_PAYLOAD.to_owned(),
            replayed.new_payload_latencies.clone(),
        )]
        .into(),
        ..Stats::default()
    };
    let head: &Head = driver.head();
    say(&format!(
        "\n== interop: executionbackup in front of 2 EthereumJS + 1 mock-el ==\n\
         blocks produced directly on ejs-a: {}\n\
         blocks produced through the proxy: {produced} (phase 2: {}, INVALID phase: {}, crash phase: {} of 12 slots, restart phase: {} of 12 slots); head {} #{}\n\
         ejs-a restarted empty: caught up by replaying {} blocks; the proxy's probe took it back {:.1} s after it reported synced\n\
         transactions included through the proxy: {}\n\
         newPayloadV3 latency:\n{}\n{}\n{}\n\
         other calls through the proxy (phase 2):\n{}\n{}\n\
         phase summaries:\n-- direct\n{}-- proxy\n{}-- crash\n{}-- restart\n{}\
         test time: {:.1} s\n",
        direct.stats.produced,
        phase2.produced,
        phase3.produced,
        phase4.produced,
        phase5.produced,
        head.hash,
        head.number,
        caught_up.blocks,
        back_after.as_secs_f64(),
        phase2.transactions + phase4.transactions + phase5.transactions,
        line("direct to ejs-a (it built the block)", &direct.stats, NEW_PAYLOAD),
        line("direct to ejs-b (replay: full execution)", &replay_stats, NEW_PAYLOAD),
        line("through the proxy (2 EthereumJS + mock)", &phase2, NEW_PAYLOAD),
        line("engine_forkchoiceUpdatedV3", &phase2, "engine_forkchoiceUpdatedV3"),
        line("engine_getPayloadV3", &phase2, "engine_getPayloadV3"),
        direct.stats.summary(),
        phase2.summary(),
        phase4.summary(),
        phase5.summary(),
        test_started.elapsed().as_secs_f64(),
    ));
    proxy.shutdown().await;
    mock.shutdown().await;
}
