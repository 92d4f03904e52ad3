//! The REST API kept from the original project: `GET /metrics`, `GET /recheck`,
//! `POST /add_nodes`, plus `POST /remove_nodes` and `GET /disagreements` (the journal).
//!
//! `/metrics` and `/disagreements` are read-only and open. The others change what the proxy trusts, so the server
//! requires a token signed with `--admin-jwt-secret` for them, a secret no execution client
//! holds (the original had no authentication at all; the engine JWT is held by every EL).
//! A node that reaches an execution client already in the set, or the proxy itself, is refused.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use bytes::Bytes;
use eb_transport::Network;
use http::header::CONTENT_TYPE;
use http::{Response, StatusCode};
use http_body_util::Full;
use serde::{Deserialize, Serialize};

use crate::config::{self, NodeSpec};
use crate::health::NodeState;
use crate::http::{json, json_error, HttpResponse};
use crate::metrics::Format;
use crate::probe;
use crate::proxy::Proxy;

/// The original project's report, field for field.
#[derive(Serialize, Debug)]
pub struct MetricsReport {
    /// Node URL → moving average response time in microseconds.
    pub response_times: BTreeMap<String, u64>,
    pub alive_nodes: Vec<String>,
    pub syncing_nodes: Vec<String>,
    /// Answering, but missed a voted call's deadline (awaited only a short grace). Not in the
    /// original's report.
    pub lagging_nodes: Vec<String>,
    pub dead_nodes: Vec<String>,
    /// The node serving non-voted calls; empty when no node answers.
    pub primary_node: String,
    /// The nodes that had answered VALID for the head of the latest forkchoiceUpdated with
    /// payload attributes (they could build the proposal). Not in the original's report.
    pub ready_to_build_nodes: Vec<String>,
    /// Node URL → its `#name=`, for the nodes that have one. Not in the original's report.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub node_names: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recheck_time: Option<u64>,
}

pub fn report<N: Network>(proxy: &Proxy<N>, recheck_time: Option<u64>) -> MetricsReport {
    let nodes = proxy.nodes.snapshot();
    let mut r = MetricsReport {
        response_times: BTreeMap::new(),
        alive_nodes: Vec::new(),
        syncing_nodes: Vec::new(),
        lagging_nodes: Vec::new(),
        dead_nodes: Vec::new(),
        // The primary a read would use now (selected again if health changed since).
        primary_node: proxy
            .nodes
            .update_primary()
            .map(|n| n.url().to_owned())
            .unwrap_or_default(),
        ready_to_build_nodes: nodes
            .iter()
            .filter(|n| n.metrics().ready())
            .map(|n| n.url().to_owned())
            .collect(),
        node_names: BTreeMap::new(),
        recheck_time,
    };
    for node in nodes.iter() {
        let url = node.url().to_owned();
        if let Some(name) = &node.spec.name {
            r.node_names.insert(url.clone(), name.clone());
        }
        r.response_times
            .insert(url.clone(), node.health.latency_us());
        match node.health.state() {
            NodeState::Alive => r.alive_nodes.push(url),
            NodeState::Syncing => r.syncing_nodes.push(url),
            NodeState::Lagging => r.lagging_nodes.push(url),
            NodeState::Dead => r.dead_nodes.push(url),
        }
    }
    r
}

fn report_response<N: Network>(proxy: &Proxy<N>, recheck_time: Option<u64>) -> HttpResponse {
    let body = serde_json::to_vec(&report(proxy, recheck_time)).unwrap_or_default();
    json(StatusCode::OK, Bytes::from(body))
}

/// The Prometheus exposition in the classic text format.
pub fn prometheus<N: Network>(proxy: &Proxy<N>) -> String {
    prometheus_as(proxy, Format::Text)
}

/// The Prometheus exposition in `format` (see [`crate::metrics::Format`]).
pub fn prometheus_as<N: Network>(proxy: &Proxy<N>, format: Format) -> String {
    let primary = proxy.nodes.update_primary();
    let nodes: Vec<(String, NodeState)> = proxy
        .nodes
        .snapshot()
        .iter()
        .map(|n| (n.label().to_owned(), n.health.state()))
        .collect();
    proxy
        .metrics
        .render_as(&nodes, primary.as_ref().map(|n| n.label()), format)
}

/// `GET /metrics` on the Prometheus port: OpenMetrics for a scraper that asks for it (as
/// Prometheus does), the classic text format otherwise.
pub fn prometheus_response<N: Network>(proxy: &Proxy<N>, accept: Option<&str>) -> HttpResponse {
    let format = Format::negotiate(accept);
    Response::builder()
        .header(CONTENT_TYPE, format.content_type())
        .body(Full::new(Bytes::from(prometheus_as(proxy, format))))
        .unwrap_or_default()
}

pub fn metrics_report<N: Network>(proxy: &Proxy<N>) -> HttpResponse {
    report_response(proxy, None)
}

/// `GET /disagreements?limit=N`: the newest journal records, newest first (default 100).
pub fn disagreements<N: Network>(proxy: &Proxy<N>, query: Option<&str>) -> HttpResponse {
    let mut limit = 100;
    for pair in query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
    {
        match pair.split_once('=') {
            Some(("limit", n)) => match n.parse::<usize>() {
                Ok(n) => limit = n.min(crate::journal::RECENT),
                Err(_) => {
                    return json_error(
                        StatusCode::BAD_REQUEST,
                        "limit must be a whole number of records",
                    )
                }
            },
            _ => return json_error(StatusCode::BAD_REQUEST, "the only parameter is limit=N"),
        }
    }
    let records = proxy.journal.newest(limit);
    let records: Vec<&crate::journal::Record> = records.iter().map(|r| &**r).collect();
    let body = serde_json::to_vec(&records).unwrap_or_default();
    json(StatusCode::OK, Bytes::from(body))
}

pub async fn recheck<N: Network>(proxy: &Proxy<N>) -> HttpResponse {
    let (took, _) = probe::probe_all(proxy).await;
    report_response(
        proxy,
        Some(u64::try_from(took.as_micros()).unwrap_or(u64::MAX)),
    )
}

#[derive(Deserialize)]
struct NodeList {
    nodes: Vec<String>,
}

fn parse_list(body: &Bytes) -> Result<Vec<String>, &'static str> {
    match serde_json::from_slice::<NodeList>(body) {
        Ok(list) if !list.nodes.is_empty() => Ok(list.nodes),
        Ok(_) => Err("\"nodes\" is empty"),
        Err(_) => Err("expected a JSON body {\"nodes\": [\"http://host:port#option...\", ...]}"),
    }
}

/// `own`: the addresses this process listens on.
pub async fn add_nodes<N: Network>(
    proxy: &Proxy<N>,
    body: &Bytes,
    own: &[SocketAddr],
) -> HttpResponse {
    let list = match parse_list(body) {
        Ok(list) => list,
        Err(why) => return json_error(StatusCode::BAD_REQUEST, why),
    };
    let specs = match list
        .iter()
        .map(|entry| NodeSpec::parse(entry))
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(specs) => specs,
        Err(e) => return json_error(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    // Checked before anything is probed: an alias of a known node or of the proxy itself never
    // gets a request. The set re-checks when the nodes go in.
    let known = proxy.nodes.snapshot();
    let all = known.iter().map(|n| &n.spec).chain(specs.iter());
    if let Err(e) = config::check_distinct(all, own) {
        return json_error(StatusCode::BAD_REQUEST, &format!("{e}: nothing added"));
    }
    let mut configs = Vec::new();
    for spec in specs {
        let resolved = config::resolve_node(
            spec,
            Some(&proxy.node_secret),
            proxy.settings.default_timeout,
        )
        .and_then(|c| {
            if let Some(admin) = &proxy.settings.admin_secret {
                config::check_admin_secret(admin, &proxy.node_secret, std::slice::from_ref(&c))?;
            }
            Ok(c)
        });
        match resolved {
            Ok(c) => {
                if let Some(path) = &c.spec.jwt_secret {
                    config::warn_if_readable_by_others(path);
                }
                configs.push(c)
            }
            Err(e) => return json_error(StatusCode::BAD_REQUEST, &e.to_string()),
        }
    }
    // Probe before adding, so a node on another chain never gets traffic.
    let started = tokio::time::Instant::now();
    let nodes = proxy.make_nodes(configs);
    let mut results = Vec::new();
    for node in &nodes {
        results.push(probe::probe(node).await);
    }
    // Checked against the settled chain, or else against each other, without settling anything:
    // a refused request leaves no trace.
    let mut expected = proxy.chain_id();
    for (node, result) in nodes.iter().zip(&results) {
        let Some(chain) = result.chain_id.as_deref() else {
            continue;
        };
        match expected.as_deref() {
            None => expected = Some(chain.to_owned()),
            Some(want) if crate::chain::same_chain(want, chain) => {}
            Some(want) => {
                return json_error(
                    StatusCode::BAD_REQUEST,
                    &format!(
                        "{} is on chain {chain}, expected {want}: nothing added",
                        node.url()
                    ),
                )
            }
        }
    }
    if let Err(e) = proxy.nodes.add(nodes.clone()) {
        return json_error(StatusCode::BAD_REQUEST, &e.to_string());
    }
    for (node, result) in nodes.iter().zip(results) {
        tracing::info!(
            node = node.label(),
            url = node.url(),
            "node added through the API"
        );
        let _ = probe::apply(proxy, node, result);
        proxy.warm_up(node, "added");
    }
    proxy.nodes.update_primary();
    report_response(
        proxy,
        Some(u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX)),
    )
}

pub async fn remove_nodes<N: Network>(proxy: &Proxy<N>, body: &Bytes) -> HttpResponse {
    let list = match parse_list(body) {
        Ok(list) => list,
        Err(why) => return json_error(StatusCode::BAD_REQUEST, why),
    };
    // Matched by where the node is, so any spelling of its URL (an alias, a trailing slash,
    // credentials) names it.
    let known = proxy.nodes.snapshot();
    let mut urls: Vec<String> = Vec::new();
    for entry in &list {
        let spec = match NodeSpec::parse(entry) {
            Ok(spec) => spec,
            Err(e) => return json_error(StatusCode::BAD_REQUEST, &e.to_string()),
        };
        match known.iter().find(|n| n.spec.same_el(&spec)) {
            Some(node) => urls.push(node.url().to_owned()),
            None => {
                return json_error(
                    StatusCode::BAD_REQUEST,
                    &format!("node {} is not configured", spec.url),
                )
            }
        }
    }
    match proxy.nodes.remove(&urls) {
        Ok(gone) => {
            for node in gone {
                tracing::info!(node = node.label(), url = node.url(), "node removed");
            }
            proxy.nodes.update_primary();
            report_response(proxy, None)
        }
        Err(e) => json_error(StatusCode::BAD_REQUEST, &e.to_string()),
    }
}
