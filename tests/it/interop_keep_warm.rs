//! Keeping ELs warm with a real client: two EthereumJS behind executionbackup; one is killed,
//! the chain goes on on the other for several slots, and the killed one is restarted with its
//! data directory. With no peers it cannot sync by itself: it reaches the head only because the
//! proxy replays the newPayloads it missed and the latest forkchoiceUpdated.
//!
//! Needs EthereumJS in `interop/node_modules` (`bash .ci/interop-install.sh`), so it is ignored
//! by default: `cargo test --test it -- --ignored interop_` runs it, and fails without the client.

use crate::support::{ethereumjs, proxy};

use std::sync::Arc;
use std::time::Duration;

use eb_transport::{SystemClock, TokioNet};
use executionbackup::config::Settings;
use mock_cl::{Driver, DriverConfig, RpcClient};

use crate::support::ethereumjs::{node, say, Ejs};
use crate::support::poll_until;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs EthereumJS from npm (interop/node_modules): run bash .ci/interop-install.sh, then cargo test --test it -- --ignored interop_"]
async fn a_restarted_ethereumjs_is_brought_back_to_the_head() {
    let entry = ethereumjs::client();
    let clock = Arc::new(SystemClock);
    let (mut a, b) = tokio::join!(Ejs::start(&entry, "warm-a"), Ejs::start(&entry, "warm-b"));
    let cl_secret = ethereumjs::random_secret();
    let settings = Settings {
        listen: "127.0.0.1:0".parse().expect("addr"),
        metrics: None,
        health_interval: Duration::from_secs(1),
        ..Settings::default()
    };
    let proxy = proxy::start(
        settings,
        &cl_secret,
        vec![
            node(&a.engine_url(), &a.secret),
            node(&b.engine_url(), &b.secret),
        ],
        0x3a7,
    )
    .await;
    let engine =
        RpcClient::new(TokioNet, &proxy.url(), Some(cl_secret), clock.clone()).expect("proxy url");
    let mut driver = Driver::new(engine, clock.clone(), DriverConfig::default())
        .await
        .expect("head through the proxy");
    for _ in 0..3 {
        driver.slot().await.expect("a block with both ELs");
    }
    let before = a.head().await;
    assert_eq!(before, *driver.head(), "ejs-a followed the chain");

    // ejs-a crashes; the chain goes on on ejs-b.
    a.kill();
    let url = a.engine_url();
    let down = poll_until(
        Duration::from_secs(20),
        Duration::from_millis(200),
        async || {
            proxy
                .proxy
                .nodes
                .snapshot()
                .iter()
                .any(|n| n.url() == url && n.health.engine().down)
        },
    )
    .await;
    assert!(down, "ejs-a is seen down");
    let mut produced = 0;
    for _ in 0..6 {
        produced += usize::from(driver.slot().await.is_ok());
    }
    assert!(produced >= 5, "the chain goes on on ejs-b: {produced} of 6");
    let head = driver.head().clone();
    assert_ne!(head, before);

    // ejs-a comes back with its data: the proxy sends it the blocks it missed.
    a.restart_keeping_data().await;
    let restarted_at = a.head().await;
    let back = poll_until(
        Duration::from_secs(60),
        Duration::from_millis(200),
        async || a.head().await == head,
    )
    .await;
    say(&format!(
        "keep-warm: ejs-a restarted at {restarted_at:?}, head {head:?}: back at the head: {back}"
    ));
    assert!(
        back,
        "ejs-a reached the head through the replay:\n{}",
        a.log_tail(30)
    );
    assert_eq!(b.head().await, head);
}
