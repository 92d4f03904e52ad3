//! Latency samples and their summaries (percentiles in milliseconds).

use std::time::Duration;

use serde::Serialize;

/// Latencies of one kind of request against one target.
#[derive(Clone, Debug, Default)]
pub struct Samples(Vec<Duration>);

impl Samples {
    pub fn with_capacity(n: usize) -> Self {
        Self(Vec::with_capacity(n))
    }

    pub fn push(&mut self, d: Duration) {
        self.0.push(d);
    }

    pub fn extend(&mut self, other: Samples) {
        self.0.extend(other.0);
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn summary(&self) -> Summary {
        let mut ms: Vec<f64> = self.0.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        ms.sort_by(f64::total_cmp);
        let mean = if self.is_empty() {
            0.0
        } else {
            ms.iter().sum::<f64>() / ms.len() as f64
        };
        Summary {
            n: ms.len(),
            p50: percentile(&ms, 0.50),
            p99: percentile(&ms, 0.99),
            max: ms.last().copied().unwrap_or(0.0),
            mean,
        }
    }
}

/// Into how many consecutive rounds a run of interleaved samples is cut for its noise figure.
pub const ROUNDS: usize = 5;

impl Samples {
    /// The p50 (ms) of each of `rounds` consecutive slices of the samples, in the order they
    /// were taken (fewer slices when there are fewer samples than rounds).
    pub fn round_medians(&self, rounds: usize) -> Vec<f64> {
        if self.is_empty() || rounds == 0 {
            return Vec::new();
        }
        let size = self.len().div_ceil(rounds);
        self.0
            .chunks(size)
            .map(|round| Samples(round.to_vec()).summary().p50)
            .collect()
    }
}

/// The smallest and largest difference between `a`'s and `b`'s median over the same rounds.
/// Samples taken in turn (a, b, a, b, …) share each round's background load, so the spread of
/// these differences is the machine's noise on the difference of p50s.
#[derive(Clone, Copy, Debug, Serialize, PartialEq)]
pub struct Spread {
    pub min_ms: f64,
    pub max_ms: f64,
}

impl Spread {
    /// `None` when either side has no samples.
    pub fn of_difference(a: &Samples, b: &Samples, rounds: usize) -> Option<Self> {
        let diffs: Vec<f64> = a
            .round_medians(rounds)
            .into_iter()
            .zip(b.round_medians(rounds))
            .map(|(x, y)| x - y)
            .collect();
        let min_ms = diffs.iter().copied().reduce(f64::min)?;
        let max_ms = diffs.iter().copied().reduce(f64::max)?;
        Some(Self { min_ms, max_ms })
    }
}

/// Nearest-rank percentile of sorted values (0 for none).
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Percentiles of a set of latencies, in milliseconds.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Summary {
    pub n: usize,
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
    pub mean: f64,
}

impl Summary {
    /// Every statistic finite and positive (a sanity check, not a timing check).
    pub fn is_sane(&self) -> bool {
        self.n > 0
            && [self.p50, self.p99, self.max, self.mean]
                .iter()
                .all(|v| v.is_finite() && *v > 0.0)
            && self.p50 <= self.p99
            && self.p99 <= self.max
    }
}

/// The proxy's cost over a baseline: differences (ms) and ratios.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Added {
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub p50_ratio: f64,
    pub p99_ratio: f64,
}

impl Added {
    pub fn of(proxy: &Summary, baseline: &Summary) -> Self {
        let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::NAN };
        Self {
            p50_ms: proxy.p50 - baseline.p50,
            p99_ms: proxy.p99 - baseline.p99,
            max_ms: proxy.max - baseline.max,
            p50_ratio: ratio(proxy.p50, baseline.p50),
            p99_ratio: ratio(proxy.p99, baseline.p99),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), 50.0);
        assert_eq!(percentile(&v, 0.99), 99.0);
        assert_eq!(percentile(&v, 1.0), 100.0);
        assert_eq!(percentile(&[7.0], 0.99), 7.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
    }

    fn samples(ms: &[u64]) -> Samples {
        let mut s = Samples::default();
        for &m in ms {
            s.push(Duration::from_millis(m));
        }
        s
    }

    #[test]
    fn round_medians_follow_the_order_of_the_samples() {
        let s = samples(&[1, 2, 3, 10, 20, 30, 7, 8, 9]);
        assert_eq!(s.round_medians(3), vec![2.0, 20.0, 8.0]);
        // Fewer samples than rounds: one per sample.
        assert_eq!(samples(&[4, 5]).round_medians(5), vec![4.0, 5.0]);
        assert!(Samples::default().round_medians(5).is_empty());
    }

    #[test]
    fn spread_of_a_difference_over_rounds() {
        let proxy = samples(&[5, 5, 9, 9, 6, 6]);
        let base = samples(&[4, 4, 4, 4, 5, 5]);
        let spread = Spread::of_difference(&proxy, &base, 3).expect("both sides measured");
        assert!((spread.min_ms - 1.0).abs() < 1e-9);
        assert!((spread.max_ms - 5.0).abs() < 1e-9);
        assert_eq!(Spread::of_difference(&proxy, &Samples::default(), 3), None);
    }

    #[test]
    fn summary_of_samples() {
        let mut s = Samples::default();
        for ms in [3, 1, 2] {
            s.push(Duration::from_millis(ms));
        }
        let sum = s.summary();
        assert_eq!(sum.n, 3);
        assert!((sum.p50 - 2.0).abs() < 1e-9);
        assert!((sum.max - 3.0).abs() < 1e-9);
        assert!(sum.is_sane());
        assert!(!Samples::default().summary().is_sane());
    }
}
