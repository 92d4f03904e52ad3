//! The explorer: random fault schedules from seeds, invariants checked after every step.
//!
//! ```text
//! cargo run -p sim --release -- --seeds 200            # seeds 0..200, 30 slots each
//! cargo run -p sim --release -- --seed 17              # replay one seed
//! cargo run -p sim --release -- --seeds 50 --wrong-vote  # show a broken vote being caught
//! cargo run -p sim -- --seeds 20 --slots 30 --twice   # CI: each seed twice, logs must match
//! ```
//!
//! Prints one line per seed with its trace hash, the failing seed's last events and a replay
//! command, and a summary with the throughput. Exit code 1 when an invariant broke.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Parser;
use sim::{run, wrong_vote, Scenario};

#[derive(Parser, Debug)]
#[command(
    name = "sim",
    about = "Explores random fault schedules against executionbackup under turmoil"
)]
struct Args {
    /// How many seeds to explore, from --first on.
    #[arg(long, default_value_t = 100)]
    seeds: u64,
    /// Run this one seed only (replay).
    #[arg(long)]
    seed: Option<u64>,
    /// The first seed explored.
    #[arg(long, default_value_t = 0)]
    first: u64,
    /// Slots (12 s of simulated time each) per seed.
    #[arg(long, default_value_t = 30)]
    slots: u32,
    /// Plug in a deliberately wrong vote (it follows a VALID majority over an INVALID answer).
    #[arg(long)]
    wrong_vote: bool,
    /// Run the health model from before per-path health (test-only), to watch the invariants
    /// catch it.
    #[arg(long)]
    legacy_health: bool,
    /// Seeds run at once (default: one per CPU).
    #[arg(long)]
    jobs: Option<usize>,
    /// Keep exploring after a failure.
    #[arg(long)]
    keep_going: bool,
    /// Print every seed's whole event log.
    #[arg(long)]
    log: bool,
    /// Run every seed twice and fail if the two event logs differ (invariant 6).
    #[arg(long)]
    twice: bool,
}

/// One seed's result, as printed.
struct Report {
    seed: u64,
    ok: bool,
    text: String,
    simulated: Duration,
}

fn main() -> anyhow::Result<ExitCode> {
    let args = Args::parse();
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .init();
    }
    let (first, count) = match args.seed {
        Some(seed) => (seed, 1),
        None => (args.first, args.seeds),
    };
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .clamp(1, count.max(1) as usize);

    let started = Instant::now();
    let next = AtomicU64::new(first);
    let stop = AtomicBool::new(false);
    let end = first.saturating_add(count);
    let (tx, rx) = mpsc::channel::<Report>();
    let mut explored = 0u64;
    let mut failed = Vec::new();
    let mut simulated = Duration::ZERO;
    std::thread::scope(|scope| -> anyhow::Result<()> {
        for _ in 0..jobs {
            let tx = tx.clone();
            let (next, stop, args) = (&next, &stop, &args);
            std::thread::Builder::new()
                .name("explorer".into())
                .spawn_scoped(scope, move || loop {
                    let seed = next.fetch_add(1, Ordering::Relaxed);
                    if seed >= end || stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let report = explore(seed, args);
                    if !report.ok && !args.keep_going {
                        stop.store(true, Ordering::Relaxed);
                    }
                    if tx.send(report).is_err() {
                        break;
                    }
                })
                .context("starting an explorer thread")?;
        }
        drop(tx);
        // Print in seed order, whatever order the threads finish in.
        let mut waiting = BTreeMap::new();
        let mut expected = first;
        let mut out = std::io::stdout().lock();
        for report in rx {
            waiting.insert(report.seed, report);
            while let Some(report) = waiting.remove(&expected) {
                explored += 1;
                simulated += report.simulated;
                if !report.ok {
                    failed.push(report.seed);
                }
                writeln!(out, "{}", report.text)?;
                expected += 1;
            }
        }
        // Seeds after a gap (threads stopped early) are still reported.
        for report in waiting.into_values() {
            explored += 1;
            simulated += report.simulated;
            if !report.ok {
                failed.push(report.seed);
            }
            writeln!(out, "{}", report.text)?;
        }
        Ok(())
    })?;

    let real = started.elapsed();
    let per_minute = explored as f64 / real.as_secs_f64().max(1e-9) * 60.0;
    println!(
        "explored {explored} seed(s) × {} slots in {:.1} s on {jobs} thread(s): {per_minute:.1} seeds/minute, {:.0} s simulated ({:.0}× real time); {} failed",
        args.slots,
        real.as_secs_f64(),
        simulated.as_secs_f64(),
        simulated.as_secs_f64() / real.as_secs_f64().max(1e-9),
        failed.len()
    );
    if failed.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "failed seed(s): {}",
        failed
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    );
    Ok(ExitCode::FAILURE)
}

fn explore(seed: u64, args: &Args) -> Report {
    let mut scenario = Scenario::random(seed, args.slots);
    if args.wrong_vote {
        scenario.config.vote = wrong_vote::plain_majority;
    }
    if args.legacy_health {
        scenario.config.health_model = executionbackup::config::HealthModel::Legacy;
    }
    let outcome = run(&scenario);
    let mut violation = outcome.violation.as_ref().map(ToString::to_string);
    if args.twice && violation.is_none() {
        let again = run(&scenario);
        if again.lines != outcome.lines {
            let at = outcome
                .lines
                .iter()
                .zip(&again.lines)
                .position(|(a, b)| a != b)
                .unwrap_or(outcome.lines.len().min(again.lines.len()));
            let line = |lines: &[String]| lines.get(at).cloned().unwrap_or_default();
            violation = Some(format!(
                "invariant 6 (same seed, same trace): hash {} then {}; first difference, event {at}:\n    {}\n    {}",
                outcome.hash,
                again.hash,
                line(&outcome.lines),
                line(&again.lines)
            ));
        }
    }
    let mut text = format!(
        "seed {seed}: {} hash={} exchanges={} faults={} simulated={}s real={}ms",
        if violation.is_some() { "FAIL" } else { "ok" },
        outcome.hash,
        outcome.exchanges.len(),
        scenario.schedule.len(),
        outcome.simulated.as_secs(),
        outcome.real.as_millis()
    );
    if args.log {
        for line in &outcome.lines {
            text.push_str("\n    ");
            text.push_str(line);
        }
    }
    if let Some(v) = &violation {
        text.push_str(&format!("\n  {v}"));
        if !args.log {
            text.push_str("\n  last events:");
            let tail = outcome.lines.len().saturating_sub(25);
            for line in &outcome.lines[tail..] {
                text.push_str("\n    ");
                text.push_str(line);
            }
        }
        text.push_str(&format!(
            "\n  replay: cargo run -p sim --release -- --seed {seed} --slots {}{}{}{}",
            args.slots,
            if args.wrong_vote { " --wrong-vote" } else { "" },
            if args.legacy_health {
                " --legacy-health"
            } else {
                ""
            },
            if args.twice { " --twice" } else { "" }
        ));
    }
    Report {
        seed,
        ok: violation.is_none(),
        text,
        simulated: outcome.simulated,
    }
}
