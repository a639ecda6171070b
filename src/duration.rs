//! Durations on the command line: `250us`, `5ms`, `1.5s`, `2m`, `1h`.

use std::time::Duration;

/// Parse `250us`, `5ms`, `1.5s`, `2m`, `1h` (a bare number is rejected: the unit is required).
pub fn parse(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| format!("duration '{s}' needs a unit (us, ms, s, m or h)"))?;
    let (num, unit) = s.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("invalid number in duration '{s}'"))?;
    let secs_per_unit = match unit {
        "ns" => 1e-9,
        "us" | "µs" => 1e-6,
        "ms" => 1e-3,
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => {
            return Err(format!(
                "unknown unit '{unit}' in duration '{s}' (us, ms, s, m, h)"
            ))
        }
    };
    let secs = value * secs_per_unit;
    if !secs.is_finite() || !(0.0..=1e9).contains(&secs) {
        return Err(format!("duration '{s}' out of range"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Like `parse`, but a bare number means seconds (`--timeout 30`, as curl's `--max-time`).
pub fn parse_or_seconds(s: &str) -> Result<Duration, String> {
    match s.trim().parse::<f64>() {
        Ok(secs) if secs.is_finite() && (0.0..=1e9).contains(&secs) => {
            Ok(Duration::from_secs_f64(secs))
        }
        Ok(_) => Err(format!("duration '{s}' out of range")),
        Err(_) => parse(s),
    }
}
