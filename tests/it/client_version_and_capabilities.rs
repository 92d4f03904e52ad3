//! Calls answered from every execution client at once: engine_getClientVersionV1 is the flat
//! concatenation of their arrays (the spec's rule for multiplexers), and
//! engine_exchangeCapabilities is the intersection of their lists.

use crate::support::mock_els::*;
use mock_el::{Behaviour, Call, ClientVersion, MockElHandle};
use serde_json::{json, Value};

fn version(code: &str, name: &str) -> Value {
    json!({"code": code, "name": name, "version": "1.0.0", "commit": "0xabcdef01"})
}

fn entry(code: &str, name: &str) -> ClientVersion {
    serde_json::from_value(version(code, name)).expect("a ClientVersionV1")
}

/// A VALID mock that keeps the params of the calls it gets.
async fn recording(
    name: &str,
    seed: u64,
    tune: impl FnOnce(mock_el::MockElBuilder) -> mock_el::MockElBuilder,
) -> MockElHandle {
    mock(name, seed, |b| tune(b.record_params(true))).await
}

fn params(call: &Call) -> Value {
    let raw = call.params.as_deref().expect("params are recorded");
    serde_json::from_str(raw).expect("params are JSON")
}

#[tokio::test]
async fn client_versions_are_concatenated_flat() {
    let reports = [
        vec![entry("GE", "Geth")],
        vec![entry("NM", "Nethermind"), entry("XX", "Wrapped")],
        vec![entry("RH", "Reth")],
    ];
    let mut els = Vec::new();
    for (i, report) in reports.into_iter().enumerate() {
        let name = format!("el{}", i + 1);
        els.push(
            recording(&name, i as u64 + 1, |b| {
                b.behaviour(Behaviour::ClientVersions(report))
            })
            .await,
        );
    }
    let running = proxy(&plain(&els), settings()).await;
    let cl = Cl::new(running.url());

    let cl_version = version("LH", "Lighthouse");
    let answer = cl
        .call(
            json!("cv"),
            "engine_getClientVersionV1",
            json!([cl_version]),
        )
        .await;
    assert_eq!(answer["id"], "cv");
    let mut got: Vec<Value> = answer["result"].as_array().expect("flat array").clone();
    got.sort_by_key(|v| v["code"].as_str().unwrap_or_default().to_owned());
    assert_eq!(
        got,
        vec![
            version("GE", "Geth"),
            version("NM", "Nethermind"),
            version("RH", "Reth"),
            version("XX", "Wrapped"),
        ]
    );
    // Every EL was asked once for the CL, with the CL's own version passed along; the other
    // calls are the health probe's, which names the proxy itself.
    for (i, el) in els.iter().enumerate() {
        let calls: Vec<Value> = el
            .calls_to("engine_getClientVersionV1")
            .iter()
            .map(params)
            .collect();
        let (for_cl, probes): (Vec<&Value>, Vec<&Value>) = calls
            .iter()
            .partition(|p| **p == json!([version("LH", "Lighthouse")]));
        assert_eq!(for_cl.len(), 1, "node {i}: {calls:?}");
        assert!(
            probes.iter().all(|p| p[0]["code"] == "EB"),
            "node {i}: {calls:?}"
        );
    }
}

#[tokio::test]
async fn capabilities_are_the_intersection() {
    let lists: [&[&str]; 3] = [
        &[
            "engine_newPayloadV3",
            "engine_newPayloadV4",
            "engine_getBlobsV1",
            "engine_forkchoiceUpdatedV3",
        ],
        &[
            "engine_forkchoiceUpdatedV3",
            "engine_newPayloadV3",
            "engine_getBlobsV1",
        ],
        &[
            "engine_newPayloadV3",
            "engine_getBlobsV1",
            "engine_forkchoiceUpdatedV3",
            "engine_getPayloadV5",
        ],
    ];
    let mut els = Vec::new();
    for (i, list) in lists.into_iter().enumerate() {
        let name = format!("el{}", i + 1);
        els.push(
            recording(&name, i as u64 + 1, |b| {
                b.capabilities(list.iter().copied())
            })
            .await,
        );
    }
    let running = proxy(&plain(&els), settings()).await;
    let cl = Cl::new(running.url());

    let cl_list = json!([[
        "engine_newPayloadV3",
        "engine_newPayloadV4",
        "engine_forkchoiceUpdatedV3",
        "engine_getBlobsV1",
        "engine_getPayloadV5"
    ]]);
    let answer = cl
        .call(json!(3), "engine_exchangeCapabilities", cl_list.clone())
        .await;
    assert_eq!(answer["id"], 3);
    let mut got: Vec<String> = serde_json::from_value(answer["result"].clone()).expect("strings");
    got.sort();
    assert_eq!(
        got,
        [
            "engine_forkchoiceUpdatedV3",
            "engine_getBlobsV1",
            "engine_newPayloadV3"
        ]
    );
    // Every EL got the CL's list once, as the CL sent it.
    for (i, el) in els.iter().enumerate() {
        let from_cl = el
            .calls_to("engine_exchangeCapabilities")
            .iter()
            .map(params)
            .filter(|p| *p == cl_list)
            .count();
        assert_eq!(
            from_cl,
            1,
            "node {i}: {:?}",
            el.calls_to("engine_exchangeCapabilities")
        );
    }
}
