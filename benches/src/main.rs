//! `bench`: how much latency and risk an Engine API multiplexer adds, measured against a direct
//! connection to the same mock execution client in the same run.
//!
//! ```text
//! cargo run -p bench --release -- [--proxy-cmd CMD | --proxy-url URL] [--smoke]
//!                                 [--out FILE.json] [--markdown FILE.md] [--soak-secs N]
//! ```
//!
//! Modules: [`payloads`] and [`requests`] build what a CL sends, [`client`] sends it, [`els`]
//! runs the mock ELs, [`proxy_process`] the proxy under test, [`scenarios`] measure,
//! [`procfs`] reads memory and CPU, [`report`] writes the tables and the JSON.

mod chart;
mod client;
mod els;
mod measure;
mod payloads;
mod procfs;
mod proxy_process;
mod report;
mod requests;
mod scenarios;
mod smoke;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use clap::Parser;
use eb_transport::JwtSecret;
use rand::RngCore;

use crate::els::{Fault, Fleet};
use crate::payloads::SHAPES;
use crate::proxy_process::Target;
use crate::report::{MemoryReport, Report};
use crate::scenarios::{
    engine, failover, fault_slots, latency, slots, soak, throughput, Ctx, Plan,
};

/// Measures an Engine API multiplexer against direct connections to mock execution clients.
///
/// The proxy is started once per node set with `--nodes URL,… --jwt-secret FILE --port P`
/// (plus --proxy-arg values), so any multiplexer with that command line can be compared.
#[derive(Debug, Parser)]
#[command(name = "bench")]
struct Args {
    /// Command that starts the proxy (program and leading arguments, split on spaces).
    /// Default: this workspace's release executionbackup, built first.
    #[arg(long, conflicts_with = "proxy_url")]
    proxy_cmd: Option<String>,
    /// Measure an already running proxy at http://127.0.0.1:PORT instead. It must be started
    /// on the harness's ELs: --nodes http://127.0.0.1:EL_BASE_PORT,… (--url-nodes of them) with
    /// the --jwt-secret file given here.
    #[arg(long)]
    proxy_url: Option<String>,
    /// With --proxy-url: its process id, for memory and CPU readings.
    #[arg(long, requires = "proxy_url")]
    proxy_pid: Option<u32>,
    /// With --proxy-url: how many ELs it was given.
    #[arg(long, default_value_t = 3)]
    url_nodes: usize,
    /// With --proxy-url: the first EL's port (the others follow).
    #[arg(long, default_value_t = 28551)]
    el_base_port: u16,
    /// An extra argument for the proxy command (repeat for several).
    #[arg(long = "proxy-arg", allow_hyphen_values = true)]
    proxy_args: Vec<String>,
    /// Appended to every node URL in the failover and soak runs. Default for executionbackup:
    /// "#timeout=<--fault-timeout-ms>"; none for other proxies.
    #[arg(long, allow_hyphen_values = true)]
    fault_node_suffix: Option<String>,
    /// Per-node timeout the failover and soak runs give the proxy; a slow EL is made twice
    /// this slow.
    #[arg(long, default_value_t = 200)]
    fault_timeout_ms: u64,
    /// The JWT secret file to use (default: a fresh one in the work directory).
    #[arg(long)]
    jwt_secret: Option<PathBuf>,
    /// A few iterations of everything, with every answer checked; exits non-zero when a
    /// request failed or a number is not sane.
    #[arg(long)]
    smoke: bool,
    /// Also run a soak of this many seconds (slot-paced traffic with random EL faults).
    #[arg(long)]
    soak_secs: Option<u64>,
    /// Compressed slot length for the soak, in milliseconds.
    #[arg(long, default_value_t = 100)]
    soak_slot_ms: u64,
    /// The JSON report.
    #[arg(long, default_value = "target/bench/bench.json")]
    out: PathBuf,
    /// The markdown tables.
    #[arg(long, default_value = "target/bench/bench.md")]
    markdown: PathBuf,
    /// The latency chart (newPayload latency against request size), SVG.
    #[arg(long, default_value = "target/bench/latency.svg")]
    svg: PathBuf,
    /// Seed for payloads and soak faults.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Do not run `cargo build --release -p executionbackup` before using the default proxy.
    #[arg(long)]
    no_build: bool,
    /// Run only these parts (comma-separated; default all).
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<Section>,
    /// Numbers of ELs behind the proxy for the latency runs (default 1,3,5; smoke 1,3).
    #[arg(long, value_delimiter = ',')]
    fanouts: Vec<usize>,
    /// newPayload size classes to run (comma-separated labels without spaces, e.g. 128KB,4MB).
    #[arg(long, value_delimiter = ',')]
    sizes: Vec<String>,
}

/// The parts of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Section {
    /// newPayload latency per size.
    NewPayload,
    /// forkchoiceUpdated and getPayload latency.
    Engine,
    /// eth_ passthrough throughput.
    Throughput,
    /// Thousands of slots back to back (memory growth).
    Slots,
    /// Failover cost of a killed, black-holed and slow EL.
    Failover,
    /// Proposal slots with one EL faulty, at the default node timeout (7.5 s).
    FaultSlots,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("bench=info,warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .thread_name("bench-client")
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bench: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs everything; `Ok(false)` when the smoke checks failed.
async fn run(args: Args) -> anyhow::Result<bool> {
    let mut machine = procfs::Machine::probe();
    let plan = if args.smoke {
        Plan::smoke()
    } else {
        Plan::full()
    };
    let workdir = std::env::temp_dir().join(format!("eb-bench-{}", std::process::id()));
    std::fs::create_dir_all(&workdir).with_context(|| format!("creating {}", workdir.display()))?;
    let _cleanup = RemoveOnDrop(workdir.clone());

    let (secret, secret_path) = match &args.jwt_secret {
        Some(path) => (JwtSecret::from_file(path)?, path.clone()),
        None => {
            let mut bytes = [0u8; 32];
            rand::thread_rng().fill_bytes(&mut bytes);
            let secret = JwtSecret::from_bytes(bytes);
            let path = workdir.join("jwt.hex");
            std::fs::write(&path, secret.to_hex())?;
            (secret, path)
        }
    };
    let target = match (&args.proxy_url, &args.proxy_cmd) {
        (Some(url), _) => Target::url(url, args.proxy_pid)?,
        (None, Some(cmd)) => Target::command(cmd, &args.proxy_args)?,
        (None, None) => {
            let binary = proxy_process::our_binary(args.no_build)?;
            Target::command(&binary.display().to_string(), &args.proxy_args)?
        }
    };
    // Measured time starts after the build.
    let started = Instant::now();
    let url_mode = matches!(target, Target::Url { .. });
    let fanouts: Vec<usize> = if url_mode {
        vec![args.url_nodes]
    } else if !args.fanouts.is_empty() {
        args.fanouts.clone()
    } else {
        plan.fanouts.clone()
    };
    anyhow::ensure!(
        fanouts.iter().all(|&n| (1..=16).contains(&n)),
        "--fanouts: 1 to 16 ELs"
    );
    let wanted = |s: Section| args.only.is_empty() || args.only.contains(&s);
    let size_wanted = |label: &str| {
        args.sizes.is_empty()
            || args
                .sizes
                .iter()
                .any(|s| s.eq_ignore_ascii_case(&label.replace(' ', "")))
    };
    let fleet_size = fanouts.iter().copied().max().unwrap_or(3).max(3);
    let fleet = Fleet::start(
        fleet_size,
        &secret,
        url_mode.then_some(args.el_base_port),
        args.seed,
    )
    .await?;
    if url_mode {
        let urls: Vec<String> = (0..args.url_nodes).map(|i| fleet.url(i)).collect();
        tracing::info!(nodes = %urls.join(","), secret = %secret_path.display(), "mock ELs for the running proxy");
    }
    let fault_timeout = Duration::from_millis(args.fault_timeout_ms);
    let suffix = args.fault_node_suffix.clone().unwrap_or_else(|| {
        if target.is_ours() {
            format!("#timeout={}", args.fault_timeout_ms)
        } else {
            String::new()
        }
    });
    tracing::info!(target = %target.describe(), smoke = args.smoke, "measuring");
    let mut report = Report {
        mode: if args.smoke { "smoke" } else { "full" }.into(),
        target: target.describe(),
        proxy_commit: target.is_ours().then(proxy_commit).flatten(),
        date_utc: report::utc(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        ),
        machine: machine.clone(),
        seconds: 0.0,
        latency: Vec::new(),
        throughput: Vec::new(),
        failover: Vec::new(),
        fault_slots: Vec::new(),
        memory: None,
        slots: None,
        soak: None,
        targets: Vec::new(),
    };
    let mut ctx = Ctx::new(
        fleet,
        secret,
        secret_path,
        workdir.clone(),
        target,
        args.seed,
        fault_timeout,
    );

    // Memory is followed on the 3-EL proxy (or the only one, for a URL target).
    let memory_fanout = if fanouts.contains(&3) { 3 } else { fanouts[0] };
    let per_fanout = [
        Section::NewPayload,
        Section::Engine,
        Section::Throughput,
        Section::Slots,
    ]
    .into_iter()
    .any(wanted);
    for &n in fanouts.iter().filter(|_| per_fanout) {
        let proxy = ctx.start_proxy(n, "", &format!("latency-{n}els")).await?;
        let watch_memory = n == memory_fanout;
        let mut memory = MemoryReport {
            els: n,
            ..MemoryReport::default()
        };
        if let (true, Some(pid)) = (watch_memory, proxy.pid) {
            tokio::time::sleep(Duration::from_millis(500)).await;
            memory.idle = procfs::memory(pid)?;
        }
        let floor = if wanted(Section::NewPayload) && !args.smoke {
            ctx.start_floor(n).await?
        } else {
            None
        };
        for (shape, &iterations) in SHAPES.iter().zip(&plan.iterations) {
            if !wanted(Section::NewPayload) || !size_wanted(shape.label) {
                continue;
            }
            let peak_slot = match shape.label {
                "1 MB" => Some(&mut memory.load_1mb_peak_kb),
                "4 MB" => Some(&mut memory.load_4mb_peak_kb),
                _ => None,
            };
            let watch = proxy.pid.filter(|_| watch_memory && peak_slot.is_some());
            if let Some(pid) = watch {
                memory.peak_resets = procfs::reset_peak(pid);
            }
            tracing::info!(
                els = n,
                size = shape.label,
                iterations,
                "newPayload latency"
            );
            let row = latency::new_payload(
                &mut ctx,
                &proxy,
                floor.as_ref(),
                n,
                *shape,
                iterations,
                plan.warmup,
            )
            .await?;
            report.latency.push(row);
            if let (Some(pid), Some(slot)) = (watch, peak_slot) {
                *slot = Some(procfs::memory(pid)?.peak_kb);
            }
        }
        if wanted(Section::Engine) {
            tracing::info!(els = n, "forkchoiceUpdated / getPayload latency");
            let rows = engine::forkchoice_and_get_payload(
                &mut ctx,
                &proxy,
                n,
                plan.engine_iterations,
                plan.warmup,
            )
            .await?;
            report.latency.extend(rows);
        }
        if watch_memory {
            for &c in plan
                .concurrencies
                .iter()
                .filter(|_| wanted(Section::Throughput))
            {
                tracing::info!(els = n, concurrency = c, "eth_ throughput");
                report.throughput.push(
                    throughput::reads(
                        &ctx,
                        &proxy,
                        c,
                        plan.throughput_chunk,
                        plan.throughput_rounds,
                    )
                    .await?,
                );
            }
            if wanted(Section::Slots) {
                tracing::info!(els = n, slots = plan.slots, "slots back to back");
                let result =
                    slots::back_to_back(&mut ctx, &proxy, plan.slots, Duration::from_secs(120))
                        .await?;
                report.slots = Some(result);
                if let Some(pid) = proxy.pid {
                    memory.after_slots = Some(procfs::memory(pid)?);
                }
            }
            report.memory = Some(memory).filter(|m| m.idle.rss_kb > 0);
        }
    }

    // A stopped (SIGSTOP) EL first: the hardest silence, a process that holds its sockets.
    let faults = [
        Fault::Stopped,
        Fault::Kill,
        Fault::BlackHole,
        Fault::Slow(fault_timeout * 2),
        Fault::StuckOnNewPayload,
        Fault::SlowReads(fault_timeout * 2),
    ];
    let n = memory_fanout;
    for fault in faults.into_iter().filter(|_| wanted(Section::Failover)) {
        if fault == Fault::Stopped {
            // EL 0 is then a mock-el process of its own, the one that gets the signal.
            let binary = proxy_process::mock_el_binary();
            match (&binary, url_mode) {
                (Some(binary), false) => {
                    ctx.fleet
                        .start_process_el(binary, &ctx.secret_path, args.seed)?;
                }
                _ => {
                    tracing::warn!(
                        "no mock-el binary (or a proxy URL given): SIGSTOP fault skipped"
                    );
                    continue;
                }
            }
        }
        tracing::info!(els = n, fault = fault.label(), "failover cost");
        let proxy = ctx
            .start_proxy(n, &suffix, &format!("failover-{}", fault.label()))
            .await?;
        let mut row = failover::run(&mut ctx, &proxy, n, fault, &plan.failover).await?;
        row.node_timeout_ms = suffix
            .contains("#timeout=")
            .then_some(args.fault_timeout_ms);
        report.failover.push(row);
        drop(proxy);
        ctx.fleet.stop_process_el();
        if url_mode {
            // The same proxy stays up: give it time to take EL 0 back.
            tokio::time::sleep(Duration::from_secs(6)).await;
        }
    }

    // The same faults at the proxy's default node timeout, paced as proposal slots: how many
    // slots a staker's validator would lose.
    let slot_faults = plan.fault_slot_faults.clone();
    for fault in slot_faults
        .into_iter()
        .filter(|_| wanted(Section::FaultSlots))
    {
        if fault == Fault::Stopped {
            match (proxy_process::mock_el_binary(), url_mode) {
                (Some(binary), false) => {
                    ctx.fleet
                        .start_process_el(&binary, &ctx.secret_path, args.seed)?;
                }
                _ => {
                    tracing::warn!("no mock-el binary (or a proxy URL given): SIGSTOP skipped");
                    continue;
                }
            }
        }
        tracing::info!(
            els = n,
            fault = fault.label(),
            "slots under a fault, default timeouts"
        );
        let proxy = ctx
            .start_proxy(n, "", &format!("slots-{}", fault.label()))
            .await?;
        let row = fault_slots::run(&mut ctx, &proxy, n, fault, plan.fault_slots).await?;
        report.fault_slots.push(row);
        drop(proxy);
        ctx.fleet.stop_process_el();
    }

    if let Some(secs) = args.soak_secs {
        tracing::info!(secs, "soak");
        let proxy = ctx.start_proxy(n, &suffix, "soak").await?;
        report.soak = Some(
            soak::run(
                &mut ctx,
                &proxy,
                n,
                Duration::from_secs(secs),
                Duration::from_millis(args.soak_slot_ms.max(10)),
                args.seed,
            )
            .await?,
        );
    }

    machine.load_end = procfs::load_average();
    report.machine = machine;
    report.seconds = started.elapsed().as_secs_f64();
    report.check_targets();
    let markdown = report.markdown();
    println!("{markdown}");
    write(&args.markdown, markdown.as_bytes())?;
    if chart::write(&report, memory_fanout, &args.svg)? {
        eprintln!("bench: wrote {}", args.svg.display());
    }
    write(&args.out, &serde_json::to_vec_pretty(&report)?)?;
    eprintln!(
        "bench: wrote {} and {} in {:.0} s",
        args.out.display(),
        args.markdown.display(),
        report.seconds
    );
    if args.smoke {
        let memory_readable = !url_mode || args.proxy_pid.is_some();
        let problems = smoke::check(&report, args.only.is_empty(), memory_readable);
        for p in &problems {
            eprintln!("bench --smoke: {p}");
        }
        if !problems.is_empty() {
            return Ok(false);
        }
        eprintln!("bench --smoke: every request answered, every number sane");
    }
    Ok(true)
}

fn write(path: &PathBuf, bytes: &[u8]) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}

/// The workspace's commit, marked `-dirty` when the proxy's sources have local changes.
fn proxy_commit() -> Option<String> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent()?;
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .current_dir(root)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    let commit = git(&["rev-parse", "--short", "HEAD"])?;
    let dirty = git(&[
        "status",
        "--porcelain",
        "--",
        "src",
        "transport",
        "Cargo.toml",
    ])
    .is_some_and(|s| !s.is_empty());
    Some(if dirty {
        format!("{commit}-dirty")
    } else {
        commit
    })
}

/// Removes the work directory (secret, proxy logs) when the run ends, unless asked to keep it.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if std::env::var_os("BENCH_KEEP_WORKDIR").is_none() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}
