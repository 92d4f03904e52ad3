//! Wall-clock time derived from simulated time, so JWT `iat` values replay exactly.

use eb_transport::WallClock;
use tokio::time::Instant;

/// Unix time = a fixed epoch + the simulated time elapsed since the simulation started.
///
/// Inside a running simulation the elapsed time is turmoil's simulation time, which is the same
/// on every host and keeps running across a host's restart (a restarted host gets a fresh tokio
/// runtime, whose `Instant`s start over). Outside one it is the tokio time since the clock was
/// made.
#[derive(Debug, Clone, Copy)]
pub struct SimClock {
    epoch: u64,
    start: Instant,
}

impl SimClock {
    /// Must be created inside a tokio runtime (it reads tokio's clock for the fallback).
    pub fn new(epoch: u64) -> Self {
        Self {
            epoch,
            start: Instant::now(),
        }
    }
}

impl WallClock for SimClock {
    fn unix_seconds(&self) -> u64 {
        let elapsed = turmoil::sim_elapsed().unwrap_or_else(|| self.start.elapsed());
        self.epoch + elapsed.as_secs()
    }
}
