//! What is wrong with a config file, and the one place that formats it: key path, message, the line with a caret, hint.

use std::fmt;
use std::path::{Path, PathBuf};

/// One thing wrong with (or worth a warning about) the config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The key path, e.g. `tenants.acme.servers.git.command`; empty for the file as a whole.
    pub path: String,
    pub message: String,
    pub hint: Option<String>,
    /// Where in the file; `None` when the problem has no place (e.g. the file cannot be read).
    pub location: Option<Location>,
}

/// A place in the config file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    /// 1-based.
    pub line: usize,
    /// 1-based, in characters.
    pub column: usize,
    /// The whole line, as written.
    pub source_line: String,
    /// How many characters to underline (at least 1, never past the line's end).
    pub width: usize,
}

/// Every problem found in one config file.
#[derive(Clone, Debug)]
pub struct ConfigErrors {
    pub file: PathBuf,
    pub problems: Vec<Problem>,
}

impl Problem {
    /// An unset `${VAR}` (or a `${VAR:?message}` whose variable is unset): the file is right,
    /// the environment is not ready yet.
    pub fn is_unset_variable(&self) -> bool {
        self.message.starts_with("environment variable `")
    }
}

impl ConfigErrors {
    pub(crate) fn single(file: &Path, path: &str, message: String, hint: Option<String>) -> Self {
        Self {
            file: file.to_path_buf(),
            problems: vec![Problem {
                path: path.to_string(),
                message,
                hint,
                location: None,
            }],
        }
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        writeln!(
            f,
            "error: invalid config `{}` ({n} problem{})",
            self.file.display(),
            if n == 1 { "" } else { "s" }
        )?;
        write_problems(f, &self.file, &self.problems)
    }
}

impl std::error::Error for ConfigErrors {}

/// A loaded config's warnings, for display (`HubConfig::warnings_report`).
#[derive(Clone, Copy, Debug)]
pub struct ConfigWarnings<'a> {
    pub file: &'a Path,
    pub warnings: &'a [Problem],
}

impl fmt::Display for ConfigWarnings<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.warnings.len();
        writeln!(
            f,
            "warning: config `{}` ({n} warning{})",
            self.file.display(),
            if n == 1 { "" } else { "s" }
        )?;
        write_problems(f, self.file, self.warnings)
    }
}

fn write_problems(f: &mut fmt::Formatter<'_>, file: &Path, problems: &[Problem]) -> fmt::Result {
    for p in problems {
        if p.path.is_empty() {
            writeln!(f, "  - {}", p.message)?;
        } else {
            writeln!(f, "  - {}: {}", p.path, p.message)?;
        }
        if let Some(at) = &p.location {
            let pad = " ".repeat(at.line.to_string().len());
            writeln!(
                f,
                "    {pad}--> {}:{}:{}",
                file.display(),
                at.line,
                at.column
            )?;
            writeln!(f, "    {pad} |")?;
            writeln!(f, "    {} | {}", at.line, at.source_line.trim_end())?;
            writeln!(
                f,
                "    {pad} | {}{}",
                " ".repeat(at.column.saturating_sub(1)),
                "^".repeat(at.width.max(1))
            )?;
        }
        if let Some(h) = &p.hint {
            writeln!(f, "    hint: {h}")?;
        }
    }
    Ok(())
}
