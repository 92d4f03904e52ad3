//! The shipped binaries over TLS: mock-el serving `--tls-cert`/`--tls-key`, executionbackup
//! trusting its CA through `SSL_CERT_FILE` (no `#ca=`) and serving its own engine port over TLS
//! too; without `SSL_CERT_FILE` the same node is refused and the reason is logged.

use std::process::Command;
use std::time::Duration;

use crate::support::mock_els::{new_payload_params, Cl, SECRET};
use crate::support::processes::*;
use crate::support::tls::{tls_post, TestPki};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssl_cert_file_is_trusted_and_its_absence_is_reported() {
    let dir = temp_dir("tls-binaries");
    let pki = TestPki::new("binaries");
    let (cert, key) = (dir.join("el.pem"), dir.join("el.key"));
    std::fs::write(&cert, &pki.cert_pem).expect("cert");
    std::fs::write(&key, &pki.key_pem).expect("key");
    let secret = write_secret(&dir, "jwt.hex", &SECRET);

    let mut cmd = Command::new(mock_el());
    cmd.args([
        "--count",
        "1",
        "--base-port",
        "0",
        "--control-base-port",
        "0",
    ])
    .arg("--jwt-secret")
    .arg(&secret)
    .arg("--tls-cert")
    .arg(&cert)
    .arg("--tls-key")
    .arg(&key);
    let el = Proc::spawn(cmd);
    let line = el
        .wait_for(Duration::from_secs(20), |l| l.contains("engine=https://"))
        .unwrap_or_else(|seen| panic!("mock-el did not start over TLS: {seen:?}"));
    let engine = addr_after(&line, "engine=");

    // Trusted through SSL_CERT_FILE; the proxy's own port over TLS with the same certificate.
    let mut cmd = Command::new(executionbackup());
    cmd.env("SSL_CERT_FILE", &pki.ca)
        .args(["--nodes", &engine])
        .arg("--jwt-secret")
        .arg(&secret)
        .arg("--tls-cert")
        .arg(&cert)
        .arg("--tls-key")
        .arg(&key)
        .args(["--port", "0", "--metrics-addr", "off"]);
    let (_trusting, url) = start_eb(cmd);
    let addr = url
        .trim_start_matches("http://")
        .parse()
        .expect("proxy address");
    let body = json!({"jsonrpc":"2.0","id":1,"method":"engine_newPayloadV3","params":new_payload_params(1)})
        .to_string();
    let reply = tls_post(addr, &pki.ca, &body).await;
    assert!(reply.contains(r#""status":"VALID""#), "{reply}");

    // The same node without SSL_CERT_FILE: its certificate is not trusted, it gets nothing.
    let mut cmd = Command::new(executionbackup());
    cmd.env_remove("SSL_CERT_FILE")
        .args(["--nodes", &engine])
        .arg("--jwt-secret")
        .arg(&secret)
        .args(["--port", "0", "--metrics-addr", "off"]);
    let (refusing, url) = start_eb(cmd);
    let line = refusing
        .wait_for(Duration::from_secs(30), |l| {
            l.contains("TLS handshake failed")
        })
        .unwrap_or_else(|seen| panic!("no TLS failure logged: {seen:#?}"));
    assert!(line.contains(&engine), "{line}");
    let cl = Cl::new(url);
    let answer = cl.rpc("engine_newPayloadV3", new_payload_params(2)).await;
    assert_eq!(
        answer["result"]["status"], "SYNCING",
        "no vote from a refused node: {answer}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
