//! `mock-el`: start one or more fake execution clients in one process.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _};
use clap::Parser;
use eb_transport::{JwtSecret, SystemClock, TokioNet};
use mock_el::{Behaviour, LatestValid, MockEl, RpcFailure, Scope, Status, B256};

const AFTER_HELP: &str = r#"BEHAVIOURS
  Every flag below is also an environment variable (shown in [env: ...]) and can be changed at
  run time through the control API. Faults (latency, hang, close, 500, rpc error, flaky) apply to
  every method, or only to methods starting with --fault-scope (a scope of "*" or null in the
  control API's JSON means every method).

  --status S            VALID / INVALID / SYNCING / ACCEPTED / INVALID_BLOCK_HASH for newPayload
                        and forkchoiceUpdated (fcU answers SYNCING instead of ACCEPTED;
                        INVALID_BLOCK_HASH is V1-only, V2+ answer INVALID with a null
                        latestValidHash). VALID: latestValidHash = blockHash. INVALID:
                        latestValidHash = --latest-valid-hash (default: the parent).
  --invalid-hash H      INVALID for these block hashes (and fcU to them).
  --invalid-every N     INVALID for every block whose number is a multiple of N.
  --latency-ms N        wait N ms before answering; --latency-range-ms A-B draws uniformly
                        from the seeded RNG. The control API keeps one latency per scope;
                        a method waits for the one of the most specific scope matching it.
  --hang                read requests, never answer.
  --dead                refuse connections (stop listening) until revived.
  --close-mid-response  send headers and half of the body, then close the connection.
  --http-500            answer HTTP 500 with a text body.
  --rpc-error C:M       answer JSON-RPC error {code: C, message: M}.
  --syncing-for-secs N  SYNCING and an eth_syncing object for N s after start, then normal.
  --flaky P             close the connection without an answer with probability P (seeded).

CONTROL API (per EL, no auth, JSON; port = engine port + --control-port-offset, or
--control-base-port + index)
  GET    /health              name and engine URL
  GET    /behaviour           current settings
  POST   /behaviour           one behaviour or an array, e.g.
                                {"status":"INVALID"}   {"invalid_hash":"0x.."}   {"invalid_every":3}
                                {"latency":{"min_ms":5,"max_ms":50,"scope":"engine_getPayload"}}
                                {"hang":"*"}  {"hang":"engine_newPayload"}  {"dead":true}
                                {"close_mid_response":"*"}  {"http_500":"eth_"}
                                {"rpc_error":{"code":-32000,"message":"boom","scope":"*"}}
                                {"syncing_for_ms":5000}  {"flaky":{"probability":0.2,"seed":7}}
                                {"latest_valid_hash":"null"|"zero"|"parent"|{"hash":"0x.."}}
                                {"validation_error":"..."}  {"block_value":"0x3b9aca00"}
                                {"capabilities":["engine_newPayloadV3"]}  {"blobs":["0x01.."]}
                                {"chain_id":1}
  DELETE /behaviour/<kind>    clear one: status, invalid_hash, invalid_every, latest_valid_hash,
                              validation_error, latency, hang, dead, close_mid_response, http_500,
                              rpc_error, syncing, flaky, block_value, capabilities, blobs, chain_id
  POST   /reset               clear all
  GET    /calls[?method=P]    recorded calls: method, params_bytes, at_us, claims {iat,id,clv},
                              status, error_code, block_hash, payload_id, outcome
  DELETE /calls               forget recorded calls
  GET    /chain               head block, calls received, auth failures
"#;

/// Fake Ethereum execution clients for testing Engine API consumers.
///
/// Starts --count ELs on consecutive ports from --base-port (0: any free port), each with its
/// own control port, prints one line per EL (`NAME engine=URL control=URL`) and runs until
/// interrupted.
#[derive(Debug, Parser)]
#[command(name = "mock-el", version, after_long_help = AFTER_HELP)]
struct Args {
    /// How many ELs to start.
    #[arg(long, env = "MOCK_EL_COUNT", default_value_t = 1)]
    count: u16,
    /// Engine port of the first EL; the others follow (0: pick free ports).
    #[arg(long, env = "MOCK_EL_BASE_PORT", default_value_t = 8551)]
    base_port: u16,
    /// Address to listen on.
    #[arg(long, env = "MOCK_EL_LISTEN", default_value = "127.0.0.1")]
    listen: IpAddr,
    /// File with the hex JWT secret (32 bytes) requests must be signed with.
    #[arg(long, env = "MOCK_EL_JWT_SECRET")]
    jwt_secret: PathBuf,
    /// Control port = engine port + this offset.
    #[arg(long, env = "MOCK_EL_CONTROL_PORT_OFFSET", default_value_t = 1000)]
    control_port_offset: u16,
    /// Control port of the first EL, the others follow (0: pick free ports); overrides the offset.
    #[arg(long, env = "MOCK_EL_CONTROL_BASE_PORT")]
    control_base_port: Option<u16>,
    /// Names are PREFIX-0, PREFIX-1, …
    #[arg(long, env = "MOCK_EL_NAME_PREFIX", default_value = "mock-el")]
    name_prefix: String,
    /// The client code every EL reports in engine_getClientVersionV1 (EL i takes the i-th of a
    /// comma-separated list, the last one repeating).
    #[arg(
        long,
        env = "MOCK_EL_CLIENT_CODE",
        value_delimiter = ',',
        default_value = "MK"
    )]
    client_code: Vec<String>,
    /// Seed of EL i is SEED + i.
    #[arg(long, env = "MOCK_EL_SEED", default_value_t = 0)]
    seed: u64,
    /// Status for newPayload / forkchoiceUpdated.
    #[arg(long, env = "MOCK_EL_STATUS", default_value = "valid")]
    status: Status,
    /// INVALID for these block hashes (comma-separated).
    #[arg(long, env = "MOCK_EL_INVALID_HASH", value_delimiter = ',')]
    invalid_hash: Vec<B256>,
    /// INVALID for every block number that is a multiple of N.
    #[arg(long, env = "MOCK_EL_INVALID_EVERY")]
    invalid_every: Option<u64>,
    /// latestValidHash of INVALID answers: parent, null, zero or a 0x hash.
    #[arg(long, env = "MOCK_EL_LATEST_VALID_HASH", default_value = "parent")]
    latest_valid_hash: String,
    /// validationError of INVALID answers.
    #[arg(long, env = "MOCK_EL_VALIDATION_ERROR")]
    validation_error: Option<String>,
    /// Fixed latency in milliseconds.
    #[arg(long, env = "MOCK_EL_LATENCY_MS", conflicts_with = "latency_range_ms")]
    latency_ms: Option<u64>,
    /// Latency drawn uniformly from A-B milliseconds.
    #[arg(long, env = "MOCK_EL_LATENCY_RANGE_MS")]
    latency_range_ms: Option<String>,
    /// Never answer.
    #[arg(long, env = "MOCK_EL_HANG")]
    hang: bool,
    /// Refuse connections (until revived through the control API).
    #[arg(long, env = "MOCK_EL_DEAD")]
    dead: bool,
    /// Close connections halfway through the response body.
    #[arg(long, env = "MOCK_EL_CLOSE_MID_RESPONSE")]
    close_mid_response: bool,
    /// Answer HTTP 500.
    #[arg(long = "http-500", env = "MOCK_EL_HTTP_500")]
    http_500: bool,
    /// Answer this JSON-RPC error, as CODE:MESSAGE (e.g. -32000:boom).
    #[arg(long, env = "MOCK_EL_RPC_ERROR", allow_hyphen_values = true)]
    rpc_error: Option<String>,
    /// Limit the faults above to methods starting with this prefix.
    #[arg(long, env = "MOCK_EL_FAULT_SCOPE")]
    fault_scope: Option<String>,
    /// Report SYNCING for this many seconds after start.
    #[arg(long, env = "MOCK_EL_SYNCING_FOR_SECS")]
    syncing_for_secs: Option<u64>,
    /// Drop connections without an answer with this probability (0..1).
    #[arg(long, env = "MOCK_EL_FLAKY")]
    flaky: Option<f64>,
    /// eth_chainId.
    #[arg(long, env = "MOCK_EL_CHAIN_ID", default_value_t = mock_el::behaviour::DEFAULT_CHAIN_ID)]
    chain_id: u64,
    /// blockValue of built payloads, in wei.
    #[arg(long, env = "MOCK_EL_BLOCK_VALUE", default_value_t = mock_el::behaviour::DEFAULT_BLOCK_VALUE)]
    block_value: u128,
    /// engine_exchangeCapabilities answer (comma-separated; default: every method served).
    #[arg(long, env = "MOCK_EL_CAPABILITIES", value_delimiter = ',')]
    capabilities: Vec<String>,
    /// Versioned hashes whose blobs engine_getBlobs has (comma-separated).
    #[arg(long, env = "MOCK_EL_BLOBS", value_delimiter = ',')]
    blobs: Vec<B256>,
    /// How many calls each EL keeps in its log.
    #[arg(long, env = "MOCK_EL_MAX_CALLS", default_value_t = 100_000)]
    max_calls: usize,
    /// Serve the engine port over TLS with this PEM certificate chain (needs --tls-key).
    #[arg(long, env = "MOCK_EL_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<std::path::PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, env = "MOCK_EL_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<std::path::PathBuf>,
}

/// Turns the behaviour flags into behaviours applied at start.
fn behaviours(args: &Args) -> anyhow::Result<Vec<Behaviour>> {
    let scope = Scope::from(args.fault_scope.clone());
    let mut out = vec![Behaviour::Status(args.status)];
    out.extend(args.invalid_hash.iter().map(|h| Behaviour::InvalidHash(*h)));
    if let Some(n) = args.invalid_every {
        out.push(Behaviour::InvalidEvery(n));
    }
    out.push(Behaviour::LatestValidHash(
        match args.latest_valid_hash.as_str() {
            "parent" => LatestValid::Parent,
            "null" => LatestValid::Null,
            "zero" => LatestValid::Zero,
            h => LatestValid::Hash(h.parse().context("--latest-valid-hash")?),
        },
    ));
    if let Some(e) = &args.validation_error {
        out.push(Behaviour::ValidationError(e.clone()));
    }
    let latency = match (args.latency_ms, &args.latency_range_ms) {
        (Some(ms), _) => Some((ms, ms)),
        (None, Some(range)) => {
            let (a, b) = range
                .split_once('-')
                .context("--latency-range-ms takes A-B")?;
            Some((
                a.trim().parse().context("--latency-range-ms start")?,
                b.trim().parse().context("--latency-range-ms end")?,
            ))
        }
        (None, None) => None,
    };
    if let Some((a, b)) = latency {
        out.push(Behaviour::latency_range(
            Duration::from_millis(a),
            Duration::from_millis(b),
        ));
    }
    if args.hang {
        out.push(Behaviour::hang());
    }
    if args.dead {
        out.push(Behaviour::Dead(true));
    }
    if args.close_mid_response {
        out.push(Behaviour::close_mid_response());
    }
    if args.http_500 {
        out.push(Behaviour::http_500());
    }
    if let Some(spec) = &args.rpc_error {
        let (code, message) = spec
            .split_once(':')
            .context("--rpc-error takes CODE:MESSAGE")?;
        out.push(Behaviour::RpcError(RpcFailure {
            code: code.trim().parse().context("--rpc-error code")?,
            message: message.to_string(),
            scope: Scope::All,
        }));
    }
    if let Some(secs) = args.syncing_for_secs {
        out.push(Behaviour::syncing_for(Duration::from_secs(secs)));
    }
    if let Some(p) = args.flaky {
        if !(0.0..=1.0).contains(&p) {
            bail!("--flaky takes a probability between 0 and 1");
        }
        out.push(Behaviour::Flaky(mock_el::Flaky {
            probability: p,
            seed: None,
            scope: Scope::All,
        }));
    }
    if let Scope::Prefix(p) = scope {
        out = out.into_iter().map(|b| b.scoped(p.clone())).collect();
    }
    Ok(out)
}

fn port(base: u16, index: u16, what: &str) -> anyhow::Result<u16> {
    if base == 0 {
        return Ok(0);
    }
    base.checked_add(index)
        .with_context(|| format!("{what} {base} + {index} is not a port"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let secret = JwtSecret::from_file(&args.jwt_secret)?;
    let behaviours = behaviours(&args)?;
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(eb_transport::tls::server_config_from_files(cert, key)?),
        _ => None,
    };
    let mut running = Vec::new();
    for i in 0..args.count {
        let engine_port = port(args.base_port, i, "--base-port")?;
        let control_port = match args.control_base_port {
            Some(base) => port(base, i, "--control-base-port")?,
            None if engine_port == 0 => 0,
            None => engine_port
                .checked_add(args.control_port_offset)
                .context("engine port + --control-port-offset is not a port")?,
        };
        let mut builder = MockEl::builder()
            .secret(secret.clone())
            .clock(Arc::new(SystemClock))
            .name(format!("{}-{i}", args.name_prefix))
            .client_code(
                args.client_code
                    .get(usize::from(i))
                    .or(args.client_code.last())
                    .cloned()
                    .unwrap_or_else(|| "MK".into()),
            )
            .seed(args.seed.wrapping_add(u64::from(i)))
            .chain_id(args.chain_id)
            .block_value(args.block_value)
            .blobs(args.blobs.iter().copied())
            .max_calls(args.max_calls);
        if !args.capabilities.is_empty() {
            builder = builder.capabilities(args.capabilities.iter().cloned());
        }
        for b in &behaviours {
            builder = builder.behaviour(b.clone());
        }
        if let Some(tls) = &tls {
            builder = builder.tls(tls.clone());
        }
        let el = builder
            .spawn(TokioNet, SocketAddr::new(args.listen, engine_port))
            .await?;
        let control = el
            .spawn_control(TokioNet, SocketAddr::new(args.listen, control_port))
            .await?;
        println!(
            "{} engine={} control={}",
            el.name(),
            el.url(),
            control.url()
        );
        running.push((el, control));
    }
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    for (el, control) in running {
        control.shutdown().await;
        el.shutdown().await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(extra: &[&str]) -> Args {
        let mut argv = vec!["mock-el", "--jwt-secret", "/dev/null"];
        argv.extend_from_slice(extra);
        Args::try_parse_from(argv).expect("valid arguments")
    }

    #[test]
    fn flags_become_behaviours() {
        let args = parse(&[
            "--status",
            "syncing",
            "--latency-range-ms",
            "5-10",
            "--rpc-error",
            "-32000:boom: really",
            "--fault-scope",
            "engine_getPayload",
            "--invalid-every",
            "3",
            "--latest-valid-hash",
            "zero",
        ]);
        let b = behaviours(&args).expect("behaviours");
        assert!(b.contains(&Behaviour::Status(Status::Syncing)));
        assert!(b.contains(&Behaviour::InvalidEvery(3)));
        assert!(b.contains(&Behaviour::LatestValidHash(LatestValid::Zero)));
        assert!(b.contains(
            &Behaviour::latency_range(Duration::from_millis(5), Duration::from_millis(10))
                .scoped("engine_getPayload")
        ));
        assert!(
            b.contains(&Behaviour::rpc_error(-32000, "boom: really").scoped("engine_getPayload"))
        );
    }

    #[test]
    fn bad_flags_are_refused() {
        assert!(behaviours(&parse(&["--flaky", "1.5"])).is_err());
        assert!(behaviours(&parse(&["--rpc-error", "boom"])).is_err());
        assert!(behaviours(&parse(&["--latency-range-ms", "5"])).is_err());
        assert!(
            Args::try_parse_from(["mock-el", "--jwt-secret", "x", "--status", "maybe"]).is_err()
        );
        assert!(
            Args::try_parse_from(["mock-el"]).is_err(),
            "the secret is required"
        );
    }

    #[test]
    fn ports() {
        assert_eq!(port(8551, 2, "x").ok(), Some(8553));
        assert_eq!(port(0, 2, "x").ok(), Some(0));
        assert!(port(u16::MAX, 1, "x").is_err());
    }
}
