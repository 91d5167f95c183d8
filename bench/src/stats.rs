//! Latency summaries.

use serde::Serialize;

#[derive(Debug, Serialize, PartialEq)]
pub struct Summary {
    pub count: usize,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
    pub mean_us: u64,
}

/// Nearest-rank percentile of sorted samples (`q` in 0..=1).
pub fn percentile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn summarize(mut samples: Vec<u64>) -> Summary {
    samples.sort_unstable();
    let sum: u128 = samples.iter().map(|&s| s as u128).sum();
    Summary {
        count: samples.len(),
        p50_us: percentile(&samples, 0.50),
        p90_us: percentile(&samples, 0.90),
        p99_us: percentile(&samples, 0.99),
        max_us: samples.last().copied().unwrap_or(0),
        mean_us: if samples.is_empty() {
            0
        } else {
            (sum / samples.len() as u128) as u64
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let s: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&s, 0.5), 50);
        assert_eq!(percentile(&s, 0.99), 99);
        assert_eq!(percentile(&s, 1.0), 100);
        assert_eq!(percentile(&[], 0.5), 0);
    }

    #[test]
    fn summary_of_samples() {
        let s = summarize(vec![3, 1, 2]);
        assert_eq!(s.count, 3);
        assert_eq!(s.p50_us, 2);
        assert_eq!(s.max_us, 3);
        assert_eq!(s.mean_us, 2);
    }
}
