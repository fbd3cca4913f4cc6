//! The image's own health (its `HEALTHCHECK`) as the engine reports it by inspect: watched while
//! the container runs, read by `/health`, `mcp-hub status` and `/api/docker/containers`. Knows
//! no MCP: a container's health is the image's verdict, not the hub's `ping`.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::engine::Engine;
use crate::sync::LockExt;

/// How often a running container's health is read again (an inspect costs a few ms).
const POLL: Duration = Duration::from_secs(2);

/// Container name → its health (`starting`, `healthy`, `unhealthy`), for containers whose image
/// has a healthcheck, while they run.
static HEALTH: Mutex<BTreeMap<String, String>> = Mutex::new(BTreeMap::new());

/// The health of the container named `name`; `None`: its image has no healthcheck, or it is
/// not running.
pub fn of(name: &str) -> Option<String> {
    HEALTH.locked().get(name).cloned()
}

/// Whether a healthcheck's `Test` runs something (`["NONE"]` or nothing: no healthcheck).
fn has_check(test: Option<&Vec<String>>) -> bool {
    test.and_then(|t| t.first())
        .is_some_and(|first| !first.is_empty() && first != "NONE")
}

/// Reads the container's health until `ended`, when its image has a healthcheck; the entry goes
/// with the container.
pub(super) fn watch(
    engine: &Engine,
    id: &str,
    name: &str,
    tasks: &crate::tasks::Tasks,
    ended: CancellationToken,
    span: tracing::Span,
) {
    let (engine, id, name) = (engine.clone(), id.to_string(), name.to_string());
    let stop = tasks.child_token();
    tasks.spawn(span, async move {
        loop {
            let inspected = tokio::time::timeout(
                Duration::from_secs(10),
                engine.docker.inspect_container(&id, None),
            )
            .await;
            match inspected {
                Ok(Ok(i)) => {
                    let check = i.config.as_ref().and_then(|c| c.healthcheck.as_ref());
                    if !has_check(check.and_then(|h| h.test.as_ref())) {
                        break;
                    }
                    let status = i
                        .state
                        .and_then(|s| s.health)
                        .and_then(|h| h.status)
                        .map(|s| s.to_string())
                        .filter(|s| !s.is_empty() && s != "none")
                        // A healthcheck that has not run yet.
                        .unwrap_or_else(|| "starting".into());
                    let before = HEALTH.locked().insert(name.clone(), status.clone());
                    if before.as_deref() != Some(status.as_str()) {
                        tracing::info!(container = %name, health = %status, "container health");
                    }
                }
                // Gone (404), or the engine is busy: the end of the stream says which.
                Ok(Err(e)) if super::engine::is_gone(&e) => break,
                Ok(Err(_)) | Err(_) => {}
            }
            tokio::select! {
                _ = tokio::time::sleep(POLL) => {}
                _ = ended.cancelled() => break,
                _ = stop.cancelled() => break,
            }
        }
        HEALTH.locked().remove(&name);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_test_that_runs_something_is_a_healthcheck() {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert!(has_check(Some(&v(&["CMD-SHELL", "true"]))));
        assert!(has_check(Some(&v(&["CMD", "/bin/true"]))));
        assert!(!has_check(Some(&v(&["NONE"]))));
        assert!(!has_check(Some(&v(&[]))));
        assert!(!has_check(None));
    }
}
