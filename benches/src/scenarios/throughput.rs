//! eth_ passthrough throughput: `c` workers, each on its own keep-alive connection, send
//! `eth_getBlockByNumber("latest", false)` back to back. Direct (EL 0) and proxy alternate in
//! chunks so that both see the same machine.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::{next_id, Ctx};
use crate::client::{Conn, Endpoint};
use crate::measure::{Samples, Summary};
use crate::procfs;
use crate::proxy_process::RunningProxy;
use crate::requests::{self, Tally};

/// Most requests one worker sends in one chunk (a bound; chunks end on time first).
const MAX_PER_CHUNK: usize = 1_000_000;

#[derive(Clone, Debug, Serialize)]
pub struct ThroughputRow {
    pub concurrency: usize,
    pub direct_rps: f64,
    pub proxy_rps: f64,
    /// proxy_rps / direct_rps.
    pub ratio: f64,
    pub direct: Summary,
    pub proxy: Summary,
    /// The proxy's CPU time per request through it, when its process is known.
    pub proxy_cpu_us_per_request: Option<f64>,
    pub proxy_answers: Tally,
    pub direct_answers: Tally,
}

/// What a set of workers did in one chunk.
#[derive(Default)]
struct Chunk {
    samples: Samples,
    tally: Tally,
    busy: Duration,
}

/// Runs `conns.len()` workers for `length`; gives the connections back.
async fn chunk(conns: Vec<Conn>, length: Duration) -> anyhow::Result<(Vec<Conn>, Chunk)> {
    let started = Instant::now();
    let deadline = started + length;
    let workers: Vec<_> = conns
        .into_iter()
        .map(|mut conn| {
            tokio::spawn(async move {
                let mut samples = Samples::with_capacity(1024);
                let mut tally = Tally::default();
                for _ in 0..MAX_PER_CHUNK {
                    if Instant::now() >= deadline {
                        break;
                    }
                    let t = Instant::now();
                    let verdict = match conn.call(requests::latest_block(next_id())).await {
                        Ok(body) => requests::read_verdict(&body),
                        Err(e) => requests::Verdict::Failed(format!("{e:#}")),
                    };
                    samples.push(t.elapsed());
                    tally.add(&verdict);
                }
                (conn, samples, tally)
            })
        })
        .collect();
    let mut out = Chunk::default();
    let mut conns = Vec::with_capacity(workers.len());
    for w in workers {
        let (conn, samples, tally) = w.await?;
        conns.push(conn);
        out.samples.extend(samples);
        out.tally.merge(&tally);
    }
    out.busy = started.elapsed();
    Ok((conns, out))
}

async fn open(endpoint: &Endpoint, c: usize) -> anyhow::Result<Vec<Conn>> {
    let mut conns = Vec::with_capacity(c);
    for _ in 0..c {
        let mut conn = endpoint.connection();
        conn.connect().await?;
        // One request each, so the proxy's upstream pool is warm too.
        conn.call(requests::latest_block(next_id())).await?;
        conns.push(conn);
    }
    Ok(conns)
}

pub async fn reads(
    ctx: &Ctx,
    proxy: &RunningProxy,
    concurrency: usize,
    chunk_length: Duration,
    rounds: usize,
) -> anyhow::Result<ThroughputRow> {
    let mut direct_conns = open(&ctx.direct(0), concurrency).await?;
    let mut proxy_conns = open(&ctx.proxy_endpoint(proxy), concurrency).await?;
    let (mut direct, mut through) = (Chunk::default(), Chunk::default());
    // Only the proxy's chunks make it work (its health probes aside).
    let cpu_before = proxy.pid.and_then(|p| procfs::cpu_seconds(p).ok());
    for round in 0..rounds {
        // Alternate which goes first, so neither always follows the other.
        for k in 0..2 {
            let to_proxy = (round + k) % 2 == 1;
            let conns = std::mem::take(if to_proxy {
                &mut proxy_conns
            } else {
                &mut direct_conns
            });
            let (back, c) = chunk(conns, chunk_length).await?;
            let into = if to_proxy { &mut through } else { &mut direct };
            into.samples.extend(c.samples);
            into.tally.merge(&c.tally);
            into.busy += c.busy;
            if to_proxy {
                proxy_conns = back;
            } else {
                direct_conns = back;
            }
        }
    }
    let cpu_after = proxy.pid.and_then(|p| procfs::cpu_seconds(p).ok());
    let rps = |c: &Chunk| c.samples.len() as f64 / c.busy.as_secs_f64().max(1e-9);
    let (direct_rps, proxy_rps) = (rps(&direct), rps(&through));
    Ok(ThroughputRow {
        concurrency,
        direct_rps,
        proxy_rps,
        ratio: proxy_rps / direct_rps.max(1e-9),
        direct: direct.samples.summary(),
        proxy: through.samples.summary(),
        proxy_cpu_us_per_request: cpu_before
            .zip(cpu_after)
            .map(|(a, b)| (b - a) * 1e6 / through.samples.len().max(1) as f64),
        proxy_answers: through.tally,
        direct_answers: direct.tally,
    })
}
