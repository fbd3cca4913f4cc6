//! Logging: always to stderr (stdout belongs to the protocol), level from `RUST_LOG`, else
//! `--log-level`, else `hub.log.level`; as text or as one JSON object per line (`--log-format
//! json`, else `hub.log.format`). Each forwarded request ends with one event at DEBUG, target
//! `mcp_hub::call` (tenant, server, session, method, tool, request id, duration, outcome): off
//! at the default INFO, on with `RUST_LOG=info,mcp_hub::call=debug`.

use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// `2026-12-01T00:00:00Z INFO message key=value`
    Text,
    /// One JSON object per line: timestamp, level, message, fields, and the spans (tenant,
    /// server, session) the line was written in.
    Json,
}

/// Starts the log: the command line's `level` and `format` win over the file's `[hub.log]`.
pub fn init(level: Option<&str>, format: Option<LogFormat>, file: &crate::config::LogSettings) {
    let level = level.or(file.level.as_deref()).unwrap_or("info");
    let format = format
        .or(match file.format.as_deref() {
            Some("json") => Some(LogFormat::Json),
            Some("text") => Some(LogFormat::Text),
            _ => None,
        })
        .unwrap_or(LogFormat::Text);
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("{level},rmcp=warn")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(false);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().with_current_span(false).try_init(),
    };
}
