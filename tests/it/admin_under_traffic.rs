//! Node set changes through the REST API: admin token only, atomic, and no request is lost
//! while they happen.

use std::sync::Arc;

use crate::support::mock_els::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_need_the_admin_jwt() {
    let els = mocks(2).await;
    let running = proxy(&plain(&els[..1]), settings()).await;
    let cl = Cl::new(running.url());
    let add = json!({"nodes": [els[1].url()]});
    for path in ["/add_nodes", "/remove_nodes"] {
        let (status, body) = cl.post(path, add.clone(), false).await;
        assert_eq!(status, 401, "{path}: {body}");
        assert!(body["error"]
            .as_str()
            .is_some_and(|e| e.contains("unauthorized")));
    }
    assert_eq!(cl.get("/recheck", false).await.0, 401);
    assert_eq!(running.proxy.nodes.snapshot().len(), 1);

    let (status, body) = cl.admin_post("/add_nodes", add).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["alive_nodes"].as_array().map(Vec::len), Some(2));
    assert!(body["recheck_time"].is_u64());
    // Bad input changes nothing.
    for bad in [
        json!({"nodes": ["ftp://x"]}),
        json!({"nodes": []}),
        json!({"nodez": 1}),
        json!({"nodes": [els[1].url()]}),
    ] {
        let (status, body) = cl.admin_post("/add_nodes", bad.clone()).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body["error"].is_string());
    }
    let secret_file = json!({"nodes": ["http://127.0.0.1:1#jwt-secret=/etc/hostname"]});
    let (status, body) = cl.admin_post("/add_nodes", secret_file).await;
    assert_eq!(status, 400);
    let hostname = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
    if !hostname.trim().is_empty() {
        assert!(
            !body.to_string().contains(hostname.trim()),
            "file content echoed: {body}"
        );
    }
    assert_eq!(running.proxy.nodes.snapshot().len(), 2);
    let (status, body) = cl
        .admin_post("/remove_nodes", json!({"nodes": [els[0].url()]}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["primary_node"], els[1].url());
    let (status, _) = cl
        .admin_post("/remove_nodes", json!({"nodes": [els[1].url()]}))
        .await;
    assert_eq!(status, 400, "the last node cannot be removed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_and_remove_under_concurrent_traffic_lose_nothing() {
    let els = mocks(3).await;
    let running = proxy(&plain(&els[..2]), settings()).await;
    let cl = Arc::new(Cl::new(running.url()));
    let traffic = {
        let cl = cl.clone();
        tokio::spawn(async move {
            let mut answered = 0;
            for n in 1..=150u64 {
                let np = cl.new_payload(n).await;
                assert_eq!(status_of(&np), "VALID", "newPayload {n}: {np}");
                let read = cl.rpc("eth_chainId", json!([])).await;
                assert_eq!(read["result"], "0x539", "read {n}: {read}");
                answered += 2;
            }
            answered
        })
    };
    for round in 0..10 {
        let (status, body) = cl
            .admin_post("/add_nodes", json!({"nodes": [els[2].url()]}))
            .await;
        assert_eq!(status, 200, "round {round}: {body}");
        let (status, body) = cl
            .admin_post("/remove_nodes", json!({"nodes": [els[0].url()]}))
            .await;
        assert_eq!(status, 200, "round {round}: {body}");
        let (status, body) = cl
            .admin_post("/add_nodes", json!({"nodes": [els[0].url()]}))
            .await;
        assert_eq!(status, 200, "round {round}: {body}");
        let (status, body) = cl
            .admin_post("/remove_nodes", json!({"nodes": [els[2].url()]}))
            .await;
        assert_eq!(status, 200, "round {round}: {body}");
    }
    assert_eq!(traffic.await.expect("traffic task"), 300);
}
