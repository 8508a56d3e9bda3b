//! A cheap wall clock: the CPU's time-stamp counter anchored to `SystemTime`.
//!
//! Reading `SystemTime::now()` costs a large share of a `log` call; the TSC read
//! through `quanta` costs a fraction. The TSC drifts slowly from wall time, so the
//! writer re-anchors at every flush and keeps timestamps monotonic per writer.

use std::time::{SystemTime, UNIX_EPOCH};

/// Nanoseconds since the Unix epoch from the system clock.
pub fn system_now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// A TSC-based clock giving nanoseconds since the Unix epoch.
#[derive(Debug)]
pub struct WallClock {
    clock: quanta::Clock,
    anchor_raw: u64,
    anchor_wall_ns: i64,
    last_ns: i64,
}

impl Default for WallClock {
    fn default() -> Self {
        Self::new()
    }
}

impl WallClock {
    /// A clock anchored to the system clock now.
    pub fn new() -> Self {
        let clock = quanta::Clock::new();
        let anchor_raw = clock.raw();
        WallClock {
            clock,
            anchor_raw,
            anchor_wall_ns: system_now_ns(),
            last_ns: i64::MIN,
        }
    }

    /// Current time in ns since the epoch; never smaller than the previous reading.
    #[inline]
    pub fn now_ns(&mut self) -> i64 {
        let elapsed = self.clock.delta_as_nanos(self.anchor_raw, self.clock.raw());
        let now = self.anchor_wall_ns + elapsed as i64;
        if now > self.last_ns {
            self.last_ns = now;
        }
        self.last_ns
    }

    /// Re-reads the system clock so that TSC drift never accumulates.
    pub fn reanchor(&mut self) {
        self.anchor_raw = self.clock.raw();
        self.anchor_wall_ns = system_now_ns();
    }
}
