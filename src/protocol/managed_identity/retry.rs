//! When to retry a managed-identity request, as a pure schedule: which answers are retried
//! (IMDS: 404, 408, 410, 429, 5xx and timeouts; other sources: 408, 429, 5xx and timeouts),
//! exponential backoff 1, 2, 4, 8, 16 s for at most 5 retries, `Retry-After` honoured, and 410
//! ("IMDS is being updated, back within 70 seconds") retried for up to 70 s from the first
//! attempt. Nothing sleeps past the deadline (90 s by default for a managed identity).
//!
//! Microsoft's guidance: "Retry if you receive a 404, 429, or 5xx error code ... If you receive a
//! 410 error, it indicates that IMDS is going through updates and will be available in a maximum
//! of 70 seconds" (<https://learn.microsoft.com/entra/identity/managed-identities-azure-resources/how-to-use-vm-token#retry-guidance>).
//! Service Fabric asks not to retry 404, so only IMDS retries 404 and 410.

use super::Source;
use std::time::Duration;

/// The default `--timeout` for a managed identity: room for 410's 70 s.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(90);
/// How long a 410 (IMDS update) is retried, from the first attempt.
pub(crate) const IMDS_UPDATE_WINDOW: Duration = Duration::from_secs(70);
/// Retries of anything but 410.
pub(crate) const MAX_RETRIES: u32 = 5;
/// The first backoff; each next one doubles.
pub(crate) const FIRST_DELAY: Duration = Duration::from_secs(1);
/// The largest backoff (the fifth retry's).
pub(crate) const MAX_DELAY: Duration = Duration::from_secs(16);
/// While IMDS is updating (410), retry at least this often.
pub(crate) const UPDATE_MAX_DELAY: Duration = Duration::from_secs(10);
/// The longest `Retry-After` honoured.
pub(crate) const RETRY_AFTER_MAX: Duration = Duration::from_secs(60);

/// What one attempt got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// An HTTP answer with this status.
    Status(u16),
    /// No answer in time (IMDS times out while it updates).
    TimedOut,
    /// Nothing listens there (connection refused, no route): not retried, exit 4 at once.
    ConnectFailed,
}

/// Whether `source` answering `outcome` is worth another attempt.
pub(crate) fn retryable(source: Source, outcome: Outcome) -> bool {
    match outcome {
        Outcome::TimedOut => true,
        Outcome::ConnectFailed => false,
        Outcome::Status(s) => match s {
            408 | 429 | 500..=599 => true,
            404 | 410 => source == Source::Imds,
            _ => false,
        },
    }
}

/// Where an attempt stands.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Attempt {
    pub(crate) outcome: Outcome,
    /// Retries already made (0 after the first attempt).
    pub(crate) retries: u32,
    /// Time since the first attempt started.
    pub(crate) since_first: Duration,
    /// Time left before the deadline (`--timeout`).
    pub(crate) remaining: Duration,
    /// The reply's `Retry-After`, if any.
    pub(crate) retry_after: Option<Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Wait this long, then try again.
    RetryAfter(Duration),
    Stop(Stop),
}

/// Why there is no further attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    /// The answer is final (success, or an error retrying cannot fix).
    Final,
    /// [`MAX_RETRIES`] retries made.
    AttemptsExhausted,
    /// IMDS still answered 410 after [`IMDS_UPDATE_WINDOW`].
    UpdateWindowOver,
    /// The next attempt would start after the deadline.
    Deadline,
}

impl Stop {
    /// For the error's "caused by" line and `-v`.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Stop::Final => "the answer is final",
            Stop::AttemptsExhausted => "gave up after 5 retries",
            Stop::UpdateWindowOver => "IMDS was still being updated (HTTP 410) after 70 s",
            Stop::Deadline => "the next retry would end after the deadline (--timeout)",
        }
    }
}

/// The backoff before retry number `retry` (0-based): 1, 2, 4, 8, 16 s, at most `cap`.
pub(crate) fn backoff(retry: u32, cap: Duration) -> Duration {
    FIRST_DELAY.saturating_mul(1u32 << retry.min(16)).min(cap)
}

/// The next step after an attempt.
pub(crate) fn decide(source: Source, a: &Attempt) -> Decision {
    if !retryable(source, a.outcome) {
        return Decision::Stop(Stop::Final);
    }
    let updating = a.outcome == Outcome::Status(410);
    let mut delay = if updating {
        backoff(a.retries, UPDATE_MAX_DELAY)
    } else {
        if a.retries >= MAX_RETRIES {
            return Decision::Stop(Stop::AttemptsExhausted);
        }
        backoff(a.retries, MAX_DELAY)
    };
    if let Some(after) = a.retry_after {
        delay = delay.max(after.min(RETRY_AFTER_MAX));
    }
    if updating && a.since_first.saturating_add(delay) > IMDS_UPDATE_WINDOW {
        return Decision::Stop(Stop::UpdateWindowOver);
    }
    if delay >= a.remaining {
        return Decision::Stop(Stop::Deadline);
    }
    Decision::RetryAfter(delay)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    fn attempt(outcome: Outcome, retries: u32, since_first: u64, remaining: u64) -> Attempt {
        Attempt {
            outcome,
            retries,
            since_first: S(since_first),
            remaining: S(remaining),
            retry_after: None,
        }
    }

    /// Simulates a source answering `outcome` every time, each attempt taking `per_attempt`:
    /// returns the delays slept and why it stopped.
    fn run(source: Source, outcome: Outcome, deadline: u64, per_attempt: Duration) -> (Vec<u64>, Stop) {
        let mut elapsed = per_attempt;
        let mut delays = Vec::new();
        for retries in 0.. {
            let a = Attempt {
                outcome,
                retries,
                since_first: elapsed,
                remaining: S(deadline).saturating_sub(elapsed),
                retry_after: None,
            };
            match decide(source, &a) {
                Decision::RetryAfter(d) => {
                    delays.push(d.as_secs());
                    elapsed += d + per_attempt;
                }
                Decision::Stop(stop) => return (delays, stop),
            }
        }
        unreachable!()
    }

    #[test]
    fn which_answers_are_retried() {
        for s in [404, 408, 410, 429, 500, 502, 503, 504, 599] {
            assert!(retryable(Source::Imds, Outcome::Status(s)), "{s}");
        }
        for s in [200, 201, 400, 401, 403, 405, 409, 411, 499, 600] {
            assert!(!retryable(Source::Imds, Outcome::Status(s)), "{s}");
        }
        for source in [
            Source::AppService,
            Source::Arc,
            Source::CloudShell,
            Source::ServiceFabric,
        ] {
            assert!(retryable(source, Outcome::Status(503)));
            assert!(retryable(source, Outcome::Status(429)));
            assert!(retryable(source, Outcome::Status(408)));
            assert!(!retryable(source, Outcome::Status(404)), "{source:?}");
            assert!(!retryable(source, Outcome::Status(410)), "{source:?}");
        }
        assert!(retryable(Source::Imds, Outcome::TimedOut));
        assert!(!retryable(Source::Imds, Outcome::ConnectFailed));
    }

    #[test]
    fn exponential_backoff_five_retries() {
        assert_eq!(
            (0..7).map(|r| backoff(r, MAX_DELAY).as_secs()).collect::<Vec<_>>(),
            [1, 2, 4, 8, 16, 16, 16]
        );
        assert_eq!(backoff(40, MAX_DELAY), MAX_DELAY, "no overflow");
        let (delays, stop) = run(Source::Imds, Outcome::Status(503), 90, Duration::ZERO);
        assert_eq!(delays, [1, 2, 4, 8, 16]);
        assert_eq!(stop, Stop::AttemptsExhausted);
        let (delays, stop) = run(Source::Imds, Outcome::Status(404), 90, Duration::ZERO);
        assert_eq!((delays, stop), (vec![1, 2, 4, 8, 16], Stop::AttemptsExhausted));
        let (delays, _) = run(Source::AppService, Outcome::Status(429), 90, Duration::ZERO);
        assert_eq!(delays, [1, 2, 4, 8, 16]);
    }

    #[test]
    fn gone_is_retried_for_seventy_seconds() {
        let (delays, stop) = run(Source::Imds, Outcome::Status(410), 90, Duration::ZERO);
        assert_eq!(delays, [1, 2, 4, 8, 10, 10, 10, 10, 10]);
        assert_eq!(delays.iter().sum::<u64>(), 65);
        assert_eq!(stop, Stop::UpdateWindowOver);
        // more than the 5 retries other errors get
        assert!(delays.len() > MAX_RETRIES as usize);
        // with slow attempts (IMDS timing out while updating) the window still bounds it
        let (delays, stop) = run(Source::Imds, Outcome::Status(410), 90, S(2));
        assert_eq!(stop, Stop::UpdateWindowOver);
        let total: u64 = delays.iter().sum::<u64>() + 2 * (delays.len() as u64 + 1);
        assert!(total <= 72, "{delays:?}");
    }

    #[test]
    fn never_sleeps_past_the_deadline() {
        // a short --timeout (what the end-to-end tests use)
        let (delays, stop) = run(Source::Imds, Outcome::Status(500), 3, Duration::ZERO);
        assert_eq!((delays, stop), (vec![1], Stop::Deadline));
        let (delays, stop) = run(Source::Imds, Outcome::Status(410), 10, Duration::ZERO);
        assert_eq!((delays, stop), (vec![1, 2, 4], Stop::Deadline));
        assert_eq!(
            decide(Source::Imds, &attempt(Outcome::Status(503), 0, 0, 1)),
            Decision::Stop(Stop::Deadline)
        );
        assert_eq!(
            decide(Source::Imds, &attempt(Outcome::TimedOut, 0, 5, 0)),
            Decision::Stop(Stop::Deadline)
        );
    }

    #[test]
    fn final_answers_stop_at_once() {
        for outcome in [
            Outcome::Status(200),
            Outcome::Status(400),
            Outcome::Status(401),
            Outcome::ConnectFailed,
        ] {
            assert_eq!(
                decide(Source::Imds, &attempt(outcome, 0, 0, 90)),
                Decision::Stop(Stop::Final),
                "{outcome:?}"
            );
        }
        assert_eq!(
            decide(Source::ServiceFabric, &attempt(Outcome::Status(404), 0, 0, 90)),
            Decision::Stop(Stop::Final)
        );
    }

    #[test]
    fn retry_after_is_honoured_and_capped() {
        let mut a = attempt(Outcome::Status(429), 0, 0, 90);
        a.retry_after = Some(S(7));
        assert_eq!(decide(Source::Imds, &a), Decision::RetryAfter(S(7)));
        a.retry_after = Some(Duration::from_millis(200));
        assert_eq!(
            decide(Source::Imds, &a),
            Decision::RetryAfter(S(1)),
            "backoff is the floor"
        );
        a.retry_after = Some(S(3600));
        assert_eq!(decide(Source::Imds, &a), Decision::RetryAfter(RETRY_AFTER_MAX));
        a.remaining = S(30);
        assert_eq!(decide(Source::Imds, &a), Decision::Stop(Stop::Deadline));
        // a long Retry-After on 410 cannot stretch the update window
        let mut g = attempt(Outcome::Status(410), 3, 60, 90);
        g.retry_after = Some(S(20));
        assert_eq!(decide(Source::Imds, &g), Decision::Stop(Stop::UpdateWindowOver));
    }

    #[test]
    fn stop_reasons_read_well() {
        for s in [
            Stop::Final,
            Stop::AttemptsExhausted,
            Stop::UpdateWindowOver,
            Stop::Deadline,
        ] {
            assert!(!s.describe().is_empty());
        }
        assert!(Stop::UpdateWindowOver.describe().contains("410"));
        assert_eq!(DEFAULT_TIMEOUT.as_secs(), 90);
    }
}
