//! The smoke run's verdict: every request answered, every number sane. Timings are not
//! judged (CI machines vary); only that they exist, are finite and positive, and that counts add
//! up.

use crate::report::Report;

/// What is wrong with a report; empty when nothing is. `complete`: every part was asked for;
/// `memory_readable`: the proxy's process is known.
pub fn check(report: &Report, complete: bool, memory_readable: bool) -> Vec<String> {
    let mut problems = Vec::new();
    let mut need = |ok: bool, what: String| {
        if !ok {
            problems.push(what);
        }
    };
    if complete {
        need(!report.latency.is_empty(), "no latency measured".into());
        need(
            !report.throughput.is_empty(),
            "no throughput measured".into(),
        );
        need(
            report.failover.len() >= 3,
            "failover not measured for every fault".into(),
        );
        need(report.slots.is_some(), "slots not run".into());
        need(
            report.memory.is_some() || !memory_readable,
            "memory not read".into(),
        );
    }
    for r in &report.latency {
        let name = format!(
            "{} {} with {} ELs",
            r.call,
            r.payload.as_deref().unwrap_or(""),
            r.els
        );
        need(
            r.direct.is_sane(),
            format!("{name}: direct timings not sane: {:?}", r.direct),
        );
        need(
            r.proxy.is_sane(),
            format!("{name}: proxy timings not sane: {:?}", r.proxy),
        );
        if let Some(f) = &r.ideal_fanout {
            need(
                f.is_sane(),
                format!("{name}: fan-out timings not sane: {f:?}"),
            );
        }
        need(
            r.proxy_answers.all_ok(),
            format!("{name}: proxy answers {:?}", r.proxy_answers),
        );
        need(
            r.baseline_answers.all_ok(),
            format!("{name}: direct answers {:?}", r.baseline_answers),
        );
        if let Some(cpu) = r.proxy_cpu_us_per_call {
            need(cpu.is_finite() && cpu >= 0.0, format!("{name}: CPU {cpu}"));
        }
    }
    for t in &report.throughput {
        let name = format!("throughput at concurrency {}", t.concurrency);
        need(
            t.direct_rps.is_finite()
                && t.direct_rps > 0.0
                && t.proxy_rps.is_finite()
                && t.proxy_rps > 0.0,
            format!("{name}: {:.1} / {:.1} req/s", t.direct_rps, t.proxy_rps),
        );
        need(
            t.direct.is_sane() && t.proxy.is_sane(),
            format!("{name}: timings not sane"),
        );
        need(
            t.proxy_answers.all_ok() && t.direct_answers.all_ok(),
            format!(
                "{name}: answers {:?} / {:?}",
                t.proxy_answers, t.direct_answers
            ),
        );
    }
    for f in &report.failover {
        for (kind, c) in [("newPayload", &f.new_payload), ("reads", &f.reads)] {
            let name = format!("failover ({}), {kind}", f.fault);
            need(
                c.requests > 0,
                format!("{name}: no request after the fault"),
            );
            need(
                c.baseline.is_sane(),
                format!("{name}: no sane pre-fault baseline"),
            );
            need(
                c.failed == 0 && c.not_valid == 0,
                format!(
                    "{name}: {} failed, {} not VALID ({:?})",
                    c.failed, c.not_valid, c.first_problem
                ),
            );
            need(
                c.max_ms.is_finite() && c.max_ms > 0.0,
                format!("{name}: max {}", c.max_ms),
            );
        }
    }
    if let Some(s) = &report.slots {
        need(
            s.slots > 0 && s.slot_latency.is_sane(),
            format!("slots: {} run", s.slots),
        );
        need(
            s.answers.all_ok(),
            format!("slots: answers {:?}", s.answers),
        );
    }
    for r in &report.fault_slots {
        need(
            r.slots > 0 && r.slot_latency.is_sane(),
            format!("slots under {}: {} run", r.fault, r.slots),
        );
        need(
            r.answers.all_ok(),
            format!("slots under {}: answers {:?}", r.fault, r.answers),
        );
    }
    if let Some(m) = &report.memory {
        need(m.idle.rss_kb > 0, "idle RSS not read".into());
        if let Some(kb) = m.load_1mb_peak_kb {
            need(
                kb >= m.idle.rss_kb / 2,
                format!("peak under load not sane: {kb} KB"),
            );
        }
    }
    problems
}
