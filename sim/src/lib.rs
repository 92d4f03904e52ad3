//! Deterministic simulations of executionbackup: the daemon's real code, mock execution clients
//! and a simulated consensus client as turmoil hosts on a simulated network.

pub mod clock;
pub mod net;

pub use clock::SimClock;
pub use net::TurmoilNet;
