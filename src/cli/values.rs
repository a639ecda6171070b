//! Value parsers shared by every subcommand: a bad value is refused by clap itself, which names
//! the flag and exits 2.

use std::time::Duration;

/// The one duration grammar of the command line: `250us`, `5ms`, `1.5s`, `2m`, `1h`, or a bare
/// number of seconds (as curl's `--max-time`).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    crate::duration::parse_or_seconds(s)
}

/// A duration above zero.
pub fn positive_duration(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d.is_zero() {
        return Err(format!("'{s}' must be above zero"));
    }
    Ok(d)
}

/// A finite number above zero (rates).
pub fn positive_f64(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a number"))?;
    if !(v.is_finite() && v > 0.0) {
        return Err(format!("'{s}' must be a positive number"));
    }
    Ok(v)
}

/// A relative tolerance: `5%` or `0.05`, above 0 and below 100%.
pub fn tolerance(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let v: f64 = match t.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|v| v / 100.0),
        None => t.parse(),
    }
    .map_err(|_| format!("'{s}' is not a tolerance (e.g. 5% or 0.05)"))?;
    if !(v.is_finite() && v > 0.0 && v < 1.0) {
        return Err(format!("'{s}' must be above 0% and below 100%"));
    }
    Ok(v)
}

/// A number in [0, 1].
pub fn fraction(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a number"))?;
    if !(0.0..=1.0).contains(&v) {
        return Err(format!("'{s}' is not between 0 and 1"));
    }
    Ok(v)
}

fn count_in(s: &str, min: u64, max: u64) -> Result<u64, String> {
    let v: u64 = s
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a whole number"))?;
    if v < min || v > max {
        return Err(format!("'{s}' must be between {min} and {max}"));
    }
    Ok(v)
}

/// A count of at least 1 (workers, connections, attempts...).
pub fn count(s: &str) -> Result<usize, String> {
    count_in(s, 1, u32::MAX.into()).map(|v| v as usize)
}

/// Most requests in flight at once: enough for any single machine, bounded so that a typo
/// cannot reserve gigabytes of worker state.
pub const MAX_IN_FLIGHT: u64 = 65_536;

pub fn in_flight(s: &str) -> Result<usize, String> {
    count_in(s, 1, MAX_IN_FLIGHT).map(|v| v as usize)
}

/// A count of at least 1, as u64 (`--requests`).
pub fn count_u64(s: &str) -> Result<u64, String> {
    count_in(s, 1, u64::MAX)
}

/// Attempts per request: 1 to 100.
pub fn attempts(s: &str) -> Result<u32, String> {
    count_in(s, 1, 100).map(|v| v as u32)
}

/// Retries per request: 0 to 100.
pub fn retries(s: &str) -> Result<u32, String> {
    count_in(s, 0, 100).map(|v| v as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("2").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert!(parse_duration("fast").is_err());
        assert!(parse_duration("5 parsecs").is_err());
        assert!(positive_duration("0").is_err());
        assert!(positive_duration("0ms").is_err());
    }

    #[test]
    fn numbers() {
        assert_eq!(positive_f64("2.5"), Ok(2.5));
        for bad in ["0", "-1", "nan", "inf", "x"] {
            assert!(positive_f64(bad).is_err(), "{bad}");
        }
        assert!(fraction("1.5").is_err());
        assert_eq!(count("3"), Ok(3));
        assert!(count("0").is_err());
        assert!(in_flight("1000000").is_err());
        assert_eq!(retries("0"), Ok(0));
    }
}
