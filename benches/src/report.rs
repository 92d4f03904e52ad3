//! The results: one JSON document and a set of markdown tables, plus the targets
//! checked against them.

use std::fmt::Write as _;

use serde::Serialize;

use crate::measure::Spread;
use crate::procfs::{Machine, Memory};
use crate::scenarios::failover::FailoverRow;
use crate::scenarios::fault_slots::{self, FaultSlotsRow};
use crate::scenarios::latency::LatencyRow;
use crate::scenarios::slots::SlotsResult;
use crate::scenarios::soak::SoakResult;
use crate::scenarios::throughput::ThroughputRow;

/// The proxy's memory at the points that matter (one proxy process, `els` ELs).
#[derive(Clone, Debug, Default, Serialize)]
pub struct MemoryReport {
    pub els: usize,
    /// After start and the first probes, before any traffic.
    pub idle: Memory,
    /// Peak RSS during the 1 MB newPayload run.
    pub load_1mb_peak_kb: Option<u64>,
    /// Peak RSS during the 4 MB newPayload run.
    pub load_4mb_peak_kb: Option<u64>,
    /// After the slot run (RSS now, and the peak since the 4 MB run).
    pub after_slots: Option<Memory>,
    /// Whether the kernel let the peak be reset between phases (else peaks are lifetime peaks).
    pub peak_resets: bool,
}

/// One of the targets.
#[derive(Clone, Debug, Serialize)]
pub struct Check {
    pub goal: String,
    pub measured: String,
    /// `None` when the run could not measure it.
    pub met: Option<bool>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub mode: String,
    pub target: String,
    pub proxy_commit: Option<String>,
    pub date_utc: String,
    pub machine: Machine,
    pub seconds: f64,
    pub latency: Vec<LatencyRow>,
    pub throughput: Vec<ThroughputRow>,
    pub failover: Vec<FailoverRow>,
    pub fault_slots: Vec<FaultSlotsRow>,
    pub memory: Option<MemoryReport>,
    pub slots: Option<SlotsResult>,
    pub soak: Option<SoakResult>,
    pub targets: Vec<Check>,
}

fn mb(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

impl Report {
    /// Evaluates the targets on what was measured.
    pub fn check_targets(&mut self) {
        let mut checks = Vec::new();
        let np = |size: &str| {
            self.latency.iter().find(|r| {
                r.call == "newPayloadV4" && r.payload.as_deref() == Some(size) && r.els == 3
            })
        };
        let mut latency_check =
            |goal: &str, row: Option<&LatencyRow>, pick: fn(&LatencyRow) -> f64, limit: f64| {
                checks.push(match row {
                    Some(r) => Check {
                        goal: goal.into(),
                        measured: format!("{:.3} ms", pick(r)),
                        met: Some(pick(r) <= limit),
                    },
                    None => Check {
                        goal: goal.into(),
                        measured: "not measured".into(),
                        met: None,
                    },
                });
            };
        latency_check(
            "newPayload 128 KB, 3 ELs: added p50 ≤ 0.3 ms",
            np("128 KB"),
            |r| r.added.p50_ms,
            0.3,
        );
        latency_check(
            "newPayload 128 KB, 3 ELs: added p99 ≤ 1 ms",
            np("128 KB"),
            |r| r.added.p99_ms,
            1.0,
        );
        latency_check(
            "newPayload 4 MB, 3 ELs: added p50 ≤ 2 ms",
            np("4 MB"),
            |r| r.added.p50_ms,
            2.0,
        );
        let c16 = self.throughput.iter().find(|t| t.concurrency == 16);
        checks.push(Check {
            goal: "eth_ throughput at concurrency 16 ≥ 80 % of direct".into(),
            measured: c16.map_or("not measured".into(), |t| {
                format!(
                    "{:.0} % ({:.0} vs {:.0} req/s)",
                    t.ratio * 100.0,
                    t.proxy_rps,
                    t.direct_rps
                )
            }),
            met: c16.map(|t| t.ratio >= 0.8),
        });
        let hole = self.failover.iter().find(|f| f.fault == "black-holed");
        // Two streams run at once (votes and reads), so the request of each that is in flight
        // when the EL goes silent waits out one timeout: one per stream is the floor.
        checks.push(Check {
            goal: "≤ 1 request delayed by a black-holed EL (per traffic stream), none failed"
                .into(),
            measured: hole.map_or("not measured".into(), |f| {
                format!(
                    "{} newPayload + {} reads delayed, {} failed",
                    f.new_payload.delayed,
                    f.reads.delayed,
                    f.new_payload.failed + f.reads.failed
                )
            }),
            met: hole.map(|f| {
                f.new_payload.delayed <= 1
                    && f.reads.delayed <= 1
                    && f.new_payload.failed + f.reads.failed == 0
            }),
        });
        let load_peak = self.memory.as_ref().and_then(|m| m.load_1mb_peak_kb);
        checks.push(Check {
            goal: "peak RSS ≤ 50 MB under the 1 MB-payload load".into(),
            measured: load_peak.map_or("not measured".into(), |kb| format!("{:.1} MB", mb(kb))),
            met: load_peak.map(|kb| mb(kb) <= 50.0),
        });
        if let Some(s) = &self.slots {
            checks.push(Check {
                goal: format!("no RSS growth over {} slots (≤ 1 MB)", s.slots),
                measured: format!(
                    "{:+.2} MB RSS, {:+} fds",
                    s.rss_growth_kb as f64 / 1024.0,
                    s.fd_growth
                ),
                met: (!s.samples.is_empty()).then_some(s.rss_growth_kb <= 1024),
            });
        }
        self.targets = checks;
    }

    pub fn markdown(&self) -> String {
        let mut md = String::new();
        let m = &self.machine;
        let _ = writeln!(md, "### Benchmark ({} run, {})\n", self.mode, self.date_utc);
        let _ = writeln!(
            md,
            "Machine: {} × {}, {:.1} GiB, Linux {}; 1-min load {:.2} at start, {:.2} at end. \
             Proxy: `{}`{}. Took {:.0} s. Mock ELs run in the harness process (own 2-thread \
             runtime); the direct baseline uses the same mocks. Times in ms; \"added\" = proxy − \
             direct, × = proxy / direct.\n",
            m.cpus,
            m.cpu_model,
            m.memory_gib,
            m.kernel,
            m.load_start,
            m.load_end,
            self.target,
            self.proxy_commit
                .as_ref()
                .map_or(String::new(), |c| format!(" at {c}")),
            self.seconds
        );
        self.latency_table(&mut md);
        self.throughput_table(&mut md);
        self.failover_table(&mut md);
        self.fault_slots_table(&mut md);
        self.memory_table(&mut md);
        self.soak_table(&mut md);
        md.push_str("#### Targets\n\n| target | measured | met |\n|---|---|---|\n");
        for c in &self.targets {
            let met = match c.met {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "–",
            };
            let _ = writeln!(md, "| {} | {} | {} |", c.goal, c.measured, met);
        }
        md
    }

    fn latency_table(&self, md: &mut String) {
        if self.latency.is_empty() {
            return;
        }
        md.push_str("#### Latency (sequential requests)\n\n");
        md.push_str("| call | size | ELs | n | direct p50 | direct p99 | proxy p50 | proxy p99 | proxy max | added p50 | added p99 | added max | × p50 | × p99 | ideal fan-out p50 / p99 | own share p50 / p99 (proxy − ideal) [p50 per round, min … max] | relay floor's own share p50 [per round] | proxy CPU µs/call |\n");
        md.push_str("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n");
        for r in &self.latency {
            let size = match &r.payload {
                Some(label) => format!("{label} ({:.1} KB)", r.request_bytes as f64 / 1024.0),
                None => "–".into(),
            };
            let fan = r
                .ideal_fanout
                .map_or("–".into(), |f| format!("{:.3} / {:.3}", f.p50, f.p99));
            let rounds = |spread: Option<Spread>| {
                spread.map_or(String::new(), |r| {
                    format!(" [{:+.3} … {:+.3}]", r.min_ms, r.max_ms)
                })
            };
            let vs_fan = r.added_vs_fanout.map_or("–".into(), |a| {
                format!(
                    "{:+.3} / {:+.3}{}",
                    a.p50_ms,
                    a.p99_ms,
                    rounds(r.own_share_rounds)
                )
            });
            let floor = r.floor_vs_fanout.map_or("–".into(), |a| {
                format!("{:+.3}{}", a.p50_ms, rounds(r.floor_rounds))
            });
            let notes: Vec<String> = [
                r.proxy_cpu_system_share
                    .map(|sys| format!("{:.0} % sys", sys * 100.0)),
                r.proxy_faults_per_call
                    .map(|f| format!("{f:.0} page faults")),
            ]
            .into_iter()
            .flatten()
            .collect();
            let cpu = match r.proxy_cpu_us_per_call {
                Some(c) if notes.is_empty() => format!("{c:.0}"),
                Some(c) => format!("{c:.0} ({})", notes.join(", ")),
                None => "–".into(),
            };
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:+.3} | {:+.3} | {:+.3} | {:.2} | {:.2} | {} | {} | {} | {} |",
                r.call, size, r.els, r.proxy.n, r.direct.p50, r.direct.p99, r.proxy.p50, r.proxy.p99,
                r.proxy.max, r.added.p50_ms, r.added.p99_ms, r.added.max_ms, r.added.p50_ratio,
                r.added.p99_ratio, fan, vs_fan, floor, cpu
            );
        }
        md.push_str("\nThe CPU figure on a forkchoiceUpdatedV3 line covers that iteration's three calls (fcU, fcU + attributes, getPayload). \"Ideal fan-out\": the harness sends the same bytes to all the ELs itself and waits for the last answer (with 1 EL, the same request on a second connection); \"own share\" = proxy − ideal fan-out, what the proxy itself adds; \"relay floor\": the same requests, in the same rounds, through `relay_floor --mode store`, a relay that only moves bytes (receives the whole body, sends it to every EL, checks nothing), so its own share is the floor under any multiplexer on this machine. In brackets: the same p50 difference in each of the run's five consecutive rounds (the modes take turns request by request, so a round's background load hits them alike), smallest and largest: the machine's noise.\n\n");
    }

    fn throughput_table(&self, md: &mut String) {
        if self.throughput.is_empty() {
            return;
        }
        md.push_str("#### eth_getBlockByNumber passthrough\n\n| concurrency | direct req/s | proxy req/s | proxy / direct | direct p99 | proxy p99 | proxy CPU µs/request |\n|--:|--:|--:|--:|--:|--:|--:|\n");
        for t in &self.throughput {
            let _ = writeln!(
                md,
                "| {} | {:.0} | {:.0} | {:.0} % | {:.3} | {:.3} | {} |",
                t.concurrency,
                t.direct_rps,
                t.proxy_rps,
                t.ratio * 100.0,
                t.direct.p99,
                t.proxy.p99,
                t.proxy_cpu_us_per_request
                    .map_or("–".into(), |c| format!("{c:.0}"))
            );
        }
        md.push('\n');
    }

    fn failover_table(&self, md: &mut String) {
        if self.failover.is_empty() {
            return;
        }
        let timeout = self.failover[0]
            .node_timeout_ms
            .map_or(String::new(), |t| format!(", node timeout {t} ms"));
        let _ = writeln!(
            md,
            "#### Failover cost (EL 0 of {}{}; newPayload 128 KB every 50 ms + a read every 10 ms; delayed = over pre-fault p99 + 50 ms)\n",
            self.failover[0].els, timeout
        );
        md.push_str("| fault | newPayload: during/after | first after the fault, ms | delayed | failed | not VALID | max ms | reads: during/after | first after the fault, ms | delayed | failed | max ms |\n|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n");
        for f in &self.failover {
            let (v, r) = (&f.new_payload, &f.reads);
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {:.1} | {} | {} | {} | {} | {:.1} |",
                f.fault,
                v.requests,
                v.first_ms.map_or("–".into(), |ms| format!("{ms:.1}")),
                v.delayed,
                v.failed,
                v.not_valid,
                v.max_ms,
                r.requests,
                r.first_ms.map_or("–".into(), |ms| format!("{ms:.1}")),
                r.delayed,
                r.failed,
                r.max_ms
            );
        }
        md.push('\n');
    }

    fn fault_slots_table(&self, md: &mut String) {
        let Some(first) = self.fault_slots.first() else {
            return;
        };
        let _ = writeln!(
            md,
            "#### Slots with EL 0 of {} faulty, default node timeout (fcU+attributes, getPayload, newPayload 128 KB, fcU; a slot at most every {} ms; {} slots before the fault)\n",
            first.els,
            fault_slots::SLOT_PACE.as_millis(),
            fault_slots::WARM_SLOTS
        );
        md.push_str("| fault | slots | slot p50 ms | slot p99 ms | max ms | past 4 s | engine answers not VALID / failed | reads failed |\n|---|--:|--:|--:|--:|--:|--:|--:|\n");
        for r in &self.fault_slots {
            let _ = writeln!(
                md,
                "| {} | {} | {:.1} | {:.1} | {:.1} | {} | {} / {} | {} of {} |",
                r.fault,
                r.slots,
                r.slot_latency.p50,
                r.slot_latency.p99,
                r.slot_latency.max,
                r.past_4s,
                r.answers.not_valid,
                r.answers.failed,
                r.reads_failed,
                r.reads_ok + r.reads_failed
            );
        }
        md.push('\n');
    }

    fn memory_table(&self, md: &mut String) {
        let Some(mem) = &self.memory else {
            return;
        };
        let _ = writeln!(
            md,
            "#### Proxy memory ({} ELs{})\n\n| when | RSS MB | peak MB |\n|---|--:|--:|",
            mem.els,
            if mem.peak_resets {
                ""
            } else {
                "; peaks are lifetime peaks"
            }
        );
        let _ = writeln!(
            md,
            "| idle | {:.1} | {:.1} |",
            mb(mem.idle.rss_kb),
            mb(mem.idle.peak_kb)
        );
        for (label, peak) in [
            ("1 MB newPayload load", mem.load_1mb_peak_kb),
            ("4 MB newPayload load", mem.load_4mb_peak_kb),
        ] {
            if let Some(kb) = peak {
                let _ = writeln!(md, "| {label} | – | {:.1} |", mb(kb));
            }
        }
        if let (Some(after), Some(s)) = (&mem.after_slots, &self.slots) {
            let _ = writeln!(
                md,
                "| after {} slots | {:.1} | {:.1} |",
                s.slots,
                mb(after.rss_kb),
                mb(after.peak_kb)
            );
        }
        if let Some(s) = &self.slots {
            let series: Vec<String> = s
                .samples
                .iter()
                .map(|x| format!("{}: {:.1} MB/{} fds", x.slot, mb(x.rss_kb), x.fds))
                .collect();
            let _ = writeln!(
                md,
                "\nSlots (fcU + attributes, getPayload, newPayload, fcU), back to back: {} in {:.1} s ({:.0}/s, slot p50 {:.2} ms, p99 {:.2} ms); RSS growth {:+.2} MB, fds {:+}; {} answers OK, {} not VALID, {} failed. RSS along the way: {}.\n",
                s.slots,
                s.seconds,
                s.slots_per_second,
                s.slot_latency.p50,
                s.slot_latency.p99,
                s.rss_growth_kb as f64 / 1024.0,
                s.fd_growth,
                s.answers.ok,
                s.answers.not_valid,
                s.answers.failed,
                series.join(", ")
            );
        }
    }

    fn soak_table(&self, md: &mut String) {
        let Some(s) = &self.soak else {
            return;
        };
        let _ = writeln!(
            md,
            "#### Soak ({:.0} s, a slot every {} ms, {} ELs, {} random faults)\n\n{} slots ({} late), slot p50 {:.1} ms / p99 {:.1} ms / max {:.1} ms; answers: {} OK, {} not VALID, {} failed; RSS growth {:+.2} MB, fds {:+}.\n\n| s | slots | RSS MB | fds | CPU s | failed | not VALID |\n|--:|--:|--:|--:|--:|--:|--:|",
            s.seconds, s.slot_ms, s.els, s.faults.len(), s.slots, s.late_slots, s.slot_latency.p50,
            s.slot_latency.p99, s.slot_latency.max, s.answers.ok, s.answers.not_valid,
            s.answers.failed, s.rss_growth_kb as f64 / 1024.0, s.fd_growth
        );
        for x in &s.samples {
            let _ = writeln!(
                md,
                "| {:.0} | {} | {:.1} | {} | {:.2} | {} | {} |",
                x.seconds,
                x.slots,
                mb(x.rss_kb),
                x.fds,
                x.cpu_s,
                x.failed,
                x.not_valid
            );
        }
        md.push('\n');
    }
}

/// `YYYY-MM-DD HH:MM` UTC for a Unix time.
pub fn utc(unix: u64) -> String {
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    // Civil date from days since 1970-01-01 (proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        secs / 3_600,
        secs % 3_600 / 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc(1_700_000_000), "2023-11-14 22:13 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00 UTC");
    }
}
