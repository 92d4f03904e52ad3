//! JSON-RPC batches: answered as an array in request order, each element with its own id
//! (number, string or null); elements that are not valid requests get -32600 in place; an empty
//! batch is a single -32600 object.

// Scripted ELs (wiremock) rather than mock-el: the answers inside the batches are pinned by a
// snapshot, with blocks and hashes the test picks; mock-el answers from a chain of its own.

use crate::support::scripted_el::*;
use serde_json::{json, Value};

fn block() -> Value {
    json!({"number": "0x10", "hash": byte_hash(0x10), "transactions": []})
}

#[tokio::test]
async fn a_mixed_batch_is_answered_in_order_with_every_id_echoed() {
    let s = secret(0xc1);
    let els = els(3, &s).await;
    for el in &els {
        el.on(
            "engine_newPayloadV3",
            Reply::status("VALID", Some(&byte_hash(7)), None),
        )
        .await;
        el.on("eth_getBlockByNumber", Reply::result(block())).await;
    }
    let specs: Vec<String> = els.iter().map(El::url).collect();
    let proxy = start_proxy(&s, &specs).await;

    let batch = json!([
        request(json!(1), "eth_getBlockByNumber", json!(["latest", false])),
        request(json!("np-2"), "engine_newPayloadV3", new_payload_params(7)),
        {"jsonrpc": "2.0", "id": null},
    ]);
    let reply = proxy.post_raw(batch.to_string()).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.content_type(), Some("application/json"));
    let answer = reply.json();
    let ids: Vec<Value> = answer
        .as_array()
        .expect("a batch answer is an array")
        .iter()
        .map(|r| r["id"].clone())
        .collect();
    assert_eq!(ids, vec![json!(1), json!("np-2"), Value::Null]);
    assert_eq!(answer[0]["result"], block());
    assert_eq!(
        answer[1]["result"],
        payload_status("VALID", Some(&byte_hash(7)), None)
    );
    assert_eq!(answer[2]["error"]["code"], -32600);
    insta::assert_json_snapshot!("mixed_batch", answer);

    // The read went to the primary only; the newPayload to every node.
    assert_eq!(els[0].calls("eth_getBlockByNumber").await.len(), 1);
    for (i, el) in els.iter().enumerate() {
        assert_eq!(el.calls("engine_newPayloadV3").await.len(), 1, "node {i}");
        if i > 0 {
            assert_eq!(el.calls("eth_getBlockByNumber").await.len(), 0, "node {i}");
        }
    }
}

#[tokio::test]
async fn invalid_elements_are_answered_in_place() {
    let s = secret(0xc2);
    let el = El::start(s.clone()).await;
    el.on("eth_blockNumber", Reply::result(json!("0x10"))).await;
    let proxy = start_proxy(&s, &[el.url()]).await;

    let reply = proxy
        .post_raw(
            r#"[5, {"jsonrpc":"2.0","id":"b","method":"eth_blockNumber"}, {"jsonrpc":"1.0","id":3,"method":"eth_blockNumber"}, "x", {"jsonrpc":"2.0","id":4,"method":"eth_blockNumber","params":7}]"#,
        )
        .await;
    let answer = reply.json();
    let summary: Vec<(Value, Value)> = answer
        .as_array()
        .expect("array")
        .iter()
        .map(|r| {
            (
                r["id"].clone(),
                r.get("result")
                    .cloned()
                    .unwrap_or_else(|| r["error"]["code"].clone()),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (Value::Null, json!(-32600)),
            (json!("b"), json!("0x10")),
            (json!(3), json!(-32600)),
            (Value::Null, json!(-32600)),
            (json!(4), json!(-32600)),
        ]
    );
}

#[tokio::test]
async fn an_empty_batch_is_one_invalid_request_error() {
    let s = secret(0xc3);
    let el = El::start(s.clone()).await;
    let proxy = start_proxy(&s, &[el.url()]).await;
    for body in ["[]", " [ ] ", "[\n]"] {
        let reply = proxy.post_raw(body).await;
        assert_eq!(reply.status, 200, "{body:?}");
        let answer = reply.json();
        assert!(answer.is_object(), "{body:?}: {answer}");
        assert_eq!(answer["jsonrpc"], "2.0");
        assert_eq!(answer["id"], Value::Null);
        assert_eq!(answer["error"]["code"], -32600, "{body:?}: {answer}");
    }
}

#[tokio::test]
async fn notifications_get_no_answer() {
    let s = secret(0xc4);
    let el = El::start(s.clone()).await;
    el.on("eth_blockNumber", Reply::result(json!("0x10"))).await;
    let proxy = start_proxy(&s, &[el.url()]).await;

    let reply = proxy
        .post_raw(r#"{"jsonrpc":"2.0","method":"eth_blockNumber","params":[]}"#)
        .await;
    assert_eq!(reply.status, 204, "{}", reply.text());
    assert!(reply.body.is_empty());

    // In a batch, only the calls with an id are answered.
    let reply = proxy
        .post_raw(
            r#"[{"jsonrpc":"2.0","method":"eth_blockNumber"},{"jsonrpc":"2.0","id":9,"method":"eth_blockNumber"}]"#,
        )
        .await;
    assert_eq!(
        reply.json(),
        json!([{"jsonrpc": "2.0", "id": 9, "result": "0x10"}])
    );
}
