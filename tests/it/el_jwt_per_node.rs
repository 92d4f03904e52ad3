//! The proxy's side of the JWT toward the execution clients: each node gets a token signed with
//! its own secret (`#jwt-secret=PATH`, else the global one), freshly minted by the proxy, and
//! never the consensus client's token.

use crate::support::auth::{cl_token, now, secret, SecretFile};
use crate::support::mock_els::*;
use crate::support::shapes::{payload_status, request};
use eb_transport::JwtSecret;
use mock_el::{MockElHandle, Status};
use serde_json::json;

/// A VALID mock that accepts only tokens signed with `secret` (any other gets HTTP 401, counted
/// in its `auth_failures`).
async fn holding(name: &str, seed: u64, secret: &JwtSecret) -> MockElHandle {
    let secret = secret.clone();
    mock(name, seed, move |b| b.secret(secret)).await
}

#[tokio::test]
async fn each_node_gets_a_token_signed_with_its_own_secret_never_the_cls() {
    let global = secret(0x31);
    let own_b = secret(0x32);
    let own_c = secret(0x33);
    let file_b = SecretFile::new(&own_b);
    let file_c = SecretFile::new(&own_c);

    let a = holding("a", 1, &global).await;
    let b = holding("b", 2, &own_b).await;
    let c = holding("c", 3, &own_c).await;
    let settings = settings();
    let specs = [
        a.url(),
        format!("{}#jwt-secret={}", b.url(), file_b.path.display()),
        format!(
            "{}#timeout=5000#jwt-secret={}",
            c.url(),
            file_c.path.display()
        ),
    ];
    let nodes = crate::support::proxy::nodes(&specs, &global, &settings);
    let running = crate::support::proxy::start(settings, &global, nodes, 7).await;
    let cl = Cl::with_secret(running.url(), global.clone());

    // The CL's token carries claims that a proxy-minted token never has.
    let cl_jwt = cl_token(&global, Some("cl-token"), Some("Prysm/v6.0.0"));
    let send = async |body: serde_json::Value| {
        cl.send(
            reqwest::Method::POST,
            "/",
            &[
                ("authorization", format!("Bearer {cl_jwt}")),
                ("content-type", "application/json".to_owned()),
            ],
            body.to_string(),
        )
        .await
    };
    let reply = send(request(
        json!(1),
        "engine_newPayloadV3",
        new_payload_params(5),
    ))
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    // All three signed correctly, so all three voted VALID.
    assert_eq!(
        reply.json(),
        json!({"jsonrpc": "2.0", "id": 1, "result": payload_status("VALID", Some(&hash(5)), None)})
    );

    let now = now();
    for (name, el) in [
        ("a (global secret)", &a),
        ("b (#jwt-secret)", &b),
        ("c (#jwt-secret)", &c),
    ] {
        let new_payloads = el.calls_to("engine_newPayloadV3");
        assert_eq!(new_payloads.len(), 1, "{name}: newPayload reached the node");
        assert_eq!(new_payloads[0].status, Some(Status::Valid), "{name}");
        // Probes and the newPayload: every single request is signed with the node's secret.
        // The mock verifies each token with its own secret (the three differ, so a token that
        // verifies with it verifies with no other node's) and refuses any other with 401.
        let calls = el.calls();
        assert!(calls.len() >= 3, "{name}: {} requests", calls.len());
        assert_eq!(el.auth_failures(), 0, "{name}: a token it could not verify");
        for call in &calls {
            // The CL's token would carry its id and clv claims.
            assert_eq!(call.claims.id, None, "{name}: CL's id claim leaked");
            assert_eq!(call.claims.clv, None, "{name}: CL's clv claim leaked");
            assert!(
                call.claims.iat.abs_diff(now) <= 5,
                "{name}: iat {}",
                call.claims.iat
            );
        }
    }

    // Reads too: the primary (a) gets its own token, not the CL's.
    let reply = send(request(json!("r"), "eth_blockNumber", json!([]))).await;
    assert_eq!(
        reply.json(),
        json!({"jsonrpc": "2.0", "id": "r", "result": "0x5"})
    );
    let reads = a.calls_to("eth_blockNumber");
    assert_eq!(reads.len(), 1);
    assert_eq!(reads[0].claims.id, None, "the CL's token was forwarded");
    assert_eq!(reads[0].claims.clv, None, "the CL's token was forwarded");
    assert_eq!(a.auth_failures(), 0);
}

#[tokio::test]
async fn a_node_whose_secret_does_not_match_gets_no_vote() {
    // b expects its own secret, but the proxy is not told about it: every request to b is
    // signed with the global secret and refused (401), so b is dead and its INVALID never counts.
    let global = secret(0x41);
    let a = holding("a", 1, &global).await;
    let b = holding("b", 2, &secret(0x42)).await;
    let c = holding("c", 3, &global).await;
    b.set_status(Status::Invalid);
    let settings = settings();
    let specs = [a.url(), b.url(), c.url()];
    let nodes = crate::support::proxy::nodes(&specs, &global, &settings);
    let running = crate::support::proxy::start(settings, &global, nodes, 7).await;
    let cl = Cl::with_secret(running.url(), global.clone());

    let answer = cl
        .call(json!(3), "engine_newPayloadV3", new_payload_params(9))
        .await;
    assert_eq!(
        answer["result"],
        payload_status("VALID", Some(&hash(9)), None)
    );
    let metrics = cl.metrics().await;
    assert_eq!(metrics["dead_nodes"], json!([b.url()]));
    assert_eq!(metrics["alive_nodes"], json!([a.url(), c.url()]));
    assert!(b.auth_failures() > 0);
    assert!(b.calls().is_empty(), "{:?}", b.calls());
}
