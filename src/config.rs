//! Command line, environment and node URL syntax.
//!
//! `--nodes` takes a comma-separated list of EL auth-RPC URLs, each optionally followed by
//! `#`-separated options in any order: `#jwt-secret=PATH`, `#timeout=MS`, `#do-not-use`.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;
use eb_transport::{JwtError, JwtSecret};

pub use crate::selection::PayloadSelection;

/// What can be wrong with the configuration. `main` prints it on one line and exits with 2.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("node {spec:?}: {reason}")]
    Node { spec: String, reason: String },
    #[error(transparent)]
    Jwt(#[from] JwtError),
    #[error("--jwt-secret is required (the CL's tokens are checked against it, and ELs without #jwt-secret= use it)")]
    NoSecret,
    #[error("--nodes is empty: give at least one EL URL (or use --dev)")]
    NoNodes,
    #[error("{0}")]
    Invalid(String),
    #[error("--journal {path}: {reason}")]
    Journal { path: String, reason: String },
}

#[derive(Parser, Debug, Clone)]
#[command(
    name = "executionbackup",
    version = crate::VERSION,
    about = "Engine API multiplexer: one consensus client, several execution clients, safe voting and failover",
    long_about = None
)]
pub struct Cli {
    /// EL auth-RPC URLs (http:// or https://), comma separated. Per node options:
    /// #jwt-secret=PATH, #timeout=MS, #do-not-use (gets every call but never votes and is
    /// primary only when nothing else is up), #ca=PATH (https: a PEM file of extra roots).
    #[arg(long, env = "EB_NODES", value_delimiter = ',', num_args = 1..)]
    pub nodes: Vec<String>,

    /// Hex JWT secret file (32 bytes; optional 0x; trailing newline fine). Checks the CL's tokens,
    /// and signs requests to ELs that have no #jwt-secret= of their own.
    #[arg(long, env = "EB_JWT_SECRET")]
    pub jwt_secret: Option<PathBuf>,

    /// Hex JWT secret file for the REST API's changing calls (/recheck, /add_nodes,
    /// /remove_nodes). It must be a secret no execution client holds: the engine secret never
    /// authorises them. Without it those calls answer 403.
    #[arg(long, env = "EB_ADMIN_JWT_SECRET")]
    pub admin_jwt_secret: Option<PathBuf>,

    /// Port for the CL's Engine API connection and the REST API (GET /metrics here is the JSON
    /// node report; Prometheus scrapes --metrics-addr).
    #[arg(long, env = "EB_PORT", default_value_t = defaults::PORT)]
    pub port: u16,

    /// Address to listen on. Loopback by default: put it on another address only behind a
    /// firewall, the Engine API controls your validator's view of the chain.
    #[arg(long, env = "EB_LISTEN_ADDR", default_value_t = defaults::LISTEN_ADDR)]
    pub listen_addr: IpAddr,

    /// Default per-node timeout in milliseconds for voted calls and reads (#timeout= overrides).
    #[arg(long, env = "EB_TIMEOUT", default_value_t = defaults::TIMEOUT_MS, value_parser = parse_timeout)]
    pub timeout: u64,

    /// Share of the answering ELs that must agree for a majority, in (0, 1].
    #[arg(long, env = "EB_FCU_MAJORITY", default_value_t = defaults::FCU_MAJORITY, value_parser = parse_majority)]
    pub fcu_majority: f64,

    /// Log filter: off, error, warn, info, debug, trace, or a filter such as
    /// executionbackup=debug,warn. Anything else exits with status 2. RUST_LOG wins when set.
    #[arg(long, env = "EB_LOG_LEVEL", default_value = "info", value_parser = crate::log_level::parse)]
    pub log_level: String,

    /// Start with three embedded mock ELs and print a ready-to-paste request (binaries built
    /// without the `dev` cargo feature exit with status 2).
    #[arg(long, env = "EB_DEV")]
    pub dev: bool,

    /// Print a fresh engine JWT signed with --jwt-secret (valid for 60 s) and exit.
    #[arg(long)]
    pub print_token: bool,

    /// With --print-token: sign with --admin-jwt-secret instead, for the REST API.
    #[arg(long, requires = "print_token")]
    pub admin: bool,

    /// Deadline in milliseconds for engine_getPayload across the building nodes (well inside the
    /// CL's own: Prysm allows about 300 ms at Gloas, Lighthouse 2 s).
    #[arg(long, env = "EB_GET_PAYLOAD_TIMEOUT", default_value_t = defaults::GET_PAYLOAD_TIMEOUT_MS, value_parser = parse_timeout)]
    pub get_payload_timeout: u64,

    /// Milliseconds getPayload waits, after the first good payload arrived, for the primary's
    /// (or, with best-value, for better ones) before answering with what it has.
    #[arg(long, env = "EB_GET_PAYLOAD_GRACE", default_value_t = defaults::GET_PAYLOAD_GRACE_MS)]
    pub get_payload_grace: u64,

    /// Milliseconds a lagging node (one that missed a voted call's deadline) is awaited after
    /// the healthy nodes answered; also how long a silent healthy node may trail the others
    /// before it is checked on the spot.
    #[arg(long, env = "EB_LAG_GRACE", default_value_t = defaults::LAG_GRACE_MS)]
    pub lag_grace: u64,

    /// VALID votes needed to answer VALID (1: one EL that knows the block is enough when the
    /// others are catching up; raise it to prefer halting over trusting a single EL).
    #[arg(long, env = "EB_MIN_VALID", default_value_t = defaults::MIN_VALID, value_parser = clap::value_parser!(u64).range(1..))]
    pub min_valid: u64,

    /// Count votes per EL process (`node`, the original project's rule) or per client
    /// implementation (`client`: the ELs reporting one client code in engine_getClientVersionV1
    /// are one vote; INVALID if any of them says INVALID).
    #[arg(long, env = "EB_VOTE_BY", value_enum, default_value_t = VoteBy::Node)]
    pub vote_by: VoteBy,

    /// Also append every disagreement between ELs to this file, as JSON lines (each made
    /// durable before the next); the newest are always served at GET /disagreements.
    #[arg(long, env = "EB_JOURNAL")]
    pub journal: Option<PathBuf>,

    /// newPayloads remembered for ELs that come back (or are added) and missed them; they are
    /// replayed to such an EL in order, then the latest forkchoiceUpdated. 0 turns it off.
    #[arg(long, env = "EB_KEEP_WARM", default_value_t = defaults::KEEP_WARM)]
    pub keep_warm: usize,

    /// Most megabytes of newPayload requests remembered for --keep-warm.
    #[arg(long, env = "EB_KEEP_WARM_MB", default_value_t = defaults::KEEP_WARM_MB)]
    pub keep_warm_mb: usize,

    /// Size at which the journal file is renamed to FILE.1 and a new one started.
    #[arg(long, env = "EB_JOURNAL_MAX_BYTES", default_value_t = 64 * 1024 * 1024)]
    pub journal_max_bytes: u64,

    /// Which payload engine_getPayload returns when several nodes built one: the primary's, or
    /// the highest blockValue.
    #[arg(long, env = "EB_PAYLOAD_SELECTION", value_enum, default_value_t = PayloadSelection::Primary)]
    pub payload_selection: PayloadSelection,

    /// Seconds between health probes of every node.
    #[arg(long, env = "EB_HEALTH_INTERVAL", default_value_t = defaults::HEALTH_INTERVAL_S, value_parser = parse_timeout)]
    pub health_interval: u64,

    /// Address Prometheus scrapes (GET /metrics here is the Prometheus text format; GET /metrics
    /// on --port is the JSON node report); "off" turns it off.
    #[arg(long, env = "EB_METRICS_ADDR", default_value = "127.0.0.1:7070", value_parser = parse_metrics_addr)]
    pub metrics_addr: MetricsAddr,

    /// Log line format.
    #[arg(long, env = "EB_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Largest request body accepted from the CL, in bytes.
    #[arg(long, env = "EB_MAX_REQUEST_BYTES", default_value_t = defaults::MAX_REQUEST_BYTES)]
    pub max_request_bytes: usize,

    /// Largest response body accepted from an EL, in bytes.
    #[arg(long, env = "EB_MAX_RESPONSE_BYTES", default_value_t = defaults::MAX_RESPONSE_BYTES)]
    pub max_response_bytes: usize,

    /// Milliseconds a request body may take to arrive once its headers are in (408 beyond).
    #[arg(long, env = "EB_BODY_TIMEOUT", default_value_t = defaults::BODY_TIMEOUT_MS, value_parser = parse_timeout)]
    pub body_timeout: u64,

    /// Most client connections served at once. At the cap, the longest-idle connection that
    /// never sent an authenticated request is closed to admit the new one.
    #[arg(long, env = "EB_MAX_CONNECTIONS", default_value_t = defaults::MAX_CONNECTIONS)]
    pub max_connections: usize,

    /// Most calls in flight to one node at once (reads and voted calls); beyond it the call
    /// counts as that node not answering (reads fail over).
    #[arg(long, env = "EB_MAX_IN_FLIGHT_PER_NODE", default_value_t = defaults::MAX_IN_FLIGHT_PER_NODE)]
    pub max_in_flight_per_node: usize,

    /// Most elements in one JSON-RPC batch.
    #[arg(long, env = "EB_MAX_BATCH", default_value_t = defaults::MAX_BATCH)]
    pub max_batch: usize,

    /// GET /readyz answers 200 only while at least this many nodes (not #do-not-use) are alive
    /// and synced, 503 otherwise.
    #[arg(long, env = "EB_READY_MIN_NODES", default_value_t = defaults::READY_MIN_NODES, value_parser = clap::value_parser!(u64).range(1..))]
    pub ready_min_nodes: u64,

    /// The chain every node must be on (eth_chainId, decimal or 0x hex), checked at start-up and
    /// on every probe. Without it (or --network) the first answer sets it.
    #[arg(long, env = "EB_CHAIN_ID", value_parser = crate::chain::parse_chain_id, conflicts_with = "network")]
    pub chain_id: Option<u64>,

    /// The chain by name: mainnet, sepolia, hoodi or holesky (same as its --chain-id).
    #[arg(long, env = "EB_NETWORK", value_parser = crate::chain::parse_network)]
    pub network: Option<u64>,

    /// PEM certificate chain for TLS on the engine port (for a consensus client on another
    /// host); needs --tls-key. The Prometheus listener stays plain HTTP.
    #[arg(long, env = "EB_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key of --tls-cert.
    #[arg(long, env = "EB_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

impl Cli {
    /// The chain pinned by `--chain-id` or `--network`, if any.
    pub fn pinned_chain(&self) -> Option<u64> {
        self.chain_id.or(self.network)
    }
}

/// Where the Prometheus exposition listens, if anywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricsAddr(pub Option<SocketAddr>);

fn parse_metrics_addr(s: &str) -> Result<MetricsAddr, String> {
    match s.trim() {
        "" | "off" | "none" | "false" => Ok(MetricsAddr(None)),
        addr => addr
            .parse()
            .map(|a| MetricsAddr(Some(a)))
            .map_err(|_| format!("{addr:?} is not host:port (or \"off\")")),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

fn parse_timeout(s: &str) -> Result<u64, String> {
    let ms: u64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of milliseconds"))?;
    if ms == 0 {
        return Err("timeout must be at least 1 ms".into());
    }
    Ok(ms)
}

fn parse_majority(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("{s:?} is not a number"))?;
    if !(v > 0.0 && v <= 1.0) {
        return Err(format!("{v} is not in (0, 1]"));
    }
    Ok(v)
}

/// Every default, once: the CLI's and [`Settings::default`]'s.
pub mod defaults {
    use std::net::IpAddr;

    pub const PORT: u16 = 7000;
    pub const LISTEN_ADDR: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
    pub const TIMEOUT_MS: u64 = 7500;
    pub const FCU_MAJORITY: f64 = 0.6;
    pub const GET_PAYLOAD_TIMEOUT_MS: u64 = 700;
    pub const GET_PAYLOAD_GRACE_MS: u64 = 150;
    pub const LAG_GRACE_MS: u64 = 300;
    pub const MIN_VALID: u64 = 1;
    pub const KEEP_WARM: usize = 64;
    pub const KEEP_WARM_MB: usize = 6;
    pub const HEALTH_INTERVAL_S: u64 = 5;
    pub const MAX_REQUEST_BYTES: usize = 64 * 1024 * 1024;
    pub const MAX_RESPONSE_BYTES: usize = 128 * 1024 * 1024;
    pub const BODY_TIMEOUT_MS: u64 = 10_000;
    pub const MAX_CONNECTIONS: usize = 256;
    pub const MAX_IN_FLIGHT_PER_NODE: usize = 128;
    pub const MAX_BATCH: usize = 1024;
    pub const READY_MIN_NODES: u64 = 1;
}

/// Connections the Prometheus listener serves at once.
pub const METRICS_MAX_CONNECTIONS: usize = 32;
/// A connection that has not sent an authenticated request this long after it opened is closed.
pub const AUTH_GRACE: Duration = Duration::from_secs(5);

/// One `--nodes` entry, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSpec {
    /// The URL without options, as shown in logs, errors and metrics. Credentials
    /// (`user:password@`) never appear in it: they are replaced by `***@`.
    pub url: String,
    pub host: String,
    pub port: u16,
    /// Request path (and query), `/` by default.
    pub path: String,
    pub jwt_secret: Option<PathBuf>,
    pub timeout: Option<Duration>,
    pub do_not_use: bool,
    /// `#name=`: how logs, metrics and disagreement records call this node (else its URL).
    pub name: Option<String>,
    /// The URL carried credentials (`user:password@`). They are never sent: the Authorization
    /// header carries the engine JWT.
    pub had_credentials: bool,
    /// `https://`: reached over TLS, certificate and host name verified (see [`crate::tls`]).
    pub tls: bool,
    /// `#ca=PATH`: a PEM file of extra roots this node's certificate may chain to (https only).
    pub ca: Option<PathBuf>,
}

/// What identifies one execution client: where its socket is. Two entries with the same key
/// reach the same EL, so the second would give it a second vote.
///
/// The path is left out on purpose: execution clients answer the Engine API on any path, so
/// `http://h:1/x` and `http://h:1` are the same EL.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NodeKey {
    pub host: HostKey,
    pub port: u16,
}

/// A node's host after resolving the aliases that need no DNS.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HostKey {
    /// This machine: `localhost`, `*.localhost`, 127.0.0.0/8, `::1`, 0.0.0.0, `::` (a connection
    /// to the unspecified address reaches this machine) and their IPv4-mapped forms.
    Loopback,
    Ip(IpAddr),
    /// A DNS name, lower case, without a trailing dot.
    Name(String),
}

impl HostKey {
    pub fn of(host: &str) -> Self {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        // An IPv6 zone (`fe80::1%eth0`) names the interface, not another address.
        let bare = host.split('%').next().unwrap_or_default();
        if let Some(ip) = bare
            .parse::<IpAddr>()
            .ok()
            .or_else(|| inet_aton(bare).map(IpAddr::V4))
        {
            return Self::of_ip(ip);
        }
        let name = host.trim_end_matches('.').to_ascii_lowercase();
        if name == "localhost" || name.ends_with(".localhost") {
            Self::Loopback
        } else {
            Self::Name(name)
        }
    }

    pub fn of_ip(ip: IpAddr) -> Self {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        if ip.is_loopback() || ip.is_unspecified() {
            Self::Loopback
        } else {
            Self::Ip(ip)
        }
    }
}

/// The IPv4 forms the system resolver takes besides dotted quads: `127.1`, `2130706433`,
/// `0x7f.0.0.1`, `0177.0.0.1` (1 to 4 parts, each decimal, octal with a leading 0 or hex).
fn inet_aton(s: &str) -> Option<std::net::Ipv4Addr> {
    if s.is_empty() || s.len() > 64 {
        return None;
    }
    let mut parts = Vec::with_capacity(4);
    for part in s.split('.') {
        let value = if let Some(hex) = part.strip_prefix("0x").or_else(|| part.strip_prefix("0X")) {
            if hex.is_empty() {
                0
            } else {
                u64::from_str_radix(hex, 16).ok()?
            }
        } else if part.len() > 1 && part.starts_with('0') {
            u64::from_str_radix(&part[1..], 8).ok()?
        } else if !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()) {
            part.parse::<u64>().ok()?
        } else {
            return None;
        };
        parts.push(value);
        if parts.len() > 4 {
            return None;
        }
    }
    let (last, head) = parts.split_last()?;
    if head.iter().any(|p| *p > 255) {
        return None;
    }
    let last_bits = 8 * (4 - head.len() as u32);
    if *last >= 1u64 << last_bits {
        return None;
    }
    let mut value = *last;
    for (i, p) in head.iter().enumerate() {
        value |= p << (24 - 8 * i as u32);
    }
    u32::try_from(value).ok().map(std::net::Ipv4Addr::from)
}

/// `spec` with any `user:password@` in its URL replaced by `***@`: the form shown in errors.
/// Without a scheme, the text up to the first `/`, `?` or `#` counts as the authority.
pub fn redact(spec: &str) -> String {
    let start = spec.find("://").map_or(0, |i| i + 3);
    let rest = &spec[start..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{}***{}", &spec[..start], &rest[at..]),
        None => spec.to_owned(),
    }
}

impl NodeSpec {
    pub fn parse(spec: &str) -> Result<Self, ConfigError> {
        let err = |reason: String| ConfigError::Node {
            spec: redact(spec),
            reason,
        };
        let mut parts = spec.trim().split('#');
        let url = parts.next().unwrap_or_default().trim();
        let mut out = Self::parse_url(url).map_err(err)?;
        for option in parts.map(str::trim).filter(|o| !o.is_empty()) {
            match option.split_once('=') {
                Some(("jwt-secret", path)) if !path.is_empty() => {
                    out.jwt_secret = Some(PathBuf::from(path))
                }
                Some(("ca", path)) if !path.is_empty() => {
                    if !out.tls {
                        return Err(err(
                            "#ca= is for https:// nodes (a plain http:// node has no certificate)"
                                .into(),
                        ));
                    }
                    out.ca = Some(PathBuf::from(path))
                }
                Some(("timeout", ms)) => {
                    let ms = parse_timeout(ms).map_err(err)?;
                    out.timeout = Some(Duration::from_millis(ms));
                }
                Some(("name", name)) => out.name = Some(parse_name(name).map_err(err)?),
                None if option == "do-not-use" => out.do_not_use = true,
                _ => {
                    return Err(err(format!(
                    "unknown option #{option} (known: #jwt-secret=PATH, #timeout=MS, #do-not-use, #name=NAME, #ca=PATH)"
                )))
                }
            }
        }
        Ok(out)
    }

    fn parse_url(url: &str) -> Result<Self, String> {
        let uri: http::Uri = url
            .parse()
            .map_err(|e| format!("not a URL ({e}); expected http://host:port"))?;
        let tls = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            Some(other) => {
                return Err(format!(
                    "unsupported scheme {other:?}, use http:// or https://"
                ))
            }
            None => return Err("missing scheme, expected http://host:port".into()),
        };
        let host = uri.host().filter(|h| !h.is_empty()).ok_or("missing host")?;
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let authority = uri.authority().map(|a| a.as_str()).unwrap_or_default();
        let had_credentials = authority.contains('@');
        let after_host = authority.rsplit('@').next().unwrap_or_default();
        let after_host = after_host.rsplit(']').next().unwrap_or_default();
        let port = match after_host.rsplit_once(':') {
            Some((_, p)) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| format!("bad port {p:?}"))?,
            None if tls => 443,
            None => 80,
        };
        let path = uri
            .path_and_query()
            .map(|p| p.as_str())
            .filter(|p| !p.is_empty())
            .unwrap_or("/")
            .to_owned();
        Ok(Self {
            url: redact(url).trim_end_matches('/').to_owned(),
            host,
            port,
            path,
            jwt_secret: None,
            timeout: None,
            do_not_use: false,
            name: None,
            had_credentials,
            tls,
            ca: None,
        })
    }

    /// How this node is shown: its `#name=`, else its URL.
    pub fn label(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.url)
    }

    /// Where this node's execution client is; see [`NodeKey`].
    pub fn key(&self) -> NodeKey {
        NodeKey {
            host: HostKey::of(&self.host),
            port: self.port,
        }
    }

    /// Whether this entry reaches the same execution client as `other`.
    pub fn same_el(&self, other: &NodeSpec) -> bool {
        self.key() == other.key()
    }

    /// Whether this entry points at `addr`, a socket this process listens on. Only what can be
    /// told without DNS: a name or a forwarder in between is caught at run time instead (see
    /// [`crate::trust`]).
    pub fn points_at(&self, addr: SocketAddr) -> bool {
        if self.port != addr.port() {
            return false;
        }
        // Loopback reaches a listener on loopback or on every address (both key as
        // `Loopback`). A listener on every address also answers on this machine's other
        // addresses, which are not known here: the run-time check covers those.
        let own = HostKey::of_ip(addr.ip());
        match HostKey::of(&self.host) {
            HostKey::Name(_) => false,
            key => key == own,
        }
    }
}

/// A `#name=`: 1 to 64 letters, digits, `.`, `_` or `-`, so it is safe as a log field and a
/// Prometheus label value.
fn parse_name(name: &str) -> Result<String, String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(name.to_owned())
    } else {
        Err(format!(
            "#name={name:?}: use 1 to 64 letters, digits, '.', '_' or '-'"
        ))
    }
}

/// Refuses a node list in which two entries reach the same execution client, or one reaches
/// this proxy (`own`: the addresses it listens on). The message names both entries.
pub fn check_distinct<'a>(
    specs: impl IntoIterator<Item = &'a NodeSpec>,
    own: &[SocketAddr],
) -> Result<(), ConfigError> {
    let mut seen: Vec<&NodeSpec> = Vec::new();
    for spec in specs {
        if let Some(addr) = own.iter().find(|a| spec.points_at(**a)) {
            return Err(ConfigError::Node {
                spec: spec.url.clone(),
                reason: format!(
                    "this is executionbackup's own address ({addr}): a node must be an execution client"
                ),
            });
        }
        if let Some(first) = seen
            .iter()
            .find(|s| spec.name.is_some() && s.label() == spec.label())
        {
            return Err(ConfigError::Node {
                spec: spec.url.clone(),
                reason: format!(
                    "#name={} is already the name of {}: names must differ",
                    spec.label(),
                    first.url
                ),
            });
        }
        if let Some(first) = seen.iter().find(|s| s.same_el(spec)) {
            return Err(ConfigError::Node {
                spec: spec.url.clone(),
                reason: format!(
                    "reaches the same execution client as {} (same host and port after \
                     resolving aliases); one EL gets one vote",
                    first.url
                ),
            });
        }
        seen.push(spec);
    }
    Ok(())
}

/// A node ready to use: its spec plus the secret its requests are signed with.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    pub spec: NodeSpec,
    pub secret: JwtSecret,
    pub timeout: Duration,
    /// `https://` nodes: the TLS client (roots loaded, name to verify).
    pub tls: Option<crate::tls::ClientTls>,
}

/// Resolves a node's secret (its own file, else the global secret) and timeout.
pub fn resolve_node(
    spec: NodeSpec,
    global_secret: Option<&JwtSecret>,
    default_timeout: Duration,
) -> Result<NodeConfig, ConfigError> {
    let secret = match &spec.jwt_secret {
        Some(path) => JwtSecret::from_file(path)?,
        None => global_secret.cloned().ok_or(ConfigError::NoSecret)?,
    };
    let timeout = spec.timeout.unwrap_or(default_timeout);
    let tls =
        if spec.tls {
            let roots = crate::tls::env_roots();
            let client = crate::tls::client(&spec.host, roots.as_deref(), spec.ca.as_deref())
                .map_err(|e| ConfigError::Node {
                    spec: spec.url.clone(),
                    reason: format!("TLS: {e}"),
                })?;
            Some(client)
        } else {
            None
        };
    Ok(NodeConfig {
        spec,
        secret,
        timeout,
        tls,
    })
}

/// Which health model the proxy runs. Only simulations and tests choose `Legacy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HealthModel {
    #[default]
    Current,
    /// The model before health was kept per path, kept to show that the simulation's
    /// invariants catch it: a failed or slow read marks the node down for votes too, voted
    /// calls skip nodes marked down, every node sent a call is awaited up to its whole timeout
    /// (no grace, no on-the-spot check), SYNCING always counts, and late answers are ignored.
    Legacy,
}

/// Who a vote is counted for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum VoteBy {
    /// One vote per EL process.
    #[default]
    Node,
    /// One vote per client implementation (by the code in engine_getClientVersionV1).
    Client,
}

/// Everything the proxy core needs, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    /// Prometheus exposition address; `None` = off.
    pub metrics: Option<SocketAddr>,
    pub fcu_majority: f64,
    pub default_timeout: Duration,
    pub payload_timeout: Duration,
    /// How long getPayload waits after the first good payload for the preferred one.
    pub payload_grace: Duration,
    pub payload_selection: PayloadSelection,
    /// How long lagging nodes are awaited after the healthy ones answered.
    pub lag_grace: Duration,
    /// VALID votes needed for a VALID answer.
    pub min_valid: usize,
    pub vote_by: VoteBy,
    /// newPayloads remembered for nodes that missed them, and their byte bound.
    pub keep_warm: usize,
    pub keep_warm_bytes: usize,
    /// The disagreement journal with its file (`--journal`); `None`: kept in memory only.
    pub journal: Option<std::sync::Arc<crate::journal::Journal>>,
    pub health_interval: Duration,
    pub max_request_bytes: usize,
    pub max_response_bytes: usize,
    pub max_batch: usize,
    pub max_connections: usize,
    /// Connections the Prometheus listener serves at once (same eviction rule).
    pub metrics_max_connections: usize,
    /// How long a new connection has to send an authenticated request before it is closed.
    pub auth_grace: Duration,
    /// How long a request body may take to arrive once its headers are in.
    pub body_timeout: Duration,
    /// Signs the tokens the REST API's changing calls need; `None` turns those calls off.
    pub admin_secret: Option<JwtSecret>,
    pub max_in_flight_per_node: usize,
    /// The vote. Always [`crate::vote::decide_ballots`] outside tests of the tests.
    pub vote: crate::vote::VoteFn,
    /// Called with every PayloadStatus a voter's answer carried, in time or late (the
    /// simulation's independent checker listens here). `None` outside simulations.
    pub seen: Option<crate::vote::SeenFn>,
    /// Test-only: the health model before per-path health (see [`HealthModel::Legacy`]).
    pub health_model: HealthModel,
    /// `/readyz` is 200 only while at least this many voting nodes are alive and synced.
    pub ready_min_nodes: usize,
    /// The chain pinned by `--chain-id`/`--network`; `None`: the first answer sets it.
    pub chain_id: Option<u64>,
    /// TLS on the engine port (`--tls-cert`, `--tls-key`); `None`: plain HTTP.
    pub tls: Option<std::sync::Arc<eb_transport::tls::rustls::ServerConfig>>,
}

impl Settings {
    pub fn from_cli(cli: &Cli) -> Self {
        Self {
            listen: SocketAddr::new(cli.listen_addr, cli.port),
            metrics: cli.metrics_addr.0,
            fcu_majority: cli.fcu_majority,
            default_timeout: Duration::from_millis(cli.timeout),
            payload_timeout: Duration::from_millis(cli.get_payload_timeout),
            payload_grace: Duration::from_millis(cli.get_payload_grace),
            payload_selection: cli.payload_selection,
            lag_grace: Duration::from_millis(cli.lag_grace),
            min_valid: usize::try_from(cli.min_valid).unwrap_or(usize::MAX),
            vote_by: cli.vote_by,
            keep_warm: cli.keep_warm,
            keep_warm_bytes: cli.keep_warm_mb.saturating_mul(1024 * 1024),
            journal: None,
            health_interval: Duration::from_secs(cli.health_interval),
            max_request_bytes: cli.max_request_bytes,
            max_response_bytes: cli.max_response_bytes,
            max_batch: cli.max_batch.max(1),
            max_connections: cli.max_connections.max(1),
            metrics_max_connections: METRICS_MAX_CONNECTIONS,
            auth_grace: AUTH_GRACE,
            body_timeout: Duration::from_millis(cli.body_timeout),
            admin_secret: None,
            max_in_flight_per_node: cli.max_in_flight_per_node.max(1),
            vote: crate::vote::decide_ballots,
            seen: None,
            health_model: HealthModel::Current,
            ready_min_nodes: usize::try_from(cli.ready_min_nodes).unwrap_or(usize::MAX),
            chain_id: cli.pinned_chain(),
            tls: None,
        }
    }
}

impl Default for Settings {
    /// The CLI's defaults (without the Prometheus listener, journal file, TLS or admin secret).
    fn default() -> Self {
        use defaults as d;
        Self {
            listen: SocketAddr::new(d::LISTEN_ADDR, d::PORT),
            metrics: None,
            fcu_majority: d::FCU_MAJORITY,
            default_timeout: Duration::from_millis(d::TIMEOUT_MS),
            payload_timeout: Duration::from_millis(d::GET_PAYLOAD_TIMEOUT_MS),
            payload_grace: Duration::from_millis(d::GET_PAYLOAD_GRACE_MS),
            payload_selection: PayloadSelection::Primary,
            lag_grace: Duration::from_millis(d::LAG_GRACE_MS),
            min_valid: d::MIN_VALID as usize,
            vote_by: VoteBy::Node,
            keep_warm: d::KEEP_WARM,
            keep_warm_bytes: d::KEEP_WARM_MB * 1024 * 1024,
            journal: None,
            health_interval: Duration::from_secs(d::HEALTH_INTERVAL_S),
            max_request_bytes: d::MAX_REQUEST_BYTES,
            max_response_bytes: d::MAX_RESPONSE_BYTES,
            max_batch: d::MAX_BATCH,
            max_connections: d::MAX_CONNECTIONS,
            metrics_max_connections: METRICS_MAX_CONNECTIONS,
            auth_grace: AUTH_GRACE,
            body_timeout: Duration::from_millis(d::BODY_TIMEOUT_MS),
            admin_secret: None,
            max_in_flight_per_node: d::MAX_IN_FLIGHT_PER_NODE,
            vote: crate::vote::decide_ballots,
            seen: None,
            health_model: HealthModel::Current,
            ready_min_nodes: d::READY_MIN_NODES as usize,
            chain_id: None,
            tls: None,
        }
    }
}

/// Parses every `--nodes` entry and loads the secrets.
pub fn load(cli: &Cli) -> Result<(Settings, JwtSecret, Vec<NodeConfig>), ConfigError> {
    let mut settings = Settings::from_cli(cli);
    if let Some(path) = &cli.journal {
        let journal = crate::journal::Journal::with_file(path, cli.journal_max_bytes.max(4096))
            .map_err(|e| ConfigError::Journal {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?;
        settings.journal = Some(std::sync::Arc::new(journal));
    }
    let secret = cli
        .jwt_secret
        .as_deref()
        .map(JwtSecret::from_file)
        .transpose()?
        .ok_or(ConfigError::NoSecret)?;
    let specs = cli
        .nodes
        .iter()
        .filter(|n| !n.trim().is_empty())
        .map(|n| NodeSpec::parse(n))
        .collect::<Result<Vec<_>, _>>()?;
    if specs.is_empty() {
        return Err(ConfigError::NoNodes);
    }
    let own: Vec<SocketAddr> = [Some(settings.listen), settings.metrics]
        .into_iter()
        .flatten()
        .collect();
    check_distinct(&specs, &own)?;
    let nodes = specs
        .into_iter()
        .map(|s| resolve_node(s, Some(&secret), settings.default_timeout))
        .collect::<Result<Vec<_>, _>>()?;
    if let (Some(cert), Some(key)) = (&cli.tls_cert, &cli.tls_key) {
        let tls = eb_transport::tls::server_config_from_files(cert, key)
            .map_err(|e| ConfigError::Invalid(format!("--tls-cert/--tls-key: {e}")))?;
        settings.tls = Some(tls);
    }
    if let Some(path) = cli.admin_jwt_secret.as_deref() {
        let admin = JwtSecret::from_file(path)?;
        check_admin_secret(&admin, &secret, &nodes)?;
        settings.admin_secret = Some(admin);
    }
    let mut files: Vec<&Path> = cli.jwt_secret.iter().map(PathBuf::as_path).collect();
    files.extend(cli.admin_jwt_secret.as_deref());
    files.extend(nodes.iter().filter_map(|n| n.spec.jwt_secret.as_deref()));
    files.sort_unstable();
    files.dedup();
    for path in files {
        warn_if_readable_by_others(path);
    }
    for node in nodes.iter().filter(|n| n.spec.had_credentials) {
        tracing::warn!(
            node = node.spec.url,
            "credentials in a node URL are not sent (the Authorization header carries the engine JWT); they are never shown either"
        );
    }
    Ok((settings, secret, nodes))
}

/// The admin secret must be one no execution client holds, or any EL could change the node set.
pub fn check_admin_secret(
    admin: &JwtSecret,
    engine: &JwtSecret,
    nodes: &[NodeConfig],
) -> Result<(), ConfigError> {
    if admin == engine {
        return Err(ConfigError::Invalid(
            "--admin-jwt-secret is the same secret as --jwt-secret: every execution client holds that one, so it cannot guard the REST API; generate another (openssl rand -hex 32)".into(),
        ));
    }
    if let Some(node) = nodes.iter().find(|n| &n.secret == admin) {
        return Err(ConfigError::Invalid(format!(
            "--admin-jwt-secret is the secret node {} holds: generate another (openssl rand -hex 32)",
            node.spec.url
        )));
    }
    Ok(())
}

/// One WARN line when a secret file is readable by group or others.
pub fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path) {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o044 != 0 {
                tracing::warn!(
                    file = %path.display(),
                    mode = format!("{mode:03o}"),
                    "secret file is readable by group or others: chmod 600 it"
                );
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_default_is_the_clis_default() {
        let cli = Cli::try_parse_from(["executionbackup"]).expect("no arguments parse");
        let mut from_cli = Settings::from_cli(&cli);
        // The one intended difference: tests open no Prometheus listener.
        assert!(from_cli.metrics.is_some());
        from_cli.metrics = None;
        assert_eq!(
            format!("{from_cli:?}"),
            format!("{:?}", Settings::default())
        );
    }

    #[test]
    fn node_options_in_any_order() {
        let n = NodeSpec::parse("http://localhost:8551#timeout=3000#do-not-use#jwt-secret=/s/jwt2")
            .expect("valid");
        assert_eq!(n.url, "http://localhost:8551");
        assert_eq!(
            (n.host.as_str(), n.port, n.path.as_str()),
            ("localhost", 8551, "/")
        );
        assert_eq!(n.timeout, Some(Duration::from_millis(3000)));
        assert!(n.do_not_use);
        assert_eq!(n.jwt_secret, Some(PathBuf::from("/s/jwt2")));

        let n =
            NodeSpec::parse("http://[::1]:8552/engine/#jwt-secret=/a#timeout=5200").expect("v6");
        assert_eq!(
            (n.host.as_str(), n.port, n.path.as_str()),
            ("::1", 8552, "/engine/")
        );
        assert_eq!(n.url, "http://[::1]:8552/engine");
        assert!(!n.do_not_use);

        let n = NodeSpec::parse("http://10.0.0.1").expect("no port");
        assert_eq!(n.port, 80);
        assert!(!n.tls);

        let n = NodeSpec::parse("https://el.example#ca=/etc/el-ca.pem").expect("https");
        assert_eq!((n.port, n.tls), (443, true));
        assert_eq!(n.ca, Some(PathBuf::from("/etc/el-ca.pem")));
        assert_eq!(n.url, "https://el.example");
        assert_eq!(
            NodeSpec::parse("https://127.0.0.1:8552")
                .expect("https")
                .key(),
            NodeSpec::parse("http://localhost:8552")
                .expect("http")
                .key(),
            "http and https to one socket are one EL"
        );
    }

    #[test]
    fn bad_nodes_are_named() {
        for bad in [
            "localhost:8551",
            "ftp://x:1",
            "http://x:1#ca=/etc/ca.pem",
            "http://",
            "http://x:1#timeout=0",
            "http://x:1#timeout=abc",
            "http://x:1#bogus",
            "http://x:1#jwt-secret=",
            "http://x:99999",
        ] {
            let e = NodeSpec::parse(bad).expect_err(bad);
            assert!(e.to_string().contains(bad), "{e}");
        }
    }

    #[test]
    fn one_el_one_key_whatever_the_spelling() {
        let key = |u: &str| NodeSpec::parse(u).expect(u).key();
        let local = key("http://127.0.0.1:8551");
        for alias in [
            "http://localhost:8551",
            "http://LOCALHOST.:8551/",
            "http://el.localhost:8551",
            "http://[::1]:8551",
            "http://0.0.0.0:8551",
            "http://[::]:8551",
            "http://[::ffff:127.0.0.1]:8551",
            "http://127.1:8551",
            "http://2130706433:8551",
            "http://0x7f.0.0.1:8551",
            "http://0177.0.0.1:8551",
            "http://127.0.0.2:8551",
            "http://127.0.0.1:8551/x",
            "http://127.0.0.1:8551//",
            "http://127.0.0.1:8551?a=b",
            "http://user:pw@127.0.0.1:8551",
            "http://127.0.0.1:8551#timeout=10#do-not-use",
        ] {
            assert_eq!(key(alias), local, "{alias}");
        }
        assert_eq!(key("http://el:80"), key("http://EL"));
        assert_eq!(key("http://10.0.0.1:80/"), key("http://10.0.0.1"));
        for other in [
            "http://127.0.0.1:8552",
            "http://10.0.0.1:8551",
            "http://el:8551",
            "http://[fe80::1]:8551",
        ] {
            assert_ne!(key(other), local, "{other}");
        }
        assert_eq!(inet_aton("1.2.3.4"), Some([1, 2, 3, 4].into()));
        assert_eq!(inet_aton("1.2.772"), Some([1, 2, 3, 4].into()));
        for bad in [
            "",
            "1.2.3.4.5",
            "256.1.1.1",
            "1.2.3.256",
            "0x",
            "a.b",
            "1..2",
            "09.1.1.1",
        ] {
            let got = inet_aton(bad);
            assert!(got.is_none() || bad == "0x", "{bad}: {got:?}");
        }
    }

    #[test]
    fn duplicates_and_the_proxy_itself_are_refused() {
        let specs = |list: &[&str]| -> Vec<NodeSpec> {
            list.iter().map(|u| NodeSpec::parse(u).expect(u)).collect()
        };
        let own: Vec<SocketAddr> = vec!["127.0.0.1:7000".parse().expect("addr")];
        assert!(check_distinct(
            &specs(&["http://127.0.0.1:8551", "http://127.0.0.1:8552"]),
            &own
        )
        .is_ok());
        let e = check_distinct(
            &specs(&["http://127.0.0.1:8551", "http://localhost:8551/x"]),
            &own,
        )
        .expect_err("alias");
        assert!(
            e.to_string()
                .contains("same execution client as http://127.0.0.1:8551"),
            "{e}"
        );
        for me in [
            "http://localhost:7000",
            "http://127.0.0.1:7000/",
            "http://[::1]:7000",
        ] {
            let e = check_distinct(&specs(&[me]), &own).expect_err(me);
            assert!(e.to_string().contains("own address"), "{e}");
        }
        // A listener on every address is reached through loopback too.
        let any: Vec<SocketAddr> = vec!["0.0.0.0:7000".parse().expect("addr")];
        assert!(check_distinct(&specs(&["http://localhost:7000"]), &any).is_err());
        assert!(check_distinct(&specs(&["http://10.0.0.1:7000"]), &own).is_ok());
        let lan: Vec<SocketAddr> = vec!["10.0.0.1:7000".parse().expect("addr")];
        assert!(check_distinct(&specs(&["http://10.0.0.1:7000"]), &lan).is_err());
        assert!(check_distinct(&specs(&["http://127.0.0.1:7000"]), &lan).is_ok());
    }

    #[test]
    fn credentials_never_shown() {
        let n = NodeSpec::parse("http://user:hunter2@127.0.0.1:8551/path/#timeout=5").expect("ok");
        assert_eq!(n.url, "http://***@127.0.0.1:8551/path");
        assert!(n.had_credentials);
        assert_eq!((n.host.as_str(), n.port), ("127.0.0.1", 8551));
        let n = NodeSpec::parse("http://user:hunter2@el").expect("default port");
        assert_eq!((n.url.as_str(), n.port), ("http://***@el", 80));
        for bad in [
            "http://user:hunter2@el:1#bogus",
            "http://user:hunter2@el:99999",
            "ftp://user:hunter2@el:1",
            "http://user:hunter2@:1",
        ] {
            let e = NodeSpec::parse(bad).expect_err(bad).to_string();
            assert!(!e.contains("hunter2") && !e.contains("user:"), "{e}");
        }
        assert_eq!(redact("http://a@b@c:1/x@y"), "http://***@c:1/x@y");
        assert_eq!(redact("user:pw@x:1/a"), "***@x:1/a");
        assert_eq!(redact("http://x:1/a@b"), "http://x:1/a@b");
        let e = NodeSpec::parse("user:hunter2@x:1").expect_err("no scheme");
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }

    #[test]
    fn the_admin_secret_is_nobody_else_s() {
        let engine = JwtSecret::from_bytes([1; 32]);
        let admin = JwtSecret::from_bytes([2; 32]);
        let node = |secret: &JwtSecret| NodeConfig {
            spec: NodeSpec::parse("http://a:1").expect("spec"),
            secret: secret.clone(),
            timeout: Duration::from_secs(1),
            tls: None,
        };
        assert!(check_admin_secret(&admin, &engine, &[node(&engine)]).is_ok());
        assert!(check_admin_secret(&engine, &engine, &[]).is_err());
        let e = check_admin_secret(&admin, &engine, &[node(&engine), node(&admin)])
            .expect_err("a node holds it");
        assert!(e.to_string().contains("http://a:1"), "{e}");
    }

    #[test]
    fn cli_defaults_and_env_names() {
        let cli = Cli::try_parse_from([
            "executionbackup",
            "--nodes",
            "http://a:1,http://b:2#do-not-use",
        ])
        .expect("parses");
        assert_eq!(cli.nodes.len(), 2);
        assert_eq!(cli.port, 7000);
        assert_eq!(cli.timeout, 7500);
        assert_eq!(cli.fcu_majority, 0.6);
        assert_eq!(cli.listen_addr.to_string(), "127.0.0.1");
        assert_eq!(
            cli.metrics_addr,
            MetricsAddr(Some("127.0.0.1:7070".parse().expect("addr")))
        );
        let off =
            Cli::try_parse_from(["executionbackup", "--metrics-addr", "off"]).expect("parses");
        assert_eq!(off.metrics_addr, MetricsAddr(None));
        assert_eq!(cli.body_timeout, 10_000);
        assert!(cli.admin_jwt_secret.is_none());
        assert!(
            Cli::try_parse_from(["executionbackup", "--admin"]).is_err(),
            "--admin only goes with --print-token"
        );
        let mint = Cli::try_parse_from([
            "executionbackup",
            "--print-token",
            "--admin",
            "--admin-jwt-secret",
            "/s/admin.hex",
        ])
        .expect("parses");
        assert!(mint.admin && mint.print_token);
        for bad in [
            ["--fcu-majority", "0"],
            ["--fcu-majority", "1.5"],
            ["--timeout", "0"],
            ["--body-timeout", "0"],
            ["--port", "x"],
        ] {
            assert!(
                Cli::try_parse_from(["executionbackup", bad[0], bad[1]]).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn secrets_resolve_per_node() {
        let dir = std::env::temp_dir().join(format!("eb-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("tmp");
        let own = dir.join("own.hex");
        std::fs::write(&own, format!("0x{}\n", "11".repeat(32))).expect("write");
        let global = JwtSecret::from_bytes([0x22; 32]);
        let spec =
            NodeSpec::parse(&format!("http://a:1#jwt-secret={}", own.display())).expect("spec");
        let n = resolve_node(spec, Some(&global), Duration::from_secs(1)).expect("own secret");
        assert_eq!(n.secret, JwtSecret::from_bytes([0x11; 32]));
        let n = resolve_node(
            NodeSpec::parse("http://a:1").expect("spec"),
            Some(&global),
            Duration::from_secs(1),
        )
        .expect("global secret");
        assert_eq!(n.secret, global);
        let missing = NodeSpec::parse("http://a:1#jwt-secret=/nonexistent/x").expect("spec");
        assert!(matches!(
            resolve_node(missing, Some(&global), Duration::from_secs(1)),
            Err(ConfigError::Jwt(JwtError::Unreadable { .. }))
        ));
        std::fs::remove_dir_all(dir).ok();
    }
}

/// Property tests of the `--nodes` syntax.
#[cfg(test)]
mod props {
    use super::*;
    use crate::proptest_cases as cases;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: cases(2000), ..ProptestConfig::default() })]

        #[test]
        fn any_text_never_panics(spec in "\\PC{0,120}") {
            let _ = NodeSpec::parse(&spec);
        }

        #[test]
        fn options_parse_in_any_order(
            host in "[a-z][a-z0-9\\-]{0,20}",
            port in 1u16..,
            timeout in proptest::option::of(1u64..100_000),
            secret in proptest::option::of("/[a-z0-9/_.]{1,30}"),
            dnu in any::<bool>(),
            order in proptest::sample::subsequence(vec![0usize, 1, 2], 3),
        ) {
            let mut options = Vec::new();
            for which in order {
                match which {
                    0 => if let Some(t) = timeout { options.push(format!("#timeout={t}")) },
                    1 => if let Some(s) = &secret { options.push(format!("#jwt-secret={s}")) },
                    _ => if dnu { options.push("#do-not-use".to_string()) },
                }
            }
            let spec = format!("http://{host}:{port}{}", options.concat());
            let parsed = NodeSpec::parse(&spec).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(parsed.host, host);
            prop_assert_eq!(parsed.port, port);
            prop_assert_eq!(parsed.timeout, timeout.map(Duration::from_millis));
            prop_assert_eq!(parsed.jwt_secret, secret.map(PathBuf::from));
            prop_assert_eq!(parsed.do_not_use, dnu);
        }
    }
}
