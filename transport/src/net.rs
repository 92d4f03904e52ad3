//! The network seam: connect and listen, nothing more.
//!
//! Everything above this (HTTP, JSON-RPC, fan-out, timeouts, voting, failover) is written once
//! against [`Network`]. Production uses [`TokioNet`]; the simulation crate implements the same
//! trait over `turmoil::net`.

use std::future::Future;
use std::io;
use std::net::SocketAddr;

use tokio::io::{AsyncRead, AsyncWrite};

/// A bidirectional byte stream (a TCP connection or its simulated twin).
pub trait Connection: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Connection for T {}

/// A way to open connections and accept them.
pub trait Network: Clone + Send + Sync + 'static {
    type Stream: Connection;
    type Listener: Listener<Stream = Self::Stream>;

    /// Opens a connection to `host:port`. `host` is a name or an IP literal (no brackets).
    fn connect(
        &self,
        host: &str,
        port: u16,
    ) -> impl Future<Output = io::Result<Self::Stream>> + Send;

    /// Binds a listening socket.
    fn bind(&self, addr: SocketAddr) -> impl Future<Output = io::Result<Self::Listener>> + Send;
}

/// A bound listening socket.
pub trait Listener: Send + Sync + 'static {
    type Stream: Connection;

    fn accept(&self) -> impl Future<Output = io::Result<(Self::Stream, SocketAddr)>> + Send;

    fn local_addr(&self) -> io::Result<SocketAddr>;
}

/// Real sockets through tokio. Connections have Nagle's algorithm turned off: Engine API calls
/// are small request/response exchanges where batching writes only adds latency.
#[derive(Clone, Copy, Debug, Default)]
pub struct TokioNet;

impl Network for TokioNet {
    type Stream = tokio::net::TcpStream;
    type Listener = tokio::net::TcpListener;

    async fn connect(&self, host: &str, port: u16) -> io::Result<Self::Stream> {
        let stream = tokio::net::TcpStream::connect((host, port)).await?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }

    async fn bind(&self, addr: SocketAddr) -> io::Result<Self::Listener> {
        tokio::net::TcpListener::bind(addr).await
    }
}

impl Listener for tokio::net::TcpListener {
    type Stream = tokio::net::TcpStream;

    async fn accept(&self) -> io::Result<(Self::Stream, SocketAddr)> {
        let (stream, peer) = tokio::net::TcpListener::accept(self).await?;
        // A failure here only costs latency; the connection is still usable.
        let _ = stream.set_nodelay(true);
        Ok((stream, peer))
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        tokio::net::TcpListener::local_addr(self)
    }
}
