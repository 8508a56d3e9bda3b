//! Wall times: the store's int64 nanoseconds against TensorBoard's double seconds.
//!
//! A double holds about 16 significant digits, so at today's dates (about 1.7e9 s) a
//! wall time is exact to 2^-22 s (238 ns): nanoseconds come back within half of that,
//! 119 ns, for any time before 2038 (and within 239 ns until 2106).

const NS: i64 = 1_000_000_000;

/// Seconds since the epoch for `ns`, rounded once (whole seconds and the fraction are
/// converted apart, so no precision is lost before the final rounding).
#[inline]
pub fn seconds(ns: i64) -> f64 {
    ns.div_euclid(NS) as f64 + ns.rem_euclid(NS) as f64 * 1e-9
}

/// The nanoseconds nearest to `secs` (saturating outside the int64 range; NaN is 0).
#[inline]
pub fn nanos(secs: f64) -> i64 {
    if !secs.is_finite() {
        return if secs.is_nan() {
            0
        } else if secs > 0.0 {
            i64::MAX
        } else {
            i64::MIN
        };
    }
    let whole = secs.floor();
    // Exact: `secs - floor(secs)` loses nothing for doubles of this size.
    let frac = ((secs - whole) * 1e9).round() as i64;
    (whole as i64).saturating_mul(NS).saturating_add(frac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_within_half_a_double_step() {
        for ns in [
            0,
            1,
            999_999_999,
            1_700_000_000_123_456_789,
            2_147_483_647_999_999_999,
            -1,
            -1_500_000_000,
        ] {
            let back = nanos(seconds(ns));
            assert!((back - ns).abs() <= 119, "{ns} -> {back}");
        }
        assert_eq!(nanos(1.5), 1_500_000_000);
        assert_eq!(seconds(1_500_000_000), 1.5);
        assert_eq!(nanos(f64::NAN), 0);
    }
}
