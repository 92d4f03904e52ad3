//! Counters and histograms, rendered in the Prometheus text format.
//!
//! Label values are bounded: methods outside the known list count as `other`, error codes
//! outside the known list as `other`, node labels are the configured `#name=`s or URLs.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use crate::health::NodeState;

/// Upper bounds of the per-node latency histogram, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// JSON-RPC error codes counted under their own label; any other is `other`.
const KNOWN_CODES: [(i64, &str); 15] = [
    (-32700, "-32700"),
    (-32600, "-32600"),
    (-32601, "-32601"),
    (-32602, "-32602"),
    (-32603, "-32603"),
    (-32000, "-32000"),
    (-32001, "-32001"),
    (-32002, "-32002"),
    (-38001, "-38001"),
    (-38002, "-38002"),
    (-38003, "-38003"),
    (-38004, "-38004"),
    (-38005, "-38005"),
    (-38006, "-38006"),
    (-38007, "-38007"),
];

fn code_label(code: i64) -> &'static str {
    KNOWN_CODES
        .iter()
        .find(|(c, _)| *c == code)
        .map_or("other", |(_, label)| label)
}

#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    /// Answers that were JSON-RPC errors, per (method, code).
    errors: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    /// Requests refused before they reached the proxy, by reason.
    pub refusals: crate::refusals::Refusals,
    /// Unix time of the last CL request answered, of the last VALID vote (0: none yet).
    last_request: AtomicU64,
    last_valid: AtomicU64,
    votes: Mutex<BTreeMap<(&'static str, &'static str, &'static str), u64>>,
    disagreements: Mutex<BTreeMap<String, u64>>,
    timeouts: Mutex<BTreeMap<String, u64>>,
    latency: Mutex<BTreeMap<String, Histogram>>,
    failovers: AtomicU64,
    /// Late answers per (node, agreed with what the CL was told).
    late: Mutex<BTreeMap<(String, bool), u64>>,
    /// How each voter's wait ended, per (node, how).
    waits: Mutex<BTreeMap<(String, &'static str), u64>>,
    /// Failed TLS handshakes per (node, why).
    tls_failures: Mutex<BTreeMap<(String, &'static str), u64>>,
    /// Journal records per (node, reason): the node's answer differed from the decision.
    journal: Mutex<BTreeMap<(String, String), u64>>,
    /// Whether each node answered VALID for the head of the last forkchoiceUpdated with
    /// attributes (it can build on it).
    ready: Mutex<BTreeMap<String, bool>>,
}

fn bump<K: Ord>(map: &Mutex<BTreeMap<K, u64>>, key: K) {
    *map.lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry(key)
        .or_default() += 1;
}

/// Counts under a node's URL, allocating the key only the first time.
fn bump_node(map: &Mutex<BTreeMap<String, u64>>, node: &str) {
    let mut map = map.lock().unwrap_or_else(|p| p.into_inner());
    match map.get_mut(node) {
        Some(n) => *n += 1,
        None => {
            map.insert(node.to_owned(), 1);
        }
    }
}

impl Metrics {
    /// One answered CL request; `error` is the JSON-RPC error code the CL got, if any (an EL's
    /// error passed on counts as an error too).
    pub fn request(&self, method_label: &'static str, error: Option<i64>) {
        match error {
            None => bump(&self.requests, (method_label, "ok")),
            Some(code) => {
                bump(&self.requests, (method_label, "error"));
                bump(&self.errors, (method_label, code_label(code)));
            }
        }
    }

    /// The count for (method, outcome), for tests and reports.
    pub fn requests(&self, method_label: &str, outcome: &str) -> u64 {
        self.requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|((m, o), _)| *m == method_label && *o == outcome)
            .map(|(_, n)| *n)
            .sum()
    }

    /// Unix time a CL request was last answered.
    pub fn answered_at(&self, unix_seconds: u64) {
        self.last_request.store(unix_seconds, Ordering::Relaxed);
    }

    /// Unix time the CL was last answered VALID.
    pub fn valid_at(&self, unix_seconds: u64) {
        self.last_valid.store(unix_seconds, Ordering::Relaxed);
    }

    pub fn vote(&self, kind: &'static str, status: &'static str, reason: &'static str) {
        bump(&self.votes, (kind, status, reason));
    }

    pub fn disagreement(&self, node: &str) {
        bump_node(&self.disagreements, node);
    }

    pub fn timeout(&self, node: &str) {
        bump_node(&self.timeouts, node);
    }

    /// An answer to a voted call that arrived after the CL got its answer.
    pub fn late_answer(&self, node: &str, agrees: bool) {
        let mut map = self.late.lock().unwrap_or_else(|p| p.into_inner());
        *map.entry((node.to_owned(), agrees)).or_default() += 1;
    }

    /// How the wait for one voter ended: `answered`, `timeout` (its own timeout passed while
    /// awaited in full), `grace` (lagging: the grace after the others ran out), `check_failed`,
    /// `cl_deadline`.
    pub fn wait_ended(&self, node: &str, how: &'static str) {
        let mut map = self.waits.lock().unwrap_or_else(|p| p.into_inner());
        *map.entry((node.to_owned(), how)).or_default() += 1;
    }

    /// The count for (node, how), for tests and reports.
    pub fn waits(&self, node: &str, how: &'static str) -> u64 {
        self.waits
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(node.to_owned(), how))
            .copied()
            .unwrap_or(0)
    }

    /// A TLS handshake with `node` failed; `why` is a bounded label (see
    /// [`crate::tls::failure_label`]).
    pub fn tls_failure(&self, node: &str, why: &'static str) {
        let mut map = self.tls_failures.lock().unwrap_or_else(|p| p.into_inner());
        *map.entry((node.to_owned(), why)).or_default() += 1;
    }

    /// Failed TLS handshakes with `node` for `why`, for tests and reports.
    pub fn tls_failures(&self, node: &str, why: &'static str) -> u64 {
        self.tls_failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(node.to_owned(), why))
            .copied()
            .unwrap_or(0)
    }

    /// A node's answer differed from the decision (see [`crate::journal::reason`]).
    pub fn journal_disagreement(&self, node: &str, reason: String) {
        bump(&self.journal, (node.to_owned(), reason));
    }

    /// The count for (node, reason), for tests.
    pub fn journal_disagreements(&self, node: &str, reason: &str) -> u64 {
        self.journal
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(node.to_owned(), reason.to_owned()))
            .copied()
            .unwrap_or(0)
    }

    /// Whether `node` could build on the head of the latest proposal's forkchoiceUpdated.
    pub fn set_ready(&self, node: &str, ready: bool) {
        let mut map = self.ready.lock().unwrap_or_else(|p| p.into_inner());
        match map.get_mut(node) {
            Some(r) => *r = ready,
            None => {
                map.insert(node.to_owned(), ready);
            }
        }
    }

    /// The nodes that could build on the head of the latest proposal's forkchoiceUpdated.
    pub fn ready_nodes(&self) -> Vec<String> {
        self.ready
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|(_, ready)| **ready)
            .map(|(node, _)| node.clone())
            .collect()
    }

    pub fn failover(&self) {
        self.failovers.fetch_add(1, Ordering::Relaxed);
    }

    pub fn failovers(&self) -> u64 {
        self.failovers.load(Ordering::Relaxed)
    }

    pub fn latency(&self, node: &str, d: Duration) {
        let secs = d.as_secs_f64();
        let mut map = self.latency.lock().unwrap_or_else(|p| p.into_inner());
        if !map.contains_key(node) {
            map.insert(node.to_owned(), Histogram::default());
        }
        let Some(h) = map.get_mut(node) else { return };
        for (i, bound) in BUCKETS.iter().enumerate() {
            if secs <= *bound {
                h.counts[i] += 1;
            }
        }
        h.count += 1;
        h.sum += secs;
    }

    /// Renders everything. `nodes` gives each node's URL and current state.
    pub fn render(&self, nodes: &[(String, NodeState)], primary: Option<&str>) -> String {
        let mut out = String::with_capacity(4096);
        out.push_str("# HELP eb_requests_total CL requests answered, by method and outcome.\n");
        out.push_str("# TYPE eb_requests_total counter\n");
        for ((method, outcome), n) in self
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "eb_requests_total{{method=\"{method}\",outcome=\"{outcome}\"}} {n}"
            );
        }

        out.push_str("# HELP eb_request_errors_total CL requests answered with a JSON-RPC error (the proxy's or an execution client's), by method and error code.\n");
        out.push_str("# TYPE eb_request_errors_total counter\n");
        for ((method, code), n) in self.errors.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let _ = writeln!(
                out,
                "eb_request_errors_total{{method=\"{method}\",code=\"{code}\"}} {n}"
            );
        }

        out.push_str("# HELP eb_refused_requests_total Requests refused before reaching an execution client (bad or missing token, wrong secret, limits), by reason.\n");
        out.push_str("# TYPE eb_refused_requests_total counter\n");
        for (reason, n) in self.refusals.counts() {
            let _ = writeln!(out, "eb_refused_requests_total{{reason=\"{reason}\"}} {n}");
        }

        out.push_str("# HELP eb_last_request_timestamp_seconds Unix time the consensus client was last answered (0: never).\n");
        out.push_str("# TYPE eb_last_request_timestamp_seconds gauge\n");
        let _ = writeln!(
            out,
            "eb_last_request_timestamp_seconds {}",
            self.last_request.load(Ordering::Relaxed)
        );
        out.push_str("# HELP eb_last_valid_timestamp_seconds Unix time a voted call was last answered VALID (0: never).\n");
        out.push_str("# TYPE eb_last_valid_timestamp_seconds gauge\n");
        let _ = writeln!(
            out,
            "eb_last_valid_timestamp_seconds {}",
            self.last_valid.load(Ordering::Relaxed)
        );

        out.push_str(
            "# HELP eb_votes_total Voted calls, by call kind, status returned and reason.\n",
        );
        out.push_str("# TYPE eb_votes_total counter\n");
        for ((kind, status, reason), n) in
            self.votes.lock().unwrap_or_else(|p| p.into_inner()).iter()
        {
            let _ = writeln!(
                out,
                "eb_votes_total{{kind=\"{kind}\",status=\"{status}\",reason=\"{reason}\"}} {n}"
            );
        }

        out.push_str("# HELP eb_node_disagreements_total Voted calls where this node's answer differed from the most common answer.\n");
        out.push_str("# TYPE eb_node_disagreements_total counter\n");
        for (node, n) in self
            .disagreements
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "eb_node_disagreements_total{{node=\"{}\"}} {n}",
                escape(node)
            );
        }

        out.push_str("# HELP eb_node_timeouts_total Calls to this node that timed out.\n");
        out.push_str("# TYPE eb_node_timeouts_total counter\n");
        for (node, n) in self
            .timeouts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "eb_node_timeouts_total{{node=\"{}\"}} {n}",
                escape(node)
            );
        }

        out.push_str("# HELP eb_late_answers_total Answers to voted calls that arrived after the CL was answered, by whether they agreed with it.\n");
        out.push_str("# TYPE eb_late_answers_total counter\n");
        for ((node, agrees), n) in self.late.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let _ = writeln!(
                out,
                "eb_late_answers_total{{node=\"{}\",agrees=\"{agrees}\"}} {n}",
                escape(node)
            );
        }

        out.push_str("# HELP eb_vote_waits_total How the wait for each voter ended: answered, timeout (awaited in full until its own timeout), grace (lagging), check_failed, cl_deadline.\n");
        out.push_str("# TYPE eb_vote_waits_total counter\n");
        for ((node, how), n) in self.waits.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let _ = writeln!(
                out,
                "eb_vote_waits_total{{node=\"{}\",ended=\"{how}\"}} {n}",
                escape(node)
            );
        }

        out.push_str("# HELP eb_node_tls_failures_total Failed TLS handshakes with this node, by reason (unknown_issuer, wrong_name, expired, ...). Nothing is sent to a node whose certificate fails.\n");
        out.push_str("# TYPE eb_node_tls_failures_total counter\n");
        for ((node, why), n) in self
            .tls_failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "eb_node_tls_failures_total{{node=\"{}\",reason=\"{why}\"}} {n}",
                escape(node)
            );
        }

        out.push_str("# HELP eb_disagreements_total Answers that differed from what the consensus client was told, per node and reason (answer_vs_decision; late_ for late answers); each is in the disagreement journal.\n");
        out.push_str("# TYPE eb_disagreements_total counter\n");
        for ((node, reason), n) in self
            .journal
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "eb_disagreements_total{{node=\"{}\",reason=\"{reason}\"}} {n}",
                escape(node)
            );
        }

        out.push_str("# HELP eb_node_ready_to_build 1 when the node had answered VALID for the head of the latest forkchoiceUpdated with payload attributes (it could build the proposal).\n");
        out.push_str("# TYPE eb_node_ready_to_build gauge\n");
        for (node, ready) in self.ready.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let _ = writeln!(
                out,
                "eb_node_ready_to_build{{node=\"{}\"}} {}",
                escape(node),
                u8::from(*ready)
            );
        }

        out.push_str("# HELP eb_failovers_total Non-voted calls answered by another node after the node asked first failed.\n");
        out.push_str("# TYPE eb_failovers_total counter\n");
        let _ = writeln!(out, "eb_failovers_total {}", self.failovers());

        out.push_str("# HELP eb_node_request_duration_seconds Successful call latency per node.\n");
        out.push_str("# TYPE eb_node_request_duration_seconds histogram\n");
        for (node, h) in self
            .latency
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let node = escape(node);
            for (i, bound) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "eb_node_request_duration_seconds_bucket{{node=\"{node}\",le=\"{bound}\"}} {}",
                    h.counts[i]
                );
            }
            let _ = writeln!(
                out,
                "eb_node_request_duration_seconds_bucket{{node=\"{node}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "eb_node_request_duration_seconds_sum{{node=\"{node}\"}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "eb_node_request_duration_seconds_count{{node=\"{node}\"}} {}",
                h.count
            );
        }

        out.push_str("# HELP eb_node_state 1 for the state each node is in.\n");
        out.push_str("# TYPE eb_node_state gauge\n");
        for (node, state) in nodes {
            let node = escape(node);
            for s in NodeState::ALL {
                let _ = writeln!(
                    out,
                    "eb_node_state{{node=\"{node}\",state=\"{}\"}} {}",
                    s.as_str(),
                    u8::from(*state == s)
                );
            }
        }

        out.push_str("# HELP eb_node_primary 1 for the node serving non-voted calls.\n");
        out.push_str("# TYPE eb_node_primary gauge\n");
        for (node, _) in nodes {
            let _ = writeln!(
                out,
                "eb_node_primary{{node=\"{}\"}} {}",
                escape(node),
                u8::from(primary == Some(node.as_str()))
            );
        }

        out.push_str(
            "# HELP eb_build_info The running version and the git commit it was built from.\n",
        );
        out.push_str("# TYPE eb_build_info gauge\n");
        let _ = writeln!(
            out,
            "eb_build_info{{version=\"{}\",commit=\"{}\"}} 1",
            escape(env!("CARGO_PKG_VERSION")),
            escape(crate::COMMIT)
        );
        crate::process_metrics::render(&mut out);
        out
    }
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
