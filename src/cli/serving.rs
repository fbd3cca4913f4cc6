//! The long-running commands: `stdio` (one tenant over stdin/stdout, optionally HTTP beside
//! it) and `serve` (every tenant over HTTP); both reload on SIGHUP and on a change of the file.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;

use super::{EXIT_CONFIG, EXIT_FAILURE, EXIT_OK};
use crate::admin::api;
use crate::config::{HubConfig, TenantId};
use crate::downstream;
use crate::downstream::http::{self, HttpState};
use crate::hub::exposure::Listening;
use crate::hub::{self, Hub};

/// The listeners to open: `main` serves MCP and health, and the admin API too unless
/// `[hub.admin] listen` gives the API a listener of its own. A listener that serves the API on a
/// non-loopback address needs an admin key; one that serves MCP there needs every tenant it
/// serves to have keys (`hub::exposure`). Both problems are reported at once; the hub keeps
/// the addresses, so a reload that removes such a key is refused.
fn listeners(
    state: &Arc<HttpState>,
    main: SocketAddr,
) -> Result<Vec<(SocketAddr, Router)>, String> {
    let hub = &state.hub;
    let config = hub.config();
    let api = api::router(http::api_state(state));
    let api_at = config.hub.admin.listen.unwrap_or(main);
    hub.listen_at(Listening {
        mcp: Some(main),
        api: Some(api_at),
    })?;
    if config.hub.admin.key_digests.is_empty() {
        tracing::info!("the admin API has no key (`[hub.admin] api_keys`): it is served on loopback only, at http://{api_at}/api");
    }
    Ok(match config.hub.admin.listen {
        None => vec![(main, http::router_with(state.clone(), Some(api)))],
        Some(admin) => vec![
            (main, http::router(state.clone())),
            (admin, http::admin_router(state.clone(), api)),
        ],
    })
}

pub(super) async fn stdio(
    hub: Arc<Hub>,
    id: TenantId,
    listen: Option<SocketAddr>,
    health_listen: Option<SocketAddr>,
) -> u8 {
    let Some(tenant) = hub.tenant(id.as_str()) else {
        return EXIT_FAILURE;
    };
    let watch = tenant.clone();
    let tasks = hub.tasks();
    tasks.spawn(tracing::info_span!(parent: None, "start-up"), async move {
        watch.wait_settled().await;
        tracing::info!(tenant = %watch.id, "upstreams: {}", watch.summary());
    });
    let stop = hub.shutdown.child_token();
    let http_stop = hub.shutdown.child_token();
    hub::on_hangup(Some(hub.clone()));
    hub::watch_config(hub.clone());
    let state = HttpState::new(hub.clone());
    let listeners = match (listen, health_listen) {
        (Some(addr), _) => match listeners(&state, addr) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!("{e}");
                return EXIT_CONFIG;
            }
        },
        (None, Some(addr)) => vec![(addr, http::health_router().with_state(state.clone()))],
        (None, None) => Vec::new(),
    };
    for (addr, app) in listeners {
        let (state, token) = (state.clone(), http_stop.clone());
        tasks.spawn(
            tracing::info_span!(parent: None, "listener", %addr),
            async move {
                if let Err(e) = http::serve(state, addr, app, token).await {
                    tracing::error!("cannot serve HTTP on {addr}: {e}");
                }
            },
        );
    }
    let serve = downstream::stdio::serve(tenant, stop.clone());
    let code = tokio::select! {
        r = serve => match r {
            Err(e) => {
                tracing::error!("stdio transport failed: {e}");
                EXIT_FAILURE
            }
            Ok(()) => {
                tracing::info!("stdin closed; stopping");
                EXIT_OK
            }
        },
        _ = hub::terminate_signal() => {
            tracing::info!("signal received; stopping");
            EXIT_OK
        }
    };
    http_stop.cancel();
    code
}

/// The state store a serving hub owns (one writer per file): a second hub on the same
/// `hub.state_dir` is refused here, before any upstream starts.
pub(super) fn owned_state(config: &HubConfig) -> Result<Option<Arc<crate::state::Store>>, u8> {
    crate::state::open_for(config, crate::state::Access::Exclusive).map_err(|e| {
        tracing::error!("cannot start: {e}");
        EXIT_FAILURE
    })
}

/// `mcp-hub serve`: every tenant over HTTP until SIGTERM/SIGINT (a second signal exits at once).
pub(super) async fn serve(config: HubConfig, listen: Option<SocketAddr>) -> u8 {
    let addr = listen.unwrap_or(config.hub.http.listen);
    let state = match owned_state(&config) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let hub = Hub::start_with_state(config, None, state);
    let state = HttpState::new(hub.clone());
    let mut listeners = match listeners(&state, addr) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("{e}");
            hub.stop().await;
            return EXIT_CONFIG;
        }
    };
    hub::on_hangup(Some(hub.clone()));
    hub::watch_config(hub.clone());
    // The HTTP side drains first, then the upstreams stop with the root.
    let shutdown = hub.shutdown.child_token();
    let on_signal = shutdown.clone();
    // Not in the tracker: it outlives the drain, to exit at once on a second signal.
    tokio::spawn(async move {
        hub::terminate_signal().await;
        tracing::info!("signal received; draining (a second signal exits at once)");
        on_signal.cancel();
        hub::terminate_signal().await;
        tracing::warn!("second signal; exiting now");
        std::process::exit(130);
    });
    let (_, app) = listeners.remove(0);
    for (admin, admin_app) in listeners {
        let (state, token) = (state.clone(), shutdown.clone());
        hub.tasks().spawn(
            tracing::info_span!(parent: None, "listener", addr = %admin),
            async move {
                if let Err(e) = http::serve(state, admin, admin_app, token).await {
                    tracing::error!("cannot serve the admin API on {admin}: {e}");
                }
            },
        );
    }
    let code = match http::serve(state, addr, app, shutdown).await {
        Ok(()) => EXIT_OK,
        Err(e) => {
            tracing::error!("cannot serve HTTP on {addr}: {e}");
            EXIT_FAILURE
        }
    };
    hub.stop().await;
    code
}
