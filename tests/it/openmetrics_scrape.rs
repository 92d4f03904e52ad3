//! The Prometheus port answers in the format the scraper asks for: OpenMetrics for Prometheus'
//! own `Accept` header (counter families named without `_total`, `# EOF` at the end), the
//! classic text format for anything else, with the same samples in both.
use std::collections::BTreeSet;
use std::net::SocketAddr;

use crate::support::mock_els::*;

/// What Prometheus sends when scraping.
const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";

async fn scrape(addr: SocketAddr, accept: Option<&str>) -> (String, String) {
    let client = reqwest::Client::new();
    let mut req = client.get(format!("http://{addr}/metrics"));
    if let Some(accept) = accept {
        req = req.header("accept", accept);
    }
    let resp = req.send().await.expect("answers");
    assert_eq!(resp.status(), 200);
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (content_type, resp.text().await.expect("text"))
}

/// The sample lines, without the process's own figures (they move between two scrapes).
fn samples(text: &str) -> BTreeSet<&str> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("process_"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_gets_openmetrics_and_curl_the_text_format() {
    let els = mocks(2).await;
    let settings = settings_with_metrics();
    let running = proxy(&plain(&els), settings).await;
    let cl = Cl::new(running.url());
    assert_eq!(status_of(&cl.new_payload(1).await), "VALID");
    let addr = running.metrics_addr.expect("on");

    let (om_type, om) = scrape(addr, Some(PROMETHEUS_ACCEPT)).await;
    assert_eq!(
        om_type,
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    assert!(om.ends_with("# EOF\n"), "{om}");
    assert_eq!(om.matches("# EOF").count(), 1);
    assert!(om.contains("\n# TYPE eb_requests counter\n"), "{om}");
    assert!(om.contains("\n# TYPE eb_votes counter\n"), "{om}");
    assert!(
        om.contains("\n# TYPE process_cpu_seconds counter\n"),
        "{om}"
    );
    assert!(
        om.contains("eb_votes_total{kind=\"newPayload\",status=\"VALID\",reason=\"majority\"} 1\n"),
        "{om}"
    );

    for accept in [None, Some("*/*"), Some("text/plain;version=0.0.4")] {
        let (text_type, text) = scrape(addr, accept).await;
        assert_eq!(
            text_type, "text/plain; version=0.0.4; charset=utf-8",
            "{accept:?}"
        );
        assert!(!text.contains("# EOF"), "{text}");
        assert!(
            text.contains("\n# TYPE eb_requests_total counter\n"),
            "{text}"
        );
        assert!(!text.contains("# TYPE eb_requests counter"), "{text}");
        assert_eq!(samples(&om), samples(&text), "{accept:?}");
    }
}
