//! Pieces shared by the executionbackup daemon, mock-el and mock-cl.
//!
//! * [`net`]: the network seam. The proxy core and mock-el are generic over [`net::Network`], so
//!   the same code runs over tokio sockets in production and over a simulated network in `sim/`.
//! * [`clock`]: the injected wall clock (JWT `iat`). Durations and deadlines use `tokio::time`,
//!   which the simulator controls; wall-clock time comes only from here.
//! * [`jwt`]: Engine API authentication (HS256 tokens, 32-byte hex secrets), both signing and
//!   verification, plus a short-lived token cache that keeps signing off the request hot path.
//! * [`tls`]: rustls (ring provider) over any [`net::Network`] stream: PEM loading and the
//!   server side shared by the proxy's listener and mock-el, and what a client connects with.
//! * [`client`]: one pooled HTTP/1.1 POST client for one endpoint (keep-alive pool, one retry
//!   of a stale pooled connection, TLS, a response size limit), used by the daemon for each EL
//!   and by the mock CL.

pub mod client;
pub mod clock;
pub mod jwt;
pub mod net;
pub mod tls;

pub use client::{HttpClient, HttpError, Reply};
pub use clock::{SharedClock, SystemClock, WallClock};
pub use jwt::{JwtError, JwtSecret, TokenCache, Verifier};
pub use net::{Listener, Network, TokioNet};
