//! Deterministic simulations of executionbackup: the daemon's real code, mock execution clients
//! and a simulated consensus client as turmoil hosts on a simulated network.
//!
//! * [`setup`] is what a simulation is made of (constants, [`setup::Config`], the state its
//!   hosts share); [`world`] builds a simulation from it: EL hosts running mock-el, the `proxy` host running
//!   [`executionbackup::app::start`] over [`TurmoilNet`] with a [`SimClock`], the `cl` client.
//! * [`cl`] is the consensus client: 12-second slots of forkchoiceUpdated with attributes,
//!   getPayload, newPayload, forkchoiceUpdated and `eth_*` reads, in simulated time.
//! * [`schedule`] says which faults happen when: written by hand for the named scenarios
//!   (`tests/`), or drawn from a seed for the explorer (`src/main.rs`).
//! * [`run`] steps a scenario, applying its schedule, and checks [`invariants`] after every
//!   step; [`trace`] is the event log and its hash; [`tap`] records what the proxy voted on.

pub mod cl;
pub mod clock;
pub mod invariants;
pub mod net;
pub mod run;
pub mod schedule;
pub mod setup;
pub mod tap;
pub mod trace;
pub mod world;
pub mod wrong_vote;

pub use clock::SimClock;
pub use net::TurmoilNet;
pub use run::{run, Outcome};
pub use schedule::Scenario;
