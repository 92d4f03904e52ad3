//! Counters, gauges and histograms, kept and exposed with the Prometheus project's own client
//! (`prometheus-client`): OpenMetrics text for a scraper that asks for it (Prometheus does), the
//! classic text format (0.0.4) for anything else (curl, `promtool check metrics`); see
//! [`Format`].
//!
//! Counting costs the request path one atomic add: every family is registered once, and the
//! handles the request path uses are resolved once — per node in its [`NodeMetrics`], per
//! (method, outcome), (method, code) and (kind, status, reason) in fixed tables indexed by the
//! bounded label values — then kept. A handle is resolved the first time it counts, so a series
//! shows once there is something to say. Only rare events (a TLS failure, a journal record) look
//! their series up by label set.
//!
//! Label values are bounded: methods outside the known list count as `other`, error codes
//! outside the known list as `other`, node labels are the configured `#name=`s or URLs.

use std::fmt;
use std::hash::Hash;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    text, DescriptorEncoder, EncodeLabelSet, EncodeMetric, MetricEncoder,
};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use crate::health::NodeState;
use crate::routing::MethodLabel;
use crate::vote::{Kind, Reason};

/// Upper bounds of the per-node latency histogram, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

fn latency_histogram() -> Histogram {
    Histogram::new(BUCKETS)
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

/// The index of `code`'s label: its place in [`KNOWN_CODES`], or the one after for `other`.
fn code_index(code: i64) -> usize {
    KNOWN_CODES
        .iter()
        .position(|(c, _)| *c == code)
        .unwrap_or(KNOWN_CODES.len())
}

fn code_label(index: usize) -> &'static str {
    KNOWN_CODES.get(index).map_or("other", |(_, label)| label)
}

const OUTCOMES: [&str; 2] = ["ok", "error"];

/// The statuses a vote is counted under: the payload statuses, and `error`.
const VOTE_STATUSES: [&str; 6] = [
    "VALID",
    "INVALID",
    "INVALID_BLOCK_HASH",
    "SYNCING",
    "ACCEPTED",
    "error",
];
const VOTE_KINDS: [Kind; 2] = [Kind::NewPayload, Kind::ForkchoiceUpdated];
const VOTE_REASONS: [Reason; 7] = [
    Reason::Majority,
    Reason::NoAnswers,
    Reason::NoMajority,
    Reason::InvalidDissent,
    Reason::SameError,
    Reason::TooFewValid,
    Reason::KnownInvalid,
];

/// How the wait for one voter ended (`eb_vote_waits_total{ended}`).
const WAIT_ENDS: [&str; 5] = [
    "answered",
    "timeout",
    "grace",
    "check_failed",
    "cl_deadline",
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodOutcome {
    method: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodCode {
    method: &'static str,
    code: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VoteLabels {
    kind: &'static str,
    status: &'static str,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NodeLabel {
    node: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NodeAgrees {
    node: String,
    agrees: bool,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NodeEnded {
    node: String,
    ended: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NodeTls {
    node: String,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NodeJournal {
    node: String,
    reason: String,
}

type LatencyFamily = Family<NodeLabel, Histogram, fn() -> Histogram>;

/// The labelled families, shared by [`Metrics`] and every [`NodeMetrics`].
#[derive(Debug)]
struct Families {
    requests: Family<MethodOutcome, Counter>,
    errors: Family<MethodCode, Counter>,
    votes: Family<VoteLabels, Counter>,
    disagreements: Family<NodeLabel, Counter>,
    timeouts: Family<NodeLabel, Counter>,
    late: Family<NodeAgrees, Counter>,
    waits: Family<NodeEnded, Counter>,
    tls_failures: Family<NodeTls, Counter>,
    journal: Family<NodeJournal, Counter>,
    ready: Family<NodeLabel, Gauge>,
    latency: LatencyFamily,
}

/// A family registered to be declared (`# HELP`, `# TYPE`) even before it has a series, as
/// the exposition always did (a rate can then be taken from the start, and a dashboard's query
/// names a metric that is there).
#[derive(Debug)]
struct Declared<M>(M);

impl<M: EncodeMetric> EncodeMetric for Declared<M> {
    fn encode(&self, encoder: MetricEncoder) -> Result<(), fmt::Error> {
        self.0.encode(encoder)
    }

    fn metric_type(&self) -> MetricType {
        self.0.metric_type()
    }
}

/// A fixed table of handles into one family, each resolved the first time it is used.
struct Slots<M>(Box<[OnceLock<M>]>);

impl<M> Slots<M> {
    fn new(len: usize) -> Self {
        Self((0..len).map(|_| OnceLock::new()).collect())
    }

    /// The handle at `index` (in range by construction: every index comes from a bounded
    /// label's position), resolved in `family` under `labels()` the first time.
    fn get<S, C>(&self, index: usize, family: &Family<S, M, C>, labels: impl FnOnce() -> S) -> &M
    where
        S: Clone + Hash + Eq,
        M: Clone,
        C: MetricConstructor<M>,
    {
        self.0[index].get_or_init(|| family.get_or_create(&labels()).clone())
    }
}

pub struct Metrics {
    registry: Registry,
    families: Arc<Families>,
    /// Requests refused before they reached the proxy, by reason.
    pub refusals: crate::refusals::Refusals,
    /// Unix time of the last CL request answered, of the last VALID vote (0: none yet).
    last_request: Gauge,
    last_valid: Gauge,
    failovers: Counter,
    /// Per (method, outcome): `method * 2 + outcome`.
    requests: Slots<Counter>,
    /// Per (method, code): `method * (KNOWN_CODES + 1) + code`.
    errors: Slots<Counter>,
    /// Per (kind, status, reason).
    votes: Slots<Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// Registers every family, in the order the exposition shows them.
    pub fn new() -> Self {
        let families = Arc::new(Families {
            requests: Family::default(),
            errors: Family::default(),
            votes: Family::default(),
            disagreements: Family::default(),
            timeouts: Family::default(),
            late: Family::default(),
            waits: Family::default(),
            tls_failures: Family::default(),
            journal: Family::default(),
            ready: Family::default(),
            latency: Family::new_with_constructor(latency_histogram as fn() -> Histogram),
        });
        let refusals = crate::refusals::Refusals::default();
        let last_request = Gauge::default();
        let last_valid = Gauge::default();
        let failovers = Counter::default();
        let f = &families;
        let mut r = Registry::default();
        // Names without the `_total` that the encoding appends to a counter's samples.
        r.register(
            "eb_requests",
            "CL requests answered, by method and outcome",
            Declared(f.requests.clone()),
        );
        r.register(
            "eb_request_errors",
            "CL requests answered with a JSON-RPC error (the proxy's or an execution client's), by method and error code",
            Declared(f.errors.clone()),
        );
        r.register(
            "eb_refused_requests",
            "Requests refused before reaching an execution client (bad or missing token, wrong secret, limits), by reason",
            refusals.family(),
        );
        r.register(
            "eb_last_request_timestamp_seconds",
            "Unix time the consensus client was last answered (0: never)",
            last_request.clone(),
        );
        r.register(
            "eb_last_valid_timestamp_seconds",
            "Unix time a voted call was last answered VALID (0: never)",
            last_valid.clone(),
        );
        r.register(
            "eb_votes",
            "Voted calls, by call kind, status returned and reason",
            Declared(f.votes.clone()),
        );
        r.register(
            "eb_node_disagreements",
            "Voted calls where this node's answer differed from the most common answer",
            Declared(f.disagreements.clone()),
        );
        r.register(
            "eb_node_timeouts",
            "Calls to this node that timed out",
            Declared(f.timeouts.clone()),
        );
        r.register(
            "eb_late_answers",
            "Answers to voted calls that arrived after the CL was answered, by whether they agreed with it",
            Declared(f.late.clone()),
        );
        r.register(
            "eb_vote_waits",
            "How the wait for each voter ended: answered, timeout (awaited in full until its own timeout), grace (lagging), check_failed, cl_deadline",
            Declared(f.waits.clone()),
        );
        r.register(
            "eb_node_tls_failures",
            "Failed TLS handshakes with this node, by reason (unknown_issuer, wrong_name, expired, ...). Nothing is sent to a node whose certificate fails",
            Declared(f.tls_failures.clone()),
        );
        r.register(
            "eb_disagreements",
            "Answers that differed from what the consensus client was told, per node and reason (answer_vs_decision; late_ for late answers); each is in the disagreement journal",
            Declared(f.journal.clone()),
        );
        r.register(
            "eb_node_ready_to_build",
            "1 when the node had answered VALID for the head of the latest forkchoiceUpdated with payload attributes (it could build the proposal)",
            Declared(f.ready.clone()),
        );
        r.register(
            "eb_failovers",
            "Non-voted calls answered by another node after the node asked first failed",
            failovers.clone(),
        );
        r.register(
            "eb_node_request_duration_seconds",
            "Successful call latency per node",
            Declared(f.latency.clone()),
        );
        Self {
            registry: r,
            families,
            refusals,
            last_request,
            last_valid,
            failovers,
            requests: Slots::new(MethodLabel::COUNT * OUTCOMES.len()),
            errors: Slots::new(MethodLabel::COUNT * (KNOWN_CODES.len() + 1)),
            votes: Slots::new(VOTE_KINDS.len() * VOTE_STATUSES.len() * VOTE_REASONS.len()),
        }
    }

    /// The handles of one node, resolved once here (kept by the node) so that counting for it
    /// never looks a label set up.
    pub fn node(&self, label: &str) -> NodeMetrics {
        NodeMetrics(Arc::new(NodeSlots {
            label: escape(label),
            families: self.families.clone(),
            latency: OnceLock::new(),
            timeouts: OnceLock::new(),
            disagreements: OnceLock::new(),
            late: Default::default(),
            waits: Default::default(),
            ready: OnceLock::new(),
        }))
    }

    fn request_counter(&self, method: MethodLabel, outcome: usize) -> &Counter {
        let index = method.index() * OUTCOMES.len() + outcome;
        self.requests
            .get(index, &self.families.requests, || MethodOutcome {
                method: method.as_str(),
                outcome: OUTCOMES[outcome],
            })
    }

    /// One answered CL request; `error` is the JSON-RPC error code the CL got, if any (an EL's
    /// error passed on counts as an error too).
    pub fn request(&self, method: MethodLabel, error: Option<i64>) {
        match error {
            None => {
                self.request_counter(method, 0).inc();
            }
            Some(code) => {
                self.request_counter(method, 1).inc();
                let code = code_index(code);
                let index = method.index() * (KNOWN_CODES.len() + 1) + code;
                self.errors
                    .get(index, &self.families.errors, || MethodCode {
                        method: method.as_str(),
                        code: code_label(code),
                    })
                    .inc();
            }
        }
    }

    /// The count for (method, outcome), for tests and reports.
    pub fn requests(&self, method_label: &str, outcome: &str) -> u64 {
        let Some(method) = MethodLabel::from_label(method_label) else {
            return 0;
        };
        let Some(outcome) = OUTCOMES.iter().position(|o| *o == outcome) else {
            return 0;
        };
        self.families
            .requests
            .get(&MethodOutcome {
                method: method.as_str(),
                outcome: OUTCOMES[outcome],
            })
            .map_or(0, |c| c.get())
    }

    /// Unix time a CL request was last answered.
    pub fn answered_at(&self, unix_seconds: u64) {
        self.last_request
            .set(i64::try_from(unix_seconds).unwrap_or(i64::MAX));
    }

    /// Unix time the CL was last answered VALID.
    pub fn valid_at(&self, unix_seconds: u64) {
        self.last_valid
            .set(i64::try_from(unix_seconds).unwrap_or(i64::MAX));
    }

    /// One voted call: its kind, the status the CL got (a payload status, or `error`) and why.
    pub fn vote(&self, kind: Kind, status: &'static str, reason: Reason) {
        let labels = || VoteLabels {
            kind: kind.label(),
            status,
            reason: reason.as_str(),
        };
        let Some(s) = VOTE_STATUSES.iter().position(|v| *v == status) else {
            // Not a status the table knows: counted all the same.
            self.families.votes.get_or_create(&labels()).inc();
            return;
        };
        let k = kind as usize;
        let index = (k * VOTE_STATUSES.len() + s) * VOTE_REASONS.len() + reason as usize;
        self.votes.get(index, &self.families.votes, labels).inc();
    }

    /// How often the wait for `node` ended `how`, for tests and reports.
    pub fn waits(&self, node: &str, how: &'static str) -> u64 {
        self.families
            .waits
            .get(&NodeEnded {
                node: escape(node),
                ended: how,
            })
            .map_or(0, |c| c.get())
    }

    /// A TLS handshake with `node` failed; `why` is a bounded label (see
    /// [`crate::tls::failure_label`]). Rare: looked up by label set.
    pub fn tls_failure(&self, node: &str, why: &'static str) {
        self.families
            .tls_failures
            .get_or_create(&NodeTls {
                node: escape(node),
                reason: why,
            })
            .inc();
    }

    /// Failed TLS handshakes with `node` for `why`, for tests and reports.
    pub fn tls_failures(&self, node: &str, why: &'static str) -> u64 {
        self.families
            .tls_failures
            .get(&NodeTls {
                node: escape(node),
                reason: why,
            })
            .map_or(0, |c| c.get())
    }

    /// A node's answer differed from the decision (see [`crate::journal::reason`]). Rare:
    /// looked up by label set.
    pub fn journal_disagreement(&self, node: &str, reason: String) {
        self.families
            .journal
            .get_or_create(&NodeJournal {
                node: escape(node),
                reason,
            })
            .inc();
    }

    /// The count for (node, reason), for tests.
    pub fn journal_disagreements(&self, node: &str, reason: &str) -> u64 {
        self.families
            .journal
            .get(&NodeJournal {
                node: escape(node),
                reason: reason.to_owned(),
            })
            .map_or(0, |c| c.get())
    }

    pub fn failover(&self) {
        self.failovers.inc();
    }

    pub fn failovers(&self) -> u64 {
        self.failovers.get()
    }

    /// Everything, in the classic text format. `nodes` gives each node's label and current
    /// state.
    pub fn render(&self, nodes: &[(String, NodeState)], primary: Option<&str>) -> String {
        self.render_as(nodes, primary, Format::Text)
    }

    /// Everything, in `format`.
    pub fn render_as(
        &self,
        nodes: &[(String, NodeState)],
        primary: Option<&str>,
        format: Format,
    ) -> String {
        let mut scrape = Registry::default();
        scrape.register_collector(Box::new(AtScrape {
            nodes: nodes
                .iter()
                .map(|(node, state)| (escape(node), *state))
                .collect(),
            primary: primary.map(escape),
        }));
        let mut out = String::with_capacity(8192);
        // Writing into a String cannot fail.
        let _ = text::encode_registry(&mut out, &self.registry);
        let _ = text::encode_registry(&mut out, &scrape);
        let _ = text::encode_eof(&mut out);
        match format {
            Format::OpenMetrics => out,
            Format::Text => to_text_format(&out),
        }
    }
}

/// One node's handles, resolved the first time each counts and then kept.
#[derive(Clone)]
pub struct NodeMetrics(Arc<NodeSlots>);

struct NodeSlots {
    /// The node's label, escaped for the exposition.
    label: String,
    families: Arc<Families>,
    latency: OnceLock<Histogram>,
    timeouts: OnceLock<Counter>,
    disagreements: OnceLock<Counter>,
    /// Late answers that disagreed (0) and agreed (1) with the CL's answer.
    late: [OnceLock<Counter>; 2],
    waits: [OnceLock<Counter>; WAIT_ENDS.len()],
    ready: OnceLock<Gauge>,
}

impl fmt::Debug for NodeMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("NodeMetrics").field(&self.0.label).finish()
    }
}

impl NodeMetrics {
    fn node(&self) -> NodeLabel {
        NodeLabel {
            node: self.0.label.clone(),
        }
    }

    /// A successful call's latency.
    pub fn latency(&self, d: Duration) {
        let s = &self.0;
        s.latency
            .get_or_init(|| s.families.latency.get_or_create(&self.node()).clone())
            .observe(d.as_secs_f64());
    }

    /// A call to this node timed out.
    pub fn timeout(&self) {
        let s = &self.0;
        s.timeouts
            .get_or_init(|| s.families.timeouts.get_or_create(&self.node()).clone())
            .inc();
    }

    /// This node's answer differed from the most common one.
    pub fn disagreement(&self) {
        let s = &self.0;
        s.disagreements
            .get_or_init(|| s.families.disagreements.get_or_create(&self.node()).clone())
            .inc();
    }

    /// An answer to a voted call that arrived after the CL got its answer.
    pub fn late_answer(&self, agrees: bool) {
        let s = &self.0;
        s.late[usize::from(agrees)]
            .get_or_init(|| {
                s.families
                    .late
                    .get_or_create(&NodeAgrees {
                        node: s.label.clone(),
                        agrees,
                    })
                    .clone()
            })
            .inc();
    }

    /// How the wait for this voter ended: `answered`, `timeout` (its own timeout passed while
    /// awaited in full), `grace` (lagging: the grace after the others ran out), `check_failed`,
    /// `cl_deadline`.
    pub fn wait_ended(&self, how: &'static str) {
        let s = &self.0;
        let labels = || NodeEnded {
            node: s.label.clone(),
            ended: how,
        };
        match WAIT_ENDS.iter().position(|w| *w == how) {
            Some(i) => s.waits[i]
                .get_or_init(|| s.families.waits.get_or_create(&labels()).clone())
                .inc(),
            None => s.families.waits.get_or_create(&labels()).inc(),
        };
    }

    /// Whether this node could build on the head of the latest proposal's forkchoiceUpdated.
    pub fn set_ready(&self, ready: bool) {
        let s = &self.0;
        s.ready
            .get_or_init(|| s.families.ready.get_or_create(&self.node()).clone())
            .set(i64::from(ready));
    }

    /// What [`NodeMetrics::set_ready`] said last (under this label, also by an earlier node of
    /// the same label).
    pub fn ready(&self) -> bool {
        let s = &self.0;
        match s.ready.get() {
            Some(gauge) => gauge.get() == 1,
            None => s
                .families
                .ready
                .get(&self.node())
                .is_some_and(|g| g.get() == 1),
        }
    }
}

/// What the exposition is served as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// OpenMetrics 1.0 text: a counter's family is named without `_total` (its samples have
    /// it), and the exposition ends with `# EOF`.
    OpenMetrics,
    /// The classic Prometheus text format 0.0.4: a counter's family carries its samples' name.
    Text,
}

impl Format {
    pub const OPENMETRICS_TYPE: &'static str =
        "application/openmetrics-text; version=1.0.0; charset=utf-8";
    pub const TEXT_TYPE: &'static str = "text/plain; version=0.0.4; charset=utf-8";

    pub fn content_type(self) -> &'static str {
        match self {
            Self::OpenMetrics => Self::OPENMETRICS_TYPE,
            Self::Text => Self::TEXT_TYPE,
        }
    }

    /// The format an `Accept` header asks for: OpenMetrics when it accepts
    /// `application/openmetrics-text` at least as much as the text format (Prometheus asks
    /// for it first), the text format otherwise (no header, `*/*`, `text/plain`).
    pub fn negotiate(accept: Option<&str>) -> Self {
        let Some(accept) = accept else {
            return Self::Text;
        };
        let mut openmetrics = 0.0_f32;
        let mut plain = 0.0_f32;
        for range in accept.split(',') {
            let mut parts = range.split(';').map(str::trim);
            let media = parts.next().unwrap_or_default().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.strip_prefix("q=").or_else(|| p.strip_prefix("Q=")))
                .find_map(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            match media.as_str() {
                "application/openmetrics-text" => openmetrics = openmetrics.max(q),
                "text/plain" | "text/*" | "*/*" => plain = plain.max(q),
                _ => {}
            }
        }
        if openmetrics > 0.0 && openmetrics >= plain {
            Self::OpenMetrics
        } else {
            Self::Text
        }
    }
}

/// The classic text format of an OpenMetrics exposition: a counter's `# HELP` and `# TYPE`
/// name the family as its samples do (`_total`); no `# UNIT`, no `# EOF`.
fn to_text_format(openmetrics: &str) -> String {
    let counters: std::collections::HashSet<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len() + 1024);
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let descriptor = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
            let (name, rest) = line.strip_prefix(prefix)?.split_once(' ')?;
            counters.contains(name).then_some((*prefix, name, rest))
        });
        match descriptor {
            Some((prefix, name, rest)) => {
                out.push_str(prefix);
                out.push_str(name);
                out.push_str("_total ");
                out.push_str(rest);
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// What is read at scrape time: the nodes' states and the primary, the build, the process.
#[derive(Debug)]
struct AtScrape {
    /// Escaped labels.
    nodes: Vec<(String, NodeState)>,
    primary: Option<String>,
}

impl Collector for AtScrape {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        {
            let mut metric = encoder.encode_descriptor(
                "eb_node_state",
                "1 for the state each node is in.",
                None,
                MetricType::Gauge,
            )?;
            for (node, state) in &self.nodes {
                for s in NodeState::ALL {
                    let labels = [("node", node.as_str()), ("state", s.as_str())];
                    ConstGauge::new(i64::from(*state == s))
                        .encode(metric.encode_family(&labels)?)?;
                }
            }
        }
        {
            let mut metric = encoder.encode_descriptor(
                "eb_node_primary",
                "1 for the node serving non-voted calls.",
                None,
                MetricType::Gauge,
            )?;
            for (node, _) in &self.nodes {
                let primary = self.primary.as_deref() == Some(node.as_str());
                ConstGauge::new(i64::from(primary))
                    .encode(metric.encode_family(&[("node", node.as_str())])?)?;
            }
        }
        {
            let mut metric = encoder.encode_descriptor(
                "eb_build_info",
                "The running version and the git commit it was built from.",
                None,
                MetricType::Gauge,
            )?;
            let version = escape(env!("CARGO_PKG_VERSION"));
            let commit = escape(crate::COMMIT);
            let labels = [("version", version.as_str()), ("commit", commit.as_str())];
            ConstGauge::new(1_i64).encode(metric.encode_family(&labels)?)?;
        }
        crate::process_metrics::encode(&mut encoder)
    }
}

/// A label value as the text formats write it (the client writes label values as given).
fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_headers() {
        let prometheus = "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
        assert_eq!(Format::negotiate(Some(prometheus)), Format::OpenMetrics);
        assert_eq!(
            Format::negotiate(Some("application/openmetrics-text")),
            Format::OpenMetrics
        );
        assert_eq!(Format::negotiate(None), Format::Text);
        assert_eq!(Format::negotiate(Some("*/*")), Format::Text);
        assert_eq!(
            Format::negotiate(Some("text/plain;version=0.0.4")),
            Format::Text
        );
        assert_eq!(
            Format::negotiate(Some("application/openmetrics-text;q=0,*/*")),
            Format::Text
        );
        assert_eq!(
            Format::negotiate(Some("text/plain;q=0.9,application/openmetrics-text;q=0.5")),
            Format::Text
        );
    }

    #[test]
    fn both_formats_name_counters_as_their_samples() {
        let m = Metrics::new();
        m.request(MethodLabel::of("engine_newPayloadV3"), None);
        m.request(MethodLabel::of("eth_chainId"), Some(-32601));
        m.request(MethodLabel::INVALID, Some(-32700));
        m.failover();
        let node = m.node("geth-1");
        node.latency(Duration::from_millis(3));
        node.wait_ended("answered");
        node.late_answer(true);
        m.vote(Kind::NewPayload, "VALID", Reason::Majority);
        let nodes = [("geth-1".to_owned(), NodeState::Alive)];

        let om = m.render_as(&nodes, Some("geth-1"), Format::OpenMetrics);
        assert!(om.ends_with("# EOF\n"), "{om}");
        assert!(om.contains("# TYPE eb_requests counter\n"), "{om}");
        assert!(om.contains("eb_requests_total{method=\"engine_newPayloadV3\",outcome=\"ok\"} 1\n"));
        assert!(om.contains("eb_request_errors_total{method=\"eth_chainId\",code=\"-32601\"} 1\n"));
        assert!(om.contains("eb_requests_total{method=\"invalid\",outcome=\"error\"} 1\n"));
        assert!(om.contains(
            "eb_votes_total{kind=\"newPayload\",status=\"VALID\",reason=\"majority\"} 1\n"
        ));
        assert!(om.contains("eb_vote_waits_total{node=\"geth-1\",ended=\"answered\"} 1\n"));
        assert!(om.contains("eb_late_answers_total{node=\"geth-1\",agrees=\"true\"} 1\n"));
        assert!(om.contains("eb_failovers_total 1\n"));
        assert!(om.contains("eb_node_request_duration_seconds_count{node=\"geth-1\"} 1\n"));
        assert!(om.contains("eb_node_state{node=\"geth-1\",state=\"alive\"} 1\n"));
        assert!(om.contains("eb_node_primary{node=\"geth-1\"} 1\n"));

        let text = m.render(&nodes, Some("geth-1"));
        assert!(!text.contains("# EOF"), "{text}");
        assert!(text
            .contains("# HELP eb_requests_total CL requests answered, by method and outcome.\n"));
        assert!(text.contains("# TYPE eb_requests_total counter\n"));
        assert!(text.contains("# TYPE eb_node_request_duration_seconds histogram\n"));
        assert!(text.contains("# TYPE eb_node_state gauge\n"));
        assert!(!text.contains("# TYPE eb_requests counter"));
        // The samples are the same in both.
        let samples = |s: &str| -> Vec<String> {
            s.lines()
                .filter(|l| !l.starts_with('#') && !l.starts_with("process_"))
                .map(str::to_owned)
                .collect()
        };
        assert_eq!(samples(&om), samples(&text));
        // Families with no series yet are declared all the same.
        assert!(text.contains("# TYPE eb_node_tls_failures_total counter\n"));
        assert!(text.contains("# TYPE eb_disagreements_total counter\n"));
    }

    #[test]
    fn a_node_label_is_escaped() {
        let m = Metrics::new();
        m.node("a\"b\\c").timeout();
        let text = m.render(&[], None);
        assert!(
            text.contains("eb_node_timeouts_total{node=\"a\\\"b\\\\c\"} 1\n"),
            "{text}"
        );
    }

    #[test]
    fn nodes_of_one_label_share_their_series() {
        let m = Metrics::new();
        m.node("geth-1").set_ready(true);
        let again = m.node("geth-1");
        assert!(again.ready(), "a node re-added under its label");
        again.wait_ended("grace");
        m.node("geth-1").wait_ended("grace");
        assert_eq!(m.waits("geth-1", "grace"), 2);
        assert_eq!(m.waits("geth-1", "answered"), 0);
    }

    #[test]
    fn every_method_outcome_and_vote_has_its_own_slot() {
        let m = Metrics::new();
        for kind in VOTE_KINDS {
            for status in VOTE_STATUSES {
                for reason in VOTE_REASONS {
                    m.vote(kind, status, reason);
                }
            }
        }
        let text = m.render(&[], None);
        let votes = text
            .lines()
            .filter(|l| l.starts_with("eb_votes_total{") && l.ends_with(" 1"))
            .count();
        assert_eq!(
            votes,
            VOTE_KINDS.len() * VOTE_STATUSES.len() * VOTE_REASONS.len()
        );
        for (i, kind) in VOTE_KINDS.iter().enumerate() {
            assert_eq!(*kind as usize, i);
        }
        for (i, reason) in VOTE_REASONS.iter().enumerate() {
            assert_eq!(*reason as usize, i);
        }
        m.request(MethodLabel::of("engine_forkchoiceUpdatedV3"), None);
        m.request(MethodLabel::of("engine_forkchoiceUpdatedV3"), None);
        m.request(MethodLabel::of("engine_forkchoiceUpdatedV3"), Some(-38003));
        assert_eq!(m.requests("engine_forkchoiceUpdatedV3", "ok"), 2);
        assert_eq!(m.requests("engine_forkchoiceUpdatedV3", "error"), 1);
        assert_eq!(m.requests("engine_newPayloadV3", "ok"), 0);
    }
}
