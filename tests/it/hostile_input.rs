//! Malformed and hostile input never takes the proxy down: every body gets a well-formed error
//! (or a proper answer), and a normal request afterwards is still served.

// Scripted ELs (wiremock) rather than mock-el: ids the proxy must pass on byte for byte however
// odd (300 digits, 64 KiB strings) reach an EL that echoes them unparsed.

use crate::support::scripted_el::*;
use serde_json::{json, Value};

enum Expect {
    /// HTTP 200 with a single error object of this code and this id.
    Error(i64, Value),
    /// HTTP 200 with an array of error objects, all of this code.
    Errors(i64, usize),
    /// HTTP 200 with this result and this raw id, byte for byte.
    Result(Value, String),
}

#[tokio::test]
async fn hostile_bodies_get_errors_and_the_proxy_keeps_serving() {
    let s = secret(0xf1);
    let el = El::start(s.clone()).await;
    el.on("eth_blockNumber", Reply::result(json!("0x77"))).await;
    let proxy = start_proxy(&s, &[el.url()]).await;

    // Deep nesting is valid JSON: a batch of one invalid element, an object without
    // "jsonrpc", a call with odd params. What matters is a sane answer, no stack overflow.
    let deep_array = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let deep_object = format!("{}1{}", r#"{"a":"#.repeat(10_000), "}".repeat(10_000));
    let deep_params = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"admin_nodeInfo","params":{}{}}}"#,
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    // Far past u64 (but within what the fake EL can parse), and a 64 KiB string.
    let huge_id = "9".repeat(300);
    let huge_id_call =
        format!(r#"{{"jsonrpc":"2.0","id":{huge_id},"method":"eth_blockNumber","params":[]}}"#);
    let huge_string_id = format!("\"{}\"", "i".repeat(64 * 1024));
    let huge_string_id_call = format!(
        r#"{{"jsonrpc":"2.0","id":{huge_string_id},"method":"eth_blockNumber","params":[]}}"#
    );
    let long_method = format!(
        r#"{{"jsonrpc":"2.0","id":"m","method":"{}","params":[]}}"#,
        "x".repeat(100_000)
    );
    let many_invalid = format!("[{}]", vec!["1"; 1000].join(","));
    let cases: Vec<(&str, Vec<u8>, Expect)> = vec![
        (
            "truncated object",
            b"{\"jsonrpc\":\"2.0\",\"id\":1,\"met".to_vec(),
            Expect::Error(-32700, Value::Null),
        ),
        (
            "lone brace",
            b"{".to_vec(),
            Expect::Error(-32700, Value::Null),
        ),
        (
            "truncated batch",
            b"[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_blockNumber\"}".to_vec(),
            Expect::Error(-32700, Value::Null),
        ),
        (
            "10000 nested arrays",
            deep_array.into_bytes(),
            Expect::Errors(-32600, 1),
        ),
        (
            "10000 nested objects",
            deep_object.into_bytes(),
            Expect::Error(-32600, Value::Null),
        ),
        (
            "10000 nested params",
            deep_params.into_bytes(),
            Expect::Error(-32601, json!(1)),
        ),
        (
            "unclosed nesting",
            "[".repeat(50_000).into_bytes(),
            Expect::Error(-32700, Value::Null),
        ),
        (
            "non-UTF-8 bytes",
            vec![0xff, 0xfe, 0x00, 0x80, b'{', 0xc3],
            Expect::Error(-32700, Value::Null),
        ),
        (
            "non-UTF-8 in a string",
            b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_\xff\xfe\"}".to_vec(),
            Expect::Error(-32700, Value::Null),
        ),
        (
            "NUL bytes",
            vec![0u8; 64],
            Expect::Error(-32700, Value::Null),
        ),
        (
            "a number",
            b"42".to_vec(),
            Expect::Error(-32600, Value::Null),
        ),
        (
            "a string",
            b"\"eth_blockNumber\"".to_vec(),
            Expect::Error(-32600, Value::Null),
        ),
        ("null", b"null".to_vec(), Expect::Error(-32600, Value::Null)),
        (
            "empty object",
            b"{}".to_vec(),
            Expect::Error(-32600, Value::Null),
        ),
        (
            "id is an array",
            br#"{"jsonrpc":"2.0","id":[1],"method":"eth_blockNumber"}"#.to_vec(),
            Expect::Error(-32600, Value::Null),
        ),
        (
            "method is a number",
            br#"{"jsonrpc":"2.0","id":6,"method":5}"#.to_vec(),
            Expect::Error(-32600, json!(6)),
        ),
        (
            "params is a string",
            br#"{"jsonrpc":"2.0","id":7,"method":"eth_blockNumber","params":"x"}"#.to_vec(),
            Expect::Error(-32600, json!(7)),
        ),
        (
            "long unknown method",
            long_method.into_bytes(),
            Expect::Error(-32601, json!("m")),
        ),
        (
            "1000 invalid elements",
            many_invalid.into_bytes(),
            Expect::Errors(-32600, 1000),
        ),
        (
            "huge numeric id",
            huge_id_call.into_bytes(),
            Expect::Result(json!("0x77"), huge_id),
        ),
        (
            "huge string id",
            huge_string_id_call.into_bytes(),
            Expect::Result(json!("0x77"), huge_string_id),
        ),
    ];
    for (case, body, expect) in cases {
        let reply = proxy.post_raw(body).await;
        assert_eq!(reply.status, 200, "{case}: {}", reply.text());
        match expect {
            Expect::Error(code, id) => {
                let answer = reply.json();
                assert_eq!(answer["error"]["code"], code, "{case}: {answer}");
                assert_eq!(answer["id"], id, "{case}");
                assert_eq!(answer["jsonrpc"], "2.0", "{case}");
            }
            Expect::Errors(code, n) => {
                let answer = reply.json();
                let list = answer.as_array().expect("array");
                assert_eq!(list.len(), n, "{case}");
                assert!(list.iter().all(|r| r["error"]["code"] == code), "{case}");
            }
            Expect::Result(result, raw_id) => {
                let text = reply.text();
                assert!(
                    text == format!(r#"{{"jsonrpc":"2.0","id":{raw_id},"result":{result}}}"#),
                    "{case}: {}",
                    &text[..text.len().min(300)]
                );
            }
        }
    }

    // Wrong content types are refused with 415 before the body is looked at.
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ] {
        let reply = proxy
            .send(
                reqwest::Method::POST,
                "/",
                &[
                    ("authorization", proxy.bearer()),
                    ("content-type", content_type.to_owned()),
                ],
                request(json!(1), "eth_blockNumber", json!([])).to_string(),
            )
            .await;
        assert_eq!(reply.status, 415, "{content_type}: {}", reply.text());
        assert_eq!(reply.json()["error"]["code"], -32600, "{content_type}");
    }
    // Not a POST.
    let reply = proxy
        .send(
            reqwest::Method::PUT,
            "/",
            &[("authorization", proxy.bearer())],
            Vec::new(),
        )
        .await;
    assert_eq!(reply.status, 405, "{}", reply.text());

    // Still serving.
    let answer = proxy
        .call(json!("after"), "eth_blockNumber", json!([]))
        .await;
    assert_eq!(
        answer,
        json!({"jsonrpc": "2.0", "id": "after", "result": "0x77"})
    );
}

#[tokio::test]
async fn garbage_on_the_socket_does_not_stop_the_server() {
    let s = secret(0xf2);
    let el = El::start(s.clone()).await;
    el.on("eth_blockNumber", Reply::result(json!("0x78"))).await;
    let proxy = start_proxy(&s, &[el.url()]).await;
    let addr = proxy.addr();
    tokio::task::spawn_blocking(move || {
        for junk in [
            &b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"[..],
            b"GET / HTTP/9.9\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nab",
            b"\r\n\r\n\r\n",
        ] {
            let _ = raw_exchange(addr, junk, std::time::Duration::from_millis(200));
        }
    })
    .await
    .expect("join");
    let answer = proxy.call(json!(1), "eth_blockNumber", json!([])).await;
    assert_eq!(answer["result"], "0x78");
}

#[tokio::test]
async fn oversized_bodies_and_batches_are_refused_and_the_proxy_keeps_serving() {
    let s = secret(0xf3);
    let el = El::start(s.clone()).await;
    el.on("eth_blockNumber", Reply::result(json!("0x79"))).await;
    let settings = executionbackup::config::Settings {
        max_request_bytes: 4096,
        max_batch: 10,
        ..settings()
    };
    let proxy = start_proxy_with(settings, &s, &[el.url()]).await;

    // Declared too large.
    let big = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":["{}"]}}"#,
        "a".repeat(10_000)
    );
    let reply = proxy.post_raw(big.clone()).await;
    assert_eq!(reply.status, 413, "{}", reply.text());
    assert_eq!(reply.json()["error"]["code"], -32600);

    // Too large without a Content-Length (chunked): found while reading.
    let chunk = big.as_bytes();
    let mut raw = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n",
        proxy.bearer(),
        chunk.len()
    )
    .into_bytes();
    raw.extend_from_slice(chunk);
    raw.extend_from_slice(b"\r\n0\r\n\r\n");
    let addr = proxy.addr();
    let (response, _) = tokio::task::spawn_blocking(move || {
        raw_exchange(addr, &raw, std::time::Duration::from_secs(3))
    })
    .await
    .expect("join");
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");

    // One element over the batch limit: a single error object.
    let batch: Vec<Value> = (0..11)
        .map(|i| request(json!(i), "eth_blockNumber", json!([])))
        .collect();
    let answer = proxy.rpc_body(&Value::Array(batch.clone())).await;
    assert!(answer.is_object(), "{answer}");
    assert_eq!(answer["error"]["code"], -32600);
    assert_eq!(el.calls("eth_blockNumber").await.len(), 0);
    // At the limit: answered.
    let answer = proxy.rpc_body(&Value::Array(batch[..10].to_vec())).await;
    assert_eq!(answer.as_array().map(Vec::len), Some(10));

    let answer = proxy.call(json!("ok"), "eth_blockNumber", json!([])).await;
    assert_eq!(answer["result"], "0x79");
}
