//! What the kernel says about a process (memory, CPU time, open files) and about the machine.
//!
//! Linux only: everything is read from `/proc`. CPU times in `/proc/PID/stat` are in USER_HZ
//! ticks, which the kernel fixes at 100 per second for this interface on every mainstream
//! architecture.

use std::fs;

use anyhow::{anyhow, Context as _};
use serde::Serialize;

/// Ticks per second of `/proc/PID/stat` CPU times.
const USER_HZ: f64 = 100.0;

/// Resident memory of a process, in KiB.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Memory {
    /// Resident now (`VmRSS`).
    pub rss_kb: u64,
    /// Peak resident since start or since the last [`reset_peak`] (`VmHWM`).
    pub peak_kb: u64,
}

pub fn memory(pid: u32) -> anyhow::Result<Memory> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    let field = |name: &str| -> anyhow::Result<u64> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .ok_or_else(|| anyhow!("no {name} in /proc/{pid}/status"))
    };
    Ok(Memory {
        rss_kb: field("VmRSS:")?,
        peak_kb: field("VmHWM:")?,
    })
}

/// Resets the process's peak RSS to its current RSS (writes 5 to `clear_refs`). False when the
/// kernel refuses (then the peak stays the lifetime peak).
pub fn reset_peak(pid: u32) -> bool {
    fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

/// CPU time the process has used, in seconds: the sum of its threads' on-CPU time from
/// `/proc/PID/task/*/schedstat` (nanoseconds), or where that is missing user + system time from
/// `/proc/PID/stat` (10 ms ticks, but counting threads that have exited too).
pub fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    match schedstat_seconds(pid) {
        Some(s) => Ok(s),
        None => stat_seconds(pid),
    }
}

fn schedstat_seconds(pid: u32) -> Option<f64> {
    let mut ns: u64 = 0;
    for task in fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let path = task.ok()?.path().join("schedstat");
        // A thread may end between the listing and the read: it simply stops counting.
        let Ok(text) = fs::read_to_string(path) else {
            continue;
        };
        ns += text.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(ns as f64 / 1e9)
}

/// User plus system CPU time from `/proc/PID/stat`, in seconds.
fn stat_seconds(pid: u32) -> anyhow::Result<f64> {
    let (user, system) = user_system_seconds(pid)?;
    Ok(user + system)
}

/// User and system CPU time from `/proc/PID/stat`, in seconds (10 ms resolution).
pub fn user_system_seconds(pid: u32) -> anyhow::Result<(f64, f64)> {
    let fields = stat_fields(pid)?;
    Ok((fields.ticks(11)?, fields.ticks(12)?))
}

/// Minor page faults since the process started (a page the kernel had to map in: first touch
/// of fresh memory, or memory given back and touched again). An exact count, unlike CPU time.
pub fn minor_faults(pid: u32) -> anyhow::Result<u64> {
    stat_fields(pid)?.number(7)
}

/// The fields of `/proc/PID/stat` after the command name.
struct StatFields {
    pid: u32,
    fields: Vec<String>,
}

impl StatFields {
    /// Field `i` counted from field 3 (state) as 0.
    fn number(&self, i: usize) -> anyhow::Result<u64> {
        self.fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .ok_or_else(|| anyhow!("no field {} in /proc/{}/stat", i + 3, self.pid))
    }

    fn ticks(&self, i: usize) -> anyhow::Result<f64> {
        Ok(self.number(i)? as f64 / USER_HZ)
    }
}

fn stat_fields(pid: u32) -> anyhow::Result<StatFields> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    // The command name (field 2) may hold spaces; the fields after its closing parenthesis
    // start with field 3 (state): minflt is field 10, utime and stime are fields 14 and 15.
    let after = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or_else(|| anyhow!("malformed /proc/{pid}/stat"))?;
    Ok(StatFields {
        pid,
        fields: after.split_whitespace().map(str::to_owned).collect(),
    })
}

/// Open file descriptors (sockets included).
pub fn fd_count(pid: u32) -> anyhow::Result<usize> {
    Ok(fs::read_dir(format!("/proc/{pid}/fd"))
        .with_context(|| format!("listing /proc/{pid}/fd"))?
        .count())
}

/// The machine a run happened on.
#[derive(Clone, Debug, Serialize)]
pub struct Machine {
    pub cpu_model: String,
    pub cpus: usize,
    pub memory_gib: f64,
    pub kernel: String,
    /// 1-minute load average when the run started and ended: how busy the machine was.
    pub load_start: f64,
    pub load_end: f64,
}

impl Machine {
    pub fn probe() -> Self {
        let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .and_then(|rest| rest.split_once(':'))
            .map(|(_, m)| m.trim().to_owned())
            .unwrap_or_else(|| "unknown".into());
        let meminfo = fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory_kb: u64 = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0);
        Self {
            cpu_model,
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            memory_gib: memory_kb as f64 / (1024.0 * 1024.0),
            kernel: fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|k| k.trim().to_owned())
                .unwrap_or_default(),
            load_start: load_average(),
            load_end: 0.0,
        }
    }
}

/// The 1-minute load average.
pub fn load_average() -> f64 {
    fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0.0)
}
