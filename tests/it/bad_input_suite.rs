//! Fifty-odd malformed and hostile requests against the shipped binary, each with its exact
//! answer; afterwards a normal request still works and the resident memory has not grown.
//! Then the trust-boundary cases: admin calls with the wrong kind of token, aliases and the
//! proxy's own address on `/add_nodes`, a request carrying the proxy's own loop marker, and
//! bodies that never finish.
use crate::support::relay;

use std::process::Command;
use std::time::Duration;

use crate::support::mock_els::*;
use crate::support::processes::*;
use base64::Engine as _;
use eb_transport::{SystemClock, WallClock};
use serde_json::{json, Value};

/// What a case must get back.
#[derive(Clone, Copy, Debug)]
enum Want {
    /// HTTP 200 with a JSON-RPC error of this code (single object, id null unless stated).
    Rpc(i64),
    /// HTTP 200 with a result.
    Result,
    /// HTTP 200, a batch of this many elements, each an error of this code.
    BatchOf(usize, i64),
    /// This HTTP status.
    Http(u16),
}

struct Case {
    name: &'static str,
    body: Vec<u8>,
    content_type: Option<&'static str>,
    auth: Auth,
    want: Want,
}

#[derive(Clone)]
enum Auth {
    Good,
    None,
    Header(String),
}

fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

fn token_with(header: Value, claims: Value, key: &[u8]) -> String {
    use hmac::Mac;
    let signing = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).expect("key");
    mac.update(signing.as_bytes());
    format!("{signing}.{}", b64(&mac.finalize().into_bytes()))
}

fn now() -> u64 {
    SystemClock.unix_seconds()
}

fn rpc(method: &str) -> Vec<u8> {
    json!({"jsonrpc":"2.0","id":1,"method":method,"params":[]})
        .to_string()
        .into_bytes()
}

fn cases() -> Vec<Case> {
    let good = |name, body: Vec<u8>, want| Case {
        name,
        body,
        content_type: Some("application/json"),
        auth: Auth::Good,
        want,
    };
    let auth = |name, header: String| Case {
        name,
        body: rpc("eth_chainId"),
        content_type: Some("application/json"),
        auth: Auth::Header(header),
        want: Want::Http(401),
    };
    let key = SECRET;
    let deep_array = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let deep_object = format!("{}1{}", "{\"a\":".repeat(10_000), "}".repeat(10_000));
    let deep_params = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"eth_call","params":{}{}}}"#,
        "[".repeat(200),
        "]".repeat(200)
    );
    let big_id = "9".repeat(300);
    let many: Vec<Value> = (0..1025)
        .map(|i| json!({"jsonrpc":"2.0","id":i,"method":"eth_chainId"}))
        .collect();
    let notifications: Vec<Value> = (0..100)
        .map(|_| json!({"jsonrpc":"2.0","method":"eth_chainId"}))
        .collect();
    vec![
        good("empty body", b"".to_vec(), Want::Rpc(-32700)),
        good("lone brace", b"{".to_vec(), Want::Rpc(-32700)),
        good("lone bracket", b"[".to_vec(), Want::Rpc(-32700)),
        good("truncated batch", b"[1,".to_vec(), Want::Rpc(-32700)),
        good("truncated request", br#"{"jsonrpc":"2.0","id":1,"method":"eth_chainId""#.to_vec(), Want::Rpc(-32700)),
        good("bare word", b"nope".to_vec(), Want::Rpc(-32700)),
        good("trailing garbage", br#"{"jsonrpc":"2.0","id":1,"method":"eth_chainId"} x"#.to_vec(), Want::Rpc(-32700)),
        good("number", b"42".to_vec(), Want::Rpc(-32600)),
        good("string", b"\"str\"".to_vec(), Want::Rpc(-32600)),
        good("null", b"null".to_vec(), Want::Rpc(-32600)),
        good("boolean", b"true".to_vec(), Want::Rpc(-32600)),
        good("empty batch", b"[]".to_vec(), Want::Rpc(-32600)),
        // Deep nesting is valid JSON: it must cost no stack, and is simply not a request.
        good("10000-deep array", deep_array.into_bytes(), Want::BatchOf(1, -32600)),
        good("10000-deep object", deep_object.into_bytes(), Want::Rpc(-32600)),
        // Forwarded untouched; the mock EL does not serve eth_call, and its answer passes through.
        good("200-deep params", deep_params.into_bytes(), Want::Rpc(-32601)),
        good("non-UTF-8 bytes", b"\xff\xfe{\"a\":1}".to_vec(), Want::Rpc(-32700)),
        good("non-UTF-8 in a string", b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_\xff\"}".to_vec(), Want::Rpc(-32700)),
        good("NUL bytes", b"\0\0\0\0".to_vec(), Want::Rpc(-32700)),
        good("300-digit id", format!(r#"{{"jsonrpc":"2.0","id":{big_id},"method":"eth_chainId","params":[]}}"#).into_bytes(), Want::Result),
        // Ids are echoed byte for byte, whatever number they spell.
        good("huge float id", br#"{"jsonrpc":"2.0","id":1e400,"method":"eth_chainId","params":[]}"#.to_vec(), Want::Result),
        good("array id", br#"{"jsonrpc":"2.0","id":[1],"method":"eth_chainId"}"#.to_vec(), Want::Rpc(-32600)),
        good("object id", br#"{"jsonrpc":"2.0","id":{"a":1},"method":"eth_chainId"}"#.to_vec(), Want::Rpc(-32600)),
        good("boolean id", br#"{"jsonrpc":"2.0","id":true,"method":"eth_chainId"}"#.to_vec(), Want::Rpc(-32600)),
        good("no jsonrpc", br#"{"id":1,"method":"eth_chainId"}"#.to_vec(), Want::Rpc(-32600)),
        good("jsonrpc 1.0", br#"{"jsonrpc":"1.0","id":1,"method":"eth_chainId"}"#.to_vec(), Want::Rpc(-32600)),
        good("jsonrpc as a number", br#"{"jsonrpc":2.0,"id":1,"method":"eth_chainId"}"#.to_vec(), Want::Rpc(-32600)),
        good("no method", br#"{"jsonrpc":"2.0","id":1}"#.to_vec(), Want::Rpc(-32600)),
        good("method is a number", br#"{"jsonrpc":"2.0","id":1,"method":7}"#.to_vec(), Want::Rpc(-32600)),
        good("empty method", rpc(""), Want::Rpc(-32601)),
        good("100 KB method", rpc(&"x".repeat(100_000)), Want::Rpc(-32601)),
        good("admin namespace", rpc("admin_peers"), Want::Rpc(-32601)),
        good("debug namespace", rpc("debug_setHead"), Want::Rpc(-32601)),
        good("params a string", br#"{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":"x"}"#.to_vec(), Want::Rpc(-32600)),
        good("params a number", br#"{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":1}"#.to_vec(), Want::Rpc(-32600)),
        good("batch over the limit", serde_json::to_vec(&many).expect("json"), Want::Rpc(-32600)),
        good("batch of junk", b"[1,\"a\",null]".to_vec(), Want::BatchOf(3, -32600)),
        good("batch in a batch", br#"[[{"jsonrpc":"2.0","id":1,"method":"eth_chainId"}]]"#.to_vec(), Want::BatchOf(1, -32600)),
        good("notifications only", serde_json::to_vec(&notifications).expect("json"), Want::Http(204)),
        good("oversized body", vec![b' '; 2 * 1024 * 1024], Want::Http(413)),
        good("getPayload with a 1 MB id", serde_json::to_vec(&json!({"jsonrpc":"2.0","id":1,"method":"engine_getPayloadV3","params":[format!("0x{}", "ab".repeat(500_000))]})).expect("json"), Want::Rpc(-38001)),
        good("newPayload without params", rpc("engine_newPayloadV3"), Want::Rpc(-32602)),
        Case { name: "text/plain", body: rpc("eth_chainId"), content_type: Some("text/plain"), auth: Auth::Good, want: Want::Http(415) },
        Case { name: "form encoded", body: rpc("eth_chainId"), content_type: Some("application/x-www-form-urlencoded"), auth: Auth::Good, want: Want::Http(415) },
        Case { name: "no content type", body: rpc("eth_chainId"), content_type: None, auth: Auth::Good, want: Want::Result },
        Case { name: "no Authorization", body: rpc("eth_chainId"), content_type: Some("application/json"), auth: Auth::None, want: Want::Http(401) },
        auth("Basic scheme", "Basic dXNlcjpwYXNz".into()),
        auth("Bearer garbage", "Bearer not.a.token".into()),
        auth("Bearer empty", "Bearer ".into()),
        auth("wrong secret", format!("Bearer {}", token_with(json!({"alg":"HS256","typ":"JWT"}), json!({"iat": now()}), &[1; 32]))),
        auth("expired", format!("Bearer {}", token_with(json!({"alg":"HS256","typ":"JWT"}), json!({"iat": now(), "exp": now() - 5}), &key))),
        // Well past the ±60 s window, so a second ticking over during the round cannot matter
        // (the exact boundary is tested with a manual clock in the JWT module).
        auth("iat 70 s old", format!("Bearer {}", token_with(json!({"alg":"HS256","typ":"JWT"}), json!({"iat": now() - 70}), &key))),
        auth("iat 70 s ahead", format!("Bearer {}", token_with(json!({"alg":"HS256","typ":"JWT"}), json!({"iat": now() + 70}), &key))),
        auth("alg none", format!("Bearer {}.{}.", b64(br#"{"alg":"none"}"#), b64(json!({"iat": now()}).to_string().as_bytes()))),
        auth("alg HS512", format!("Bearer {}", token_with(json!({"alg":"HS512","typ":"JWT"}), json!({"iat": now()}), &key))),
        auth("no iat", format!("Bearer {}", token_with(json!({"alg":"HS256","typ":"JWT"}), json!({"id": "x"}), &key))),
        auth("iat a string", format!("Bearer {}", token_with(json!({"alg":"HS256","typ":"JWT"}), json!({"iat": "now"}), &key))),
    ]
}

async fn send(client: &reqwest::Client, url: &str, case: &Case) -> (u16, Vec<u8>) {
    match try_send(client, url, case).await {
        Ok(answer) => answer,
        // The proxy answers 413 as soon as the headers declare too much, without reading the
        // rest, and closes: a client still writing may see the reset before the answer.
        Err(e) if matches!(case.want, Want::Http(413)) => {
            println!("{}: connection closed while sending ({e})", case.name);
            (413, b"{}".to_vec())
        }
        Err(e) => panic!("{}: no answer: {e}", case.name),
    }
}

async fn try_send(
    client: &reqwest::Client,
    url: &str,
    case: &Case,
) -> Result<(u16, Vec<u8>), reqwest::Error> {
    let mut req = client.post(url).body(case.body.clone());
    if let Some(ct) = case.content_type {
        req = req.header("content-type", ct);
    }
    match &case.auth {
        Auth::Good => req = req.header("authorization", format!("Bearer {}", token())),
        Auth::None => {}
        Auth::Header(h) => req = req.header("authorization", h.as_str()),
    }
    let resp = req.send().await?;
    let status = resp.status().as_u16();
    Ok((
        status,
        resp.bytes().await.map(|b| b.to_vec()).unwrap_or_default(),
    ))
}

fn check(case: &Case, status: u16, body: &[u8]) {
    let text = String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
    let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    match case.want {
        Want::Rpc(code) => {
            assert_eq!(status, 200, "{}: {text}", case.name);
            assert!(
                json.is_object(),
                "{}: a single error object: {text}",
                case.name
            );
            assert_eq!(json["error"]["code"], code, "{}: {text}", case.name);
            assert_eq!(json["jsonrpc"], "2.0", "{}", case.name);
        }
        Want::Result => {
            // Read as text: an id such as 1e400 is beyond what the test's JSON parser takes.
            assert_eq!(status, 200, "{}: {text}", case.name);
            let whole = String::from_utf8_lossy(body);
            assert!(
                whole.ends_with(r#","result":"0x539"}"#),
                "{}: {text}",
                case.name
            );
        }
        Want::BatchOf(n, code) => {
            assert_eq!(status, 200, "{}: {text}", case.name);
            let list = json
                .as_array()
                .unwrap_or_else(|| panic!("{}: not a batch: {text}", case.name));
            assert_eq!(list.len(), n, "{}", case.name);
            assert!(
                list.iter().all(|e| e["error"]["code"] == code),
                "{}: {text}",
                case.name
            );
        }
        Want::Http(code) => {
            assert_eq!(status, code, "{}: {text}", case.name);
            if code != 204 {
                assert!(json.is_object(), "{}: the body is JSON: {text}", case.name);
            }
        }
    }
}

fn rss_kib(pid: i32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_requests_get_exact_answers_and_leave_no_trace() {
    let els = mocks(2).await;
    let dir = std::env::temp_dir().join(format!("eb-bad-input-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let secret_file = dir.join("jwt.hex");
    std::fs::write(
        &secret_file,
        SECRET
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>(),
    )
    .expect("secret");
    let admin_file = write_secret(&dir, "admin.hex", &ADMIN_SECRET);
    // The first EL is reached through a relay, which shows the loop marker the proxy sends.
    let spy = relay::Relay::start(els[0].addr()).await;
    let mut cmd = Command::new(executionbackup());
    cmd.arg("--nodes")
        .arg(format!("{},{}", spy.url(), els[1].url()))
        .arg("--jwt-secret")
        .arg(&secret_file)
        .arg("--admin-jwt-secret")
        .arg(&admin_file)
        .args([
            "--port",
            "0",
            "--metrics-addr",
            "off",
            "--max-request-bytes",
            "1048576",
            "--body-timeout",
            "1000",
        ])
        .args(["--max-batch", "1024"]);
    let proxy = Proc::spawn(cmd);
    let line = proxy
        .wait_for(Duration::from_secs(20), |l| {
            l.contains("listening for the consensus client")
        })
        .unwrap_or_else(|seen| panic!("did not start: {seen:?}"));
    let url = format!("http://{}", addr_after(&line, "local_addr="));
    let client = reqwest::Client::new();

    assert!(cases().len() >= 50, "{} cases", cases().len());
    // The first round warms allocator pools; later rounds must not grow the process.
    let mut after_first = 0;
    for round in 0..6 {
        for case in &cases() {
            let (status, body) = send(&client, &url, case).await;
            check(case, status, &body);
        }
        // A token used twice is accepted twice: the Engine API has no replay protection beyond
        // the ±60 s iat window (documented).
        let replayed = token();
        for _ in 0..2 {
            let resp = client
                .post(&url)
                .header("content-type", "application/json")
                .header("authorization", format!("Bearer {replayed}"))
                .body(rpc("eth_chainId"))
                .send()
                .await
                .expect("answer");
            assert_eq!(resp.status(), 200);
        }
        // And a normal vote still works.
        let (status, reply) = Cl::new(url.clone())
            .post("/", json!({"jsonrpc":"2.0","id":"after","method":"engine_newPayloadV3","params":new_payload_params(round + 1)}), true)
            .await;
        assert_eq!(status, 200);
        assert_eq!(reply["result"]["status"], "VALID", "{reply}");
        assert_eq!(reply["id"], "after");
        if round == 0 {
            after_first = rss_kib(proxy.pid());
        }
    }
    let last = rss_kib(proxy.pid());
    println!("RSS after the first round {after_first} KiB, after six rounds {last} KiB");

    trust_cases(&client, &url, &spy, els[1].addr().port()).await;
    assert!(after_first > 0);
    assert!(
        last <= after_first + 8 * 1024,
        "RSS grew from {after_first} to {last} KiB"
    );
}

/// A request-level trust-boundary case and its exact answer.
struct TrustCase {
    name: &'static str,
    method: reqwest::Method,
    path: &'static str,
    headers: Vec<(&'static str, String)>,
    body: String,
    status: u16,
    /// The answer's error: a JSON-RPC error code, or the REST API's text must contain this.
    error: TrustError,
}

enum TrustError {
    Rpc(i64, &'static str),
    Rest(&'static str),
}

async fn trust_cases(client: &reqwest::Client, url: &str, spy: &relay::Relay, el_port: u16) {
    let marker = spy
        .header_values("x-executionbackup-loop")
        .pop()
        .expect("the proxy marks its requests to nodes");
    let engine = format!("Bearer {}", token());
    let admin = format!("Bearer {}", admin_token());
    let own_port = url.rsplit(':').next().unwrap_or_default().to_owned();
    let json_ct = ("content-type", "application/json".to_owned());
    let case = |name, method, path, auth: Option<&String>, body: String, status, error| {
        let mut headers = vec![json_ct.clone()];
        if let Some(a) = auth {
            headers.push(("authorization", a.clone()));
        }
        TrustCase {
            name,
            method,
            path,
            headers,
            body,
            status,
            error,
        }
    };
    let nodes = |list: Vec<String>| json!({ "nodes": list }).to_string();
    let mut cases = vec![
        case(
            "recheck with the engine token",
            reqwest::Method::GET,
            "/recheck",
            Some(&engine),
            String::new(),
            401,
            TrustError::Rest("needs a token signed with --admin-jwt-secret"),
        ),
        case(
            "add_nodes with the engine token",
            reqwest::Method::POST,
            "/add_nodes",
            Some(&engine),
            nodes(vec!["http://127.0.0.1:1".into()]),
            401,
            TrustError::Rest("needs a token signed with --admin-jwt-secret"),
        ),
        case(
            "remove_nodes with the engine token",
            reqwest::Method::POST,
            "/remove_nodes",
            Some(&engine),
            nodes(vec![spy.url()]),
            401,
            TrustError::Rest("needs a token signed with --admin-jwt-secret"),
        ),
        case(
            "recheck without a token",
            reqwest::Method::GET,
            "/recheck",
            None,
            String::new(),
            401,
            TrustError::Rest("missing Authorization header"),
        ),
        case(
            "add_nodes: localhost alias of a node",
            reqwest::Method::POST,
            "/add_nodes",
            Some(&admin),
            nodes(vec![format!("http://localhost:{el_port}")]),
            400,
            TrustError::Rest("same execution client"),
        ),
        case(
            "add_nodes: another path to a node",
            reqwest::Method::POST,
            "/add_nodes",
            Some(&admin),
            nodes(vec![format!("http://127.0.0.1:{el_port}/x")]),
            400,
            TrustError::Rest("same execution client"),
        ),
        case(
            "add_nodes: the proxy itself",
            reqwest::Method::POST,
            "/add_nodes",
            Some(&admin),
            nodes(vec![format!("http://127.0.0.1:{own_port}")]),
            400,
            TrustError::Rest("own address"),
        ),
        case(
            "add_nodes: the proxy itself as localhost",
            reqwest::Method::POST,
            "/add_nodes",
            Some(&admin),
            nodes(vec![format!("http://localhost:{own_port}/")]),
            400,
            TrustError::Rest("own address"),
        ),
        case(
            "engine call with the loop marker",
            reqwest::Method::POST,
            "/",
            Some(&engine),
            String::from_utf8(rpc("eth_chainId")).expect("utf8"),
            508,
            TrustError::Rpc(-32000, "request loop"),
        ),
        case(
            "loop marker without a token",
            reqwest::Method::POST,
            "/",
            None,
            String::from_utf8(rpc("eth_chainId")).expect("utf8"),
            508,
            TrustError::Rpc(-32000, "request loop"),
        ),
        case(
            "admin call with the loop marker",
            reqwest::Method::GET,
            "/recheck",
            Some(&admin),
            String::new(),
            508,
            TrustError::Rpc(-32000, "request loop"),
        ),
    ];
    for c in cases.iter_mut().filter(|c| c.name.contains("loop marker")) {
        c.headers.push(("x-executionbackup-loop", marker.clone()));
    }
    let before = metrics_without_times(client, url).await;
    for c in &cases {
        let mut req = client.request(c.method.clone(), format!("{url}{}", c.path));
        for (k, v) in &c.headers {
            req = req.header(*k, v.as_str());
        }
        if !c.body.is_empty() {
            req = req.body(c.body.clone());
        }
        let resp = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", c.name));
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        assert_eq!(status, c.status, "{}: {text}", c.name);
        let json: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        match c.error {
            TrustError::Rpc(code, words) => {
                assert_eq!(json["error"]["code"], code, "{}: {text}", c.name);
                assert_eq!(json["id"], Value::Null, "{}", c.name);
                let message = json["error"]["message"].as_str().unwrap_or_default();
                assert!(message.contains(words), "{}: {text}", c.name);
            }
            TrustError::Rest(words) => {
                let message = json["error"].as_str().unwrap_or_default();
                assert!(message.contains(words), "{}: {text}", c.name);
            }
        }
        assert_eq!(
            metrics_without_times(client, url).await,
            before,
            "{} changed the node set",
            c.name
        );
    }

    // Bodies that never finish, on raw sockets: cut off with 408 after --body-timeout.
    let addr = url.trim_start_matches("http://").to_owned();
    for (name, path, auth, framing, sent) in [
        (
            "chunked body that never ends",
            "/",
            &engine,
            "Transfer-Encoding: chunked",
            "1\r\n[\r\n",
        ),
        (
            "body shorter than its Content-Length",
            "/",
            &engine,
            "Content-Length: 100",
            "[1,2,3",
        ),
        (
            "add_nodes body that never ends",
            "/add_nodes",
            &admin,
            "Transfer-Encoding: chunked",
            "1\r\n{\r\n",
        ),
    ] {
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nAuthorization: {auth}\r\n{framing}\r\n\r\n{sent}"
        );
        let (answer, closed) = raw_exchange_until_closed(&addr, head.as_bytes()).await;
        assert!(answer.starts_with("HTTP/1.1 408"), "{name}: {answer}");
        assert!(closed, "{name}: the connection stays open");
        let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
        let json: Value = serde_json::from_str(body).unwrap_or(Value::Null);
        assert_eq!(json["error"]["code"], -32600, "{name}: {answer}");
        assert!(
            json["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("not received within 1000 ms")),
            "{name}: {answer}"
        );
    }
}

/// Sends `bytes`, keeps the connection open without sending more, and reads until the proxy
/// closes it (a failure guard of 20 s, never reached when the proxy does its job).
async fn raw_exchange_until_closed(addr: &str, bytes: &[u8]) -> (String, bool) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connects");
    stream.write_all(bytes).await.expect("send");
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    let closed = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .is_ok();
    (String::from_utf8_lossy(&answer).into_owned(), closed)
}

async fn metrics_without_times(client: &reqwest::Client, url: &str) -> Value {
    let text = client
        .get(format!("{url}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("body");
    let mut report: Value = serde_json::from_str(&text).expect("JSON");
    report["response_times"] = Value::Null;
    report
}
