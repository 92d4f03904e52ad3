//! The connection budget of a listener: the consensus client always gets in.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// One accepted connection, as the budget sees it.
pub(super) struct ConnInfo {
    /// Sent at least one request that passed a JWT check (engine or admin).
    pub(super) authenticated: AtomicBool,
    /// Milliseconds since the gate's epoch at the last request start or end.
    last_active: AtomicU64,
    /// Notified to close the connection (it was chosen to make room).
    close: Notify,
    /// Who connected (named in the log when a request is refused).
    pub(super) peer: SocketAddr,
}

/// The connection budget of one listener: at most `cap` connections; a new one that finds it
/// full displaces the longest-idle connection that never authenticated, and is itself closed
/// only when every connection has authenticated. Connections that have not authenticated
/// within `grace` are closed, so unauthenticated clients can hold no slot for long.
pub(super) struct Gate {
    name: &'static str,
    cap: usize,
    grace: Duration,
    epoch: Instant,
    next_id: AtomicU64,
    open: Mutex<HashMap<u64, Arc<ConnInfo>>>,
    /// The last admission found the gate full (logged once per such episode).
    full: AtomicBool,
}

impl Gate {
    pub(super) fn new(name: &'static str, cap: usize, grace: Duration) -> Arc<Self> {
        Arc::new(Self {
            name,
            cap: cap.max(1),
            grace,
            epoch: Instant::now(),
            next_id: AtomicU64::new(0),
            open: Mutex::new(HashMap::new()),
            full: AtomicBool::new(false),
        })
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Admits a new connection, closing another if need be; `None`: refuse it.
    pub(super) fn admit(&self, peer: SocketAddr) -> Option<(u64, Arc<ConnInfo>)> {
        let info = Arc::new(ConnInfo {
            authenticated: AtomicBool::new(false),
            last_active: AtomicU64::new(self.now_ms()),
            close: Notify::new(),
            peer,
        });
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if open.len() >= self.cap {
            let first = !self.full.swap(true, Ordering::Relaxed);
            // Ties go to the oldest id, so the choice does not depend on the map's order.
            let victim = open
                .iter()
                .filter(|(_, c)| !c.authenticated.load(Ordering::Relaxed))
                .min_by_key(|(id, c)| (c.last_active.load(Ordering::Relaxed), **id))
                .map(|(id, _)| *id);
            match victim.and_then(|id| open.remove(&id)) {
                Some(victim) => {
                    if first {
                        tracing::warn!(listener = self.name, %peer, limit = self.cap, "connection limit reached: closing the longest-idle connections that never authenticated to admit new ones");
                    }
                    victim.close.notify_one();
                }
                None => {
                    if first {
                        tracing::warn!(listener = self.name, %peer, limit = self.cap, "connection limit reached and every connection is authenticated: closing new connections");
                    }
                    return None;
                }
            }
        } else {
            self.full.store(false, Ordering::Relaxed);
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        open.insert(id, info.clone());
        Some((id, info))
    }

    fn release(&self, id: u64) {
        self.open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
    }

    pub(super) fn touch(&self, info: &ConnInfo) {
        info.last_active.store(self.now_ms(), Ordering::Relaxed);
    }

    /// Runs a connection under the budget: it ends when it ends, when it is chosen to make
    /// room, or at the end of the grace period if it has not authenticated by then.
    pub(super) fn spawn<F, E>(self: &Arc<Self>, id: u64, info: Arc<ConnInfo>, conn: F)
    where
        F: Future<Output = Result<(), E>> + Send + 'static,
        E: std::fmt::Display,
    {
        let gate = self.clone();
        tokio::spawn(async move {
            tokio::pin!(conn);
            let grace = tokio::time::sleep(gate.grace);
            tokio::pin!(grace);
            let mut grace_over = false;
            loop {
                tokio::select! {
                    biased;
                    () = info.close.notified() => {
                        tracing::debug!(listener = gate.name, "connection closed to admit a new one");
                        break;
                    }
                    ended = conn.as_mut() => {
                        if let Err(e) = ended {
                            tracing::debug!(listener = gate.name, error = %e, "client connection ended with an error");
                        }
                        break;
                    }
                    () = &mut grace, if !grace_over => {
                        grace_over = true;
                        if !info.authenticated.load(Ordering::Relaxed) {
                            tracing::debug!(listener = gate.name, "no authenticated request in time: connection closed");
                            break;
                        }
                    }
                }
            }
            gate.release(id);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::FutureExt;

    fn peer() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 1))
    }

    #[tokio::test(start_paused = true)]
    async fn at_the_cap_the_longest_idle_unauthenticated_connection_makes_room() {
        let gate = Gate::new("test", 3, Duration::from_secs(5));
        let (a, a_info) = gate.admit(peer()).expect("room");
        tokio::time::advance(Duration::from_millis(10)).await;
        let (_b, b_info) = gate.admit(peer()).expect("room");
        tokio::time::advance(Duration::from_millis(10)).await;
        let (_c, c_info) = gate.admit(peer()).expect("room");
        // `a` is the oldest but authenticated; `b` was idle longest among the others once `c`
        // is touched again.
        a_info.authenticated.store(true, Ordering::Relaxed);
        tokio::time::advance(Duration::from_millis(10)).await;
        gate.touch(&c_info);
        let (_d, _) = gate.admit(peer()).expect("room made");
        assert!(
            b_info.close.notified().now_or_never().is_some(),
            "b was closed"
        );
        assert!(c_info.close.notified().now_or_never().is_none());
        assert!(a_info.close.notified().now_or_never().is_none());
        // Everyone authenticated: a new connection is refused, nobody is closed.
        for info in gate.open.lock().expect("lock").values() {
            info.authenticated.store(true, Ordering::Relaxed);
        }
        assert!(gate.admit(peer()).is_none());
        assert_eq!(gate.open.lock().expect("lock").len(), 3);
        gate.release(a);
        assert!(
            gate.admit(peer()).is_some(),
            "a slot freed by a closed connection"
        );
    }
}
