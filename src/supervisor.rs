//! Keeps one upstream running: start (now or on first use), handshake, read its lists, watch its
//! health, restart it with bounded exponential backoff and jitter, stop it with the hub.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::config::{HubSettings, RestartMode, RestartPolicy, StartMode, Strategy, TenantId};
use crate::mux::{Conn, ConnHooks, Era};
use crate::upstream::{handshake, Link, State, Upstream};

mod window;

/// Told whenever an upstream's state or offer changes (the tenant rebuilds its catalog).
pub type OnChange = Arc<dyn Fn() + Send + Sync>;

/// The delay before restart number `attempt` (1-based): doubling from `initial_backoff`, capped
/// at `max_backoff`, then spread by ±20% so that upstreams that fell together don't restart together.
pub fn backoff(policy: &RestartPolicy, attempt: u32, jitter01: f64) -> Duration {
    let exp = attempt.saturating_sub(1).min(20);
    let base = policy
        .initial_backoff
        .saturating_mul(1u32 << exp)
        .min(policy.max_backoff);
    base.mul_f64(0.8 + 0.4 * jitter01.clamp(0.0, 1.0))
}

/// How often a slow start is reported while the hub waits for it.
const SLOW_START_REPORT: Duration = Duration::from_secs(5);

enum Outcome {
    /// The upstream went away (or never came up).
    Died {
        reason: String,
        clean: bool,
        was_up: bool,
        /// Starting again cannot help (a forced protocol the server does not speak).
        permanent: bool,
    },
    Shutdown,
    /// An on-demand container idle for `idle_timeout`, or a scheduled one outside its windows:
    /// stopped, to start again on the next call (or window).
    Parked,
}

/// Logs at INFO every few seconds while an upstream is starting, so a slow first start (a
/// package download, a compile) is visibly in progress; never resolves.
async fn report_slow_start(tenant: &TenantId, server: &str) -> std::convert::Infallible {
    let started = Instant::now();
    loop {
        tokio::time::sleep(SLOW_START_REPORT).await;
        tracing::info!(tenant = %tenant, server, "waiting for {server}: {} s…", started.elapsed().as_secs());
    }
}

/// `reason`, with the last lines of the process's stderr when it wrote any: the real cause of
/// a failed start is usually there (a missing package, a certificate error).
async fn with_stderr(reason: String, link: &Link) -> String {
    match link.stderr_tail().await {
        Some(tail) => format!("{reason}; its stderr ended with: {tail}"),
        None => reason,
    }
}

pub struct Supervisor {
    /// Where the upstream's tasks run (its transport's reader, writer, timers).
    pub tasks: crate::tasks::Tasks,
    pub up: Arc<Upstream>,
    pub tenant: TenantId,
    pub hooks: Arc<dyn ConnHooks>,
    pub on_change: OnChange,
    pub settings: Arc<HubSettings>,
    pub shutdown: CancellationToken,
    /// The tenant's pins, which every tool list passes before the catalog sees it.
    pub pinning: Option<Arc<crate::pinning::Pinner>>,
}

impl Supervisor {
    pub async fn run(self) {
        let up = self.up.clone();
        if !up.cfg.enabled {
            return;
        }
        // A scheduled container starts with its window: `start = "lazy"` would wait for a call
        // to one of its tools, which are hidden until it runs.
        if up.cfg.start == StartMode::Lazy && !self.is_scheduled() {
            tokio::select! {
                _ = up.start_requested.notified() => {}
                _ = self.shutdown.cancelled() => { up.set_state(State::Stopped, None); return; }
            }
        }
        let policy = up.cfg.restart.clone();
        let mut attempt = 0u32;
        loop {
            if !self.wait_for_window().await {
                up.set_state(State::Stopped, None);
                return;
            }
            up.set_state(State::Starting, None);
            let started = Instant::now();
            // Boxed: the connected state (transport, handshake, health loop) takes memory only
            // while it runs, so a lazy upstream nobody asked for costs a small future.
            let outcome = Box::pin(self.run_once()).await;
            up.set_pid(None);
            up.set_container(None);
            let (reason, clean, was_up, permanent) = match outcome {
                Outcome::Shutdown => {
                    up.set_state(State::Stopped, None);
                    (self.on_change)();
                    return;
                }
                Outcome::Parked => {
                    attempt = 0;
                    up.set_restarts(0);
                    (self.on_change)();
                    if !up
                        .cfg
                        .container
                        .as_ref()
                        .is_some_and(|k| k.strategy == Strategy::OnDemand)
                    {
                        continue;
                    }
                    tokio::select! {
                        _ = up.start_requested.notified() => {}
                        _ = self.shutdown.cancelled() => { up.set_state(State::Stopped, None); return; }
                    }
                    continue;
                }
                Outcome::Died {
                    reason,
                    clean,
                    was_up,
                    permanent,
                } => (reason, clean, was_up, permanent),
            };
            if was_up && started.elapsed() >= policy.stable_after {
                attempt = 0;
            }
            let give_up = match policy.mode {
                _ if permanent => Some("not retried: fix the config".to_string()),
                RestartMode::Never => Some("restart policy is `never`".to_string()),
                RestartMode::OnFailure if clean => {
                    Some("it exited cleanly and the restart policy is `on-failure`".to_string())
                }
                _ if attempt >= policy.max_retries => {
                    Some(format!("gave up after {attempt} restarts"))
                }
                _ => None,
            };
            if let (Some(_), Some(_), false) = (
                &give_up,
                &up.cfg.remote,
                policy.mode == RestartMode::Never || permanent,
            ) {
                // A remote server that keeps failing: the circuit opens, and the hub probes it
                // once every `max_backoff` instead of hammering it or giving up on it.
                let why = format!(
                    "circuit open after {attempt} failed reconnects; next try in {}",
                    humantime::format_duration(policy.max_backoff)
                );
                tracing::error!(tenant = %self.tenant, server = %up.name, "{reason} ({why})");
                up.set_state(State::Failed, Some(format!("{reason} ({why})")));
                (self.on_change)();
                tokio::select! {
                    _ = tokio::time::sleep(policy.max_backoff) => continue,
                    _ = self.shutdown.cancelled() => { up.set_state(State::Stopped, None); return; }
                }
            }
            if let Some(why) = give_up {
                tracing::error!(tenant = %self.tenant, server = %up.name, "upstream is down for good: {reason} ({why})");
                up.set_state(State::Failed, Some(format!("{reason} ({why})")));
                (self.on_change)();
                return;
            }
            attempt += 1;
            up.set_restarts(attempt);
            let delay = backoff(&policy, attempt, fastrand::f64());
            tracing::warn!(tenant = %self.tenant, server = %up.name, "upstream is down: {reason}; restart {attempt}/{} in {}", policy.max_retries, humantime::format_duration(Duration::from_millis(delay.as_millis() as u64)));
            up.set_state(State::Backoff, Some(reason));
            (self.on_change)();
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = self.shutdown.cancelled() => { up.set_state(State::Stopped, None); return; }
            }
        }
    }

    async fn run_once(&self) -> Outcome {
        let up = &self.up;
        let cfg = &up.cfg;
        let grace = self.settings.shutdown_grace;
        let (conn, outgoing) = Conn::new(up.name.clone(), self.hooks.clone());
        let spawned = Link::spawn(
            cfg,
            &self.settings,
            &self.tenant,
            &conn,
            outgoing,
            &self.tasks,
        );
        let spawned = tokio::select! {
            r = spawned => r,
            _ = self.shutdown.cancelled() => return Outcome::Shutdown,
        };
        let mut link = match spawned {
            Ok(l) => l,
            Err(e) => {
                return Outcome::Died {
                    reason: e.to_string(),
                    clean: false,
                    was_up: false,
                    permanent: false,
                }
            }
        };
        up.set_pid(link.pid());
        up.set_container(link.container_name().map(str::to_string));
        let span =
            tracing::info_span!(parent: None, "upstream", tenant = %self.tenant, server = %up.name);
        self.tasks.spawn(span.clone(), conn.clone().run_sweeper());

        let opened = tokio::select! {
            r = async {
                let mut offer = handshake::open(&conn, cfg, up.declare.as_ref()).await?;
                handshake::read_lists(&conn, &mut offer, cfg.startup_timeout)
                    .await
                    .map_err(|e| crate::upstream::UpstreamError::Handshake(format!("listing failed: {e}")))?;
                Ok::<_, crate::upstream::UpstreamError>(offer)
            } => r,
            never = report_slow_start(&self.tenant, up.name.as_str()) => match never {},
            reason = link.closed() => {
                link.sweep(grace).await;
                let reason = with_stderr(format!("{reason} during start-up"), &link).await;
                return Outcome::Died { reason, clean: false, was_up: false, permanent: false };
            }
            _ = self.shutdown.cancelled() => {
                conn.close("is stopping with the hub".into());
                link.stop(grace).await;
                return Outcome::Shutdown;
            }
        };
        let offer = match opened {
            Ok(o) => o,
            Err(e) => {
                conn.close(e.to_string());
                let permanent = e.is_permanent();
                let reason = if permanent {
                    e.to_string()
                } else {
                    with_stderr(e.to_string(), &link).await
                };
                link.stop(grace).await;
                return Outcome::Died {
                    reason,
                    clean: false,
                    was_up: false,
                    permanent,
                };
            }
        };
        tracing::info!(
            tenant = %self.tenant, server = %up.name,
            tools = offer.tools.len(), prompts = offer.prompts.len(), resources = offer.resources.len(), templates = offer.templates.len(),
            "upstream is up"
        );
        if matches!(conn.era(), Some(Era::Stateless { .. })) {
            self.tasks.spawn(
                span.clone(),
                listen_for_changes(conn.clone(), self.tenant.clone()),
            );
        }
        match &self.pinning {
            Some(p) => {
                let mut offer = offer;
                let tools = std::mem::take(&mut offer.tools);
                p.filter(&up.name, tools, move |visible| {
                    offer.tools = visible;
                    up.set_offer(offer);
                })
                .await;
            }
            None => up.set_offer(offer),
        }
        up.set_conn(Some(conn.clone()));
        // The catalog is rebuilt before the state says `up`, so whoever waits for it finds the tools.
        (self.on_change)();
        up.set_state(State::Up, None);

        let interval = self.settings.health_interval;
        let mut health = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        let mut misses = 0u32;
        up.touch();
        let (idle, tick) = self.parking();
        let mut park = tokio::time::interval_at(tokio::time::Instant::now() + tick, tick);
        // A scheduled container wakes when its window closes (re-checked at least every minute).
        let window_check = tokio::time::sleep(self.until_window_changes());
        tokio::pin!(window_check);
        loop {
            tokio::select! {
                _ = park.tick(), if idle.is_some() => {
                    let idle_now = conn.in_flight() == 0
                        && idle.is_some_and(|limit| up.last_used().and_then(|t| t.elapsed().ok()).is_some_and(|e| e >= limit));
                    if idle_now {
                        tracing::info!(tenant = %self.tenant, server = %up.name, "stopping the container: idle");
                        return self.park(&conn, link, "was stopped after its idle timeout").await;
                    }
                }
                _ = &mut window_check, if self.is_scheduled() => {
                    if !self.in_window() {
                        tracing::info!(tenant = %self.tenant, server = %up.name, "stopping the container: outside its schedule{}", self.next_opening());
                        return self.park(&conn, link, "was stopped: outside its schedule").await;
                    }
                    window_check.as_mut().reset(tokio::time::Instant::now() + self.until_window_changes());
                }
                reason = link.closed() => {
                    up.set_conn(None);
                    link.sweep(grace).await;
                    let clean = reason.is_clean_exit();
                    let reason = reason.to_string();
                    return Outcome::Died { reason, clean, was_up: true, permanent: false };
                }
                _ = self.shutdown.cancelled() => {
                    up.set_conn(None);
                    link.stop(grace).await;
                    conn.close("is stopping with the hub".into());
                    return Outcome::Shutdown;
                }
                _ = health.tick() => {
                    if probe(&conn, interval.min(Duration::from_secs(10))).await {
                        misses = 0;
                    } else {
                        misses += 1;
                        tracing::warn!(tenant = %self.tenant, server = %up.name, misses, "upstream did not answer its health check");
                        if misses >= 2 {
                            up.set_conn(None);
                            conn.close("stopped answering health checks".into());
                            link.stop(grace).await;
                            return Outcome::Died { reason: "stopped answering health checks".into(), clean: false, was_up: true, permanent: false };
                        }
                    }
                }
            }
        }
    }
}

impl Supervisor {
    /// Stops a running container that is idle or outside its windows: it starts again on the
    /// next call (on-demand) or window (scheduled).
    async fn park(&self, conn: &Arc<Conn>, link: Link, why: &str) -> Outcome {
        self.up.set_conn(None);
        // Idle before the stop: a call arriving meanwhile asks for a new start.
        self.up.set_state(State::Idle, None);
        conn.close(why.into());
        link.stop(self.settings.shutdown_grace).await;
        Outcome::Parked
    }

    /// An on-demand container's idle limit, and how often idleness is checked.
    fn parking(&self) -> (Option<Duration>, Duration) {
        match &self.up.cfg.container {
            Some(k) if k.strategy == Strategy::OnDemand => (
                Some(k.idle_timeout),
                (k.idle_timeout / 4).clamp(Duration::from_millis(50), Duration::from_secs(5)),
            ),
            _ => (None, Duration::from_secs(15)),
        }
    }
}

/// How often the lists of a 2026-07-28 upstream that pushes no changes are read again.
const RELIST_EVERY: Duration = Duration::from_secs(30);

/// 2026-07-28 upstreams report list changes only on a `subscriptions/listen` stream: open one
/// and keep it for the connection's life (its notifications arrive like any other). When the
/// upstream refuses it, or ends it, the hub re-reads the lists every [`RELIST_EVERY`] instead,
/// and says so once.
async fn listen_for_changes(conn: Arc<Conn>, tenant: TenantId) {
    let params = serde_json::json!({"notifications": {"toolsListChanged": true, "promptsListChanged": true, "resourcesListChanged": true}});
    // A listen never answers while it lasts; it ends with the connection.
    let forever = Duration::from_secs(100 * 365 * 24 * 3600);
    let why = match conn
        .request("subscriptions/listen", Some(params), forever)
        .await
    {
        Err(crate::mux::CallError::Closed { .. }) => return,
        Err(e) => format!("it refused `subscriptions/listen` ({e})"),
        Ok(_) => "it ended its `subscriptions/listen` stream".to_string(),
    };
    tracing::info!(tenant = %tenant, server = %conn.server, "the upstream pushes no list changes: {why}; its lists are read again every {}", humantime::format_duration(RELIST_EVERY));
    loop {
        tokio::select! {
            _ = tokio::time::sleep(RELIST_EVERY) => conn.lists_may_have_changed(),
            _ = conn.closed() => return,
        }
    }
}

/// `ping` in the handshake era; `server/discover` in 2026-07-28, which has no ping.
async fn probe(conn: &Conn, timeout: Duration) -> bool {
    let method = match conn.era() {
        Some(Era::Stateless { .. }) => "server/discover",
        _ => "ping",
    };
    conn.request(method, None, timeout).await.is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RestartPolicy {
        RestartPolicy {
            mode: RestartMode::OnFailure,
            max_retries: 5,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            stable_after: Duration::from_secs(60),
        }
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let p = policy();
        assert_eq!(backoff(&p, 1, 0.5), Duration::from_millis(500));
        assert_eq!(backoff(&p, 2, 0.5), Duration::from_millis(1000));
        assert_eq!(backoff(&p, 3, 0.5), Duration::from_millis(2000));
        assert_eq!(backoff(&p, 30, 0.5), Duration::from_secs(30));
    }

    #[test]
    fn jitter_stays_within_twenty_percent() {
        let p = policy();
        assert_eq!(backoff(&p, 2, 0.0), Duration::from_millis(800));
        assert_eq!(backoff(&p, 2, 1.0), Duration::from_millis(1200));
    }
}
