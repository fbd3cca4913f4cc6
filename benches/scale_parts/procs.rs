//! Every process the bench starts is registered here and killed by pid (with its children)
//! at the end, on a panic of the run, or by the watchdog.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::harness;

#[derive(Clone, Default)]
pub struct Reg(Arc<Mutex<Vec<u32>>>);

impl Reg {
    pub fn add(&self, pid: u32) {
        self.0.lock().unwrap().push(pid);
    }

    /// Kills `pid`'s children, then `pid` (SIGKILL), and forgets it.
    pub fn kill(&self, pid: u32) {
        for c in harness::children_of(pid) {
            harness::signal_pid(c, nix::sys::signal::Signal::SIGKILL);
        }
        harness::signal_pid(pid, nix::sys::signal::Signal::SIGKILL);
        self.0.lock().unwrap().retain(|&p| p != pid);
    }

    pub fn kill_all(&self) {
        let pids: Vec<u32> = self.0.lock().unwrap().clone();
        for p in pids {
            self.kill(p);
        }
    }

    /// Past `limit`, kills everything and exits with status 2.
    pub fn watchdog(&self, limit: Duration) {
        let me = self.clone();
        std::thread::spawn(move || {
            std::thread::sleep(limit);
            eprintln!(
                "scale bench: watchdog: the run took longer than {limit:?}; killing every child"
            );
            me.kill_all();
            std::process::exit(2);
        });
    }
}

/// The soft limit on open files of this process.
pub fn nofile() -> u64 {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

pub fn children_count(pid: u32) -> usize {
    harness::children_of(pid).len()
}

pub fn rss_kib(pid: u32) -> u64 {
    harness::rss_kib(pid).unwrap_or(0)
}

/// The RSS once it has stopped moving (at most `limit`).
pub fn settled_rss(pid: u32, limit: Duration) -> u64 {
    let end = std::time::Instant::now() + limit;
    let mut last = rss_kib(pid);
    loop {
        std::thread::sleep(Duration::from_millis(250));
        let now = rss_kib(pid);
        if now == last || std::time::Instant::now() > end {
            return now;
        }
        last = now;
    }
}
