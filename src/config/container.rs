//! `[tenants.<t>.servers.<s>.container]`: a server run as a container, its strategy, limits and
//! secure defaults, every value checked (knows no engine). The hub-wide `[hub.containers]` it
//! draws defaults from is [`super::hub_containers`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::container_http::HttpHeaders;
use super::expand::is_env_name;
use super::hub_containers::ContainerSettings;
use super::raw::RawContainer;
use super::schedule::Window;
use super::validate::{duration, int_in, Collector};

/// How a container server is run.
#[derive(Clone, Debug, PartialEq)]
pub enum Strategy {
    /// Started on the first call that needs it, stopped after `idle_timeout` without calls; its
    /// catalog is remembered from its last run.
    OnDemand,
    /// Started with the hub, restarted with backoff.
    AlwaysOn,
    /// `pool` containers kept ready, calls spread over them.
    PreWarmed,
    /// Running inside its windows only; outside them its tools are hidden from the catalog.
    Scheduled,
}

impl Strategy {
    pub fn as_str(&self) -> &'static str {
        match self {
            Strategy::OnDemand => "on-demand",
            Strategy::AlwaysOn => "always-on",
            Strategy::PreWarmed => "pre-warmed",
            Strategy::Scheduled => "scheduled",
        }
    }
}

/// When an image is pulled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pull {
    /// Only when the engine does not have it (the default).
    Missing,
    Always,
    /// Never: a missing image is an error naming it.
    Never,
}

/// The container's network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Network {
    /// Only loopback (the default).
    None,
    Bridge,
    Host,
    /// A named network (created when missing when it is `hub.containers.network`).
    Named(String),
}

impl Network {
    /// The engine's `NetworkMode`.
    pub fn mode(&self) -> &str {
        match self {
            Network::None => "none",
            Network::Bridge => "bridge",
            Network::Host => "host",
            Network::Named(n) => n,
        }
    }
}

/// A bind mount: `host:container[:ro]`, the host path resolved against the config's folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Volume {
    pub host: PathBuf,
    pub container: String,
    pub read_only: bool,
}

impl Volume {
    /// As the engine's `Binds` takes it.
    pub fn bind(&self) -> String {
        let ro = if self.read_only { ":ro" } else { "" };
        format!("{}:{}{ro}", self.host.display(), self.container)
    }
}

/// A server's `container` table, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct ContainerConfig {
    /// The image, `hub.containers.image_prefix` applied.
    pub image: String,
    pub strategy: Strategy,
    pub idle_timeout: Duration,
    pub pool: usize,
    pub schedule: Vec<Window>,
    /// `time_zone`: the zone of windows that name none (UTC unless set).
    pub time_zone: jiff::tz::TimeZone,
    /// The command inside the image (its `CMD` when empty).
    pub args: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub volumes: Vec<Volume>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub network: Network,
    pub memory: Option<i64>,
    pub cpus: Option<f64>,
    pub pids_limit: Option<i64>,
    pub read_only: bool,
    pub labels: BTreeMap<String, String>,
    pub pull: Pull,
    /// Streamable HTTP inside the container on this port (stdio when `None`), published on a
    /// loopback port the engine chooses.
    pub port: Option<u16>,
    /// The tenant's `max_containers` (set with the tenant, not in this table).
    pub tenant_max_containers: Option<usize>,
    /// The MCP endpoint's path on `port` (`/mcp` unless set).
    pub path: String,
    /// The server's `headers`, sent with every request to `port` (values may be secrets).
    pub headers: HttpHeaders,
}

/// `512m`, `1g`, `256MiB`, `1048576`: bytes.
pub(super) fn bytes(c: &mut Collector, path: &str, v: Option<&str>) -> Option<i64> {
    let s = v?.trim();
    let split = s.find(|ch: char| !ch.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let mult: i64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => 0,
    };
    match num.parse::<i64>() {
        Ok(n) if mult > 0 && n > 0 && n.checked_mul(mult).is_some_and(|b| b >= 6 << 20) => {
            Some(n * mult)
        }
        Ok(n) if mult > 0 && n > 0 => {
            c.push(
                path,
                format!("`{s}` is below the engines' minimum of 6 MiB"),
                Some("e.g. `256m`"),
            );
            None
        }
        _ => {
            c.push(
                path,
                format!("`{s}` is not a size"),
                Some("a number and a unit, e.g. `512m` or `1g`"),
            );
            None
        }
    }
}

pub(super) fn cpus(c: &mut Collector, path: &str, v: Option<f64>) -> Option<f64> {
    let n = v?;
    if n > 0.0 && n <= 1024.0 {
        Some(n)
    } else {
        c.push(
            path,
            format!("{n} is out of range"),
            Some("a number of CPUs above 0, e.g. `0.5` or `2`"),
        );
        None
    }
}

pub(super) fn pids(c: &mut Collector, path: &str, v: Option<i64>) -> Option<i64> {
    v.map(|n| int_in(c, path, Some(n), 0, 1, 1 << 22))
}

fn volume(c: &mut Collector, path: &str, s: &str, base: &Path) -> Option<Volume> {
    let parts: Vec<&str> = s.split(':').collect();
    let (host, inside, read_only) = match parts.as_slice() {
        [h, i] => (*h, *i, false),
        [h, i, "ro"] => (*h, *i, true),
        [h, i, "rw"] => (*h, *i, false),
        _ => {
            c.push(
                path,
                format!("`{s}` is not a volume"),
                Some("write `host:container` or `host:container:ro`"),
            );
            return None;
        }
    };
    if host.is_empty() || !inside.starts_with('/') {
        c.push(
            path,
            format!("`{s}` is not a volume"),
            Some("the path inside the container is absolute, e.g. `./data:/data:ro`"),
        );
        return None;
    }
    let host_path = base.join(host);
    if !host_path.exists() {
        c.push(
            path,
            format!(
                "`{host}` does not exist (resolved to `{}`)",
                host_path.display()
            ),
            Some("relative host paths are taken from the config file's folder"),
        );
    }
    Some(Volume {
        host: host_path,
        container: inside.to_string(),
        read_only,
    })
}

/// A server's `container` table; `path` is `tenants.<t>.servers.<s>.container`.
pub(super) fn container(
    c: &mut Collector,
    path: &str,
    r: RawContainer,
    hub: &ContainerSettings,
    base: &Path,
) -> ContainerConfig {
    let image = match r.image.as_deref().map(str::trim) {
        Some(i) if !i.is_empty() && !i.contains(char::is_whitespace) => match &hub.image_prefix {
            Some(p) if !i.contains('/') => format!("{p}{i}"),
            _ => i.to_string(),
        },
        Some(i) => {
            c.push(
                format!("{path}.image"),
                format!("`{i}` is not an image name"),
                Some("e.g. `image = \"ghcr.io/acme/mcp-git:1.2\"`"),
            );
            String::new()
        }
        None => {
            c.push(
                format!("{path}.image"),
                "is missing",
                Some("name the image to run, e.g. `image = \"mcp/git:latest\"`"),
            );
            String::new()
        }
    };
    let strategy = match r.strategy.as_deref() {
        None | Some("on-demand") => Strategy::OnDemand,
        Some("always-on") => Strategy::AlwaysOn,
        Some("pre-warmed") => Strategy::PreWarmed,
        Some("scheduled") => Strategy::Scheduled,
        Some(o) => {
            c.push(
                format!("{path}.strategy"),
                format!("`{o}` is not a strategy"),
                Some("use `on-demand`, `always-on`, `pre-warmed` or `scheduled`"),
            );
            Strategy::OnDemand
        }
    };
    if r.idle_timeout.is_some() && strategy != Strategy::OnDemand {
        c.push(
            format!("{path}.idle_timeout"),
            "only applies to `strategy = \"on-demand\"`",
            Some("remove it, or make the server on-demand"),
        );
    }
    let pool = int_in(c, &format!("{path}.pool"), r.pool, 1, 1, 64) as usize;
    if r.pool.is_some() && strategy != Strategy::PreWarmed {
        c.push(
            format!("{path}.pool"),
            "only applies to `strategy = \"pre-warmed\"`",
            Some("remove it, or make the server pre-warmed"),
        );
    }
    let (schedule, time_zone) = super::schedule::check(
        c,
        path,
        strategy == Strategy::Scheduled,
        &r.schedule,
        r.time_zone.as_deref(),
    );
    for k in r.env.keys() {
        if !is_env_name(k) {
            c.push(
                format!("{path}.env.{k}"),
                format!("`{k}` is not a valid environment variable name"),
                Some("use letters, digits and `_`, not starting with a digit"),
            );
        }
    }
    let volumes = r
        .volumes
        .iter()
        .enumerate()
        .filter_map(|(i, v)| volume(c, &format!("{path}.volumes[{i}]"), v, base))
        .collect();
    if let Some(w) = &r.workdir {
        if !w.starts_with('/') {
            c.push(
                format!("{path}.workdir"),
                format!("`{w}` is not an absolute path"),
                Some("the working directory inside the container, e.g. `/work`"),
            );
        }
    }
    let network = match r.network.as_deref() {
        None | Some("none") => Network::None,
        Some("bridge") => Network::Bridge,
        Some("host") => Network::Host,
        Some(n)
            if !n.is_empty()
                && n.chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || "_.-".contains(ch)) =>
        {
            Network::Named(n.to_string())
        }
        Some(n) => {
            c.push(
                format!("{path}.network"),
                format!("`{n}` is not a network"),
                Some("use `none` (the default), `bridge`, `host` or a network's name"),
            );
            Network::None
        }
    };
    for k in r.labels.keys() {
        if k.starts_with("io.mcp-hub.") {
            c.push(
                format!("{path}.labels.{k}"),
                "the `io.mcp-hub.` labels are the hub's own",
                Some("choose another key"),
            );
        }
    }
    let pull = match r.pull.as_deref() {
        None | Some("missing") => Pull::Missing,
        Some("always") => Pull::Always,
        Some("never") => Pull::Never,
        Some(o) => {
            c.push(
                format!("{path}.pull"),
                format!("`{o}` is not a pull policy"),
                Some("use `missing` (the default), `always` or `never`"),
            );
            Pull::Missing
        }
    };
    let (port, http_path) =
        super::container_http::port_and_path(c, path, r.port, r.path.as_ref(), &network);
    ContainerConfig {
        image,
        idle_timeout: duration(
            c,
            &format!("{path}.idle_timeout"),
            r.idle_timeout.as_ref(),
            Duration::from_secs(300),
        ),
        strategy,
        pool,
        schedule,
        time_zone,
        args: r.args,
        env: r.env,
        volumes,
        workdir: r.workdir,
        user: r.user,
        network,
        memory: bytes(c, &format!("{path}.memory"), r.memory.as_deref()).or(hub.memory),
        cpus: cpus(c, &format!("{path}.cpus"), r.cpus).or(hub.cpus),
        pids_limit: pids(c, &format!("{path}.pids_limit"), r.pids_limit).or(hub.pids_limit),
        read_only: r.read_only.unwrap_or(true),
        labels: r.labels,
        pull,
        port,
        tenant_max_containers: None,
        path: http_path,
        headers: HttpHeaders::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::HubConfig;

    fn problems(toml: &str) -> String {
        match HubConfig::from_str_at(toml, Path::new("/etc/mcp-hub/hub.toml"), &|_| None) {
            Ok(_) => String::new(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn a_container_server_is_checked_key_by_key() {
        let ok = HubConfig::from_str_at(
            r#"
[hub.containers]
image_prefix = "registry.local/"
memory = "256m"
[tenants.t]
max_containers = 3
[tenants.t.servers.git.container]
image = "mcp-git:1"
args = ["serve"]
env = { TOKEN = "x" }
cpus = 0.5
labels = { team = "a" }
"#,
            Path::new("/etc/mcp-hub/hub.toml"),
            &|_| None,
        )
        .unwrap();
        let s = &ok.tenants["t"].servers["git"];
        let k = s.container.as_ref().unwrap();
        assert_eq!(k.image, "registry.local/mcp-git:1");
        assert_eq!(k.strategy, Strategy::OnDemand);
        assert_eq!(
            s.start,
            crate::config::StartMode::Lazy,
            "on-demand waits for a call"
        );
        assert_eq!(k.memory, Some(256 << 20), "the hub's default limit");
        assert_eq!(k.cpus, Some(0.5));
        assert_eq!(k.network, Network::None);
        assert!(k.read_only);
        assert_eq!(k.idle_timeout, Duration::from_secs(300));
        assert_eq!(k.tenant_max_containers, Some(3), "the tenant's limit");
        assert_eq!(
            ok.hub.containers.instance.len(),
            12,
            "a hash of the config's path"
        );
        assert!(ok.hub.containers.cleanup_on_shutdown);

        let bad = problems(
            r#"
[tenants.t]
max_containers = 2
[tenants.t.servers.a]
command = "x"
[tenants.t.servers.a.container]
image = "i"
[tenants.t.servers.b.container]
strategy = "sometimes"
memory = "lots"
cpus = -1
network = "no net"
pull = "often"
volumes = ["relative-only", "./nowhere:/data:ro"]
labels = { "io.mcp-hub.tenant" = "x" }
[tenants.t.servers.c.container]
image = "i"
strategy = "scheduled"
schedule = ["Mon-Fri 09:00-09:00", "daily 09:00-18:00 Mars/Olympus"]
[tenants.t.servers.e.container]
image = "i"
strategy = "scheduled"
time_zone = "Europe/Pariss"
schedule = ["Mon 22:00-06:00"]
[tenants.t.servers.d.container]
image = "i"
strategy = "pre-warmed"
pool = 3
"#,
        );
        for want in [
            "tenants.t.servers.a: has more than one of `command`, `url` and `container`",
            "tenants.t.servers.b.container.image: is missing",
            "tenants.t.servers.b.container.strategy: `sometimes` is not a strategy",
            "tenants.t.servers.b.container.memory: `lots` is not a size",
            "tenants.t.servers.b.container.cpus: -1 is out of range",
            "tenants.t.servers.b.container.network: `no net` is not a network",
            "tenants.t.servers.b.container.pull: `often` is not a pull policy",
            "tenants.t.servers.b.container.volumes[0]: `relative-only` is not a volume",
            "tenants.t.servers.b.container.volumes[1]: `./nowhere` does not exist",
            "tenants.t.servers.b.container.labels.io.mcp-hub.tenant",
            "tenants.t.servers.c.container.schedule[0]: `09:00-09:00` is an empty window",
            "tenants.t.servers.c.container.schedule[1]: `Mars/Olympus` is not a time zone (not in the IANA time zone database)",
            "hint: use an IANA name like `Europe/Paris`",
            "tenants.t.servers.e.container.time_zone: `Europe/Pariss` is not a time zone",
            "tenants.t.max_containers: 2 is fewer than the 3 containers the tenant's always-on and pre-warmed servers keep running",
        ] {
            assert!(bad.contains(want), "missing `{want}` in:\n{bad}");
        }
    }
}
