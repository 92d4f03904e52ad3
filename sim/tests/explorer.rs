//! The explorer binary's contract: one line per seed with its trace hash (the same on a second
//! run with `--twice`), a summary with the throughput, and for a failure the seed, the broken
//! invariant and a one-line command that replays it, exactly.

use std::process::Command;

fn explorer(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sim"))
        .args(args)
        .output()
        .expect("the explorer runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.success(), stdout)
}

#[test]
fn explores_seeds_and_reports_hashes_and_throughput() {
    let (ok, out) = explorer(&["--seeds", "4", "--slots", "6", "--jobs", "2", "--twice"]);
    assert!(ok, "{out}");
    let seeds: Vec<&str> = out.lines().filter(|l| l.starts_with("seed ")).collect();
    assert_eq!(seeds.len(), 4, "{out}");
    for (i, line) in seeds.iter().enumerate() {
        assert!(line.starts_with(&format!("seed {i}: ok hash=")), "{line}");
        let hash = line.split("hash=").nth(1).and_then(|h| h.split(' ').next());
        assert_eq!(hash.map(str::len), Some(16), "{line}");
    }
    let summary = out.lines().last().unwrap_or_default();
    assert!(
        summary.starts_with("explored 4 seed(s) × 6 slots"),
        "{summary}"
    );
    assert!(
        summary.contains("seeds/minute") && summary.ends_with("0 failed"),
        "{summary}"
    );
}

#[test]
fn a_failure_prints_a_command_that_replays_it() {
    let (ok, out) = explorer(&[
        "--seeds",
        "30",
        "--slots",
        "12",
        "--wrong-vote",
        "--jobs",
        "1",
    ]);
    assert!(!ok, "the wrong vote must be caught: {out}");
    let fail = out
        .lines()
        .find(|l| l.contains(": FAIL hash="))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        out.contains("invariant 1 (VALID despite an INVALID answer)"),
        "{out}"
    );
    let replay = out
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("replay: cargo run -p sim --release -- ")
        })
        .unwrap_or_else(|| panic!("no replay command: {out}"));
    let args: Vec<&str> = replay.split_whitespace().collect();
    assert!(args.contains(&"--wrong-vote"), "{replay}");

    // The same seed, the same run: everything but the real time taken.
    let without_time = |l: &str| l.split(" real=").next().unwrap_or_default().to_owned();
    let (ok, again) = explorer(&args);
    assert!(!ok);
    assert!(
        again.lines().any(|l| without_time(l) == without_time(fail)),
        "{fail}\n---\n{again}"
    );
}
