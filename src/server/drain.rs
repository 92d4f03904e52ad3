//! Graceful shutdown of the engine port's connections: when draining starts, an idle connection
//! closes at once and a busy one after its answer; the listener waits for all of them, up to a
//! deadline.

use std::time::Duration;

use tokio::sync::watch;

/// The listener's side: starts the drain and waits for it.
pub(super) struct Drain(watch::Sender<bool>);

/// A connection's side: held for as long as the connection is open.
#[derive(Clone)]
pub(super) struct DrainSignal(watch::Receiver<bool>);

impl Drain {
    pub(super) fn new() -> Self {
        Self(watch::channel(false).0)
    }

    pub(super) fn signal(&self) -> DrainSignal {
        DrainSignal(self.0.subscribe())
    }

    /// Tells every connection to finish, then waits until all have closed or `deadline` has
    /// passed. `true`: all closed.
    pub(super) async fn drain(self, deadline: Duration) -> bool {
        self.0.send_replace(true);
        tokio::time::timeout(deadline, self.0.closed())
            .await
            .is_ok()
    }
}

impl DrainSignal {
    /// Resolves once draining has started (or the listener is gone).
    pub(super) async fn started(&mut self) {
        let _ = self.0.wait_for(|draining| *draining).await;
    }

    pub(super) fn has_started(&self) -> bool {
        *self.0.borrow()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn waits_for_every_connection_then_reports() {
        let drain = Drain::new();
        let mut idle = drain.signal();
        let busy = drain.signal();
        assert!(!busy.has_started());
        let idle_conn = tokio::spawn(async move { idle.started().await });
        let busy_conn = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(3)).await;
            assert!(busy.has_started());
            drop(busy);
        });
        assert!(drain.drain(Duration::from_secs(10)).await);
        idle_conn.await.expect("idle closed");
        busy_conn.await.expect("busy closed");
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_at_the_deadline() {
        let drain = Drain::new();
        let stuck = drain.signal();
        assert!(!drain.drain(Duration::from_secs(10)).await);
        drop(stuck);
    }
}
