//! The pace of a run's streaming deltas (`chat` `delta` and `agent` `assistant`).
//!
//! Each delta carries the whole text so far, so sending one per provider chunk costs
//! every reader quadratic bytes and the gateway quadratic CPU. [`DeltaThrottle`] lets
//! the first delta out at once (time to first chunk does not grow), then at most one
//! per interval (`--delta-interval-ms`, 150 ms by default, as the real gateway), and
//! only once the text grew by a quarter since the last one sent: the texts sent grow
//! geometrically, so all deltas of a run carry at most about five times the reply per
//! event stream, and the work per run is linear in the reply. The throttle trails: a
//! delta held back goes out when its interval is over (or is superseded by the
//! run's terminal event, which carries the whole text). An interval of 0 sends every
//! delta.

use std::time::Duration;

use tokio::time::Instant;

/// When the next delta of one run may go out.
#[derive(Debug)]
pub struct DeltaThrottle {
    interval: Duration,
    last: Option<Instant>,
    /// Length of the text the last delta carried.
    sent_len: usize,
}

impl DeltaThrottle {
    pub fn new(interval: Duration) -> DeltaThrottle {
        DeltaThrottle {
            interval,
            last: None,
            sent_len: 0,
        }
    }

    /// Whether a delta carrying `len` bytes of text may go out at `now`.
    pub fn due(&self, len: usize, now: Instant) -> bool {
        if self.interval.is_zero() {
            return len > self.sent_len;
        }
        match self.last {
            None => len > 0,
            Some(last) => {
                now >= last + self.interval && len >= self.sent_len + (self.sent_len / 4).max(1)
            }
        }
    }

    /// When a held-back delta may go out (if the text grew enough by then).
    pub fn next_at(&self) -> Instant {
        self.last
            .map_or_else(Instant::now, |last| last + self.interval)
    }

    /// Records a delta sent at `now` carrying `len` bytes; returns the length the
    /// previous one carried (where this one's new text starts).
    pub fn sent(&mut self, len: usize, now: Instant) -> usize {
        self.last = Some(now);
        std::mem::replace(&mut self.sent_len, len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_at_once_then_paced_and_geometric() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut th = DeltaThrottle::new(Duration::from_millis(150));
        assert!(th.due(3, t0));
        assert_eq!(th.sent(3, t0), 0);
        assert!(!th.due(100, ms(10)), "within the interval");
        assert_eq!(th.next_at(), ms(150));
        assert!(th.due(100, ms(150)));
        th.sent(100, ms(150));
        assert!(!th.due(120, ms(400)), "grew by less than a quarter");
        assert!(th.due(125, ms(400)));
        // A reply of 1 MB in 13-byte chunks, one chunk per millisecond: the bytes of
        // all deltas stay within a small multiple of the reply.
        let mut th = DeltaThrottle::new(Duration::from_millis(150));
        let (mut len, mut carried) = (0usize, 0usize);
        for i in 0..80_000u64 {
            len += 13;
            if th.due(len, ms(i)) {
                th.sent(len, ms(i));
                carried += len;
            }
        }
        assert!(carried <= 6 * len, "{carried} bytes for a {len}-byte reply");
        // 0: every delta.
        let mut th = DeltaThrottle::new(Duration::ZERO);
        assert!(th.due(1, t0));
        th.sent(1, t0);
        assert!(th.due(2, t0));
    }
}
