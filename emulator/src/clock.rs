//! The emulator's clock (seconds since the Unix epoch) and the date formats Entra, Graph and the
//! Management Activity API print or accept.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch, by the system clock.
pub(crate) fn system_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// An HTTP `Date` header value for epoch seconds (`Sat, 06 May 2023 06:03:00 GMT`).
pub(crate) fn http_date(epoch: u64) -> String {
    httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(epoch))
}

/// Formats epoch seconds as `2023-05-06T06:03:00Z` (negative values clamp to the epoch).
pub(crate) fn iso8601(epoch: i64) -> String {
    let (y, m, d, hh, mm, ss) = civil(epoch.max(0) as u64);
    format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z")
}

/// `2023-05-06T06:03:00.0000000Z`, the .NET round-trip form Entra prints in 700024.
pub(crate) fn iso8601_fraction(epoch: i64) -> String {
    let (y, m, d, hh, mm, ss) = civil(epoch.max(0) as u64);
    format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}.0000000Z")
}

/// `02/07/2021 17:00:39`, how Entra prints key validity in 700027 texts.
pub(crate) fn us_datetime(epoch: i64) -> String {
    let (y, m, d, hh, mm, ss) = civil(epoch.max(0) as u64);
    format!("{m:02}/{d:02}/{y:04} {hh:02}:{mm:02}:{ss:02}")
}

fn civil(epoch: u64) -> (i64, u32, u32, u64, u64, u64) {
    let days = (epoch / 86_400) as i64;
    let secs = epoch % 86_400;
    let (y, m, d) = civil_from_days(days);
    (y, m, d, secs / 3600, secs % 3600 / 60, secs % 60)
}

/// Formats epoch seconds the way Entra does in error bodies: `2023-05-06 06:03:00Z`.
pub(crate) fn entra_timestamp(epoch: u64) -> String {
    let days = (epoch / 86_400) as i64;
    let secs = epoch % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// (year, month, day) to days since 1970-01-01 (proleptic Gregorian).
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM` or `YYYY-MM-DDTHH:MM:SS[.fff]`, optionally ending in
/// `Z`, as UTC epoch seconds. `None` for anything else.
pub(crate) fn parse_iso_time(s: &str) -> Option<u64> {
    let s = s.trim();
    let s = s.strip_suffix('Z').or_else(|| s.strip_suffix('z')).unwrap_or(s);
    let (date, time) = match s.split_once(['T', 't', ' ']) {
        Some((d, t)) => (d, Some(t)),
        None => (s, None),
    };
    let num = |p: &str, len: usize| -> Option<u32> {
        (p.len() == len && p.bytes().all(|b| b.is_ascii_digit())).then(|| p.parse().ok())?
    };
    let mut dp = date.split('-');
    let (y, m, d) = (num(dp.next()?, 4)?, num(dp.next()?, 2)?, num(dp.next()?, 2)?);
    if dp.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let (mut hh, mut mm, mut ss) = (0, 0, 0);
    if let Some(t) = time {
        let t = t.split_once('.').map_or(t, |(whole, frac)| {
            if frac.bytes().all(|b| b.is_ascii_digit()) {
                whole
            } else {
                "x"
            }
        });
        let mut tp = t.split(':');
        hh = num(tp.next()?, 2)?;
        mm = num(tp.next()?, 2)?;
        if let Some(sec) = tp.next() {
            ss = num(sec, 2)?;
        }
        if tp.next().is_some() || hh > 23 || mm > 59 || ss > 59 {
            return None;
        }
    }
    let days = days_from_civil(i64::from(y), m, d);
    let t = days * 86_400 + i64::from(hh * 3600 + mm * 60 + ss);
    u64::try_from(t).ok()
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_format() {
        assert_eq!(entra_timestamp(0), "1970-01-01 00:00:00Z");
        assert_eq!(entra_timestamp(1_683_352_980), "2023-05-06 06:03:00Z");
        assert_eq!(entra_timestamp(951_782_400), "2000-02-29 00:00:00Z");
    }

    #[test]
    fn iso_times() {
        assert_eq!(parse_iso_time("2023-05-06T06:03:00Z"), Some(1_683_352_980));
        assert_eq!(parse_iso_time("2023-05-06T06:03"), Some(1_683_352_980));
        assert_eq!(parse_iso_time("2023-05-06T06:03:00.123Z"), Some(1_683_352_980));
        assert_eq!(parse_iso_time("2000-02-29"), Some(951_782_400));
        assert_eq!(iso8601(1_683_352_980), "2023-05-06T06:03:00Z");
        for bad in [
            "",
            "2023-5-6",
            "2023-05-06T25:00",
            "2023-13-01",
            "yesterday",
            "2023-05-06T06:03:00.x",
        ] {
            assert_eq!(parse_iso_time(bad), None, "{bad}");
        }
    }
}
