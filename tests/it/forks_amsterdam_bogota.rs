//! Amsterdam and Bogota over mock ELs: the inclusion list flag in the vote, the proxy's own
//! SYNCING in PayloadStatusV2, getBlobsV4 merged per blob, forkchoiceUpdatedV4's third parameter
//! passed through byte for byte, payload bodies filled from another node, hasBlobs OR-ed, and
//! getInclusionListV1 served by the primary with failover.

use crate::support::mock_els::*;
use mock_el::{Behaviour, Status, B256};
use serde_json::{json, Value};

fn payload_status(response: &Value) -> &Value {
    let result = &response["result"];
    if result.get("payloadStatus").is_some() {
        &result["payloadStatus"]
    } else {
        result
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_el_seeing_the_inclusion_list_violated_makes_it_unsatisfied() {
    let el1 = mock("el1", 1, |b| b).await;
    let el2 = mock("el2", 2, |b| {
        b.behaviour(Behaviour::InclusionListSatisfied(false))
    })
    .await;
    let el3 = mock("el3", 3, |b| b).await;
    let els = vec![el1, el2, el3];
    let running = proxy(&plain(&els), settings()).await;
    let cl = Cl::new(running.url());

    // true / false / true: VALID, and not satisfied.
    let np = cl
        .rpc("engine_newPayloadV6", new_payload_v6_params(1))
        .await;
    assert_eq!(status_of(&np), "VALID", "{np}");
    assert_eq!(
        payload_status(&np)["inclusionListSatisfied"],
        json!(false),
        "{np}"
    );
    assert_eq!(
        payload_status(&np)["latestValidHash"],
        json!(hash(1)),
        "{np}"
    );
    let fcu = cl
        .rpc("engine_forkchoiceUpdatedV5", fcu_v4_params(1, false, true))
        .await;
    assert_eq!(status_of(&fcu), "VALID", "{fcu}");
    assert_eq!(
        payload_status(&fcu)["inclusionListSatisfied"],
        json!(false),
        "{fcu}"
    );

    // All true: satisfied.
    els[1].set(Behaviour::InclusionListSatisfied(true));
    let np = cl
        .rpc("engine_newPayloadV6", new_payload_v6_params(2))
        .await;
    assert_eq!(status_of(&np), "VALID", "{np}");
    assert_eq!(
        payload_status(&np)["inclusionListSatisfied"],
        json!(true),
        "{np}"
    );

    // Pre-Bogota calls carry no such field.
    let np = cl
        .rpc("engine_newPayloadV5", new_payload_v5_params(3))
        .await;
    assert_eq!(status_of(&np), "VALID", "{np}");
    assert!(
        payload_status(&np).get("inclusionListSatisfied").is_none(),
        "{np}"
    );
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxys_own_syncing_carries_the_flag_from_v6_on() {
    let mut els = Vec::new();
    for i in 1..=2u64 {
        els.push(mock(&format!("el{i}"), i, |b| b.status(Status::Syncing)).await);
    }
    // Every EL syncing: the proxy answers SYNCING itself (it never passes an EL's SYNCING on).
    let running = proxy(&plain(&els), settings()).await;
    let cl = Cl::new(running.url());

    let np = cl
        .rpc("engine_newPayloadV6", new_payload_v6_params(1))
        .await;
    assert_eq!(
        np["result"],
        json!({"status":"SYNCING","latestValidHash":null,"validationError":null,"inclusionListSatisfied":null}),
        "{np}"
    );
    let fcu = cl
        .rpc("engine_forkchoiceUpdatedV5", fcu_v4_params(1, false, true))
        .await;
    assert_eq!(status_of(&fcu), "SYNCING", "{fcu}");
    let ps = payload_status(&fcu);
    assert!(
        ps.get("inclusionListSatisfied").is_some_and(Value::is_null),
        "{fcu}"
    );
    let np = cl
        .rpc("engine_newPayloadV5", new_payload_v5_params(2))
        .await;
    assert_eq!(
        np["result"],
        json!({"status":"SYNCING","latestValidHash":null,"validationError":null}),
        "V5 answers PayloadStatusV1: {np}"
    );
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amsterdam_shapes_pass_through_and_reads_merge() {
    let h = |n: u8| B256([n; 32]);
    let el1 = mock("el1", 1, |b| b.blobs([h(1)])).await;
    let el2 = mock("el2", 2, |b| b.blobs([h(2)])).await;
    let els = vec![el1, el2];
    let running = proxy(&plain(&els), settings()).await;
    let cl = Cl::new(running.url());

    // forkchoiceUpdatedV4 with its third parameter: every node gets the same params.
    assert_eq!(
        status_of(
            &cl.rpc("engine_newPayloadV5", new_payload_v5_params(1))
                .await
        ),
        "VALID"
    );
    let params = fcu_v4_params(1, true, false);
    let fcu = cl.rpc("engine_forkchoiceUpdatedV4", params.clone()).await;
    assert_eq!(status_of(&fcu), "VALID", "{fcu}");
    let sent = params.to_string().len();
    for el in &els {
        let calls = el.calls_to("engine_forkchoiceUpdatedV4");
        assert_eq!(calls.len(), 1);
        assert_eq!(
            calls[0].params_bytes, sent,
            "the same bytes, custodyColumns included"
        );
    }

    // getBlobsV4: each EL has one blob; the CL gets both, cells as asked (bits 0 and 9).
    let mut bits = [0u8; 16];
    bits[0] = 0b1;
    bits[1] = 0b10;
    let hashes = json!([
        [h(1).to_string(), h(2).to_string(), h(3).to_string()],
        format!("0x{}", hex(&bits))
    ]);
    let blobs = cl.rpc("engine_getBlobsV4", hashes).await;
    let list = blobs["result"].as_array().expect("an array");
    assert_eq!(list.len(), 3, "{blobs}");
    for (i, entry) in list.iter().take(2).enumerate() {
        let cells = entry["blobCells"]
            .as_array()
            .unwrap_or_else(|| panic!("blob {i}: {blobs}"));
        assert_eq!(cells.len(), 2);
        let cell = cells[0].as_str().expect("hex");
        assert!(
            cell.starts_with(&format!("0x{}", hex(&[i as u8 + 1; 32]))),
            "blob {i} from its own EL"
        );
    }
    assert!(list[2].is_null(), "nobody has blob 3");

    // hasBlobs: true where any EL has it.
    let has = cl
        .rpc(
            "engine_hasBlobs",
            json!([[h(1).to_string(), h(2).to_string(), h(3).to_string()]]),
        )
        .await;
    assert_eq!(has["result"], json!([true, true, false]), "{has}");

    // Bodies V2 carry blockAccessList.
    let bodies = cl
        .rpc("engine_getPayloadBodiesByHashV2", json!([[hash(1)]]))
        .await;
    let body = &bodies["result"][0];
    assert!(body.get("blockAccessList").is_some(), "{bodies}");

    // getInclusionListV1: the primary's list; with the primary gone, the next node's.
    let il = cl.rpc("engine_getInclusionListV1", json!([])).await;
    assert_eq!(il["result"], json!([]), "{il}");
    els[0].set(Behaviour::Dead(true));
    wait_refusing(&els[0]).await;
    let il = cl.rpc("engine_getInclusionListV1", json!([])).await;
    assert_eq!(il["result"], json!([]), "{il}");
    assert_eq!(
        els[1].calls_to("engine_getInclusionListV1").len(),
        1,
        "failed over"
    );
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_a_node_lacks_are_filled_from_another() {
    let els = mocks(2).await;
    let running = proxy(&plain(&els), settings()).await;
    let cl = Cl::new(running.url());
    assert_eq!(status_of(&cl.new_payload(1).await), "VALID");
    // Block 2 reaches el2 only (el1 never saw it, as if pruned).
    let direct_status = direct(&els[1], "engine_newPayloadV3", new_payload_params(2)).await;
    assert_eq!(direct_status["status"], "VALID", "{direct_status}");

    for method in [
        "engine_getPayloadBodiesByHashV1",
        "engine_getPayloadBodiesByHashV2",
    ] {
        let bodies = cl.rpc(method, json!([[hash(1), hash(2), hash(9)]])).await;
        let list = bodies["result"].as_array().expect("array");
        assert_eq!(list.len(), 3, "{bodies}");
        assert!(
            !list[0].is_null() && !list[1].is_null(),
            "{method}: {bodies}"
        );
        assert!(list[2].is_null(), "nobody has block 9");
    }
    // el1 is the primary (first listed, both healthy): it answered, el2 filled the gap.
    assert_eq!(els[0].calls_to("engine_getPayloadBodiesByHash").len(), 2);
    assert_eq!(
        els[1].calls_to("engine_getPayloadBodiesByHash").len(),
        2,
        "the second node filled the null entries"
    );
    running.shutdown().await;
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
