//! Every metric the Grafana dashboard (`contrib/grafana/`) and the alert rules
//! (`contrib/prometheus/alerts.yml`) query is one the Prometheus exposition actually has, so a
//! renamed metric cannot leave a panel empty or an alert silent.

use std::collections::BTreeSet;
use std::path::Path;

use crate::support::mock_els::*;

/// The `eb_*` and `process_*` names in `text`, with a histogram's `_bucket`/`_sum`/`_count`
/// taken back to its family.
fn names_used(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let starts = text[i..].starts_with("eb_") || text[i..].starts_with("process_");
        let boundary = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
        if starts && boundary {
            let end = text[i..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .map_or(text.len(), |n| i + n);
            let name = &text[i..end];
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .unwrap_or(name);
            out.insert(family.to_owned());
            i = end;
        } else {
            i += 1;
        }
    }
    out
}

fn read(path: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_and_alerts_use_only_exported_metrics() {
    let els = mocks(2).await;
    let settings = settings_with_metrics();
    let running = proxy(&plain(&els), settings).await;
    let cl = Cl::new(running.url());
    assert_eq!(status_of(&cl.new_payload(1).await), "VALID");
    let exposition = reqwest::get(format!(
        "http://{}/metrics",
        running.metrics_addr.expect("on")
    ))
    .await
    .expect("answers")
    .text()
    .await
    .expect("text");
    let exported: BTreeSet<String> = exposition
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect();

    let dashboard = read("contrib/grafana/executionbackup.json");
    serde_json::from_str::<serde_json::Value>(&dashboard).expect("the dashboard is JSON");
    let alerts = read("contrib/prometheus/alerts.yml");
    for (what, text, at_least) in [("dashboard", &dashboard, 15), ("alert rules", &alerts, 5)] {
        let used = names_used(text);
        assert!(used.len() >= at_least, "{what} uses {used:?}");
        let missing: Vec<&String> = used.difference(&exported).collect();
        assert!(
            missing.is_empty(),
            "{what} uses metrics that are not exported: {missing:?}\nexported: {exported:?}"
        );
    }
    // And the test itself can fail: a name that is not exported is found missing.
    assert!(!exported.contains("eb_no_such_metric"));
    assert!(names_used("rate(eb_no_such_metric_bucket[5m])").contains("eb_no_such_metric"));
}
