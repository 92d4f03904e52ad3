//! The disagreement journal: a vote whose answers differ, and a late answer that differs from
//! what the CL was told, are each recorded with every node's answer and client, served on
//! `GET /disagreements`, appended to `--journal`'s file and counted per node and reason.

use std::sync::Arc;
use std::time::Duration;

use crate::support::mock_els::*;
use executionbackup::journal::Journal;
use mock_el::Behaviour;
use serde_json::Value;

fn temp_file(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("eb-journal-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir.join("journal.jsonl")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lone_invalid_is_journalled_with_every_answer() {
    let els = vec![
        mock_with_code("el1", 1, "GE").await,
        mock_with_code("el2", 2, "NM").await,
        mock_with_code("el3", 3, "BU").await,
    ];
    let bad: mock_el::B256 = hash(2).parse().expect("hash");
    els[2].set(Behaviour::InvalidHash(bad));
    let path = temp_file("vote");
    let journal = Journal::with_file(&path, 1 << 20).expect("journal opens");
    let running = proxy(
        &plain(&els),
        executionbackup::config::Settings {
            journal: Some(Arc::new(journal)),
            ..settings()
        },
    )
    .await;
    let cl = Cl::new(running.url());
    // The probe at start-up learnt each EL's client.
    assert!(
        every_client_identified(&running).await,
        "every EL answered engine_getClientVersionV1"
    );

    // An agreeing vote is not a disagreement.
    assert_eq!(status_of(&cl.new_payload(1).await), "VALID");
    assert_eq!(status_of(&cl.new_payload(2).await), "SYNCING");

    let (status, body) = cl.get("/disagreements?limit=10", false).await;
    assert_eq!(status, 200, "{body}");
    let records: Vec<Value> = serde_json::from_str(&body).expect("JSON array");
    assert_eq!(records.len(), 1, "{body}");
    let r = &records[0];
    assert_eq!(r["kind"], "vote");
    assert_eq!(r["method"], "engine_newPayloadV3");
    assert_eq!(r["block"], hash(2));
    assert_eq!(r["decided"], "SYNCING");
    assert_eq!(r["reason"], "invalid_dissent");
    let answers = r["answers"].as_array().expect("answers");
    assert_eq!(answers.len(), 3);
    let by_node = |url: &str| {
        answers
            .iter()
            .find(|a| a["node"] == url)
            .unwrap_or_else(|| panic!("{url} in {body}"))
            .clone()
    };
    let el3 = by_node(&els[2].url());
    assert_eq!(el3["answer"], "INVALID");
    assert!(
        el3["client"].as_str().is_some_and(|c| c.contains("(BU)")),
        "{el3}"
    );
    assert!(el3["latency_ms"].as_f64().is_some(), "{el3}");
    assert_eq!(el3["late"], false);
    assert_eq!(by_node(&els[0].url())["answer"], "VALID");
    assert!(by_node(&els[1].url())["client"]
        .as_str()
        .is_some_and(|c| c.contains("(NM)")));

    // The file has the same record, as one JSON line.
    running.proxy.journal.flush();
    let text = std::fs::read_to_string(&path).expect("journal file");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), 1, "{text}");
    assert_eq!(lines[0], records[0]);

    // Counted per node and reason, on /metrics for Prometheus.
    let m = &running.proxy.metrics;
    assert_eq!(
        m.journal_disagreements(&els[2].url(), "invalid_vs_syncing"),
        1
    );
    assert_eq!(
        m.journal_disagreements(&els[0].url(), "valid_vs_syncing"),
        1
    );
    let text = executionbackup::admin::prometheus(&running.proxy);
    assert!(
        text.contains(&format!(
            "eb_disagreements_total{{node=\"{}\",reason=\"invalid_vs_syncing\"}} 1",
            els[2].url()
        )),
        "{text}"
    );

    // A bad limit is refused, and the limit is honoured.
    assert_eq!(cl.get("/disagreements?limit=x", false).await.0, 400);
    let (_, body) = cl.get("/disagreements?limit=0", false).await;
    assert_eq!(body, "[]");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_invalid_is_journalled_as_late() {
    let els = mocks(3).await;
    let urls = vec![
        (els[0].url(), ""),
        (els[1].url(), ""),
        (els[2].url(), "#timeout=3000"),
    ];
    let running = proxy(&urls, settings()).await;
    let cl = Cl::new(running.url());
    let m = &running.proxy.metrics;
    let slow = els[2].url();

    // el3 misses one newPayload's deadline: it is lagging, awaited only the grace from then on.
    els[2].set(Behaviour::latency(Duration::from_secs(4)).scoped("engine_newPayload"));
    assert_eq!(status_of(&cl.new_payload(1).await), "VALID");
    let lagging = eventually(Duration::from_secs(10), async || {
        m.waits(&slow, "timeout") + m.waits(&slow, "grace") >= 1
    })
    .await;
    assert!(lagging);
    // (el3's answer for block 1 came after its own timeout: no answer, nothing to record.)
    let before = running.proxy.journal.newest(usize::MAX).len();

    // Block 2: el3 says INVALID 1 s late, after the CL was told VALID.
    els[2].set(Behaviour::latency(Duration::from_secs(1)).scoped("engine_newPayload"));
    let bad: mock_el::B256 = hash(2).parse().expect("hash");
    els[2].set(Behaviour::InvalidHash(bad));
    assert_eq!(status_of(&cl.new_payload(2).await), "VALID");
    let recorded = eventually(Duration::from_secs(10), async || {
        running.proxy.journal.newest(usize::MAX).len() > before
    })
    .await;
    assert!(recorded, "the late INVALID was journalled");
    let newest = running.proxy.journal.newest(1);
    let r = &newest[0];
    assert_eq!(r.kind, "late");
    assert_eq!(r.block.as_deref(), Some(hash(2).as_str()));
    assert_eq!(r.decided, "VALID");
    assert_eq!(r.answers.len(), 1);
    assert_eq!(r.answers[0].node, slow);
    assert_eq!(r.answers[0].answer, "INVALID");
    assert!(r.answers[0].late);
    assert_eq!(m.journal_disagreements(&slow, "late_invalid_vs_valid"), 1);
}
