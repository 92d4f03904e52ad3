//! The consensus client's side of the JWT: every Engine API request must carry an HS256 token
//! signed with the proxy's secret and issued within 60 s of now. Anything else is HTTP 401 with
//! a JSON-RPC error body, and nothing reaches an execution client.

// Scripted ELs (wiremock) rather than mock-el: the consensus client's own calls are counted by
// their id among the probes' identical calls; mock-el does not record request ids.

use crate::support::scripted_el::*;
use eb_transport::jwt::{self, Claims};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

fn chain_id_request() -> String {
    request(json!(7), "eth_chainId", json!([])).to_string()
}

async fn post_with_auth(proxy: &Proxy, authorization: Option<String>) -> HttpReply {
    let mut headers = vec![("content-type", "application/json".to_owned())];
    if let Some(a) = authorization {
        headers.push(("authorization", a));
    }
    proxy
        .send(reqwest::Method::POST, "/", &headers, chain_id_request())
        .await
}

fn assert_unauthorized(reply: &HttpReply, case: &str) {
    assert_eq!(reply.status, 401, "{case}: {}", reply.text());
    assert_eq!(reply.content_type(), Some("application/json"), "{case}");
    let body = reply.json();
    assert_eq!(body["jsonrpc"], "2.0", "{case}: {body}");
    assert_eq!(body["id"], Value::Null, "{case}: {body}");
    assert_eq!(body["error"]["code"], -32000, "{case}: {body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.starts_with("unauthorized"), "{case}: {body}");
}

fn hs256_with(secret_bytes: &[u8], alg: Algorithm, claims: Value) -> String {
    jsonwebtoken::encode(
        &Header::new(alg),
        &claims,
        &EncodingKey::from_secret(secret_bytes),
    )
    .expect("encode")
}

#[tokio::test]
async fn bad_tokens_are_refused_with_401_and_never_forwarded() {
    let cl_secret = secret(0x11);
    let el = El::start(cl_secret.clone()).await;
    el.on("eth_chainId", Reply::result(json!("0x1"))).await;
    let proxy = start_proxy(&cl_secret, &[el.url()]).await;

    let alg_none = format!(
        "{}.{}.",
        b64url(br#"{"alg":"none","typ":"JWT"}"#),
        b64url(format!(r#"{{"iat":{}}}"#, now()).as_bytes())
    );
    let no_iat = hs256_with(&[0x11; 32], Algorithm::HS256, json!({"id": "x"}));
    let hs512 = hs256_with(&[0x11; 32], Algorithm::HS512, json!({"iat": now()}));
    let expired = hs256_with(
        &[0x11; 32],
        Algorithm::HS256,
        json!({"iat": now(), "exp": now() - 1}),
    );
    let stale = jwt::sign(
        &cl_secret,
        &Claims {
            iat: now() - 120,
            ..Claims::default()
        },
    );
    let future = jwt::sign(
        &cl_secret,
        &Claims {
            iat: now() + 120,
            ..Claims::default()
        },
    );
    let at = |iat: u64| {
        jwt::sign(
            &cl_secret,
            &Claims {
                iat,
                ..Claims::default()
            },
        )
    };
    // Hive's drift checks: 61 s either way is refused.
    let drift_back = at(now() - 61);
    // One second of margin ahead: a second ticking over between minting and checking would
    // otherwise bring +61 to +60 (the exact boundary is tested on a manual clock in jwt.rs).
    let drift_ahead = at(now() + 62);
    let wrong_secret = cl_token(&secret(0x12), None, None);
    // The last character of the signature changed to another canonical one ('A' and 'E' both
    // leave the two unused low bits zero), so the signature decodes but does not match.
    let mut tampered = cl_token(&cl_secret, Some("cl"), None);
    let last = tampered.pop().expect("a token");
    tampered.push(if last == 'A' { 'E' } else { 'A' });

    let cases: Vec<(&str, Option<String>)> = vec![
        ("no Authorization header", None),
        ("empty header", Some(String::new())),
        ("Basic scheme", Some("Basic dXNlcjpwYXNz".to_owned())),
        ("Bearer without token", Some("Bearer ".to_owned())),
        ("garbage token", Some("Bearer not.a.jwt".to_owned())),
        ("wrong secret", Some(format!("Bearer {wrong_secret}"))),
        ("iat 120 s old", Some(format!("Bearer {stale}"))),
        ("iat 120 s ahead", Some(format!("Bearer {future}"))),
        ("iat 61 s old", Some(format!("Bearer {drift_back}"))),
        ("iat 62 s ahead", Some(format!("Bearer {drift_ahead}"))),
        ("alg none", Some(format!("Bearer {alg_none}"))),
        ("HS512", Some(format!("Bearer {hs512}"))),
        ("no iat", Some(format!("Bearer {no_iat}"))),
        ("expired", Some(format!("Bearer {expired}"))),
        ("tampered signature", Some(format!("Bearer {tampered}"))),
    ];
    for (case, auth) in cases {
        let reply = post_with_auth(&proxy, auth).await;
        assert_unauthorized(&reply, case);
    }
    assert_eq!(
        el.calls_with_id("eth_chainId", &json!(7)).await.len(),
        0,
        "a refused request reached the EL"
    );
}

#[tokio::test]
async fn valid_tokens_are_answered_including_extra_claims() {
    let cl_secret = secret(0x21);
    let el = El::start(cl_secret.clone()).await;
    el.on("eth_chainId", Reply::result(json!("0x4268"))).await;
    let proxy = start_proxy(&cl_secret, &[el.url()]).await;

    let plain = cl_token(&cl_secret, None, None);
    let with_id_and_clv = cl_token(&cl_secret, Some("cl-token"), Some("Lighthouse/v7.1.0"));
    let slightly_old = jwt::sign(
        &cl_secret,
        &Claims {
            iat: now() - 30,
            ..Claims::default()
        },
    );
    // Hive's drift checks: 59 s either way is accepted (the token is minted just before the
    // request, so the clock can only have moved a second or so towards the limit).
    let at = |iat: u64| {
        jwt::sign(
            &cl_secret,
            &Claims {
                iat,
                ..Claims::default()
            },
        )
    };
    let drift_back = at(now() - 58);
    let drift_ahead = at(now() + 59);
    let unknown_claims = hs256_with(
        &[0x21; 32],
        Algorithm::HS256,
        json!({"iat": now(), "id": "beacon-1", "clv": "Teku/25.1", "foo": [1, 2], "exp": now() + 600}),
    );
    for (case, token) in [
        ("iat only", plain),
        ("id and clv", with_id_and_clv),
        ("iat 30 s old", slightly_old),
        ("iat 58 s old", drift_back),
        ("iat 59 s ahead", drift_ahead),
        ("unknown claims, exp ahead", unknown_claims),
    ] {
        let reply = post_with_auth(&proxy, Some(format!("Bearer {token}"))).await;
        assert_eq!(reply.status, 200, "{case}: {}", reply.text());
        assert_eq!(
            reply.json(),
            json!({"jsonrpc": "2.0", "id": 7, "result": "0x4268"}),
            "{case}"
        );
    }
    // The scheme is case-insensitive.
    let lower = format!("bearer {}", cl_token(&cl_secret, None, None));
    assert_eq!(post_with_auth(&proxy, Some(lower)).await.status, 200);
    assert_eq!(el.calls_with_id("eth_chainId", &json!(7)).await.len(), 7);
}
