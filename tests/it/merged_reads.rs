//! Calls answered from every node: client versions concatenated, capabilities intersected,
//! blobs merged.

use crate::support::mock_els::*;
use mock_el::B256;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_versions_capabilities_and_blobs() {
    let h = |n: u8| B256([n; 32]);
    let el1 = mock("el1", 1, |b| b.blobs([h(1)])).await;
    let el2 = mock("el2", 2, |b| b.blobs([h(2)])).await;
    let el3 = mock("el3", 3, |b| {
        b.capabilities([
            "engine_newPayloadV3",
            "engine_forkchoiceUpdatedV3",
            "engine_getBlobsV1",
        ])
    })
    .await;
    let els = vec![el1, el2, el3];
    let running = proxy(&plain(&els), settings()).await;
    let cl = Cl::new(running.url());

    let versions = cl
        .rpc(
            "engine_getClientVersionV1",
            json!([{"code":"LH","name":"Lighthouse","version":"v8","commit":"0x01020304"}]),
        )
        .await;
    let names: Vec<&str> = versions["result"]
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|v| v["name"].as_str())
        .collect();
    assert_eq!(names.len(), 3, "{versions}");

    let caps = cl
        .rpc(
            "engine_exchangeCapabilities",
            json!([["engine_newPayloadV3", "engine_newPayloadV4"]]),
        )
        .await;
    assert_eq!(
        caps["result"],
        json!([
            "engine_newPayloadV3",
            "engine_forkchoiceUpdatedV3",
            "engine_getBlobsV1"
        ])
    );

    let hashes = json!([[
        format!("{}", h(1)),
        format!("{}", h(2)),
        format!("{}", h(3))
    ]]);
    let blobs = cl.rpc("engine_getBlobsV1", hashes.clone()).await;
    let list = blobs["result"].as_array().expect("array");
    assert_eq!(list.len(), 3, "{blobs}");
    assert!(
        list[0].is_object() && list[1].is_object() && list[2].is_null(),
        "{blobs}"
    );
    let all_or_nothing = cl.rpc("engine_getBlobsV2", hashes).await;
    assert!(all_or_nothing["result"].is_null(), "{all_or_nothing}");

    insta::assert_json_snapshot!("merged_capabilities", caps["result"]);
}
