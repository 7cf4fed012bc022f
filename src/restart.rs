//! Restart intensity: how many crashes an instance may have within a window
//! before it stops for good.
//!
//! Every crash counts: a panic, an error returned by a callback, a kill of the
//! worker, a failed `init` after a restore, and a stop of the instance's actor
//! from outside peeper. The instance counts its own crashes, so the limit
//! travels with it when it moves to another supervisor.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

/// At most `max_restarts` restarts within any `within` window; one more crash
/// stops the instance with [`StopReason::RestartLimit`](crate::StopReason::RestartLimit).
///
/// The default allows 100 restarts in 10 seconds: enough for a burst of bad
/// messages (each crashes only itself, and is not retried), not enough to hide
/// a worker that can no longer do anything.
///
/// ```
/// use std::time::Duration;
/// use peeper::RestartPolicy;
///
/// let strict = RestartPolicy::new(3, Duration::from_secs(5));
/// assert_eq!(strict.max_restarts, 3);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestartPolicy {
    /// Restarts allowed within the window; `0` stops at the first crash.
    pub max_restarts: u32,
    /// The length of the sliding window.
    pub within: Duration,
}

impl RestartPolicy {
    /// A policy of `max_restarts` within `within`.
    pub fn new(max_restarts: u32, within: Duration) -> Self {
        RestartPolicy {
            max_restarts,
            within,
        }
    }
}

impl Default for RestartPolicy {
    fn default() -> Self {
        RestartPolicy::new(100, Duration::from_secs(10))
    }
}

/// The crash times of one instance inside the current window.
#[derive(Debug, Default)]
pub(crate) struct RestartWindow {
    /// Made at the first crash: most instances never crash, and each one
    /// keeps its window inline.
    crashes: Option<Box<Crashes>>,
}

/// What a crashed instance keeps of its crashes.
#[derive(Debug, Default)]
struct Crashes {
    /// The crash times inside the window, oldest first.
    times: VecDeque<Instant>,
    /// Every crash since the instance started, for the live view: in the
    /// same box, so that it costs an instance that never crashed nothing.
    #[cfg(feature = "dashboard")]
    history: Option<CrashHistory>,
}

/// An instance's crashes since it started (feature `dashboard`).
#[cfg(feature = "dashboard")]
#[derive(Debug, Clone)]
pub(crate) struct CrashHistory {
    /// How many crashes in all.
    pub(crate) total: u64,
    /// The last one.
    pub(crate) last: crate::error::Crash,
    /// When the last one happened.
    pub(crate) at: std::time::SystemTime,
}

impl RestartWindow {
    /// Records a crash now. `Ok` with the count in the window if a restart is
    /// allowed, `Err` with that count if the policy is exceeded.
    pub(crate) fn record(&mut self, policy: &RestartPolicy, now: Instant) -> Result<u32, u32> {
        let crashes = &mut self.crashes.get_or_insert_default().times;
        while let Some(first) = crashes.front() {
            if now.duration_since(*first) >= policy.within {
                crashes.pop_front();
            } else {
                break;
            }
        }
        crashes.push_back(now);
        let count = u32::try_from(crashes.len()).unwrap_or(u32::MAX);
        if count > policy.max_restarts {
            Err(count)
        } else {
            Ok(count)
        }
    }

    /// Notes `crash` in the history the live view shows.
    #[cfg(feature = "dashboard")]
    pub(crate) fn note(&mut self, crash: &crate::error::Crash) {
        let crashes = self.crashes.get_or_insert_default();
        let total = crashes.history.as_ref().map_or(0, |h| h.total) + 1;
        crashes.history = Some(CrashHistory {
            total,
            last: crash.clone(),
            at: std::time::SystemTime::now(),
        });
    }

    /// The crashes since the instance started, if it ever crashed.
    #[cfg(feature = "dashboard")]
    pub(crate) fn history(&self) -> Option<&CrashHistory> {
        self.crashes.as_ref()?.history.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_max_then_refuses() {
        let policy = RestartPolicy::new(2, Duration::from_secs(10));
        let mut w = RestartWindow::default();
        let t = Instant::now();
        assert_eq!(w.record(&policy, t), Ok(1));
        assert_eq!(w.record(&policy, t), Ok(2));
        assert_eq!(w.record(&policy, t), Err(3));
    }

    #[test]
    fn old_crashes_leave_the_window() {
        let policy = RestartPolicy::new(1, Duration::from_secs(1));
        let mut w = RestartWindow::default();
        let t = Instant::now();
        assert_eq!(w.record(&policy, t), Ok(1));
        assert_eq!(w.record(&policy, t + Duration::from_secs(1)), Ok(1));
        assert_eq!(w.record(&policy, t + Duration::from_millis(1500)), Err(2));
    }

    #[test]
    fn zero_stops_at_first_crash() {
        let policy = RestartPolicy::new(0, Duration::from_secs(1));
        assert_eq!(
            RestartWindow::default().record(&policy, Instant::now()),
            Err(1)
        );
    }
}
