//! A scheduled container's side of the supervisor: whether its windows are open now, waiting
//! for the next one, and sleeping until the next open or close (the windows' arithmetic is
//! `config::schedule`'s; this file knows the wall clock, not the engine).

use std::time::Duration;

use super::Supervisor;
use crate::config::Strategy;
use crate::upstream::State;

/// The longest a scheduled container sleeps before its window is looked at again: the wall
/// clock may jump (a suspended machine, an NTP step) while tokio's timers run on a monotonic one.
const WINDOW_RECHECK: Duration = Duration::from_secs(60);

impl Supervisor {
    pub(super) fn is_scheduled(&self) -> bool {
        self.up
            .cfg
            .container
            .as_ref()
            .is_some_and(|k| k.strategy == Strategy::Scheduled)
    }

    /// A scheduled container's windows (empty for the others).
    fn schedule(&self) -> &[crate::config::Window] {
        match &self.up.cfg.container {
            Some(k) if k.strategy == Strategy::Scheduled => &k.schedule,
            _ => &[],
        }
    }

    /// Whether a scheduled container may run now (always true for the others).
    pub(super) fn in_window(&self) -> bool {
        !self.is_scheduled() || crate::config::open_at(self.schedule(), unix_now().0)
    }

    /// How long until a scheduled container's windows open or close, at most [`WINDOW_RECHECK`].
    pub(super) fn until_window_changes(&self) -> Duration {
        let (secs, nanos) = unix_now();
        crate::config::next_change(self.schedule(), secs)
            .map(|at| {
                let whole = Duration::from_secs(at.saturating_sub(secs).max(0) as u64);
                whole.saturating_sub(Duration::from_nanos(u64::from(nanos)))
            })
            .unwrap_or(WINDOW_RECHECK)
            .min(WINDOW_RECHECK)
    }

    /// `; next window at 2026-12-01 09:00 (Europe/Paris)` (in the zone of the window that opens then).
    pub(super) fn next_opening(&self) -> String {
        let (Some(k), now) = (&self.up.cfg.container, unix_now().0) else {
            return String::new();
        };
        let mut at = now;
        // The next change of a closed schedule is its opening; from an open one, skip the close.
        for _ in 0..2 {
            match crate::config::next_change(&k.schedule, at) {
                Some(next) => at = next,
                None => return String::new(),
            }
            if crate::config::open_at(&k.schedule, at) {
                let zone = k
                    .schedule
                    .iter()
                    .find(|w| w.contains(at))
                    .map_or(&k.time_zone, |w| &w.zone);
                return format!("; next window at {}", crate::config::local_time(zone, at));
            }
        }
        String::new()
    }

    /// Waits until a scheduled container's window opens (at once for the others); false: shutdown.
    pub(super) async fn wait_for_window(&self) -> bool {
        let mut logged = false;
        while !self.in_window() {
            if !logged {
                logged = true;
                // Said to a client that calls one of its (hidden) tools, and in `/health`.
                let why = format!("outside its schedule{}", self.next_opening());
                tracing::info!(tenant = %self.tenant, server = %self.up.name, "{why}: waiting for the next window");
                self.up.set_state(State::Idle, Some(why));
                (self.on_change)();
            }
            tokio::select! {
                _ = tokio::time::sleep(self.until_window_changes()) => {}
                _ = self.shutdown.cancelled() => return false,
            }
        }
        if logged {
            // The window is open: "outside its schedule" is no longer the server's last error.
            self.up.clear_error();
        }
        true
    }
}

/// The wall clock: seconds since the epoch and the nanoseconds past them.
fn unix_now() -> (i64, u32) {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| (d.as_secs() as i64, d.subsec_nanos()))
        .unwrap_or((0, 0))
}
