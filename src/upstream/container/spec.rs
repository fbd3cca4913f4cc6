//! What the hub asks the engine to create for a container server: its name, and the create
//! request with the secure defaults (every capability dropped, `no-new-privileges`, a read-only
//! root with a tmpfs `/tmp`, network `none`, an init), the limits, the labels and the published
//! port. Pure: it talks to no engine and knows no MCP.

use std::collections::HashMap;

use super::engine::{LABEL_INSTANCE, LABEL_SERVER, LABEL_STRATEGY, LABEL_TENANT};
use crate::config::{ContainerConfig, ContainerSettings, ServerConfig, TenantId};

/// The container's name: `mcp-hub-<instance>-<tenant>-<server>-<nonce>` (the nonce lets a
/// restart create the next one while the engine still removes the last).
pub fn container_name(instance: &str, tenant: &TenantId, server: &str) -> String {
    format!(
        "mcp-hub-{instance}-{tenant}-{server}-{:06x}",
        fastrand::u32(..) & 0xff_ffff
    )
}

/// The create request: stdio attached, the secure defaults (every capability dropped,
/// `no-new-privileges`, a read-only root with a tmpfs `/tmp`, network `none`, an init), limits.
pub fn spec(
    cfg: &ServerConfig,
    k: &ContainerConfig,
    settings: &ContainerSettings,
    tenant: &TenantId,
) -> bollard::models::ContainerCreateBody {
    let mut labels: HashMap<String, String> = k.labels.clone().into_iter().collect();
    labels.insert(LABEL_INSTANCE.into(), settings.instance.clone());
    labels.insert(LABEL_TENANT.into(), tenant.to_string());
    labels.insert(LABEL_SERVER.into(), cfg.name.to_string());
    labels.insert(LABEL_STRATEGY.into(), k.strategy.as_str().into());
    let host = bollard::models::HostConfig {
        binds: Some(k.volumes.iter().map(|v| v.bind()).collect()),
        memory: k.memory,
        nano_cpus: k.cpus.map(|c| (c * 1e9) as i64),
        pids_limit: k.pids_limit,
        readonly_rootfs: Some(k.read_only),
        cap_drop: Some(vec!["ALL".into()]),
        security_opt: Some(vec!["no-new-privileges".into()]),
        tmpfs: Some(HashMap::from([(
            "/tmp".to_string(),
            "rw,nosuid,nodev,size=64m".to_string(),
        )])),
        network_mode: Some(k.network.mode().to_string()),
        // `port`: published on a loopback port the engine chooses (`127.0.0.1::port`); with
        // `network = "host"` the server's port is the host's already.
        port_bindings: published(k).map(|p| {
            HashMap::from([(
                p,
                Some(vec![bollard::models::PortBinding {
                    host_ip: Some("127.0.0.1".into()),
                    host_port: Some(String::new()),
                }]),
            )])
        }),
        init: Some(true),
        auto_remove: Some(false),
        ..Default::default()
    };
    bollard::models::ContainerCreateBody {
        image: Some(k.image.clone()),
        cmd: (!k.args.is_empty()).then(|| k.args.clone()),
        env: Some(k.env.iter().map(|(a, b)| format!("{a}={b}")).collect()),
        working_dir: k.workdir.clone(),
        user: k.user.clone(),
        labels: Some(labels),
        exposed_ports: published(k).map(|p| vec![p]),
        // An HTTP server's stdin is not the hub's channel: it stays closed.
        attach_stdin: Some(k.port.is_none()),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        open_stdin: Some(k.port.is_none()),
        stdin_once: Some(false),
        tty: Some(false),
        host_config: Some(host),
        ..Default::default()
    }
}

/// The `<port>/tcp` key of the port to publish (`None`: stdio, or the host's network).
pub fn published(k: &ContainerConfig) -> Option<String> {
    match (k.port, &k.network) {
        (_, crate::config::Network::Host) | (None, _) => None,
        (Some(p), _) => Some(format!("{p}/tcp")),
    }
}
