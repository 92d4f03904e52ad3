//! Slots under a fault at the proxy's default node timeout (7.5 s): what a staker's validator
//! sees when one EL of three goes wrong and stays wrong.
//!
//! Each slot is what a proposing CL sends: forkchoiceUpdated with attributes, getPayload,
//! newPayload of the block, forkchoiceUpdated to it; alongside, one `eth_` read on its own
//! connection (a CL's reads do not wait for its engine calls). A slot starts every
//! [`SLOT_PACE`] or as soon as the previous one ended. After [`WARM_SLOTS`] the fault is put on
//! EL 0 and kept for the rest of the run. The figure is the slot's latency (the four engine
//! calls): p50, p99, and how many slots took longer than [`ATTESTATION`], the point after which
//! a block arrives too late to be attested.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::{next_id, slots, Ctx};
use crate::els::Fault;
use crate::measure::{Samples, Summary};
use crate::payloads::{PayloadTemplate, SHAPES};
use crate::proxy_process::RunningProxy;
use crate::requests::{self, Tally, Verdict};

/// Slots before the fault.
pub const WARM_SLOTS: usize = 3;
/// A slot starts at most this often.
pub const SLOT_PACE: Duration = Duration::from_millis(1000);
/// A slot slower than this misses the attestation deadline of a real slot.
pub const ATTESTATION: Duration = Duration::from_secs(4);

#[derive(Clone, Debug, Serialize)]
pub struct FaultSlotsRow {
    pub fault: String,
    pub els: usize,
    /// Slots run while the fault held.
    pub slots: usize,
    /// Latency of those slots.
    pub slot_latency: Summary,
    /// Of those slots, how many took longer than [`ATTESTATION`].
    pub past_4s: usize,
    /// Engine answers of those slots (VALID expected throughout).
    pub answers: Tally,
    /// The reads sent alongside: answered / failed.
    pub reads_ok: usize,
    pub reads_failed: usize,
}

/// Runs `faulty_slots` slots with `fault` on EL 0 of a running proxy over `n` ELs.
pub async fn run(
    ctx: &mut Ctx,
    proxy: &RunningProxy,
    n: usize,
    fault: Fault,
    faulty_slots: usize,
) -> anyhow::Result<FaultSlotsRow> {
    let template = PayloadTemplate::new(SHAPES[1], &mut ctx.rng);
    let mut engine = ctx.proxy_endpoint(proxy).connection();
    engine.connect().await?;
    let reads = ctx.proxy_endpoint(proxy);
    let mut latency = Samples::with_capacity(faulty_slots);
    let mut answers = Tally::default();
    let (mut past_4s, mut reads_ok, mut reads_failed) = (0, 0, 0);
    let mut warm = Tally::default();
    let mut read_tasks = Vec::new();
    for s in 0..WARM_SLOTS + faulty_slots {
        let faulty = s >= WARM_SLOTS;
        if s == WARM_SLOTS {
            ctx.fleet.inject(0, fault);
        }
        let started = Instant::now();
        let mut conn = reads.connection();
        read_tasks.push(tokio::spawn(async move {
            conn.connect().await?;
            let body = conn.call(requests::latest_block(next_id())).await?;
            anyhow::Ok(requests::read_verdict(&body))
        }));
        let tally = if faulty { &mut answers } else { &mut warm };
        slots::slot(ctx, &mut engine, &template, tally).await;
        let took = started.elapsed();
        if faulty {
            latency.push(took);
            past_4s += usize::from(took > ATTESTATION);
        }
        tokio::time::sleep_until((started + SLOT_PACE).into()).await;
    }
    for task in read_tasks {
        match task.await {
            Ok(Ok(Verdict::Ok)) => reads_ok += 1,
            _ => reads_failed += 1,
        }
    }
    ctx.fleet.heal_all();
    if !warm.all_ok() {
        anyhow::bail!("slots before the fault were not all VALID: {warm:?}");
    }
    Ok(FaultSlotsRow {
        fault: fault.label().to_owned(),
        els: n,
        slots: latency.len(),
        slot_latency: latency.summary(),
        past_4s,
        answers,
        reads_ok,
        reads_failed,
    })
}
