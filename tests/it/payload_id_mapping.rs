//! Payload ids: after a VALID forkchoiceUpdated with attributes the proxy gives the CL a
//! payloadId of its own; engine_getPayloadV3 with it reaches the primary with the primary's own
//! id. Ids the proxy never issued are -38001 without asking any EL.

// Scripted ELs (wiremock) rather than mock-el: each EL answers with a payloadId the test picks (to
// see the proxy's own id replace it) and a built payload tagged per node; mock-el makes its own
// ids and payloads.

use crate::support::scripted_el::*;
use serde_json::{json, Value};

const EL_IDS: [&str; 3] = [
    "0x000000000000a001",
    "0x000000000000b002",
    "0x000000000000c003",
];

/// A payload built for `fcu_params(8, true)`: on block 8, with its attributes.
fn get_payload_result(tag: &str) -> Value {
    built_payload(&byte_hash(8), "0x1", tag)
}

async fn building_els(s: &eb_transport::JwtSecret) -> Vec<El> {
    let els = els(3, s).await;
    for (i, el) in els.iter().enumerate() {
        el.on(
            "engine_forkchoiceUpdatedV3",
            Reply::result(fcu_result(
                payload_status("VALID", Some(&byte_hash(8)), None),
                Some(EL_IDS[i]),
            )),
        )
        .await;
        el.on(
            "engine_getPayloadV3",
            Reply::result(get_payload_result(&format!("built by node {i}"))),
        )
        .await;
    }
    els
}

fn is_payload_id(s: &str) -> bool {
    s.len() == 18 && s.starts_with("0x") && s[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

#[tokio::test]
async fn the_cl_gets_the_proxys_id_and_get_payload_reaches_the_primary_with_its_own() {
    let s = secret(0x71);
    let els = building_els(&s).await;
    let specs: Vec<String> = els.iter().map(El::url).collect();
    let proxy = start_proxy(&s, &specs).await;

    let answer = proxy
        .call(json!(1), "engine_forkchoiceUpdatedV3", fcu_params(8, true))
        .await;
    assert_eq!(
        answer["result"]["payloadStatus"],
        payload_status("VALID", Some(&byte_hash(8)), None)
    );
    let cl_id = answer["result"]["payloadId"]
        .as_str()
        .unwrap_or_else(|| panic!("VALID fcU with builds has a payloadId: {answer}"))
        .to_owned();
    assert!(is_payload_id(&cl_id), "{cl_id}");
    assert!(
        !EL_IDS.contains(&cl_id.as_str()),
        "an EL's id leaked: {cl_id}"
    );

    // A second build gets a different CL-facing id.
    let second = proxy
        .call(json!(2), "engine_forkchoiceUpdatedV3", fcu_params(8, true))
        .await;
    let second_id = second["result"]["payloadId"].as_str().expect("id");
    assert_ne!(second_id, cl_id);

    let got = proxy
        .call(json!("gp"), "engine_getPayloadV3", json!([cl_id]))
        .await;
    // The primary's payload, with the CL's id.
    assert_eq!(
        got,
        json!({"jsonrpc": "2.0", "id": "gp", "result": get_payload_result("built by node 0")})
    );
    // Every builder that was asked got its own id, never the CL-facing one; the primary was
    // asked for sure.
    let primary_calls = els[0].calls("engine_getPayloadV3").await;
    assert_eq!(primary_calls.len(), 1);
    assert_eq!(primary_calls[0]["params"], json!([EL_IDS[0]]));
    assert_eq!(primary_calls[0]["id"], "gp");
    for (i, el) in els.iter().enumerate().skip(1) {
        for call in el.calls("engine_getPayloadV3").await {
            assert_eq!(call["params"], json!([EL_IDS[i]]), "node {i}");
        }
    }
}

#[tokio::test]
async fn get_payload_fails_over_to_the_next_builder_with_that_nodes_id() {
    let s = secret(0x72);
    let els = els(3, &s).await;
    els[0]
        .on("engine_getPayloadV3", Reply::http(500, "internal error"))
        .await;
    for (i, el) in els.iter().enumerate() {
        el.on(
            "engine_forkchoiceUpdatedV3",
            Reply::result(fcu_result(
                payload_status("VALID", Some(&byte_hash(8)), None),
                Some(EL_IDS[i]),
            )),
        )
        .await;
        el.on(
            "engine_getPayloadV3",
            Reply::result(get_payload_result(&format!("built by node {i}"))),
        )
        .await;
    }
    let specs: Vec<String> = els.iter().map(El::url).collect();
    let proxy = start_proxy(&s, &specs).await;
    let answer = proxy
        .call(json!(1), "engine_forkchoiceUpdatedV3", fcu_params(8, true))
        .await;
    let cl_id = answer["result"]["payloadId"]
        .as_str()
        .expect("id")
        .to_owned();
    let got = proxy
        .call(json!(5), "engine_getPayloadV3", json!([cl_id]))
        .await;
    assert_eq!(got["result"], get_payload_result("built by node 1"));
    assert_eq!(
        els[1].calls("engine_getPayloadV3").await[0]["params"],
        json!([EL_IDS[1]])
    );
}

#[tokio::test]
async fn the_primarys_payload_wins_even_when_it_answers_last() {
    let s = secret(0x74);
    let els = els(3, &s).await;
    els[0]
        .on(
            "engine_getPayloadV3",
            Reply::result(get_payload_result("built by node 0"))
                .delayed(std::time::Duration::from_millis(250)),
        )
        .await;
    for (i, el) in els.iter().enumerate() {
        el.on(
            "engine_forkchoiceUpdatedV3",
            Reply::result(fcu_result(
                payload_status("VALID", Some(&byte_hash(8)), None),
                Some(EL_IDS[i]),
            )),
        )
        .await;
        el.on(
            "engine_getPayloadV3",
            Reply::result(get_payload_result(&format!("built by node {i}"))),
        )
        .await;
    }
    let specs: Vec<String> = els.iter().map(El::url).collect();
    // The primary is awaited for the grace after the first good payload: here long enough
    // that its 250 ms never misses it.
    let settings = executionbackup::config::Settings {
        payload_grace: std::time::Duration::from_millis(800),
        payload_timeout: std::time::Duration::from_secs(5),
        ..settings()
    };
    let proxy = start_proxy_with(settings, &s, &specs).await;
    let answer = proxy
        .call(json!(1), "engine_forkchoiceUpdatedV3", fcu_params(8, true))
        .await;
    let cl_id = answer["result"]["payloadId"]
        .as_str()
        .expect("id")
        .to_owned();
    let got = proxy
        .call(json!(6), "engine_getPayloadV3", json!([cl_id]))
        .await;
    assert_eq!(got["result"], get_payload_result("built by node 0"));
}

#[tokio::test]
async fn get_payload_goes_to_a_builder_when_the_primary_is_not_building() {
    let s = secret(0x75);
    let els = els(3, &s).await;
    // The primary is still syncing the head: no build there.
    els[0]
        .on(
            "engine_forkchoiceUpdatedV3",
            Reply::result(fcu_result(payload_status("SYNCING", None, None), None)),
        )
        .await;
    for (i, el) in els.iter().enumerate() {
        el.on(
            "engine_forkchoiceUpdatedV3",
            Reply::result(fcu_result(
                payload_status("VALID", Some(&byte_hash(8)), None),
                Some(EL_IDS[i]),
            )),
        )
        .await;
        el.on(
            "engine_getPayloadV3",
            Reply::result(get_payload_result(&format!("built by node {i}"))),
        )
        .await;
    }
    let specs: Vec<String> = els.iter().map(El::url).collect();
    let proxy = start_proxy(&s, &specs).await;
    let answer = proxy
        .call(json!(1), "engine_forkchoiceUpdatedV3", fcu_params(8, true))
        .await;
    assert_eq!(
        answer["result"]["payloadStatus"],
        payload_status("VALID", Some(&byte_hash(8)), None)
    );
    let cl_id = answer["result"]["payloadId"]
        .as_str()
        .expect("id")
        .to_owned();
    let got = proxy
        .call(json!(7), "engine_getPayloadV3", json!([cl_id]))
        .await;
    assert_eq!(got["result"], get_payload_result("built by node 1"));
    assert_eq!(els[0].calls("engine_getPayloadV3").await.len(), 0);
    assert_eq!(
        els[1].calls("engine_getPayloadV3").await[0]["params"],
        json!([EL_IDS[1]])
    );
}

#[tokio::test]
async fn unknown_payload_ids_are_38001_and_reach_no_el() {
    let s = secret(0x73);
    let els = building_els(&s).await;
    let specs: Vec<String> = els.iter().map(El::url).collect();
    let proxy = start_proxy(&s, &specs).await;

    // One real build, so the map is not empty.
    let answer = proxy
        .call(json!(1), "engine_forkchoiceUpdatedV3", fcu_params(8, true))
        .await;
    assert!(answer["result"]["payloadId"].is_string(), "{answer}");

    for (i, unknown) in [
        "0x0123456789abcdef",
        EL_IDS[0], // an EL's own id is not a CL-facing id
        "0x01",
        "not hex at all",
    ]
    .into_iter()
    .enumerate()
    {
        let got = proxy
            .call(json!(100 + i), "engine_getPayloadV3", json!([unknown]))
            .await;
        assert_eq!(
            got,
            json!({"jsonrpc": "2.0", "id": 100 + i, "error": {"code": -38001, "message": "Unknown payload"}}),
            "{unknown}"
        );
    }
    for el in &els {
        assert_eq!(el.calls("engine_getPayloadV3").await.len(), 0);
    }
}
