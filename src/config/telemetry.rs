//! `[hub.telemetry]` (metrics, OTLP traces) and `[hub.log]` (level, format): checked here,
//! applied by `crate::observe` and `crate::telemetry`.

use super::raw::{RawLog, RawTelemetry};
use super::validate::Collector;
use super::{LogSettings, TelemetrySettings};

pub(super) fn telemetry(c: &mut Collector, t: Option<&RawTelemetry>) -> TelemetrySettings {
    let default = RawTelemetry::default();
    let t = t.unwrap_or(&default);
    let otlp_endpoint = t.otlp_endpoint.as_deref().and_then(|e| {
        match url::Url::parse(e) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.query().is_none() => Some(u),
            _ => {
                c.push(
                    "hub.telemetry.otlp_endpoint",
                    format!("`{e}` is not an OTLP/HTTP endpoint"),
                    Some("write the collector's base URL, e.g. `http://127.0.0.1:4318` (spans go to `/v1/traces` under it)"),
                );
                None
            }
        }
    });
    let service_name = t.service_name.clone().unwrap_or_else(|| "mcp-hub".into());
    if service_name.trim().is_empty() {
        c.push(
            "hub.telemetry.service_name",
            "must not be empty",
            Some("leave it out for `mcp-hub`"),
        );
    }
    let sample_ratio = t.sample_ratio.unwrap_or(1.0);
    if !(0.0..=1.0).contains(&sample_ratio) {
        c.push(
            "hub.telemetry.sample_ratio",
            format!("`{sample_ratio}` is not a ratio"),
            Some("write a number from 0 (no new traces) to 1 (every request, the default)"),
        );
    }
    TelemetrySettings {
        metrics: t.metrics.unwrap_or(true),
        otlp_endpoint,
        service_name,
        sample_ratio: sample_ratio.clamp(0.0, 1.0),
    }
}

pub(super) fn log(c: &mut Collector, l: Option<&RawLog>) -> LogSettings {
    let Some(l) = l else {
        return LogSettings::default();
    };
    if let Some(level) = &l.level {
        // A bare word must be a level (a filter would read `loud` as a target name).
        let is_level = matches!(
            level.trim().to_ascii_lowercase().as_str(),
            "error" | "warn" | "info" | "debug" | "trace" | "off"
        );
        let is_filter =
            level.contains(['=', ',']) && tracing_subscriber::EnvFilter::try_new(level).is_ok();
        if !(is_level || is_filter) {
            c.push(
                "hub.log.level",
                format!("`{level}` is not a log level"),
                Some("use one of `error`, `warn`, `info`, `debug`, `trace` (or a `RUST_LOG`-style filter such as `info,mcp_hub=debug`)"),
            );
        }
    }
    if let Some(format) = &l.format {
        if !matches!(format.as_str(), "text" | "json") {
            c.push(
                "hub.log.format",
                format!("`{format}` is not a log format"),
                Some("use `text` or `json`"),
            );
        }
    }
    LogSettings {
        level: l.level.clone(),
        format: l.format.clone(),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::HubConfig;

    fn load(text: &str) -> Result<HubConfig, String> {
        HubConfig::from_str_at(text, Path::new("hub.toml"), &|_| None).map_err(|e| e.to_string())
    }

    const SERVER: &str = "[tenants.t.servers.a]\ncommand = \"true\"\n";

    #[test]
    fn telemetry_and_log_keys_have_defaults_and_are_read() {
        let c = load(SERVER).unwrap();
        assert!(c.hub.telemetry.metrics);
        assert_eq!(c.hub.telemetry.otlp_endpoint, None);
        assert_eq!(c.hub.log.format, None);
        assert_eq!(c.hub.telemetry.sample_ratio, 1.0);
        let c = load(&format!("[hub.telemetry]\nsample_ratio = 0.1\n{SERVER}")).unwrap();
        assert_eq!(c.hub.telemetry.sample_ratio, 0.1);
        let c = load(&format!("[hub.telemetry]\nmetrics = false\notlp_endpoint = \"http://127.0.0.1:4318\"\n[hub.log]\nlevel = \"debug\"\nformat = \"json\"\n{SERVER}")).unwrap();
        assert!(!c.hub.telemetry.metrics);
        assert_eq!(
            c.hub.telemetry.otlp_endpoint.as_ref().map(url::Url::as_str),
            Some("http://127.0.0.1:4318/")
        );
        assert_eq!(
            (c.hub.log.level.as_deref(), c.hub.log.format.as_deref()),
            (Some("debug"), Some("json"))
        );
    }

    #[test]
    fn bad_telemetry_and_log_values_name_their_key_and_the_fix() {
        let e = load(&format!("[hub.telemetry]\notlp_endpoint = \"localhost:4318\"\nsample_ratio = 1.5\n[hub.log]\nlevel = \"loud\"\nformat = \"xml\"\n{SERVER}")).unwrap_err();
        for want in [
            "hub.telemetry.otlp_endpoint",
            "http://127.0.0.1:4318",
            "hub.log.level",
            "`loud` is not a log level",
            "hub.log.format",
            "use `text` or `json`",
            "hub.telemetry.sample_ratio",
            "`1.5` is not a ratio",
        ] {
            assert!(e.contains(want), "`{want}` in:\n{e}");
        }
    }
}
