//! Per-node timeouts (`#timeout=MS`): a node slower than its own timeout neither delays the
//! consensus client's answer beyond that timeout nor votes; the other nodes decide.

use std::time::{Duration, Instant};

use crate::support::scripted_el::*;
use serde_json::json;

#[tokio::test]
async fn a_slow_node_is_cut_off_at_its_own_timeout_and_does_not_vote() {
    let s = secret(0x81);
    let els = els(3, &s).await;
    els[0]
        .on(
            "engine_newPayloadV3",
            Reply::status("VALID", Some(&hash(7)), None),
        )
        .await;
    els[1]
        .on(
            "engine_newPayloadV3",
            Reply::status("VALID", Some(&hash(7)), None),
        )
        .await;
    // Had the slow node's INVALID been waited for, the answer would be SYNCING.
    els[2]
        .on(
            "engine_newPayloadV3",
            Reply::status("INVALID", None, Some("late and wrong")).delayed(Duration::from_secs(3)),
        )
        .await;
    let proxy = start_proxy(
        &s,
        &[
            els[0].url(),
            els[1].url(),
            format!("{}#timeout=300", els[2].url()),
        ],
    )
    .await;

    let started = Instant::now();
    let answer = proxy
        .call(json!(1), "engine_newPayloadV3", new_payload_params(7))
        .await;
    let elapsed = started.elapsed();
    assert_eq!(
        answer,
        json!({"jsonrpc": "2.0", "id": 1, "result": payload_status("VALID", Some(&hash(7)), None)})
    );
    assert!(
        elapsed >= Duration::from_millis(250),
        "the slow node was not waited for at all: {elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_millis(1500),
        "the answer waited for the slow node: {elapsed:?}"
    );
    // It was asked, though.
    assert_eq!(els[2].calls("engine_newPayloadV3").await.len(), 1);
}

#[tokio::test]
async fn a_nodes_own_timeout_overrides_the_default() {
    let s = secret(0x82);
    let els = els(2, &s).await;
    els[0]
        .on(
            "engine_newPayloadV3",
            Reply::status("VALID", Some(&hash(7)), None),
        )
        .await;
    els[1]
        .on(
            "engine_newPayloadV3",
            Reply::status("VALID", Some(&hash(7)), None).delayed(Duration::from_secs(5)),
        )
        .await;
    let settings = executionbackup::config::Settings {
        default_timeout: Duration::from_millis(400),
        ..test_settings()
    };
    // The slow node has a long timeout of its own; the fast one uses the default.
    let proxy = start_proxy_with(
        settings,
        &s,
        &[els[0].url(), format!("{}#timeout=2500", els[1].url())],
    )
    .await;
    let started = Instant::now();
    let answer = proxy
        .call(json!(2), "engine_newPayloadV3", new_payload_params(7))
        .await;
    let elapsed = started.elapsed();
    // The own timeout (2.5 s), not the default (0.4 s), is honoured for the slow node: it is
    // waited for, then dropped well before its answer (5 s) would come.
    assert!(
        elapsed >= Duration::from_millis(2400) && elapsed < Duration::from_millis(4000),
        "{elapsed:?}"
    );
    assert_eq!(
        answer["result"],
        payload_status("VALID", Some(&hash(7)), None)
    );
}
