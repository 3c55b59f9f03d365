//! Times for `activity`: `--since`/`--until` as RFC 3339 or a duration ago (`90m`, `24h`, `7d`),
//! `--overlap` as a duration, the service's limits (content is kept 7 days; a listing window is
//! at most 24 hours, `startTime` inclusive and `endTime` exclusive), where a run starts listing,
//! and the time formats of the API and of the state file. All times are Unix seconds, UTC.

use crate::error::{Error, Result};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub(crate) const MINUTE: i64 = 60;
pub(crate) const HOUR: i64 = 60 * MINUTE;
pub(crate) const DAY: i64 = 24 * HOUR;
/// How long the service keeps content ("Content older than 7 days cannot be retrieved").
pub(crate) const RETENTION: i64 = 7 * DAY;
/// Listing never starts closer than this to the retention edge: a request queued or retried for
/// a few minutes must not become one the service refuses (AF20030/AF20055).
pub(crate) const RETENTION_MARGIN: i64 = 5 * MINUTE;
/// The longest listing window the service answers completely.
pub(crate) const MAX_WINDOW: i64 = DAY;
/// `--overlap` default: how far before the cursor a run lists again, for late content.
pub(crate) const DEFAULT_OVERLAP: i64 = DAY;
/// `--since` default without a cursor.
pub(crate) const DEFAULT_LOOKBACK: i64 = DAY;

/// A listing window `[start, end)` (the API's `startTime <= contentCreated < endTime`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Window {
    pub(crate) start: i64,
    pub(crate) end: i64,
}

impl std::fmt::Display for Window {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} – {}", rfc3339(self.start), rfc3339(self.end))
    }
}

/// A duration such as `90m`, `24h`, `7d`, `3600s` (or `0`), in seconds. `flag` names the
/// option in the error (exit 2).
pub(crate) fn parse_duration(text: &str, flag: &str) -> Result<i64> {
    duration_secs(text.trim()).ok_or_else(|| {
        Error::usage(format!(
            "{flag}: {text:?} is not a duration: use a number and a unit, e.g. 90m, 24h, 7d"
        ))
    })
}

fn duration_secs(t: &str) -> Option<i64> {
    if t == "0" {
        return Some(0);
    }
    let unit = t.chars().last()?;
    let digits = &t[..t.len() - unit.len_utf8()];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: i64 = digits.parse().ok()?;
    let scale = match unit {
        's' => 1,
        'm' => MINUTE,
        'h' => HOUR,
        'd' => DAY,
        'w' => 7 * DAY,
        _ => return None,
    };
    n.checked_mul(scale).filter(|s| *s <= 3650 * DAY)
}

/// `--since`/`--until`: an RFC 3339 time (`2026-11-20T08:00:00Z`, `2026-11-20T09:00:00+01:00`),
/// a UTC date (`2026-11-20`), or a duration ago (`24h` = now − 24 h).
pub(crate) fn parse_time(text: &str, flag: &str, now: i64) -> Result<i64> {
    let t = text.trim();
    if let Some(secs) = duration_secs(t) {
        return Ok(now - secs);
    }
    if let Some(epoch) = parse_rfc3339(t).or_else(|| parse_date(t)) {
        return Ok(epoch);
    }
    Err(Error::usage(format!(
        "{flag}: {text:?} is not a time: use RFC 3339 (2026-11-20T08:00:00Z), a date (2026-11-20, UTC) \
         or a duration ago (90m, 24h, 7d)"
    )))
}

/// An RFC 3339 date-time (any offset, fractional seconds dropped) as Unix seconds.
pub(crate) fn parse_rfc3339(text: &str) -> Option<i64> {
    OffsetDateTime::parse(text, &Rfc3339).ok().map(|t| t.unix_timestamp())
}

/// `YYYY-MM-DD`, midnight UTC.
fn parse_date(text: &str) -> Option<i64> {
    let mut parts = text.split('-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return None;
    }
    let month = time::Month::try_from(m.parse::<u8>().ok()?).ok()?;
    let date = time::Date::from_calendar_date(y.parse().ok()?, month, d.parse().ok()?).ok()?;
    Some(date.midnight().assume_utc().unix_timestamp())
}

/// The service's `contentCreated` (`2015-05-23T17:35:00.000Z`; an offset-less form is read as UTC).
pub(crate) fn parse_service_time(text: &str) -> Option<i64> {
    parse_rfc3339(text).or_else(|| {
        let t = text.trim();
        let has_offset = t.ends_with(['Z', 'z']) || t.get(19..).is_some_and(|rest| rest.contains(['+', '-']));
        if has_offset {
            None
        } else {
            parse_rfc3339(&format!("{t}Z"))
        }
    })
}

/// `2026-11-20T08:00:00Z`.
pub(crate) fn rfc3339(epoch: i64) -> String {
    OffsetDateTime::from_unix_timestamp(epoch)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| epoch.to_string())
}

/// `startTime`/`endTime` as the API documents them: `YYYY-MM-DDTHH:MM:SS`, UTC.
pub(crate) fn api_time(epoch: i64) -> String {
    rfc3339(epoch).trim_end_matches('Z').to_string()
}

/// The oldest time a listing may start at: now − 7 days + 5 minutes.
pub(crate) fn oldest_listable(now: i64) -> i64 {
    now - RETENTION + RETENTION_MARGIN
}

/// An explicit `--since` older than the retention is refused before anything is sent (exit 2).
pub(crate) fn check_since(since: i64, now: i64) -> Result<()> {
    if since < now - RETENTION {
        return Err(Error::usage(format!(
            "--since {} is more than 7 days ago: the service keeps 7 days",
            rfc3339(since)
        ))
        .hint("give a later --since (at most 7d ago); content older than that can no longer be listed"));
    }
    Ok(())
}

/// `--until` (default now) checked against `--since`; a time in the future becomes now, so a
/// cursor never passes the present.
pub(crate) fn resolve_until(until: Option<i64>, since: Option<i64>, now: i64) -> Result<i64> {
    let until = until.map_or(now, |u| u.min(now));
    if let Some(since) = since
        && since > until
    {
        return Err(Error::usage(format!(
            "--until {} is before --since {}",
            rfc3339(until),
            rfc3339(since)
        )));
    }
    Ok(until)
}

/// Where one content type's listing starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ListingStart {
    pub(crate) start: i64,
    /// The state's cursor, when it was older than the service keeps (content between it and
    /// `start` can no longer be listed): the caller warns.
    pub(crate) stale_cursor: Option<i64>,
}

/// With a cursor: max(`--since`, cursor − overlap, now − 7 d + 5 min). Without one: `--since`
/// (default 24 h ago), no earlier than now − 7 d + 5 min.
pub(crate) fn listing_start(since: Option<i64>, cursor: Option<i64>, overlap: i64, now: i64) -> ListingStart {
    let floor = oldest_listable(now);
    match cursor {
        None => ListingStart {
            start: since.unwrap_or(now - DEFAULT_LOOKBACK).max(floor),
            stale_cursor: None,
        },
        Some(c) => ListingStart {
            start: (c - overlap).max(floor).max(since.unwrap_or(i64::MIN)),
            stale_cursor: (c < floor).then_some(c),
        },
    }
}

/// `[start, end)` cut into consecutive windows of at most 24 hours (none when `start >= end`).
pub(crate) fn windows(start: i64, end: i64) -> Vec<Window> {
    let mut out = Vec::new();
    let mut s = start;
    while s < end {
        let e = (s + MAX_WINDOW).min(end);
        out.push(Window { start: s, end: e });
        s = e;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_795_000_000; // 2026-11-18T11:06:40Z

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90m", "--overlap").unwrap(), 90 * 60);
        assert_eq!(parse_duration("24h", "--overlap").unwrap(), DAY);
        assert_eq!(parse_duration("7d", "--overlap").unwrap(), 7 * DAY);
        assert_eq!(parse_duration("2w", "--overlap").unwrap(), 14 * DAY);
        assert_eq!(parse_duration("30s", "--overlap").unwrap(), 30);
        assert_eq!(parse_duration("0", "--overlap").unwrap(), 0);
        for bad in ["", "h", "5", "-5h", "5x", "1.5h", "99999999999999999999d", "5 h", "5H"] {
            let e = parse_duration(bad, "--overlap").unwrap_err();
            assert_eq!(e.exit_code(), 2, "{bad}");
            assert!(e.message.contains("--overlap"), "{}", e.message);
        }
    }

    #[test]
    fn times_absolute_and_relative() {
        assert_eq!(parse_time("24h", "--since", NOW).unwrap(), NOW - DAY);
        assert_eq!(parse_time("90m", "--since", NOW).unwrap(), NOW - 90 * 60);
        assert_eq!(parse_time("2026-11-18T11:06:40Z", "--since", NOW).unwrap(), NOW);
        assert_eq!(parse_time("2026-11-18T12:06:40+01:00", "--since", NOW).unwrap(), NOW);
        assert_eq!(parse_time("2026-11-18T11:06:40.750Z", "--since", NOW).unwrap(), NOW);
        assert_eq!(
            parse_time("2026-11-18", "--until", NOW).unwrap(),
            NOW - (11 * HOUR + 6 * MINUTE + 40)
        );
        for bad in [
            "yesterday",
            "2026-11-18T11:06:40",
            "2026-13-01",
            "2026-02-30",
            "18/11/2026",
            "",
        ] {
            let e = parse_time(bad, "--until", NOW).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{bad}");
            assert!(e.message.starts_with("--until"), "{}", e.message);
        }
    }

    #[test]
    fn service_times() {
        assert_eq!(parse_service_time("2026-11-18T11:06:40.000Z"), Some(NOW));
        assert_eq!(parse_service_time("2026-11-18T11:06:40"), Some(NOW));
        assert_eq!(parse_service_time("2026-11-18T11:06:40.1234567"), Some(NOW));
        assert_eq!(parse_service_time("nope"), None);
        assert_eq!(rfc3339(NOW), "2026-11-18T11:06:40Z");
        assert_eq!(api_time(NOW), "2026-11-18T11:06:40");
    }

    #[test]
    fn since_older_than_retention_is_refused() {
        assert!(check_since(NOW - 7 * DAY, NOW).is_ok());
        assert!(check_since(NOW - HOUR, NOW).is_ok());
        let e = check_since(NOW - 9 * DAY, NOW).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.message.contains("the service keeps 7 days"), "{}", e.message);
        assert!(check_since(NOW - 7 * DAY - 1, NOW).is_err());
    }

    #[test]
    fn until_defaults_to_now_and_never_passes_it() {
        assert_eq!(resolve_until(None, None, NOW).unwrap(), NOW);
        assert_eq!(resolve_until(Some(NOW + DAY), None, NOW).unwrap(), NOW);
        assert_eq!(
            resolve_until(Some(NOW - HOUR), Some(NOW - DAY), NOW).unwrap(),
            NOW - HOUR
        );
        let e = resolve_until(Some(NOW - DAY), Some(NOW - HOUR), NOW).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(
            e.message.contains("--until") && e.message.contains("--since"),
            "{}",
            e.message
        );
    }

    #[test]
    fn listing_start_rules() {
        let floor = NOW - 7 * DAY + 5 * MINUTE;
        // no cursor: --since, default 24 h ago, never before the floor
        assert_eq!(listing_start(None, None, DAY, NOW).start, NOW - DAY);
        assert_eq!(
            listing_start(Some(NOW - 3 * HOUR), None, DAY, NOW).start,
            NOW - 3 * HOUR
        );
        assert_eq!(listing_start(Some(NOW - 7 * DAY), None, DAY, NOW).start, floor);
        // cursor: max(--since, cursor - overlap, floor)
        let c = NOW - 2 * HOUR;
        assert_eq!(
            listing_start(None, Some(c), DAY, NOW),
            ListingStart {
                start: c - DAY,
                stale_cursor: None
            }
        );
        assert_eq!(listing_start(None, Some(c), 0, NOW).start, c);
        assert_eq!(listing_start(Some(NOW - HOUR), Some(c), DAY, NOW).start, NOW - HOUR);
        assert_eq!(listing_start(Some(NOW - 5 * DAY), Some(c), DAY, NOW).start, c - DAY);
        // overlap reaching past the floor is clamped silently; a stale cursor is reported
        let old = NOW - 6 * DAY - 12 * HOUR;
        assert_eq!(
            listing_start(None, Some(old), DAY, NOW),
            ListingStart {
                start: floor,
                stale_cursor: None
            }
        );
        let stale = NOW - 9 * DAY;
        assert_eq!(
            listing_start(None, Some(stale), DAY, NOW),
            ListingStart {
                start: floor,
                stale_cursor: Some(stale)
            }
        );
    }

    #[test]
    fn windows_are_at_most_24_hours_and_contiguous() {
        assert!(windows(NOW, NOW).is_empty());
        assert!(windows(NOW, NOW - 1).is_empty());
        assert_eq!(
            windows(NOW - HOUR, NOW),
            vec![Window {
                start: NOW - HOUR,
                end: NOW
            }]
        );
        let w = windows(NOW - 60 * HOUR, NOW);
        assert_eq!(w.len(), 3);
        assert_eq!(w[0].start, NOW - 60 * HOUR);
        assert_eq!(w.last().unwrap().end, NOW);
        assert!(w.iter().all(|w| w.end - w.start <= DAY && w.end > w.start));
        assert!(w.windows(2).all(|p| p[0].end == p[1].start));
        assert_eq!(windows(NOW - 2 * DAY, NOW).len(), 2);
    }
}
