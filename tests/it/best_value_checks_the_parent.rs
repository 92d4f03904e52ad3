//! With `--payload-selection best-value`, a payload that does not match its build request (here:
//! built on another parent) is never chosen, however large the blockValue it claims: a missed
//! proposal is worse than a smaller reward.

// Scripted ELs (wiremock) rather than mock-el: one EL hands out a payload built on another parent
// with a huge blockValue; mock-el only builds payloads that match their build request.

use crate::support::scripted_el::*;
use executionbackup::config::{PayloadSelection, Settings};
use serde_json::json;

#[tokio::test]
async fn a_wrong_parent_with_a_huge_value_is_skipped() {
    let s = secret(0x62);
    let els = els(2, &s).await;
    let ids = ["0x000000000000d001", "0x000000000000d002"];
    for (el, id) in els.iter().zip(ids) {
        el.on(
            "engine_forkchoiceUpdatedV3",
            Reply::result(fcu_result(
                payload_status("VALID", Some(&byte_hash(8)), None),
                Some(id),
            )),
        )
        .await;
    }
    let liar = built_payload(
        &byte_hash(0x66),
        "0xffffffffffffffffffffffffffffffff",
        "wrong parent",
    );
    let honest = built_payload(&byte_hash(8), "0x1", "right parent");
    els[0].on("engine_getPayloadV3", Reply::result(liar)).await;
    els[1]
        .on("engine_getPayloadV3", Reply::result(honest.clone()))
        .await;
    let settings = Settings {
        payload_selection: PayloadSelection::BestValue,
        ..settings()
    };
    let specs: Vec<String> = els.iter().map(El::url).collect();
    let proxy = start_proxy_with(settings, &s, &specs).await;
    let fcu = proxy
        .call(json!(1), "engine_forkchoiceUpdatedV3", fcu_params(8, true))
        .await;
    let id = fcu["result"]["payloadId"]
        .as_str()
        .expect("payload id")
        .to_owned();
    let got = proxy
        .call(json!(2), "engine_getPayloadV3", json!([id]))
        .await;
    assert_eq!(got["result"], honest, "{got}");
}
