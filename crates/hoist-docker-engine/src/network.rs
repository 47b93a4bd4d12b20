//! Networks jobs join.

use crate::Engine;
use bollard::errors::Error as DockerError;
use bollard::models::NetworkCreateRequest;
use hoist_core::PlatformError;
use std::collections::HashMap;

impl Engine {
    /// The network jobs join, created if missing; returns what to put in NetworkMode. Docker
    /// does not refuse a second network of the same name, so concurrent first submits can
    /// each create one: every hoist then picks the oldest (ties by id) and removes its own
    /// extra, and containers join it by id, which a duplicate name cannot make ambiguous.
    pub async fn ensure_network(&self, network: &str) -> Result<String, PlatformError> {
        let d = self.client().await?;
        if matches!(network, "bridge" | "host" | "none") || network.starts_with("container:") {
            return Ok(network.to_string());
        }
        if let Some(id) = self.oldest_network(network).await? {
            return Ok(id);
        }
        let req = NetworkCreateRequest {
            name: network.to_string(),
            driver: Some("bridge".into()),
            labels: Some(HashMap::from([(
                "hoist.managed".to_string(),
                "true".to_string(),
            )])),
            ..Default::default()
        };
        let mine = match d.create_network(req).await {
            Ok(r) => Some(r.id),
            Err(DockerError::DockerResponseServerError {
                status_code: 409, ..
            }) => None,
            Err(DockerError::DockerResponseServerError { message, .. })
                if message.contains("already exists") =>
            {
                None
            }
            Err(e) => {
                return Err(PlatformError::Failed {
                    message: format!("cannot create network {network}: {e}"),
                    hint: format!(
                        "create it with docker network create, or {}",
                        self.hints.network
                    ),
                });
            }
        };
        let chosen = self.oldest_network(network).await?.ok_or_else(|| PlatformError::Failed {
            message: format!("network {network} vanished right after it was created"),
            hint: format!("something removes networks on this daemon; create it with docker network create, or {}", self.hints.network),
        })?;
        if let Some(mine) = mine.filter(|m| *m != chosen) {
            let _ = d.remove_network(&mine).await;
        }
        Ok(chosen)
    }

    /// The oldest network named exactly `network` (ties by id), removing the others.
    pub async fn oldest_network(&self, network: &str) -> Result<Option<String>, PlatformError> {
        let d = self.client().await?;
        let filters = HashMap::from([("name", vec![network])]);
        let nets = d
            .list_networks(Some(
                bollard::query_parameters::ListNetworksOptionsBuilder::new()
                    .filters(&filters)
                    .build(),
            ))
            .await
            .map_err(|e| self.unreachable(&e))?;
        // The name filter matches substrings: keep exact names only.
        let mut found: Vec<(String, String)> = nets
            .into_iter()
            .filter(|n| n.name.as_deref() == Some(network))
            .filter_map(|n| Some((n.created.unwrap_or_default(), n.id?)))
            .collect();
        found.sort();
        let mut ids = found.into_iter().map(|(_, id)| id);
        let chosen = ids.next();
        // Heal earlier races: extras go; the daemon refuses to remove one still in use.
        for extra in ids {
            let _ = d.remove_network(&extra).await;
        }
        Ok(chosen)
    }
}
