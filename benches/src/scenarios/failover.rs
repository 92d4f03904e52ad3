//! Failover cost: what one faulty EL does to requests while traffic flows.
//!
//! Traffic: a newPayload (128 KB) every `vote_period` and an eth_ read every `read_period`,
//! each on its own connection, as a CL sends them. After `warm`, EL 0 (the first node, so the
//! likely primary) is stopped (SIGSTOP: the process still holds its sockets, the kernel still
//! accepts connections, nothing answers), killed, black-holed or slowed past its timeout; after `hold` it is healed;
//! traffic goes on for `recover`. A request counts as *delayed* when it took longer than the
//! p99 of its kind before the fault plus [`MARGIN`], and as *failed* when it got no usable
//! answer. Every request still running at or sent after the fault is counted.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::{next_id, Ctx};
use crate::client::Conn;
use crate::els::Fault;
use crate::measure::{percentile, Samples, Summary};
use crate::payloads::{PayloadTemplate, SHAPES};
use crate::proxy_process::RunningProxy;
use crate::requests::{self, Verdict};

/// Slack over the pre-fault p99 before a request counts as delayed.
pub const MARGIN: Duration = Duration::from_millis(50);

#[derive(Clone, Debug)]
pub struct Timing {
    pub warm: Duration,
    pub hold: Duration,
    pub recover: Duration,
    pub vote_period: Duration,
    pub read_period: Duration,
}

/// One request of the traffic.
#[derive(Clone, Debug)]
struct Event {
    /// Since the scenario started.
    sent: Duration,
    took: Duration,
    verdict: Verdict,
}

/// The cost to one kind of request.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Cost {
    /// Requests running at the fault or sent after it.
    pub requests: usize,
    pub delayed: usize,
    pub failed: usize,
    /// Answered, but not VALID (newPayload only: a SYNCING vote, say).
    pub not_valid: usize,
    pub max_ms: f64,
    /// How long the first request running at the fault (or sent after it) took.
    pub first_ms: Option<f64>,
    pub baseline: Summary,
    pub threshold_ms: f64,
    pub first_problem: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct FailoverRow {
    pub fault: String,
    pub els: usize,
    /// The per-node timeout given to the proxy (ms), if one was.
    pub node_timeout_ms: Option<u64>,
    pub new_payload: Cost,
    pub reads: Cost,
}

/// Sends requests made by `make` every `period` until `end`; records each.
async fn traffic(
    conn: &mut Conn,
    start: Instant,
    end: Instant,
    period: Duration,
    mut make: impl FnMut() -> bytes::Bytes,
    judge: fn(&[u8]) -> Verdict,
) -> Vec<Event> {
    let bound = (end - start).as_millis() as usize / period.as_millis().max(1) as usize + 16;
    let mut events = Vec::with_capacity(bound);
    let mut next = Instant::now();
    for _ in 0..bound {
        if Instant::now() >= end {
            break;
        }
        tokio::time::sleep_until(next.into()).await;
        next += period;
        let body = make();
        let sent = Instant::now();
        let verdict = match conn.call(body).await {
            Ok(b) => judge(&b),
            Err(e) => Verdict::Failed(format!("{e:#}")),
        };
        events.push(Event {
            sent: sent - start,
            took: sent.elapsed(),
            verdict,
        });
        // A late answer pushes the schedule rather than causing a burst.
        next = next.max(Instant::now());
    }
    events
}

fn cost(events: &[Event], fault_at: Duration) -> Cost {
    let mut baseline = Samples::default();
    let mut before_ms = Vec::new();
    for e in events.iter().filter(|e| e.sent + e.took < fault_at) {
        baseline.push(e.took);
        before_ms.push(e.took.as_secs_f64() * 1e3);
    }
    before_ms.sort_by(f64::total_cmp);
    let threshold_ms = percentile(&before_ms, 0.99) + MARGIN.as_secs_f64() * 1e3;
    let mut c = Cost {
        baseline: baseline.summary(),
        threshold_ms,
        ..Cost::default()
    };
    for e in events.iter().filter(|e| e.sent + e.took >= fault_at) {
        let ms = e.took.as_secs_f64() * 1e3;
        c.first_ms.get_or_insert(ms);
        c.requests += 1;
        c.max_ms = c.max_ms.max(ms);
        match &e.verdict {
            Verdict::Failed(why) => {
                c.failed += 1;
                c.first_problem.get_or_insert_with(|| why.clone());
            }
            Verdict::NotValid(s) => {
                c.not_valid += 1;
                c.first_problem.get_or_insert_with(|| s.clone());
            }
            Verdict::Ok => {}
        }
        if ms > threshold_ms {
            c.delayed += 1;
        }
    }
    c
}

/// Runs one fault against EL 0 of a running proxy over `n` ELs.
pub async fn run(
    ctx: &mut Ctx,
    proxy: &RunningProxy,
    n: usize,
    fault: Fault,
    timing: &Timing,
) -> anyhow::Result<FailoverRow> {
    let template = PayloadTemplate::new(SHAPES[1], &mut ctx.rng);
    let mut votes = ctx.proxy_endpoint(proxy).connection();
    let mut reads = ctx.proxy_endpoint(proxy).connection();
    votes.connect().await?;
    reads.connect().await?;
    let start = Instant::now();
    let end = start + timing.warm + timing.hold + timing.recover;
    let blocks = &mut ctx.blocks;
    let fleet = &ctx.fleet;
    let vote_traffic = traffic(
        &mut votes,
        start,
        end,
        timing.vote_period,
        || template.request(&blocks.next_block(), next_id()),
        requests::new_payload_verdict,
    );
    let read_traffic = traffic(
        &mut reads,
        start,
        end,
        timing.read_period,
        || requests::latest_block(next_id()),
        requests::read_verdict,
    );
    let script = async {
        tokio::time::sleep(timing.warm).await;
        fleet.inject(0, fault);
        tokio::time::sleep(timing.hold).await;
        fleet.heal_all();
    };
    let (vote_events, read_events, ()) = tokio::join!(vote_traffic, read_traffic, script);
    fleet.heal_all();
    Ok(FailoverRow {
        fault: fault.label().to_owned(),
        els: n,
        node_timeout_ms: None,
        new_payload: cost(&vote_events, timing.warm),
        reads: cost(&read_events, timing.warm),
    })
}
