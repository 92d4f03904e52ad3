//! Why a mock could not start (shared by the mock's builder and its control API).

use std::net::SocketAddr;

/// Why a mock could not start.
#[derive(Debug, thiserror::Error)]
pub enum MockElError {
    #[error("no JWT secret given: call MockElBuilder::secret")]
    NoSecret,
    #[error("cannot bind {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}
