//! The seed-compatible /metrics JSON and the Prometheus exposition, snapshotted.

use crate::support::mock_els::*;
use mock_el::Status;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_json_and_prometheus() {
    let els = mocks(3).await;
    let settings = settings_with_metrics();
    let running = proxy(&plain(&els), settings).await;
    let cl = Cl::new(running.url());
    cl.new_payload(1).await;
    els[2].set_status(Status::Invalid);
    assert_eq!(status_of(&cl.new_payload(2).await), "SYNCING");
    cl.rpc("eth_chainId", json!([])).await;
    cl.rpc("admin_peers", json!([])).await;

    let rename = |text: String| {
        let mut text = text;
        for (i, el) in els.iter().enumerate() {
            text = text.replace(&el.url(), &format!("http://el{}", i + 1));
        }
        text
    };
    let mut report: serde_json::Value =
        serde_json::from_str(&rename(cl.get("/metrics", false).await.1)).expect("json");
    for (_, micros) in report["response_times"]
        .as_object_mut()
        .expect("map")
        .iter_mut()
    {
        assert!(micros.as_u64().is_some_and(|us| us > 0), "{micros}");
        *micros = json!("[µs]");
    }
    insta::assert_json_snapshot!("metrics_json", report);

    let prom_url = format!(
        "http://{}/metrics",
        running.metrics_addr.expect("metrics on")
    );
    let prom = reqwest::get(prom_url)
        .await
        .expect("prometheus")
        .text()
        .await
        .expect("text");
    // What changes from run to run or commit to commit: latencies, the process's own figures,
    // times, the commit.
    let mut stable: Vec<String> = rename(prom)
        .lines()
        .filter(|l| {
            !l.starts_with("eb_node_request_duration_seconds") && !l.starts_with("process_")
        })
        .map(|l| {
            if l.starts_with("eb_last_") {
                let name = l.split(' ').next().unwrap_or_default();
                let value = l.rsplit(' ').next().unwrap_or_default();
                assert!(value.parse::<u64>().is_ok_and(|t| t > 1_700_000_000), "{l}");
                format!("{name} [unix seconds]")
            } else if l.starts_with("eb_build_info{") {
                assert!(
                    l.contains(env!("CARGO_PKG_VERSION")) && l.ends_with(" 1"),
                    "{l}"
                );
                "eb_build_info{version=[version],commit=[commit]} 1".to_owned()
            } else {
                l.to_owned()
            }
        })
        .collect();
    // Series of one metric come in URL order, and the URLs' ports are random: sort each run.
    let mut start = 0;
    while start < stable.len() {
        let name = |l: &str| l.split(['{', ' ']).next().unwrap_or_default().to_owned();
        let key = name(&stable[start]);
        let mut end = start;
        while end < stable.len() && !stable[end].starts_with('#') && name(&stable[end]) == key {
            end += 1;
        }
        stable[start..end.max(start)].sort();
        start = end.max(start + 1);
    }
    insta::assert_snapshot!("prometheus", stable.join("\n"));
}
