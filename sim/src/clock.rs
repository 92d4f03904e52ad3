//! Wall-clock time derived from simulated time, so JWT `iat` values replay exactly.

use eb_transport::WallClock;
use tokio::time::Instant;

/// Unix time = a fixed epoch + the simulated time elapsed since the clock was made.
#[derive(Debug, Clone, Copy)]
pub struct SimClock {
    epoch: u64,
    start: Instant,
}

impl SimClock {
    /// Must be created inside the simulation (it reads tokio's simulated clock).
    pub fn new(epoch: u64) -> Self {
        Self {
            epoch,
            start: Instant::now(),
        }
    }
}

impl WallClock for SimClock {
    fn unix_seconds(&self) -> u64 {
        self.epoch + self.start.elapsed().as_secs()
    }
}
