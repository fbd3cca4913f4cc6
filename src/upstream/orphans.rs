//! Upstream processes must not outlive the hub, even one that was SIGKILLed (which runs no
//! code on its way out):
//!
//! - each child gets `PR_SET_PDEATHSIG(SIGTERM)`, so the kernel ends it when the hub dies;
//! - its descendants (which do not inherit that) stay in its process group, which the hub
//!   records in a state folder while it runs; a hub that starts later ends the groups a dead hub
//!   left behind.
//!
//! A record names the group, the start time of its leader, and the recording hub with its pid,
//! start time and boot id, so that a group is signalled only when it can be attributed: the
//! recording hub is gone (not merely its pid, which may have been reused), and every member of
//! the group started no earlier than the recorded leader.
//!
//! The state folder is `$MCP_HUB_STATE_DIR`, else `$XDG_STATE_HOME/mcp-hub`, else
//! `~/.local/state/mcp-hub`; records are files `groups/<hub pid>-<pgid>`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

/// Overrides the state folder (tests, or hosts with no writable home).
pub const STATE_DIR_ENV: &str = "MCP_HUB_STATE_DIR";

/// The state folder, if one can be named.
pub fn state_dir() -> Option<PathBuf> {
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    if let Some(d) = env(STATE_DIR_ENV) {
        return Some(PathBuf::from(d));
    }
    if let Some(d) = env("XDG_STATE_HOME") {
        return Some(PathBuf::from(d).join("mcp-hub"));
    }
    env("HOME").map(|h| PathBuf::from(h).join(".local/state/mcp-hub"))
}

fn groups_dir() -> Option<PathBuf> {
    state_dir().map(|d| d.join("groups"))
}

/// The start time of process `pid` (clock ticks since boot), and its process group; `None`
/// when it does not exist or is a zombie.
pub fn proc_stat(pid: i32) -> Option<(u64, i32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command (field 2) is in parentheses and may hold anything: parse after the last `)`.
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest[0] is field 3 (state); pgrp is field 5, starttime field 22.
    if f.first() == Some(&"Z") {
        return None;
    }
    let pgrp = f.get(2)?.parse().ok()?;
    let start = f.get(19)?.parse().ok()?;
    Some((start, pgrp))
}

fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// The live processes of process group `pgid`, with their start times.
fn members(pgid: i32) -> Vec<(i32, u64)> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| match proc_stat(pid) {
            Some((start, pgrp)) if pgrp == pgid => Some((pid, start)),
            _ => None,
        })
        .collect()
}

/// One upstream's process group, as recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub hub_pid: i32,
    pub hub_start: u64,
    pub boot_id: String,
    pub pgid: i32,
    /// The start time of the group's leader (its first process).
    pub started: u64,
}

impl Record {
    pub fn to_text(&self) -> String {
        format!(
            "hub_pid={}\nhub_start={}\nboot_id={}\npgid={}\nstarted={}\n",
            self.hub_pid, self.hub_start, self.boot_id, self.pgid, self.started
        )
    }

    pub fn parse(text: &str) -> Option<Self> {
        let get = |k: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(k)?.strip_prefix('='))
                .map(str::trim)
        };
        Some(Self {
            hub_pid: get("hub_pid")?.parse().ok()?,
            hub_start: get("hub_start")?.parse().ok()?,
            boot_id: get("boot_id")?.to_string(),
            pgid: get("pgid")?.parse().ok()?,
            started: get("started")?.parse().ok()?,
        })
    }

    /// Whether the hub that wrote the record still runs (same pid, same start time).
    fn hub_alive(&self) -> bool {
        proc_stat(self.hub_pid).is_some_and(|(start, _)| start == self.hub_start)
    }

    /// The group's members, when every one of them can be attributed to the recorded group;
    /// `None` when the group cannot be attributed (signal nothing), empty when it is gone.
    fn attributable_members(&self) -> Option<Vec<i32>> {
        let members = members(self.pgid);
        // The leader, when alive, is the recorded one; members started no earlier than it.
        let leader_ok = members
            .iter()
            .all(|&(pid, start)| pid != self.pgid || start == self.started);
        let all_later = members.iter().all(|&(_, start)| start >= self.started);
        (leader_ok && all_later).then(|| members.into_iter().map(|(p, _)| p).collect())
    }
}

/// The record of a running upstream's group; removed when the group is stopped.
pub struct GroupRecord {
    path: PathBuf,
}

impl GroupRecord {
    /// Records the group `pgid` (led by the process `pgid`) for this hub; `None` when there is
    /// no state folder or it cannot be written (logged: the sweep is best effort).
    pub fn create(pgid: i32) -> Option<Self> {
        let dir = groups_dir()?;
        let me = std::process::id() as i32;
        let (hub_start, _) = proc_stat(me)?;
        let (started, _) = proc_stat(pgid)?;
        let rec = Record {
            hub_pid: me,
            hub_start,
            boot_id: boot_id(),
            pgid,
            started,
        };
        let path = dir.join(format!("{me}-{pgid}"));
        let written =
            std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, rec.to_text()));
        if let Err(e) = written {
            tracing::warn!(
                "could not record upstream process group {pgid} in {}: {e}",
                dir.display()
            );
            return None;
        }
        Some(Self { path })
    }

    pub fn remove(&self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Ends the process groups that hubs which are gone (SIGKILLed, crashed, or the host rebooted)
/// left behind, as recorded in the state folder: SIGTERM, up to `grace`, SIGKILL. A group that
/// cannot be attributed is left alone and its record dropped. Returns the groups signalled.
pub fn sweep(grace: Duration) -> Vec<i32> {
    let Some(dir) = groups_dir() else {
        return Vec::new();
    };
    sweep_dir(&dir, grace)
}

fn sweep_dir(dir: &Path, grace: Duration) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let boot = boot_id();
    let own_pgrp = nix::unistd::getpgrp().as_raw();
    let mut signalled = Vec::new();
    for e in entries.flatten() {
        let path = e.path();
        let Some(rec) = std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| Record::parse(&t))
        else {
            // Not a record (or half-written): nothing can be attributed to it.
            let _ = std::fs::remove_file(&path);
            continue;
        };
        if rec.boot_id == boot && rec.hub_alive() {
            continue; // another hub's live upstream
        }
        let _ = std::fs::remove_file(&path);
        if rec.boot_id != boot || rec.pgid <= 1 || rec.pgid == own_pgrp {
            continue; // rebooted since: its processes are long gone
        }
        match rec.attributable_members() {
            Some(m) if !m.is_empty() => {
                tracing::warn!(
                    "ending upstream process group {} ({} processes) left behind by hub {}, which is gone",
                    rec.pgid,
                    m.len(),
                    rec.hub_pid
                );
                let _ = killpg(Pid::from_raw(rec.pgid), Signal::SIGTERM);
                signalled.push(rec);
            }
            Some(_) => {}
            None => tracing::info!(
                "process group {} recorded by hub {} now holds other processes; left alone",
                rec.pgid,
                rec.hub_pid
            ),
        }
    }
    let until = Instant::now() + grace;
    while Instant::now() < until && signalled.iter().any(|r| !members(r.pgid).is_empty()) {
        std::thread::sleep(Duration::from_millis(20));
    }
    for r in &signalled {
        // Still the same group (attributable) and not empty: it ignored SIGTERM.
        if r.attributable_members().is_some_and(|m| !m.is_empty()) {
            let _ = killpg(Pid::from_raw(r.pgid), Signal::SIGKILL);
        }
    }
    signalled.iter().map(|r| r.pgid).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_garbage_is_no_record() {
        let r = Record {
            hub_pid: 12,
            hub_start: 34,
            boot_id: "b-1".into(),
            pgid: 56,
            started: 78,
        };
        assert_eq!(Record::parse(&r.to_text()), Some(r));
        assert_eq!(Record::parse("hub_pid=1\n"), None);
        assert_eq!(
            Record::parse("hub_pid=x\nhub_start=1\nboot_id=b\npgid=2\nstarted=3"),
            None
        );
    }

    #[test]
    fn this_process_is_alive_and_attributable_only_with_its_own_start_time() {
        let me = std::process::id() as i32;
        let (start, pgrp) = proc_stat(me).unwrap();
        let rec = Record {
            hub_pid: me,
            hub_start: start,
            boot_id: boot_id(),
            pgid: pgrp,
            started: 0,
        };
        assert!(rec.hub_alive());
        assert!(!Record {
            hub_start: start + 1,
            ..rec.clone()
        }
        .hub_alive());
        // Members that started before the recorded leader: not this group.
        assert_eq!(
            Record {
                started: u64::MAX,
                ..rec
            }
            .attributable_members(),
            None
        );
    }
}
