//! Finds a server's `command` the way the upstream's spawn would: on `PATH`, or relative to its `cwd` when it has a `/`.

use std::ffi::OsStr;
use std::fmt;
use std::path::{Path, PathBuf};

/// Why a command would not start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CommandError {
    /// No directory of `PATH` holds an executable of that name.
    NotOnPath,
    /// A path command (`./run.sh`, `/opt/x/bin/server`) that does not exist (resolved path).
    Missing(PathBuf),
    /// It exists but is not an executable file.
    NotExecutable(PathBuf),
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandError::NotOnPath => f.write_str("is not found on PATH"),
            CommandError::Missing(p) => write!(f, "does not exist (resolved to `{}`)", p.display()),
            CommandError::NotExecutable(p) => {
                write!(f, "is not an executable file (`{}`)", p.display())
            }
        }
    }
}

/// The file `command` names: with a `/`, relative to `cwd`; else the first executable of that
/// name in `path_var`'s directories (an empty entry means `cwd`).
pub fn find_command(
    command: &str,
    cwd: &Path,
    path_var: Option<&OsStr>,
) -> Result<PathBuf, CommandError> {
    if command.contains('/') {
        let p = cwd.join(command);
        return if !p.exists() {
            Err(CommandError::Missing(p))
        } else if is_executable(&p) {
            Ok(p)
        } else {
            Err(CommandError::NotExecutable(p))
        };
    }
    let mut not_executable = None;
    for dir in std::env::split_paths(path_var.unwrap_or_default()) {
        let dir = if dir.as_os_str().is_empty() {
            cwd.to_path_buf()
        } else {
            cwd.join(dir)
        };
        let p = dir.join(command);
        if is_executable(&p) {
            return Ok(p);
        }
        if p.is_file() && not_executable.is_none() {
            not_executable = Some(p);
        }
    }
    Err(not_executable.map_or(CommandError::NotOnPath, CommandError::NotExecutable))
}

#[cfg(unix)]
fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(p: &Path) -> bool {
    p.is_file()
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[allow(
        clippy::unwrap_used,
        reason = "a test helper: a failed write fails the test"
    )]
    fn file(dir: &Path, name: &str, mode: u32) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    #[test]
    fn finds_commands_on_path_and_relative_to_cwd() {
        let bin = tempfile::tempdir().unwrap();
        let other = tempfile::tempdir().unwrap();
        let cwd = tempfile::tempdir().unwrap();
        let tool = file(bin.path(), "tool", 0o755);
        file(other.path(), "plain", 0o644);
        file(cwd.path(), "run.sh", 0o755);
        file(cwd.path(), "data.txt", 0o644);
        let path = std::env::join_paths([other.path(), bin.path()]).unwrap();
        let find = |c: &str| find_command(c, cwd.path(), Some(&path));

        assert_eq!(find("tool"), Ok(tool), "found in the second PATH entry");
        assert_eq!(find("nope"), Err(CommandError::NotOnPath));
        assert_eq!(
            find("plain"),
            Err(CommandError::NotExecutable(other.path().join("plain"))),
            "a file without an x bit is named, not hidden"
        );
        assert_eq!(
            find("./run.sh"),
            Ok(cwd.path().join("./run.sh")),
            "a command with a slash is resolved against cwd, not PATH"
        );
        assert_eq!(
            find("./data.txt"),
            Err(CommandError::NotExecutable(cwd.path().join("./data.txt")))
        );
        assert_eq!(
            find("./missing.sh"),
            Err(CommandError::Missing(cwd.path().join("./missing.sh")))
        );
        assert_eq!(
            find_command("tool", cwd.path(), None),
            Err(CommandError::NotOnPath)
        );
    }
}
