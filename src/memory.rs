//! Heap given back to the system after a burst. glibc's allocator keeps what a burst of traffic
//! freed in its arenas (one per worker thread), so the hub's RSS would stay at its peak; every
//! few seconds, when the heap has shrunk since the last look, `malloc_trim(0)` returns the free
//! pages. Knows nothing of MCP.

use std::time::Duration;

use crate::tasks::Tasks;

/// How often the heap is looked at.
const PERIOD: Duration = Duration::from_secs(5);

/// Starts the trimmer (glibc only; elsewhere it does nothing).
pub fn start_trimmer(tasks: &Tasks) {
    if !cfg!(all(target_os = "linux", target_env = "gnu")) {
        return;
    }
    let stop = tasks.child_token();
    tasks.spawn(tracing::debug_span!("heap-trim"), async move {
        let mut tick = tokio::time::interval(PERIOD);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last = rss_pages();
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.cancelled() => return,
            }
            let now = rss_pages();
            // Trim only after growth (something was allocated, and may since be freed): an
            // idle hub does no work here.
            if now > last {
                trim();
                last = rss_pages();
            } else {
                last = now;
            }
        }
    });
}

/// Resident pages, from `/proc/self/statm` (0 when unreadable).
fn rss_pages() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(
    unsafe_code,
    reason = "malloc_trim has no safe wrapper; reviewed: see SAFETY"
)]
fn trim() {
    // SAFETY: malloc_trim(3) takes a plain integer, touches only the allocator's own state
    // under its own locks, and is safe to call from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim() {}
