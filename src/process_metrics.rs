//! The standard `process_*` metrics, read from `/proc/self` on Linux (elsewhere none): CPU
//! time, resident and virtual memory, open and allowed file descriptors, start time.

use std::fmt;

use prometheus_client::encoding::{DescriptorEncoder, EncodeGaugeValue, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;

/// What `/proc/self` says about this process.
#[derive(Debug, Default, PartialEq)]
pub struct Process {
    pub cpu_seconds: f64,
    pub resident_bytes: u64,
    pub virtual_bytes: u64,
    pub start_time_seconds: f64,
    pub open_fds: u64,
    pub max_fds: Option<u64>,
}

/// Reads `/proc/self`; `None` where there is none.
pub fn read() -> Option<Process> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let boot = std::fs::read_to_string("/proc/stat").ok()?;
    let mut p = parse_stat(&stat, &boot, ticks_per_second(), page_size())?;
    p.open_fds = std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count() as u64)
        .unwrap_or(0);
    p.max_fds = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|l| parse_max_fds(&l));
    Some(p)
}

#[cfg(unix)]
fn ticks_per_second() -> f64 {
    // SAFETY: sysconf only reads a configuration value.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

#[cfg(unix)]
fn page_size() -> u64 {
    // SAFETY: sysconf only reads a configuration value.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(p).ok().filter(|p| *p > 0).unwrap_or(4096)
}

#[cfg(not(unix))]
fn ticks_per_second() -> f64 {
    100.0
}

#[cfg(not(unix))]
fn page_size() -> u64 {
    4096
}

/// `/proc/self/stat` (after the command name, which may hold spaces) and `/proc/stat`'s
/// `btime`: fields 14, 15 (utime, stime), 22 (starttime), 23 (vsize), 24 (rss, pages).
pub fn parse_stat(stat: &str, proc_stat: &str, ticks: f64, page: u64) -> Option<Process> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state).
    let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok());
    let btime = proc_stat
        .lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse::<u64>().ok())?;
    Some(Process {
        cpu_seconds: (field(14)? + field(15)?) as f64 / ticks,
        resident_bytes: field(24)? * page,
        virtual_bytes: field(23)?,
        start_time_seconds: btime as f64 + field(22)? as f64 / ticks,
        open_fds: 0,
        max_fds: None,
    })
}

/// The soft limit on open files from `/proc/self/limits`.
pub fn parse_max_fds(limits: &str) -> Option<u64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Writes the `process_*` metrics (read now) into an exposition.
pub fn encode(encoder: &mut DescriptorEncoder) -> Result<(), fmt::Error> {
    let Some(p) = read() else { return Ok(()) };
    fn gauge(
        encoder: &mut DescriptorEncoder,
        name: &str,
        help: &str,
        value: impl EncodeGaugeValue + fmt::Debug + Send + Sync + 'static,
    ) -> Result<(), fmt::Error> {
        let metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
        ConstGauge::new(value).encode(metric)
    }
    let int = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    // Named without the `_total` the encoding gives a counter's sample.
    let cpu = encoder.encode_descriptor(
        "process_cpu_seconds",
        "User and system CPU time spent, in seconds.",
        None,
        MetricType::Counter,
    )?;
    ConstCounter::new(p.cpu_seconds).encode(cpu)?;
    gauge(
        encoder,
        "process_resident_memory_bytes",
        "Resident memory size in bytes.",
        int(p.resident_bytes),
    )?;
    gauge(
        encoder,
        "process_virtual_memory_bytes",
        "Virtual memory size in bytes.",
        int(p.virtual_bytes),
    )?;
    gauge(
        encoder,
        "process_start_time_seconds",
        "Start time of the process since the Unix epoch, in seconds.",
        p.start_time_seconds,
    )?;
    gauge(
        encoder,
        "process_open_fds",
        "Open file descriptors.",
        int(p.open_fds),
    )?;
    if let Some(max) = p.max_fds {
        gauge(
            encoder,
            "process_max_fds",
            "The soft limit on open file descriptors.",
            int(max),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_with_a_spaced_command_name() {
        let stat = "4242 (exec backup) S 1 4242 4242 0 -1 4194560 300 0 0 0 150 50 0 0 20 0 5 0 1000 104857600 2560 18446744073709551615";
        let p = parse_stat(stat, "cpu 1 2 3\nbtime 1700000000\n", 100.0, 4096).expect("parsed");
        assert_eq!(p.cpu_seconds, 2.0);
        assert_eq!(p.virtual_bytes, 104_857_600);
        assert_eq!(p.resident_bytes, 2560 * 4096);
        assert_eq!(p.start_time_seconds, 1_700_000_010.0);
    }

    #[test]
    fn max_open_files() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units\nMax open files            1024                 524288               files\n";
        assert_eq!(parse_max_fds(limits), Some(1024));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_reads() {
        let p = read().expect("/proc/self");
        assert!(p.resident_bytes > 0 && p.open_fds > 0, "{p:?}");
    }
}
