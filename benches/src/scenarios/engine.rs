//! Added latency of engine_forkchoiceUpdatedV3 (with and without payload attributes) and of
//! engine_getPayloadV4 served through the proxy's payload-id map.
//!
//! Each iteration, direct and proxy take turns: fcU to the head, fcU with attributes (a build
//! starts; the proxy answers with its own payloadId), then getPayload with the id just given.

use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::rngs::SmallRng;
use rand::Rng;

use super::latency::{row, LatencyRow};
use super::{next_id, Ctx};
use crate::client::Conn;
use crate::measure::Samples;
use crate::payloads::random_hex;
use crate::procfs;
use crate::proxy_process::RunningProxy;
use crate::requests::{self, Attributes, Tally, Verdict};

/// Payload attributes for a build on top of block `timestamp`, with 16 withdrawals.
pub fn attributes(rng: &mut SmallRng, timestamp: u64) -> Attributes {
    let withdrawals: Vec<String> = (0..16u64)
        .map(|i| {
            format!(
                "{{\"index\":\"{:#x}\",\"validatorIndex\":\"{:#x}\",\"address\":\"{}\",\"amount\":\"{:#x}\"}}",
                90_000_000 + i,
                rng.gen_range(1_000..1_900_000u64),
                random_hex(rng, 20),
                rng.gen_range(10_000..20_000_000u64)
            )
        })
        .collect();
    Attributes {
        timestamp,
        prev_randao: random_hex(rng, 32),
        fee_recipient: random_hex(rng, 20),
        withdrawals: format!("[{}]", withdrawals.join(",")),
        beacon_root: random_hex(rng, 32),
    }
}

/// The three calls of one iteration, timed.
struct Step {
    fcu: (Duration, Verdict),
    fcu_attrs: (Duration, Verdict),
    get_payload: (Duration, Verdict),
}

async fn timed(conn: &mut Conn, body: Bytes) -> (Duration, anyhow::Result<Bytes>) {
    let started = Instant::now();
    let answer = conn.call(body).await;
    (started.elapsed(), answer)
}

async fn step(conn: &mut Conn, head: &str, attrs: &Attributes) -> Step {
    let (t1, a1) = timed(conn, requests::forkchoice_updated(next_id(), head, None)).await;
    let fcu = match a1 {
        Ok(b) => requests::forkchoice_verdict(&b).0,
        Err(e) => Verdict::Failed(format!("{e:#}")),
    };
    let (t2, a2) = timed(
        conn,
        requests::forkchoice_updated(next_id(), head, Some(attrs)),
    )
    .await;
    let (fcu_attrs, payload_id) = match a2 {
        Ok(b) => match requests::forkchoice_verdict(&b) {
            (Verdict::Ok, None) => (Verdict::Failed("no payloadId".into()), None),
            other => other,
        },
        Err(e) => (Verdict::Failed(format!("{e:#}")), None),
    };
    let get_payload = match payload_id {
        Some(id) => {
            let (t3, a3) = timed(conn, requests::get_payload(next_id(), &id)).await;
            let v = match a3 {
                Ok(b) => requests::get_payload_verdict(&b).0,
                Err(e) => Verdict::Failed(format!("{e:#}")),
            };
            (t3, v)
        }
        None => (
            Duration::ZERO,
            Verdict::Failed("skipped: no payloadId".into()),
        ),
    };
    Step {
        fcu: (t1, fcu),
        fcu_attrs: (t2, fcu_attrs),
        get_payload,
    }
}

/// Measures the three calls with `n` ELs behind the proxy.
pub async fn forkchoice_and_get_payload(
    ctx: &mut Ctx,
    proxy: &RunningProxy,
    n: usize,
    iterations: usize,
    warmup: usize,
) -> anyhow::Result<Vec<LatencyRow>> {
    let mut direct = ctx.direct(0).connection();
    let mut through = ctx.proxy_endpoint(proxy).connection();
    direct.connect().await?;
    through.connect().await?;
    // [call][direct, proxy]
    let mut samples: [[Samples; 2]; 3] = Default::default();
    let mut tallies: [[Tally; 2]; 3] = Default::default();
    let cpu_before = proxy.pid.and_then(|p| procfs::cpu_seconds(p).ok());
    for i in 0..warmup + iterations {
        for k in 0..2 {
            let which = (i + k) % 2;
            let conn = if which == 0 {
                &mut direct
            } else {
                &mut through
            };
            let head = ctx.blocks.head().to_owned();
            let timestamp = 1_800_000_000 + i as u64 * 12;
            let attrs = attributes(&mut ctx.rng, timestamp);
            let s = step(conn, &head, &attrs).await;
            for (call, (took, verdict)) in
                [s.fcu, s.fcu_attrs, s.get_payload].into_iter().enumerate()
            {
                tallies[call][which].add(&verdict);
                if i >= warmup && verdict == Verdict::Ok {
                    samples[call][which].push(took);
                }
            }
        }
    }
    let cpu_after = proxy.pid.and_then(|p| procfs::cpu_seconds(p).ok());
    let cpu_per_step = cpu_before
        .zip(cpu_after)
        .map(|(a, b)| (b - a) * 1e6 / (warmup + iterations) as f64);
    let names = [
        "forkchoiceUpdatedV3",
        "forkchoiceUpdatedV3 + attributes",
        "getPayloadV4 (payload-id map)",
    ];
    let rows = names
        .iter()
        .enumerate()
        .map(|(call, name)| {
            let [d, p] = &samples[call];
            let [td, tp] = &tallies[call];
            row(
                name,
                None,
                0,
                n,
                d,
                p,
                None,
                // CPU is only attributable to the three calls together: shown on the first.
                if call == 0 { cpu_per_step } else { None },
                tp.clone(),
                td.clone(),
            )
        })
        .collect();
    Ok(rows)
}
