//! The hub's state store: one SQLite file (`state.db`) in `hub.state_dir`, created on first use,
//! migrated by version ([`migrate`]), written by one hub at a time ([`lock`]). It knows tables
//! and rows ([`pins`]), not what pinning decides with them.
//!
//! SQLite calls block: every query runs through [`Store::run`], on tokio's blocking pool, never
//! on an async worker.

mod lock;
mod migrate;
pub mod pins;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::Connection;

use crate::config::{HubConfig, PinMode};
use crate::sync::LockExt;

pub use pins::PinRow;

/// The database's file name in `hub.state_dir`.
pub const DB_FILE: &str = "state.db";
/// The lock file beside it: held by the hub that writes, and holding its pid.
pub const LOCK_FILE: &str = "state.lock";

/// Why the state store cannot be used. Every variant is the hub's side (its disk, its config,
/// another hub); none is a peer's fault.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("no state folder: `hub.state_dir` is not set and neither $XDG_STATE_HOME nor $HOME is; hint: set `hub.state_dir` in the config")]
    NoDir,
    #[error("cannot create the state folder `{path}`: {source}; hint: set `hub.state_dir` to a folder the hub may write to")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the state store `{path}` is in use by another mcp-hub{}; hint: stop that hub, or give this one its own `hub.state_dir`", pid.map(|p| format!(" (pid {p})")).unwrap_or_default())]
    Busy { path: PathBuf, pid: Option<u32> },
    #[error("cannot lock `{path}`: {reason}")]
    Lock { path: PathBuf, reason: String },
    #[error("the state store `{path}` was written by a newer mcp-hub (schema version {found}, this one knows up to {known}); hint: run the newer mcp-hub, or point `hub.state_dir` elsewhere")]
    TooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    #[error("the state store `{path}` has schema version {found} and the hub that holds it has not migrated it to {known}; hint: stop that hub and start this one")]
    Outdated {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    #[error("state store `{path}`: {source}")]
    Sql {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("the state store's worker stopped: {0}")]
    Worker(String),
}

/// How a store is opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Lock it, or fail with [`StateError::Busy`] (a serving hub).
    Exclusive,
    /// Lock it when free; when another hub holds it, read without writing (one-shot commands:
    /// `tools`, `call`, `status` apply the pins a running hub keeps without changing them).
    ReadIfBusy,
}

/// An open store.
pub struct Store {
    path: PathBuf,
    conn: Arc<Mutex<Connection>>,
    /// Held while the store is open; `None` when another hub writes (read-only).
    _lock: Option<lock::Held>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .field("writable", &self.writable())
            .finish()
    }
}

/// How long a query waits for another process's write to finish.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

impl Store {
    /// Opens (creating and migrating when needed) the store in `dir`.
    pub fn open(dir: &Path, access: Access) -> Result<Self, StateError> {
        std::fs::create_dir_all(dir).map_err(|source| StateError::CreateDir {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = dir.join(DB_FILE);
        let sql = |source| StateError::Sql {
            path: path.clone(),
            source,
        };
        let held = match lock::acquire(&dir.join(LOCK_FILE), &path) {
            Ok(h) => Some(h),
            Err(StateError::Busy { .. }) if access == Access::ReadIfBusy => None,
            Err(e) => return Err(e),
        };
        let conn = match &held {
            Some(_) => {
                let mut conn = Connection::open(&path).map_err(sql)?;
                conn.busy_timeout(BUSY_TIMEOUT).map_err(sql)?;
                migrate::run(&mut conn, &path)?;
                conn
            }
            None => {
                // Another hub writes: read its file as it is, or nothing when it has none yet.
                let mut conn = if path.exists() {
                    Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                        .map_err(sql)?
                } else {
                    Connection::open_in_memory().map_err(sql)?
                };
                conn.busy_timeout(BUSY_TIMEOUT).map_err(sql)?;
                migrate::check(&mut conn, &path)?;
                conn
            }
        };
        Ok(Self {
            path,
            conn: Arc::new(Mutex::new(conn)),
            _lock: held,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether this hub holds the lock (else it reads what another hub wrote).
    pub fn writable(&self) -> bool {
        self._lock.is_some()
    }

    /// Runs `f` on the connection, on the blocking pool.
    pub async fn run<R, F>(&self, f: F) -> Result<R, StateError>
    where
        R: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<R> + Send + 'static,
    {
        let conn = self.conn.clone();
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let mut c = conn.locked();
            f(&mut c).map_err(|source| StateError::Sql { path, source })
        })
        .await
        .map_err(|e| StateError::Worker(e.to_string()))?
    }
}

/// Opens the store when a tenant of `config` pins tools (`None` when none does: the hub then
/// never touches `hub.state_dir`).
pub fn open_for(config: &HubConfig, access: Access) -> Result<Option<Arc<Store>>, StateError> {
    if config.tenants.values().all(|t| t.pinning == PinMode::Off) {
        return Ok(None);
    }
    let dir = config.hub.state_dir.as_deref().ok_or(StateError::NoDir)?;
    Store::open(dir, access).map(|s| Some(Arc::new(s)))
}

#[cfg(test)]
mod tests;
