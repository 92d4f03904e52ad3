//! Calls answered from every execution client at once: engine_getClientVersionV1 is the flat
//! concatenation of their arrays (the spec's rule for multiplexers), and
//! engine_exchangeCapabilities is the intersection of their lists.

// Scripted ELs (wiremock) rather than mock-el: each EL reports several client-version entries and
// a capability list of the test's choosing; mock-el reports one entry of its own.

use crate::support::scripted_el::*;
use serde_json::{json, Value};

fn version(code: &str, name: &str) -> Value {
    json!({"code": code, "name": name, "version": "1.0.0", "commit": "0xabcdef01"})
}

#[tokio::test]
async fn client_versions_are_concatenated_flat() {
    let s = secret(0x2a);
    let els = els(3, &s).await;
    els[0]
        .on(
            "engine_getClientVersionV1",
            Reply::result(json!([version("GE", "Geth")])),
        )
        .await;
    els[1]
        .on(
            "engine_getClientVersionV1",
            Reply::result(json!([
                version("NM", "Nethermind"),
                version("XX", "Wrapped")
            ])),
        )
        .await;
    els[2]
        .on(
            "engine_getClientVersionV1",
            Reply::result(json!([version("RH", "Reth")])),
        )
        .await;
    let specs: Vec<String> = els.iter().map(El::url).collect();
    let proxy = start_proxy(&s, &specs).await;

    let cl_version = version("LH", "Lighthouse");
    let answer = proxy
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
        let calls = el.calls("engine_getClientVersionV1").await;
        let (for_cl, probes): (Vec<&Value>, Vec<&Value>) = calls
            .iter()
            .partition(|c| c["params"] == json!([version("LH", "Lighthouse")]));
        assert_eq!(for_cl.len(), 1, "node {i}: {calls:?}");
        assert!(
            probes.iter().all(|c| c["params"][0]["code"] == "EB"),
            "node {i}: {calls:?}"
        );
    }
}

#[tokio::test]
async fn capabilities_are_the_intersection() {
    let s = secret(0x2b);
    let els = els(3, &s).await;
    let lists = [
        json!([
            "engine_newPayloadV3",
            "engine_newPayloadV4",
            "engine_getBlobsV1",
            "engine_forkchoiceUpdatedV3"
        ]),
        json!([
            "engine_forkchoiceUpdatedV3",
            "engine_newPayloadV3",
            "engine_getBlobsV1"
        ]),
        json!([
            "engine_newPayloadV3",
            "engine_getBlobsV1",
            "engine_forkchoiceUpdatedV3",
            "engine_getPayloadV5"
        ]),
    ];
    for (el, list) in els.iter().zip(lists) {
        el.on("engine_exchangeCapabilities", Reply::result(list))
            .await;
    }
    let specs: Vec<String> = els.iter().map(El::url).collect();
    let proxy = start_proxy(&s, &specs).await;

    let cl_list = json!([[
        "engine_newPayloadV3",
        "engine_newPayloadV4",
        "engine_forkchoiceUpdatedV3",
        "engine_getBlobsV1",
        "engine_getPayloadV5"
    ]]);
    let answer = proxy
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
    for (i, el) in els.iter().enumerate() {
        let from_cl = el
            .calls_with_id("engine_exchangeCapabilities", &json!(3))
            .await;
        assert_eq!(from_cl.len(), 1, "node {i}");
        assert_eq!(from_cl[0]["params"], cl_list);
    }
}
