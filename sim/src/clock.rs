//! Time source. Registry timestamps and CertUrl expiry read `IOTKIT_SIM_NOW`
//! (unix seconds) when set, so tests can move time without waiting 30 days.
//! Certificate validity always uses the real clock: a certificate dated in a
//! fake past or future would fail real TLS verification.

use std::time::{SystemTime, UNIX_EPOCH};

pub const NOW_ENV: &str = "IOTKIT_SIM_NOW";

/// Registry "now" in unix seconds (honours `IOTKIT_SIM_NOW`).
pub fn now() -> i64 {
    if let Ok(text) = std::env::var(NOW_ENV) {
        if let Ok(value) = text.trim().parse::<i64>() {
            return value;
        }
        eprintln!(
            "[sim] warning: {NOW_ENV}={text} is not unix seconds; using the real clock",
            text = crate::quote::q(&text)
        );
    }
    real_now()
}

pub fn real_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Unix seconds as an RFC 3339 UTC timestamp, e.g. `2026-11-27T21:12:01Z`.
pub fn rfc3339(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    )
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_798_761_599), "2026-12-31T23:59:59Z");
    }
}
