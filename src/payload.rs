//! The payload-id map: the CL sees one payloadId, each EL has its own.
//!
//! forkchoiceUpdated with payload attributes makes every EL start a build under an id it chose.
//! The proxy answers the CL with an id of its own and remembers which EL built under which id,
//! plus the CL's original request (to replay it to an EL that lost its build). The map is
//! bounded in size and entries expire after a few slots, so it cannot grow without bound.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

/// Most builds remembered at once (a CL starts about one per slot).
pub const CAPACITY: usize = 64;
/// How long a build is remembered: five 12-second slots.
pub const TTL: Duration = Duration::from_secs(60);

/// One EL's build for a CL-facing payloadId.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Build {
    pub node_id: u64,
    /// The EL's own payloadId, as it sent it.
    pub payload_id: String,
}

#[derive(Clone, Debug)]
pub struct Entry {
    pub builds: Vec<Build>,
    /// The forkchoiceUpdated request (with attributes) that started the builds.
    pub request: Bytes,
    /// The sequence number of that forkchoiceUpdated among voted calls: the build is restarted
    /// by replaying it only while no newer forkchoiceUpdated was sent.
    pub fcu_seq: u64,
}

struct Slot {
    id: u64,
    created: Instant,
    entry: Entry,
}

pub struct PayloadMap {
    slots: Mutex<VecDeque<Slot>>,
    salt: u64,
    counter: AtomicU64,
}

impl PayloadMap {
    /// `salt` makes ids unpredictable across restarts (random in production, seeded in
    /// simulation).
    pub fn new(salt: u64) -> Self {
        Self {
            slots: Mutex::new(VecDeque::new()),
            salt,
            counter: AtomicU64::new(0),
        }
    }

    /// Remembers the builds and returns the payloadId to give the CL (`0x` + 16 hex digits).
    pub fn insert(&self, builds: Vec<Build>, request: Bytes, fcu_seq: u64) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let id = self.salt ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let now = Instant::now();
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        Self::expire(&mut slots, now);
        if slots.len() >= CAPACITY {
            slots.pop_front();
        }
        slots.push_back(Slot {
            id,
            created: now,
            entry: Entry {
                builds,
                request,
                fcu_seq,
            },
        });
        format!("0x{id:016x}")
    }

    /// The builds behind a CL-facing payloadId, if it is known and not expired.
    pub fn get(&self, payload_id: &str) -> Option<Entry> {
        let id = parse_id(payload_id)?;
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        Self::expire(&mut slots, Instant::now());
        slots.iter().find(|s| s.id == id).map(|s| s.entry.clone())
    }

    pub fn len(&self) -> usize {
        self.slots.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn expire(slots: &mut VecDeque<Slot>, now: Instant) {
        while slots
            .front()
            .is_some_and(|s| now.duration_since(s.created) >= TTL)
        {
            slots.pop_front();
        }
    }
}

fn parse_id(s: &str) -> Option<u64> {
    let digits = s.strip_prefix("0x")?;
    if digits.len() != 16 {
        return None;
    }
    u64::from_str_radix(digits, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(node: u64) -> Vec<Build> {
        vec![Build {
            node_id: node,
            payload_id: format!("0x{node:016x}"),
        }]
    }

    #[tokio::test(start_paused = true)]
    async fn ids_round_trip_and_expire() {
        let map = PayloadMap::new(42);
        let a = map.insert(build(1), Bytes::from_static(b"fcu"), 1);
        let b = map.insert(build(2), Bytes::new(), 2);
        assert_ne!(a, b);
        assert_eq!(a.len(), 18);
        assert_eq!(map.get(&a).expect("known").builds, build(1));
        assert_eq!(&map.get(&a).expect("known").request[..], b"fcu");
        assert!(map.get("0xffffffffffffffff").is_none());
        assert!(map.get(&a[..17]).is_none());
        assert!(map.get("nonsense").is_none());
        tokio::time::advance(TTL).await;
        assert!(map.get(&a).is_none());
        assert!(map.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn stays_bounded_over_ten_thousand_slots() {
        let map = PayloadMap::new(7);
        let mut last = String::new();
        for slot in 0..10_000u64 {
            last = map.insert(build(slot % 3), Bytes::new(), 0);
            assert!(map.len() <= CAPACITY);
            if slot % 100 == 0 {
                tokio::time::advance(Duration::from_secs(12)).await;
            }
        }
        assert!(map.get(&last).is_some());
    }
}
