//! `--dev` prints ready-to-paste `curl` lines; pasted into a shell at any time they work, because
//! each mints its own fresh token with `executionbackup --print-token` (a token printed once
//! would expire after 60 s).

use std::process::Command;
use std::time::Duration;

use crate::support::processes::*;

#[test]
fn the_printed_curl_lines_work_when_run_by_a_shell() {
    let mut cmd = Command::new(executionbackup());
    cmd.args(["--dev", "--port", "0", "--metrics-addr", "off"]);
    let proc = Proc::spawn(cmd);
    let new_payload = proc
        .wait_for(Duration::from_secs(30), |l| {
            l.starts_with("curl ") && l.contains("engine_newPayloadV3")
        })
        .unwrap_or_else(|seen| panic!("no curl line: {seen:#?}"));
    assert!(new_payload.contains("--print-token"), "{new_payload}");
    let recheck = proc
        .wait_for(Duration::from_secs(10), |l| {
            l.starts_with("curl ") && l.contains("/recheck")
        })
        .unwrap_or_else(|seen| panic!("no recheck line: {seen:#?}"));
    for (line, expect) in [
        (&new_payload, "\"status\":\"VALID\""),
        (&recheck, "\"alive_nodes\""),
    ] {
        let out = Command::new("sh")
            .args(["-c", line])
            .output()
            .expect("sh runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains(expect),
            "{line}\n=> {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
