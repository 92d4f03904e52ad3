//! Added latency of engine_newPayloadV4, per payload size and number of ELs.
//!
//! Requests are sequential, as a CL sends them. Three ways of sending take turns request by
//! request, so that a noisy neighbour slows all three alike:
//! * **direct**: to EL 0 alone (the baseline the issue asks for);
//! * **ideal fan-out**: the harness itself sends the same bytes to all `n` ELs at once and waits
//!   for the last answer (what a zero-cost multiplexer would take, mock contention included);
//! * **proxy**: through the proxy under test;
//! * **relay floor** (when the `relay_floor` binary is built): through a relay that only moves
//!   bytes, store and forward, checking nothing. Its own share (relay − ideal fan-out) is what
//!   the extra loopback hop and copies cost on this machine: no multiplexer can go below it.

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::future::join_all;
use serde::Serialize;

use super::{next_id, Ctx};
use crate::client::Conn;
use crate::measure::{Added, Samples, Spread, Summary, ROUNDS};
use crate::payloads::{PayloadTemplate, Shape};
use crate::procfs;
use crate::proxy_process::RunningProxy;
use crate::requests::{self, Tally, Verdict};

/// One line of the latency table.
#[derive(Clone, Debug, Serialize)]
pub struct LatencyRow {
    pub call: String,
    /// The payload size class, if the call carries one.
    pub payload: Option<String>,
    pub request_bytes: usize,
    pub els: usize,
    pub direct: Summary,
    pub proxy: Summary,
    /// The harness fanning out by itself (every newPayload row).
    pub ideal_fanout: Option<Summary>,
    /// Proxy against direct.
    pub added: Added,
    /// Proxy against the ideal fan-out: the proxy's own share.
    pub added_vs_fanout: Option<Added>,
    /// The machine's noise on the own share: its p50 in each of [`ROUNDS`] consecutive rounds,
    /// smallest and largest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub own_share_rounds: Option<Spread>,
    /// The byte-moving relay (`relay_floor --mode store`), when it ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relay_floor: Option<Summary>,
    /// The relay against the ideal fan-out: the floor under any proxy's own share.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub floor_vs_fanout: Option<Added>,
    /// The same over rounds, smallest and largest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub floor_rounds: Option<Spread>,
    /// The proxy's user+system CPU time per call through it, when its process is known.
    pub proxy_cpu_us_per_call: Option<f64>,
    /// The kernel's share of that CPU time (socket copies, page faults), from 10 ms ticks.
    pub proxy_cpu_system_share: Option<f64>,
    /// The proxy's minor page faults per call (exact; what allocator settings change).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy_faults_per_call: Option<f64>,
    /// Verdicts of the calls through the proxy.
    pub proxy_answers: Tally,
    /// Verdicts of the direct and ideal fan-out calls.
    pub baseline_answers: Tally,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Direct,
    Fanout,
    Proxy,
    Floor,
}

/// The connections of one measurement.
struct Conns {
    pub direct: Conn,
    pub fanout: Vec<Conn>,
    pub proxy: Conn,
    pub floor: Option<Conn>,
}

impl Conns {
    pub async fn open(
        ctx: &Ctx,
        proxy: &RunningProxy,
        floor: Option<&RunningProxy>,
        n: usize,
    ) -> anyhow::Result<Self> {
        let mut conns = Self {
            direct: ctx.direct(0).connection(),
            fanout: (0..n).map(|i| ctx.direct(i).connection()).collect(),
            proxy: ctx.proxy_endpoint(proxy).connection(),
            floor: floor.map(|f| ctx.proxy_endpoint(f).connection()),
        };
        conns.direct.connect().await?;
        conns.proxy.connect().await?;
        if let Some(f) = &mut conns.floor {
            f.connect().await?;
        }
        for c in &mut conns.fanout {
            c.connect().await?;
        }
        Ok(conns)
    }
}

/// Sends `body` one way; the time it took and the answer (the first failure for a fan-out).
async fn send(conns: &mut Conns, mode: Mode, body: Bytes) -> (Duration, anyhow::Result<Bytes>) {
    let started = Instant::now();
    let result = match mode {
        Mode::Direct => conns.direct.call(body).await,
        Mode::Proxy => conns.proxy.call(body).await,
        Mode::Floor => match &mut conns.floor {
            Some(floor) => floor.call(body).await,
            None => Err(anyhow::anyhow!("no relay floor")),
        },
        Mode::Fanout => {
            let answers = join_all(conns.fanout.iter_mut().map(|c| c.call(body.clone()))).await;
            let mut last = Err(anyhow::anyhow!("no EL"));
            for a in answers {
                match a {
                    Ok(body) if requests::new_payload_verdict(&body) == Verdict::Ok => {
                        last = Ok(body)
                    }
                    other => return (started.elapsed(), other),
                }
            }
            last
        }
    };
    (started.elapsed(), result)
}

/// Measures newPayload of one size class with `n` ELs behind the proxy (and the relay floor,
/// when given).
pub async fn new_payload(
    ctx: &mut Ctx,
    proxy: &RunningProxy,
    floor: Option<&RunningProxy>,
    n: usize,
    shape: Shape,
    iterations: usize,
    warmup: usize,
) -> anyhow::Result<LatencyRow> {
    let template = PayloadTemplate::new(shape, &mut ctx.rng);
    let mut conns = Conns::open(ctx, proxy, floor, n).await?;
    // The ideal fan-out runs with one EL too (then it is the same request on a second
    // connection to EL 0): every row gets the proxy's own share, proxy − ideal.
    let modes: &[Mode] = if conns.floor.is_some() {
        &[Mode::Direct, Mode::Fanout, Mode::Proxy, Mode::Floor]
    } else {
        &[Mode::Direct, Mode::Fanout, Mode::Proxy]
    };
    let mut samples: [Samples; 4] = std::array::from_fn(|_| Samples::with_capacity(iterations));
    let (mut proxy_answers, mut baseline_answers) = (Tally::default(), Tally::default());
    let cpu_before = proxy.pid.and_then(|p| procfs::cpu_seconds(p).ok());
    let split_before = proxy.pid.and_then(|p| procfs::user_system_seconds(p).ok());
    let faults_before = proxy.pid.and_then(|p| procfs::minor_faults(p).ok());
    for i in 0..warmup + iterations {
        for k in 0..modes.len() {
            let mode = modes[(i + k) % modes.len()];
            let block = ctx.blocks.next_block();
            let body = template.request(&block, next_id());
            let (took, answer) = send(&mut conns, mode, body).await;
            let verdict = match answer {
                Ok(body) => requests::new_payload_verdict(&body),
                Err(e) => Verdict::Failed(format!("{e:#}")),
            };
            if mode == Mode::Proxy {
                proxy_answers.add(&verdict);
            } else {
                baseline_answers.add(&verdict);
            }
            if i >= warmup {
                samples[mode as usize].push(took);
            }
        }
    }
    let cpu_after = proxy.pid.and_then(|p| procfs::cpu_seconds(p).ok());
    let split_after = proxy.pid.and_then(|p| procfs::user_system_seconds(p).ok());
    let faults_after = proxy.pid.and_then(|p| procfs::minor_faults(p).ok());
    let calls = (warmup + iterations) as f64;
    let [direct, fanout, through, relayed] = samples;
    let mut line = row(
        "newPayloadV4",
        Some(shape.label),
        template.request_bytes(),
        n,
        &direct,
        &through,
        Some(&fanout),
        cpu_before
            .zip(cpu_after)
            .map(|(a, b)| (b - a) * 1e6 / calls),
        proxy_answers,
        baseline_answers,
    );
    line.proxy_faults_per_call = faults_before
        .zip(faults_after)
        .map(|(a, b)| b.saturating_sub(a) as f64 / calls);
    line.own_share_rounds = Spread::of_difference(&through, &fanout, ROUNDS);
    if conns.floor.is_some() {
        line.floor_rounds = Spread::of_difference(&relayed, &fanout, ROUNDS);
        let relayed = relayed.summary();
        line.floor_vs_fanout = line.ideal_fanout.as_ref().map(|f| Added::of(&relayed, f));
        line.relay_floor = Some(relayed);
    }
    line.proxy_cpu_system_share = split_before.zip(split_after).and_then(|(a, b)| {
        let (user, system) = (b.0 - a.0, b.1 - a.1);
        (user + system > 0.0).then(|| system / (user + system))
    });
    Ok(line)
}

/// Assembles a table line from the samples.
#[allow(clippy::too_many_arguments)]
pub(crate) fn row(
    call: &str,
    payload: Option<&str>,
    request_bytes: usize,
    els: usize,
    direct: &Samples,
    proxy: &Samples,
    fanout: Option<&Samples>,
    proxy_cpu_us_per_call: Option<f64>,
    proxy_answers: Tally,
    baseline_answers: Tally,
) -> LatencyRow {
    let direct = direct.summary();
    let proxy = proxy.summary();
    let ideal_fanout = fanout.map(Samples::summary);
    LatencyRow {
        call: call.to_owned(),
        payload: payload.map(str::to_owned),
        request_bytes,
        els,
        added: Added::of(&proxy, &direct),
        added_vs_fanout: ideal_fanout.as_ref().map(|f| Added::of(&proxy, f)),
        direct,
        proxy,
        ideal_fanout,
        relay_floor: None,
        floor_vs_fanout: None,
        own_share_rounds: None,
        floor_rounds: None,
        proxy_cpu_us_per_call,
        proxy_cpu_system_share: None,
        proxy_faults_per_call: None,
        proxy_answers,
        baseline_answers,
    }
}
