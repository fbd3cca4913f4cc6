//! The process's signals: SIGTERM and SIGINT stop the hub; SIGHUP reloads its config.

use std::sync::Arc;

use super::{Hub, ReloadSource};

/// Resolves on SIGTERM or SIGINT.
pub async fn terminate_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).ok();
    let mut int = signal(SignalKind::interrupt()).ok();
    tokio::select! {
        _ = async { match term.as_mut() { Some(s) => { s.recv().await; } None => std::future::pending().await } } => {}
        _ = async { match int.as_mut() { Some(s) => { s.recv().await; } None => std::future::pending().await } } => {}
    }
}

/// SIGHUP reloads `hub`'s config (the default action would end the process). Without a hub
/// (one-shot commands) it is logged and ignored.
pub fn on_hangup(hub: Option<Arc<Hub>>) {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        return;
    };
    let hub2 = hub.clone();
    let task = async move {
        while hup.recv().await.is_some() {
            match &hub {
                Some(hub) => {
                    tracing::info!("SIGHUP received: reloading the config");
                    // The outcome is logged by the reload itself.
                    let _ = hub.reload(ReloadSource::Signal).await;
                }
                None => tracing::warn!("SIGHUP received and ignored: this command does not reload"),
            }
        }
    };
    match &hub2 {
        Some(h) => {
            // Ends with the hub, so that its shutdown does not wait for a signal.
            let tasks = h.tasks();
            let stop = tasks.root().clone();
            tasks.spawn(tracing::info_span!(parent: None, "sighup"), async move {
                tokio::select! {
                    () = task => {}
                    () = stop.cancelled() => {}
                }
            });
        }
        None => {
            tokio::spawn(task);
        }
    }
}
