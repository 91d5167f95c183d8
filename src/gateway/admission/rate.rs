//! The token bucket of one connection's requests (`--rate-limit`, `--rate-burst`).

use std::time::{Duration, Instant};

/// Token bucket for the requests of one connection.
#[derive(Debug)]
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl RateLimiter {
    pub fn new(per_second: u32, burst: u32) -> Self {
        let burst = f64::from(burst.max(1));
        RateLimiter {
            rate: f64::from(per_second.max(1)),
            burst,
            tokens: burst,
            last: Instant::now(),
        }
    }

    /// Takes one token, or says how long until one is available.
    pub fn try_take(&mut self) -> Result<(), Duration> {
        self.try_take_at(Instant::now())
    }

    fn try_take_at(&mut self, now: Instant) -> Result<(), Duration> {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / self.rate))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_burst_then_refills_at_rate() {
        let mut rl = RateLimiter::new(10, 3);
        let t0 = rl.last;
        assert!(rl.try_take_at(t0).is_ok());
        assert!(rl.try_take_at(t0).is_ok());
        assert!(rl.try_take_at(t0).is_ok());
        let wait = rl.try_take_at(t0).unwrap_err();
        assert!(wait <= Duration::from_millis(100) && wait > Duration::ZERO);
        assert!(rl.try_take_at(t0 + Duration::from_millis(100)).is_ok());
        assert!(rl.try_take_at(t0 + Duration::from_millis(100)).is_err());
    }
}
