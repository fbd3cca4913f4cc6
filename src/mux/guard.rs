//! Closing the connection when one of its tasks ends for any reason, a panic included, so
//! that its pending calls fail at once.

use super::*;

/// Held by a task a connection cannot live without (a transport's reader or writer): when the
/// task ends in any way its code did not plan — an early return, a panic, an abort with the
/// runtime — the guard is dropped and closes the connection, so every call waiting on it fails at
/// once naming the server, and the supervisor restarts it.
///
/// A panicking tokio task drops its future while unwinding, so the guard tells a panic apart.
pub struct CloseGuard {
    conn: Arc<Conn>,
    task: &'static str,
    /// Only a panic closes the connection (a task of which many come and go, like one POST).
    panic_only: bool,
    armed: bool,
}

impl CloseGuard {
    /// Closes `conn` when dropped while armed: `<task> task ended: panicked` (or `: stopped`).
    pub fn new(conn: Arc<Conn>, task: &'static str) -> Self {
        Self {
            conn,
            task,
            panic_only: false,
            armed: true,
        }
    }

    /// Closes `conn` only when the task panics.
    pub fn on_panic(conn: Arc<Conn>, task: &'static str) -> Self {
        Self {
            conn,
            task,
            panic_only: true,
            armed: true,
        }
    }

    /// The task ends as planned: it closed the connection itself, or must leave it open.
    pub fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for CloseGuard {
    fn drop(&mut self) {
        let panicked = std::thread::panicking();
        if !self.armed || (self.panic_only && !panicked) || self.conn.is_closed() {
            return;
        }
        let how = if panicked { "panicked" } else { "stopped" };
        let reason = format!("{} task ended: {how}", self.task);
        tracing::error!(server = %self.conn.server, "{reason}; the connection is closed");
        self.conn.close(reason);
    }
}
