//! Slots back to back: per slot, forkchoiceUpdated with attributes, getPayload, newPayload of
//! the block just built, forkchoiceUpdated to it. Memory and open file descriptors of the
//! proxy are read along the way; they must not grow.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::engine::attributes;
use super::{next_id, Ctx};
use crate::client::Conn;
use crate::measure::{Samples, Summary};
use crate::payloads::{PayloadTemplate, SHAPES};
use crate::procfs;
use crate::proxy_process::RunningProxy;
use crate::requests::{self, Tally, Verdict};

/// The proxy's resources at one point of a run.
#[derive(Clone, Debug, Serialize)]
pub struct Sample {
    pub slot: usize,
    pub seconds: f64,
    pub rss_kb: u64,
    pub fds: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct SlotsResult {
    pub slots: usize,
    pub seconds: f64,
    pub slots_per_second: f64,
    /// Whole-slot latency (four calls).
    pub slot_latency: Summary,
    pub answers: Tally,
    pub samples: Vec<Sample>,
    /// RSS at the end minus RSS after the first tenth of the slots.
    pub rss_growth_kb: i64,
    pub fd_growth: i64,
}

/// Runs one slot on `conn`; adds each answer's verdict to `tally`.
pub async fn slot(ctx: &mut Ctx, conn: &mut Conn, template: &PayloadTemplate, tally: &mut Tally) {
    let head = ctx.blocks.head().to_owned();
    let attrs = attributes(&mut ctx.rng, 1_900_000_000 + next_id());
    let payload_id = match conn
        .call(requests::forkchoice_updated(next_id(), &head, Some(&attrs)))
        .await
    {
        Ok(b) => {
            let (v, id) = requests::forkchoice_verdict(&b);
            tally.add(&v);
            id
        }
        Err(e) => {
            tally.add(&Verdict::Failed(format!("fcU: {e:#}")));
            None
        }
    };
    // The block to import: the one built, or (when no build) a fresh one.
    let built = match payload_id {
        Some(id) => match conn.call(requests::get_payload(next_id(), &id)).await {
            Ok(b) => {
                let (v, hash) = requests::get_payload_verdict(&b);
                tally.add(&v);
                hash
            }
            Err(e) => {
                tally.add(&Verdict::Failed(format!("getPayload: {e:#}")));
                None
            }
        },
        None => None,
    };
    let block = match built {
        Some(hash) => ctx.blocks.adopt(hash),
        None => ctx.blocks.next_block(),
    };
    match conn.call(template.request(&block, next_id())).await {
        Ok(b) => tally.add(&requests::new_payload_verdict(&b)),
        Err(e) => tally.add(&Verdict::Failed(format!("newPayload: {e:#}"))),
    }
    match conn
        .call(requests::forkchoice_updated(next_id(), &block.hash, None))
        .await
    {
        Ok(b) => tally.add(&requests::forkchoice_verdict(&b).0),
        Err(e) => tally.add(&Verdict::Failed(format!("fcU: {e:#}"))),
    }
}

pub fn sample(pid: Option<u32>, slot: usize, started: Instant) -> Option<Sample> {
    let pid = pid?;
    Some(Sample {
        slot,
        seconds: started.elapsed().as_secs_f64(),
        rss_kb: procfs::memory(pid).ok()?.rss_kb,
        fds: procfs::fd_count(pid).ok()?,
    })
}

/// Runs `slots` slots as fast as they go (bounded by `time_limit`).
pub async fn back_to_back(
    ctx: &mut Ctx,
    proxy: &RunningProxy,
    slots: usize,
    time_limit: Duration,
) -> anyhow::Result<SlotsResult> {
    // Small blocks, so that ten thousand slots fit in seconds; memory under large payloads is
    // measured by the latency runs.
    let template = PayloadTemplate::new(SHAPES[0], &mut ctx.rng);
    let mut conn = ctx.proxy_endpoint(proxy).connection();
    conn.connect().await?;
    let checkpoints = 10;
    let every = (slots / checkpoints).max(1);
    let started = Instant::now();
    let mut answers = Tally::default();
    let mut latency = Samples::with_capacity(slots);
    let mut samples = Vec::new();
    let mut done = 0;
    for s in 0..slots {
        if started.elapsed() > time_limit {
            tracing::warn!(done, "slot run stopped at its time limit");
            break;
        }
        let t = Instant::now();
        slot(ctx, &mut conn, &template, &mut answers).await;
        latency.push(t.elapsed());
        done = s + 1;
        if done % every == 0 {
            samples.extend(sample(proxy.pid, done, started));
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let growth = |f: fn(&Sample) -> i64| match (samples.first(), samples.last()) {
        (Some(a), Some(b)) => f(b) - f(a),
        _ => 0,
    };
    Ok(SlotsResult {
        slots: done,
        seconds,
        slots_per_second: done as f64 / seconds.max(1e-9),
        slot_latency: latency.summary(),
        answers,
        rss_growth_kb: growth(|s| s.rss_kb as i64),
        fd_growth: growth(|s| s.fds as i64),
        samples,
    })
}
