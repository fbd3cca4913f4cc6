//! Reload on a change of the config file: its folder is watched (editors replace files rather
//! than write them in place), changes to the file are gathered for a moment, then the hub
//! reloads. `hub.admin.watch = false` turns it off (read at each change).

use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};

use super::{Hub, ReloadSource};

/// Changes closer together than this are one reload.
const SETTLE: Duration = Duration::from_millis(300);

/// Watches the hub's config file until the hub shuts down.
pub fn watch_config(hub: Arc<Hub>) {
    let path = hub.config().path.clone();
    let Some(name) = path.file_name().map(|n| n.to_os_string()) else {
        return;
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel::<()>(16);
    let watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        if let Ok(ev) = res {
            let ours = ev
                .paths
                .iter()
                .any(|p| p.file_name() == Some(name.as_os_str()));
            let writes = ev.kind.is_modify() || ev.kind.is_create() || ev.kind.is_remove();
            if ours && writes {
                let _ = tx.try_send(());
            }
        }
    });
    let mut watcher = match watcher {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(
                "cannot watch `{}` for changes ({e}); reload with SIGHUP or POST /api/reload",
                path.display()
            );
            return;
        }
    };
    if let Err(e) = watcher.watch(&dir, RecursiveMode::NonRecursive) {
        tracing::warn!(
            "cannot watch `{}` for changes ({e}); reload with SIGHUP or POST /api/reload",
            dir.display()
        );
        return;
    }
    tracing::info!("watching `{}`: a change reloads the config", path.display());
    let stop = hub.shutdown.clone();
    let tasks = hub.tasks();
    tasks.spawn(
        tracing::info_span!(parent: None, "config watch"),
        async move {
            let _keep = watcher;
            loop {
                tokio::select! {
                    got = rx.recv() => if got.is_none() { return },
                    _ = stop.cancelled() => return,
                }
                // Let the editor finish (a save is often several events).
                tokio::time::sleep(SETTLE).await;
                while rx.try_recv().is_ok() {}
                if hub.config().hub.admin.watch {
                    let _ = hub.reload(ReloadSource::File).await;
                }
            }
        },
    );
}
