//! The network seam over turmoil's simulated TCP.

use std::io;
use std::net::SocketAddr;

use eb_transport::{Listener, Network};

/// Connections and listeners inside a turmoil simulation. Host names resolve through turmoil's
/// own DNS (the names given to `sim.host(...)`).
#[derive(Clone, Copy, Debug, Default)]
pub struct TurmoilNet;

impl Network for TurmoilNet {
    type Stream = turmoil::net::TcpStream;
    type Listener = TurmoilListener;

    async fn connect(&self, host: &str, port: u16) -> io::Result<Self::Stream> {
        turmoil::net::TcpStream::connect((host, port)).await
    }

    async fn bind(&self, addr: SocketAddr) -> io::Result<Self::Listener> {
        turmoil::net::TcpListener::bind(addr)
            .await
            .map(TurmoilListener)
    }
}

/// A turmoil listener behind the seam's [`Listener`] trait.
pub struct TurmoilListener(turmoil::net::TcpListener);

impl Listener for TurmoilListener {
    type Stream = turmoil::net::TcpStream;

    async fn accept(&self) -> io::Result<(Self::Stream, SocketAddr)> {
        self.0.accept().await
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }
}
