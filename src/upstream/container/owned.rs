//! The hub's own containers and network on the engine, found by this instance's labels: list
//! them, sweep what an earlier run or a failed remove left, create and remove the hub's named
//! network. Never touches what another instance or anyone else made. Knows no MCP.

use std::collections::HashMap;
use std::time::Duration;

use bollard::query_parameters::ListContainersOptions;

use super::engine::{is_gone, Engine, EngineError, LABEL_INSTANCE, LABEL_SERVER, LABEL_TENANT};
use crate::config::TenantId;

impl Engine {
    /// The hub instance's containers (running and stopped).
    pub async fn list_own(
        &self,
        instance: &str,
    ) -> Result<Vec<bollard::models::ContainerSummary>, EngineError> {
        self.list_labelled(vec![format!("{LABEL_INSTANCE}={instance}")])
            .await
    }

    /// Removes the stopped containers of one server of this instance (what a restarted engine
    /// or a failed remove left), before its next container is created. `owned` names the
    /// containers this process holds (created, starting, running): a pool's other members
    /// create theirs at the same time, and one created but not yet started is not a leftover.
    pub async fn sweep_server(
        &self,
        instance: &str,
        tenant: &TenantId,
        server: &str,
        owned: &std::collections::BTreeSet<String>,
    ) {
        let labels = vec![
            format!("{LABEL_INSTANCE}={instance}"),
            format!("{LABEL_TENANT}={tenant}"),
            format!("{LABEL_SERVER}={server}"),
        ];
        for c in self.list_labelled(labels).await.unwrap_or_default() {
            let running = matches!(
                c.state,
                Some(bollard::models::ContainerSummaryStateEnum::RUNNING)
            );
            let name = c.names.as_ref().and_then(|n| n.first());
            let held = name.is_some_and(|n| owned.contains(n.trim_start_matches('/')));
            if let (false, false, Some(id)) = (running, held, &c.id) {
                self.remove(id).await;
            }
        }
    }

    async fn list_labelled(
        &self,
        labels: Vec<String>,
    ) -> Result<Vec<bollard::models::ContainerSummary>, EngineError> {
        let filters = HashMap::from([("label".to_string(), labels)]);
        let options = ListContainersOptions {
            all: true,
            filters: Some(filters),
            ..Default::default()
        };
        // podman 4.3 lists a container whose process exited a moment ago as `stopped`, a state
        // the Docker API (and bollard) does not know, until its clean-up marks it `exited`
        // (within a second): such a list is read again.
        let mut tries = 0;
        loop {
            match self.docker.list_containers(Some(options.clone())).await {
                Err(bollard::errors::Error::JsonDataError { .. }) if tries < 20 => {
                    tries += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                r => return Ok(r?),
            }
        }
    }

    /// Removes every container of this hub instance (what a previous run left, or all of them at
    /// shutdown); answers the names removed. Never touches a container without the label.
    pub async fn sweep(
        &self,
        instance: &str,
        only_stopped: bool,
    ) -> Result<Vec<String>, EngineError> {
        let mut removed = Vec::new();
        // A container whose process is exiting right now can survive a remove (the engine's
        // own clean-up races it): look again, a few times.
        for _pass in 0..3 {
            let mut any = false;
            for c in self.list_own(instance).await? {
                let running = matches!(
                    c.state,
                    Some(bollard::models::ContainerSummaryStateEnum::RUNNING)
                );
                if only_stopped && running {
                    continue;
                }
                let Some(id) = c.id else { continue };
                let name = c
                    .names
                    .and_then(|n| n.into_iter().next())
                    .unwrap_or_else(|| id.clone());
                self.stop_and_remove(&id, Duration::from_secs(1)).await;
                let name = name.trim_start_matches('/').to_string();
                if !removed.contains(&name) {
                    removed.push(name);
                }
                any = true;
            }
            if !any {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Ok(removed)
    }

    /// Creates the hub's own network when missing; answers whether it was created now.
    pub async fn ensure_network(&self, name: &str, instance: &str) -> Result<bool, EngineError> {
        match self
            .docker
            .inspect_network(
                name,
                None::<bollard::query_parameters::InspectNetworkOptions>,
            )
            .await
        {
            Ok(_) => Ok(false),
            Err(e) if is_gone(&e) => {
                let req = bollard::models::NetworkCreateRequest {
                    name: name.to_string(),
                    labels: Some(HashMap::from([(
                        LABEL_INSTANCE.to_string(),
                        instance.to_string(),
                    )])),
                    ..Default::default()
                };
                self.docker.create_network(req).await?;
                tracing::info!(network = name, "created the hub's container network");
                Ok(true)
            }
            Err(e) => Err(e.into()),
        }
    }
}

impl Engine {
    /// Removes network `name` when it carries this instance's label (the hub created it, in this
    /// run or an earlier one); a network the hub did not create is left alone. Answers whether
    /// it removed it; 404 is "already gone".
    pub async fn remove_own_network(&self, name: &str, instance: &str) -> bool {
        let inspected = self
            .docker
            .inspect_network(
                name,
                None::<bollard::query_parameters::InspectNetworkOptions>,
            )
            .await;
        let own = match inspected {
            Ok(n) => n
                .labels
                .is_some_and(|l| l.get(LABEL_INSTANCE).is_some_and(|i| i == instance)),
            Err(e) if is_gone(&e) => return false,
            Err(e) => {
                tracing::warn!(network = name, "could not inspect the network: {e}");
                return false;
            }
        };
        if !own {
            tracing::debug!(
                network = name,
                "not removing a network the hub did not create"
            );
            return false;
        }
        match self.docker.remove_network(name).await {
            Ok(()) => {
                tracing::info!(network = name, "removed the hub's container network");
                true
            }
            Err(e) if is_gone(&e) => false,
            Err(e) => {
                tracing::warn!(network = name, "could not remove the network: {e}");
                false
            }
        }
    }
}
