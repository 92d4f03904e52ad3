//! A fake Ethereum execution client (EL) speaking the Engine API, for tests, simulations,
//! benchmarks and local testnets.
//!
//! It answers what a real EL answers, without executing anything: `engine_newPayloadV1..V5`,
//! `engine_forkchoiceUpdatedV1..V4`, `engine_getPayloadV1..V5`, `engine_getBlobsV1/V2`,
//! `engine_getPayloadBodiesByHashV1/ByRangeV1`, `engine_exchangeCapabilities`,
//! `engine_getClientVersionV1`, and `eth_syncing`, `eth_chainId`, `eth_blockNumber`,
//! `eth_getBlockByNumber`, `eth_getBlockByHash`. Requests must carry a valid HS256 JWT
//! (`Authorization: Bearer …`, `iat` within ±60 s of the injected clock), or get HTTP 401.
//! JSON-RPC batches are accepted.
//!
//! What it answers, and how it misbehaves, is set with [`Behaviour`]s: a fixed [`Status`],
//! INVALID by block hash or every Nth block, latency, hang, dead, close mid-response, HTTP 500,
//! JSON-RPC errors, a SYNCING window, flaky connections. Every call is recorded ([`Call`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use mock_el::{Behaviour, MockEl, Status};
//! use eb_transport::{JwtSecret, TokioNet};
//! let secret = JwtSecret::from_bytes([7; 32]);
//! let el = MockEl::builder()
//!     .secret(secret)
//!     .name("el1")
//!     .status(Status::Valid)
//!     .seed(7)
//!     .spawn(TokioNet, "127.0.0.1:0".parse()?)
//!     .await?;
//! println!("engine API at {}", el.url());
//! el.set(Behaviour::latency(std::time::Duration::from_millis(20)).scoped("engine_getPayload"));
//! el.set_status(Status::Invalid);
//! let calls = el.calls();
//! # let _ = calls;
//! el.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! The server is generic over [`eb_transport::Network`], takes wall-clock time only from the
//! injected [`eb_transport::SharedClock`] and durations from `tokio::time`, and draws randomness
//! from seeded RNGs, so it runs deterministically under a simulated network.

pub mod behaviour;
mod builder;
mod chain;
pub mod control;
pub mod encoding;
mod engine;
mod error;
mod mock;
pub mod record;
mod rpc;
mod server;

pub use behaviour::{
    Behaviour, BehaviourKind, ClientVersion, Flaky, Latency, LatestValid, RpcFailure, Scope,
    Settings, Status, ENGINE_METHODS,
};
pub use builder::{MockElBuilder, MockElHandle};
pub use chain::genesis_hash;
pub use control::{spawn_control, ControlHandle};
pub use encoding::{Quantity, B256};
pub use error::MockElError;
pub use mock::{BlockInfo, MockEl};
pub use record::{Call, Outcome};
