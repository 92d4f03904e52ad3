//! The journal file under a crash: the proxy binary is SIGKILLed while disagreements are being
//! recorded; every record but the last one written is intact, and the file and its rotated
//! predecessor each stay within `--journal-max-bytes`.

use std::process::Command;
use std::time::Duration;

use crate::support::mock_els::{hash, new_payload_params, token, SECRET};
use crate::support::processes::*;
use serde_json::{json, Value};

const MAX_BYTES: u64 = 8192;

async fn new_payload(http: &reqwest::Client, url: &str, n: u64) -> Option<Value> {
    let body = json!({"jsonrpc":"2.0","id":n,"method":"engine_newPayloadV3","params":new_payload_params(n)});
    let resp = http
        .post(url)
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {}", token()))
        .body(body.to_string())
        .send()
        .await
        .ok()?;
    serde_json::from_slice(&resp.bytes().await.ok()?).ok()
}

/// Every complete line of `text` parses; only a last line without its newline may not.
fn check_lines(text: &str) -> usize {
    let complete = match text.rfind('\n') {
        Some(i) => &text[..=i],
        None => "",
    };
    for line in complete.lines() {
        let v: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("a damaged record before the last: {e}: {line}"));
        assert_eq!(v["kind"], "vote", "{line}");
    }
    complete.lines().count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_journal_survives_sigkill_within_its_bound() {
    let dir = temp_dir("journal-kill");
    let secret = write_secret(&dir, "jwt.hex", &SECRET);
    let journal = dir.join("journal.jsonl");

    // Three ELs; the third calls every block INVALID, so every newPayload is a disagreement.
    let (_els, engines, controls) = spawn_mock_els(&secret, 3, &[]);
    let http = reqwest::Client::new();
    let set = http
        .post(format!("{}/behaviour", controls[2]))
        .body(r#"{"status":"INVALID"}"#)
        .send()
        .await
        .expect("control API");
    assert!(set.status().is_success());

    let mut cmd = Command::new(executionbackup());
    cmd.arg("--nodes")
        .arg(engines.join(","))
        .arg("--jwt-secret")
        .arg(&secret)
        .arg("--journal")
        .arg(&journal)
        .args(["--journal-max-bytes", &MAX_BYTES.to_string()])
        .args([
            "--port",
            "0",
            "--metrics-addr",
            "off",
            "--log-level",
            "info",
        ]);
    let (mut proxy, url) = start_eb(cmd);

    // Enough records to rotate the file several times.
    for n in 1..=60 {
        let reply = new_payload(&http, &url, n).await.expect("an answer");
        assert_eq!(reply["result"]["status"], "SYNCING", "{reply}");
    }
    // More records on the way while the process is killed.
    let busy = {
        let (http, url) = (http.clone(), url.clone());
        tokio::spawn(async move {
            for n in 61..=400 {
                if new_payload(&http, &url, n).await.is_none() {
                    break;
                }
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    proxy.signal("KILL");
    proxy.wait_exit(Duration::from_secs(10)).expect("killed");
    let _ = busy.await;

    // Killed between a rotation's rename and the new file's creation, there is no current
    // file yet (the next start creates it); every record is then in the rotated one.
    let current = match std::fs::read_to_string(&journal) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => panic!("journal: {e}"),
    };
    let rotated = std::fs::read_to_string(dir.join("journal.jsonl.1")).expect("rotated journal");
    assert!(current.len() as u64 <= MAX_BYTES, "{}", current.len());
    assert!(rotated.len() as u64 <= MAX_BYTES, "{}", rotated.len());
    assert!(rotated.ends_with('\n'), "a rotated file is complete");
    let records = check_lines(&rotated) + check_lines(&current);
    assert!(records > 0);
    // The newest intact record names one of the blocks sent.
    let last = current
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str::<Value>(l).ok())
        .or_else(|| {
            rotated
                .lines()
                .last()
                .and_then(|l| serde_json::from_str(l).ok())
        })
        .expect("a record");
    let block = last["block"].as_str().expect("block").to_owned();
    assert!((1..=400).any(|n| hash(n) == block), "{block}");
}
