//! Two real EthereumJS execution clients behind executionbackup, the set-up most home stakers
//! run. The primary is stopped (SIGSTOP) for 10 s and resumed, then restarted with a fresh data
//! directory; block production must go on through both events, losing at most one slot each.
//! Before per-path health, the primary came back as "synced" while it was behind, answered
//! SYNCING to every block the other called VALID, every vote tied, and no block was produced for
//! many slots.
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

const SLOT: Duration = Duration::from_millis(300);

/// Runs slots until `until` has passed (at least `min` slots); per slot, whether a block was
/// adopted.
async fn slots_for(driver: &mut Driver<TokioNet>, until: Duration, min: usize) -> Vec<bool> {
    let started = tokio::time::Instant::now();
    let mut ticks = tokio::time::interval(SLOT);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut outcomes = Vec::new();
    while outcomes.len() < min || started.elapsed() < until {
        ticks.tick().await;
        outcomes.push(driver.slot().await.is_ok());
    }
    outcomes
}

/// Slots lost: the ones that did not produce a block.
fn lost(outcomes: &[bool]) -> usize {
    outcomes.iter().filter(|ok| !**ok).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs EthereumJS from npm (interop/node_modules): run bash .ci/interop-install.sh, then cargo test --test it -- --ignored interop_"]
async fn two_ethereumjs_through_a_pause_and_a_fresh_restart() {
    let entry = ethereumjs::client();
    let clock = Arc::new(SystemClock);
    let (mut a, b) = tokio::join!(Ejs::start(&entry, "ejs-a"), Ejs::start(&entry, "ejs-b"));
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
        0x2e15,
    )
    .await;
    let engine =
        RpcClient::new(TokioNet, &proxy.url(), Some(cl_secret), clock.clone()).expect("proxy url");
    let mut driver = Driver::new(engine, clock.clone(), DriverConfig::default())
        .await
        .expect("head through the proxy");

    // Before: both ELs build and vote.
    let before = slots_for(&mut driver, Duration::ZERO, 6).await;
    assert_eq!(lost(&before), 0, "{}", driver.stats.summary());

    // The primary stops for 10 s.
    a.pause();
    let paused = slots_for(&mut driver, Duration::from_secs(10), 4).await;
    a.resume();
    let after_pause = slots_for(&mut driver, Duration::from_secs(4), 8).await;
    say(&format!(
        "two ELs: paused 10 s: {} of {} slots produced while paused, {} of {} after",
        paused.len() - lost(&paused),
        paused.len(),
        after_pause.len() - lost(&after_pause),
        after_pause.len()
    ));
    assert!(
        lost(&paused) + lost(&after_pause) <= 1,
        "at most one slot lost to the pause: {paused:?} {after_pause:?}\n{}",
        driver.stats.summary()
    );

    // The primary restarts with a fresh data directory (back at genesis).
    a.restart_empty(true).await;
    let restarted = slots_for(&mut driver, Duration::from_secs(8), 12).await;
    say(&format!(
        "two ELs: fresh restart: {} of {} slots produced",
        restarted.len() - lost(&restarted),
        restarted.len()
    ));
    assert!(
        lost(&restarted) <= 1,
        "at most one slot lost to the restart: {restarted:?}\n{}",
        driver.stats.summary()
    );
    assert_eq!(b.head().await, *driver.head(), "the chain went on on ejs-b");
    say(&driver.stats.summary());
}
