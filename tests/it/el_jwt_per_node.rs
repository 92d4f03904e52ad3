//! The proxy's side of the JWT toward the execution clients: each node gets a token signed with
//! its own secret (`#jwt-secret=PATH`, else the global one), freshly minted by the proxy, and
//! never the consensus client's token.

// Scripted ELs (wiremock) rather than mock-el: the raw Authorization header each EL received is
// read back to check whose secret signed it and that it is not the consensus client's token; mock-
// el keeps only the claims.

use crate::support::scripted_el::*;
use eb_transport::jwt;
use serde_json::json;

fn bearer(request: &wiremock::Request) -> String {
    let header = request
        .headers
        .get("authorization")
        .expect("every request to an EL carries Authorization")
        .to_str()
        .expect("ascii")
        .to_owned();
    jwt::bearer_token(Some(header.as_bytes()))
        .expect("a Bearer token")
        .to_owned()
}

#[tokio::test]
async fn each_node_gets_a_token_signed_with_its_own_secret_never_the_cls() {
    let global = secret(0x31);
    let own_b = secret(0x32);
    let own_c = secret(0x33);
    let file_b = SecretFile::new(&own_b);
    let file_c = SecretFile::new(&own_c);

    let a = El::start(global.clone()).await;
    let b = El::start(own_b.clone()).await;
    let c = El::start(own_c.clone()).await;
    for el in [&a, &b, &c] {
        el.on(
            "engine_newPayloadV3",
            Reply::status("VALID", Some(&byte_hash(5)), None),
        )
        .await;
        el.on("eth_blockNumber", Reply::result(json!("0x10"))).await;
    }
    let proxy = start_proxy(
        &global,
        &[
            a.url(),
            format!("{}#jwt-secret={}", b.url(), file_b.path.display()),
            format!(
                "{}#timeout=5000#jwt-secret={}",
                c.url(),
                file_c.path.display()
            ),
        ],
    )
    .await;

    // The CL's token carries claims that a proxy-minted token never has.
    let cl = cl_token(&global, Some("cl-token"), Some("Prysm/v6.0.0"));
    let reply = proxy
        .send(
            reqwest::Method::POST,
            "/",
            &[
                ("authorization", format!("Bearer {cl}")),
                ("content-type", "application/json".to_owned()),
            ],
            request(json!(1), "engine_newPayloadV3", new_payload_params(5)).to_string(),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    // All three signed correctly, so all three voted VALID.
    assert_eq!(
        reply.json(),
        json!({"jsonrpc": "2.0", "id": 1, "result": payload_status("VALID", Some(&byte_hash(5)), None)})
    );

    let now = now();
    for (name, el, right, wrong) in [
        ("a (global secret)", &a, &global, [&own_b, &own_c]),
        ("b (#jwt-secret)", &b, &own_b, [&global, &own_c]),
        ("c (#jwt-secret)", &c, &own_c, [&global, &own_b]),
    ] {
        let requests = el.requests().await;
        let new_payloads = el.requests_for("engine_newPayloadV3").await;
        assert_eq!(new_payloads.len(), 1, "{name}: newPayload reached the node");
        // Probes and the newPayload: every single request is signed with the node's secret.
        assert!(requests.len() >= 3, "{name}: {} requests", requests.len());
        for r in &requests {
            let token = bearer(r);
            assert_ne!(token, cl, "{name}: the CL's token was forwarded");
            let claims = jwt::verify(right, &token, now)
                .unwrap_or_else(|e| panic!("{name}: token does not verify with its secret: {e}"));
            assert_eq!(claims.id, None, "{name}: CL's id claim leaked");
            assert_eq!(claims.clv, None, "{name}: CL's clv claim leaked");
            assert!(claims.iat.abs_diff(now) <= 5, "{name}: iat {}", claims.iat);
            for other in wrong {
                assert_eq!(
                    jwt::verify(other, &token, now),
                    Err(jwt::JwtError::Signature),
                    "{name}: token also verifies with another node's secret"
                );
            }
        }
    }

    // Reads too: the primary (a) gets its own token, not the CL's.
    let reply = proxy
        .send(
            reqwest::Method::POST,
            "/",
            &[
                ("authorization", format!("Bearer {cl}")),
                ("content-type", "application/json".to_owned()),
            ],
            request(json!("r"), "eth_blockNumber", json!([])).to_string(),
        )
        .await;
    assert_eq!(
        reply.json(),
        json!({"jsonrpc": "2.0", "id": "r", "result": "0x10"})
    );
    let reads = a.requests_for("eth_blockNumber").await;
    assert_eq!(reads.len(), 1);
    assert_ne!(bearer(&reads[0]), cl);
}

#[tokio::test]
async fn a_node_whose_secret_does_not_match_gets_no_vote() {
    // b expects its own secret, but the proxy is not told about it: every request to b is
    // signed with the global secret and refused (401), so b is dead and its INVALID never counts.
    let global = secret(0x41);
    let a = El::start(global.clone()).await;
    let b = El::start(secret(0x42)).await;
    let c = El::start(global.clone()).await;
    for el in [&a, &c] {
        el.on(
            "engine_newPayloadV3",
            Reply::status("VALID", Some(&byte_hash(9)), None),
        )
        .await;
    }
    b.on(
        "engine_newPayloadV3",
        Reply::status("INVALID", None, Some("bad")),
    )
    .await;
    let proxy = start_proxy(&global, &[a.url(), b.url(), c.url()]).await;

    let answer = proxy
        .call(json!(3), "engine_newPayloadV3", new_payload_params(9))
        .await;
    assert_eq!(
        answer["result"],
        payload_status("VALID", Some(&byte_hash(9)), None)
    );
    let metrics = proxy.metrics().await;
    assert_eq!(metrics["dead_nodes"], json!([b.url()]));
    assert_eq!(metrics["alive_nodes"], json!([a.url(), c.url()]));
}
