//! Soak: slot-paced traffic (a compressed slot every `slot` period) for a long while, with
//! random faults on one EL at a time drawn from a seed. Reports errors, and the proxy's RSS,
//! open file descriptors and CPU time at intervals: they must stay flat.

use std::time::{Duration, Instant};

use mock_el::MockEl;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use super::slots::slot;
use super::Ctx;
use crate::els::{heal, Fault};
use crate::measure::{Samples, Summary};
use crate::payloads::{PayloadTemplate, SHAPES};
use crate::procfs;
use crate::proxy_process::RunningProxy;
use crate::requests::Tally;

#[derive(Clone, Debug, Serialize)]
pub struct FaultEvent {
    pub at_s: f64,
    pub el: usize,
    pub fault: String,
    pub for_ms: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct SoakSample {
    pub seconds: f64,
    pub slots: usize,
    pub rss_kb: u64,
    pub fds: usize,
    pub cpu_s: f64,
    pub failed: u64,
    pub not_valid: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct SoakResult {
    pub seconds: f64,
    pub slot_ms: u64,
    pub els: usize,
    pub slots: usize,
    pub slot_latency: Summary,
    /// Slots that took longer than the slot period.
    pub late_slots: usize,
    pub answers: Tally,
    pub faults: Vec<FaultEvent>,
    pub samples: Vec<SoakSample>,
    /// Last sample minus the first one taken after the first fault-free stretch.
    pub rss_growth_kb: i64,
    pub fd_growth: i64,
}

/// Injects random faults on one EL at a time until `end`.
async fn fault_driver(
    els: Vec<MockEl>,
    seed: u64,
    timeout: Duration,
    end: Instant,
) -> Vec<FaultEvent> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let started = Instant::now();
    let mut events = Vec::new();
    // Bounded: each turn waits at least a second.
    for _ in 0..100_000 {
        let gap = Duration::from_millis(rng.gen_range(1_000..4_000));
        if Instant::now() + gap >= end {
            break;
        }
        tokio::time::sleep(gap).await;
        let el = rng.gen_range(0..els.len());
        let fault = match rng.gen_range(0..4) {
            0 => Fault::Kill,
            1 => Fault::BlackHole,
            2 => Fault::Slow(timeout * 2),
            _ => Fault::Http500,
        };
        let hold = Duration::from_millis(rng.gen_range(500..2_500));
        events.push(FaultEvent {
            at_s: started.elapsed().as_secs_f64(),
            el,
            fault: fault.label().to_owned(),
            for_ms: hold.as_millis() as u64,
        });
        fault.apply(&els[el]);
        tokio::time::sleep(hold.min(end.saturating_duration_since(Instant::now()))).await;
        heal(&els[el]);
    }
    for el in &els {
        heal(el);
    }
    events
}

pub async fn run(
    ctx: &mut Ctx,
    proxy: &RunningProxy,
    n: usize,
    length: Duration,
    slot_period: Duration,
    seed: u64,
) -> anyhow::Result<SoakResult> {
    let template = PayloadTemplate::new(SHAPES[1], &mut ctx.rng);
    let els: Vec<MockEl> = (0..n).map(|i| ctx.fleet.el(i).clone()).collect();
    let timeout = ctx.fault_timeout;
    let mut conn = ctx.proxy_endpoint(proxy).connection();
    conn.connect().await?;
    let started = Instant::now();
    let end = started + length;
    let sample_every = (length / 20).max(Duration::from_secs(2));
    let pid = proxy.pid;

    let traffic = async {
        let mut answers = Tally::default();
        let mut latency = Samples::default();
        let mut samples = Vec::new();
        let mut late = 0;
        let mut next_sample = started;
        let mut slots = 0;
        let bound = (length.as_millis() / slot_period.as_millis().max(1)) as usize + 1;
        for s in 0..bound {
            let due = started + slot_period * s as u32;
            if due >= end {
                break;
            }
            tokio::time::sleep_until(due.into()).await;
            let t = Instant::now();
            slot(ctx, &mut conn, &template, &mut answers).await;
            let took = t.elapsed();
            latency.push(took);
            late += usize::from(took > slot_period);
            slots = s + 1;
            if let (Some(pid), true) = (pid, Instant::now() >= next_sample) {
                next_sample += sample_every;
                if let (Ok(mem), Ok(fds), Ok(cpu)) = (
                    procfs::memory(pid),
                    procfs::fd_count(pid),
                    procfs::cpu_seconds(pid),
                ) {
                    samples.push(SoakSample {
                        seconds: started.elapsed().as_secs_f64(),
                        slots,
                        rss_kb: mem.rss_kb,
                        fds,
                        cpu_s: cpu,
                        failed: answers.failed,
                        not_valid: answers.not_valid,
                    });
                }
            }
        }
        (answers, latency, samples, late, slots)
    };
    let faults = fault_driver(els, seed, timeout, end);
    let ((answers, latency, samples, late_slots, slots), faults) = tokio::join!(traffic, faults);
    ctx.fleet.heal_all();
    // Growth from the second sample (the first is taken before anything warmed up).
    let growth = |f: fn(&SoakSample) -> i64| match (samples.get(1), samples.last()) {
        (Some(a), Some(b)) => f(b) - f(a),
        _ => 0,
    };
    Ok(SoakResult {
        seconds: started.elapsed().as_secs_f64(),
        slot_ms: slot_period.as_millis() as u64,
        els: n,
        slots,
        slot_latency: latency.summary(),
        late_slots,
        answers,
        faults,
        rss_growth_kb: growth(|s| s.rss_kb as i64),
        fd_growth: growth(|s| s.fds as i64),
        samples,
    })
}
