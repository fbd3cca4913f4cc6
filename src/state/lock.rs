//! One writer per state store: an exclusive `flock` on `state.lock` beside the database, held for
//! the hub's life and released by the kernel when the process ends (even on SIGKILL). The file
//! holds the holder's pid, so the next hub can say who has it.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::Path;

use nix::fcntl::{Flock, FlockArg};

use super::StateError;

/// The lock, released on drop.
pub struct Held(#[allow(dead_code, reason = "held for its Drop")] Flock<File>);

/// Takes the lock at `lock_path` for the database `db`, or says who holds it.
pub fn acquire(lock_path: &Path, db: &Path) -> Result<Held, StateError> {
    let err = |reason: String| StateError::Lock {
        path: lock_path.to_path_buf(),
        reason,
    };
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(lock_path)
        .map_err(|e| err(e.to_string()))?;
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(mut held) => {
            // Ours now: say who we are for the next hub that tries.
            let pid = std::process::id();
            held.set_len(0)
                .and_then(|()| held.rewind())
                .and_then(|()| writeln!(&mut *held, "{pid}"))
                .and_then(|()| held.flush())
                .map_err(|e| err(e.to_string()))?;
            Ok(Held(held))
        }
        Err((mut file, nix::errno::Errno::EWOULDBLOCK)) => {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            Err(StateError::Busy {
                path: db.to_path_buf(),
                pid: text.trim().parse().ok(),
            })
        }
        Err((_, e)) => Err(err(e.to_string())),
    }
}
