//! Which built payload the CL gets: the pure choice among the building ELs' answers.
//!
//! The primary's payload (or with `best-value` the highest `blockValue`) if it arrives within
//! `--get-payload-grace` of the first good one, else the first good one, and never later than
//! the CL's deadline. The route that asks the builders is [`crate::handlers::build`].

use std::cmp::Ordering;
use std::time::Duration;

use tokio::time::Instant;

/// How the payload is chosen when several ELs built one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum PayloadSelection {
    /// The best-ranked node (the primary first) that answers.
    #[default]
    Primary,
    /// The highest blockValue among the nodes that answered.
    BestValue,
}

/// One building node's answer so far.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Got {
    Waiting,
    /// A payload that matches the build, with its blockValue.
    Good {
        value: String,
        at: Instant,
    },
    /// Not reachable, or no answer in time.
    Unreachable,
    /// A JSON-RPC error, by code.
    Error(i64),
    /// A payload that does not match the build request.
    Mismatch,
}

/// What to do now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Choice {
    /// Return the payload of this rank.
    Take(usize),
    /// Look again at this time (or when an answer arrives).
    WaitUntil(Instant),
    /// Every builder answered and none was good.
    NoneGood,
}

/// The pure choice among the building nodes' answers, rank 0 first (the primary).
/// `final_call` is true at the CL's deadline: take the best there is.
pub fn choose(
    now: Instant,
    got: &[Got],
    selection: PayloadSelection,
    grace: Duration,
    final_call: bool,
) -> Choice {
    let good: Vec<(usize, &String, Instant)> = got
        .iter()
        .enumerate()
        .filter_map(|(rank, g)| match g {
            Got::Good { value, at } => Some((rank, value, *at)),
            _ => None,
        })
        .collect();
    let waiting = got.contains(&Got::Waiting);
    let Some(first_at) = good.iter().map(|(_, _, at)| *at).min() else {
        return if waiting && !final_call {
            Choice::WaitUntil(now + Duration::from_secs(3600))
        } else {
            Choice::NoneGood
        };
    };
    let settle = first_at + grace;
    let done = !waiting || final_call || now >= settle;
    match selection {
        PayloadSelection::Primary => {
            let (best, _, _) = good[0];
            // Every better-ranked node has failed: nothing better can come.
            let nothing_better = got[..best].iter().all(|g| *g != Got::Waiting);
            if nothing_better || done {
                Choice::Take(best)
            } else {
                Choice::WaitUntil(settle)
            }
        }
        PayloadSelection::BestValue => {
            if done {
                let best = good
                    .iter()
                    .max_by(|(ra, a, _), (rb, b, _)| compare_quantity(a, b).then(rb.cmp(ra)))
                    .map_or(0, |(rank, _, _)| *rank);
                Choice::Take(best)
            } else {
                Choice::WaitUntil(settle)
            }
        }
    }
}

/// Compares two hex QUANTITYs of any size; anything unparseable is the smallest.
fn compare_quantity(a: &str, b: &str) -> Ordering {
    let digits = |s: &str| -> Option<String> {
        let d = s.strip_prefix("0x")?;
        if d.is_empty() || !d.bytes().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        Some(d.trim_start_matches('0').to_ascii_lowercase())
    };
    match (digits(a), digits(b)) {
        (Some(x), Some(y)) => x.len().cmp(&y.len()).then_with(|| x.cmp(&y)),
        (Some(_), None) => Ordering::Greater,
        (None, Some(_)) => Ordering::Less,
        (None, None) => Ordering::Equal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_compare_by_value() {
        assert_eq!(compare_quantity("0x10", "0xf"), Ordering::Greater);
        assert_eq!(compare_quantity("0x0010", "0x10"), Ordering::Equal);
        assert_eq!(
            compare_quantity(
                "0x1000000000000000000000000000000000",
                "0xffffffffffffffffffffffffffffffff"
            ),
            Ordering::Greater
        );
        assert_eq!(compare_quantity("0xA", "0xa"), Ordering::Equal);
        assert_eq!(compare_quantity("0x1", "junk"), Ordering::Greater);
        assert_eq!(compare_quantity("", ""), Ordering::Equal);
    }
}
