//! Requests the proxy answers itself with a JSON-RPC error: bodies that are not JSON (-32700)
//! and methods outside the served namespaces (-32601, never forwarded).

use crate::support::mock_els::*;
use serde_json::{json, Value};

#[tokio::test]
async fn a_body_that_is_not_json_is_a_parse_error() {
    let els = mocks(1).await;
    let running = proxy(&plain(&els), settings()).await;
    let proxy = Cl::new(running.url());
    for body in [
        "hello",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_chainId\"",
        "",
        "[{\"jsonrpc\":\"2.0\"},",
        "{'jsonrpc':'2.0'}",
    ] {
        let reply = proxy.post_raw(body).await;
        assert_eq!(reply.status, 200, "{body:?}: {}", reply.text());
        let answer = reply.json();
        assert_eq!(
            (
                answer["jsonrpc"].clone(),
                answer["id"].clone(),
                answer["error"]["code"].clone()
            ),
            (json!("2.0"), Value::Null, json!(-32700)),
            "{body:?}: {answer}"
        );
    }
}

#[tokio::test]
async fn methods_outside_the_served_namespaces_are_refused_without_asking_an_el() {
    let els = mocks(2).await;
    let running = proxy(&plain(&els), settings()).await;
    let proxy = Cl::new(running.url());

    for (id, method) in [
        (json!(1), "admin_peers"),
        (json!("d"), "debug_setHead"),
        (json!(3), "personal_sign"),
        (json!(4), "ethx_chainId"),
    ] {
        let answer = proxy.call(id.clone(), method, json!([])).await;
        assert_eq!(answer["id"], id, "{method}");
        assert_eq!(answer["error"]["code"], -32601, "{method}: {answer}");
        assert!(answer.get("result").is_none());
    }
    for (i, el) in els.iter().enumerate() {
        for method in [
            "admin_peers",
            "debug_setHead",
            "personal_sign",
            "ethx_chainId",
        ] {
            assert!(el.el().calls_to(method).is_empty(), "node {i} got {method}");
        }
    }
}
