//! Preflight: the token works, the node group and shape exist, the quota.

use crate::LeptonPlatform;
use crate::place::choose_shape;
use hoist_core::platform::PreflightRequest;
use hoist_core::{PlatformError, PreflightCheck};
use serde_json::Value;

impl LeptonPlatform {
    pub(crate) async fn preflight_checks(
        &self,
        _req: &PreflightRequest,
    ) -> Result<Vec<PreflightCheck>, PlatformError> {
        let ck = PreflightCheck::new;
        let mut checks = Vec::new();
        let ws = match self.client.get("/workspace", &[]).await {
            Ok(v) => v,
            Err(e) => {
                let hint = e.error.hint().unwrap_or_default();
                checks.push(ck("workspace", false, true, e.error.to_string(), &hint));
                return Ok(checks);
            }
        };
        checks.push(ck(
            "workspace",
            true,
            true,
            format!(
                "{} ({}, {}) at {}: the token works",
                self.client.workspace(),
                ws.get("workspace_name")
                    .and_then(Value::as_str)
                    .unwrap_or("?"),
                ws.get("workspace_state")
                    .and_then(Value::as_str)
                    .unwrap_or("?"),
                self.client.url()
            ),
            "",
        ));
        if let Some(q) = ws.get("resource_quota") {
            checks.push(ck(
                "quota",
                true,
                false,
                format!(
                    "limit {}, used {}",
                    q.get("limit").map(Value::to_string).unwrap_or_default(),
                    q.get("used").map(Value::to_string).unwrap_or_default()
                ),
                "",
            ));
        }
        let ng = match &self.settings.node_group {
            Some(g) => match self.node_group_id(g).await {
                Ok(id) => {
                    checks.push(ck("node group", true, true, format!("{g} ({id})"), ""));
                    Some(id)
                }
                Err(e) => {
                    checks.push(ck(
                        "node group",
                        false,
                        true,
                        e.to_string(),
                        &e.hint().unwrap_or_default(),
                    ));
                    return Ok(checks);
                }
            },
            None => None,
        };
        let shapes = self.shapes(ng.as_deref()).await?;
        match &self.settings.resource_shape {
            Some(s) => {
                let ok = shapes.iter().any(|x| &x.id == s);
                checks.push(ck(
                    "shape",
                    ok,
                    true,
                    if ok {
                        format!("{s} is offered")
                    } else {
                        format!("{s} is not offered")
                    },
                    &format!(
                        "shapes: {}",
                        shapes
                            .iter()
                            .map(|x| x.id.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
            None => {
                let gpu = shapes.iter().filter(|s| s.gpus > 0).count();
                checks.push(ck(
                    "shapes",
                    !shapes.is_empty(),
                    true,
                    format!(
                        "{} shape(s), {gpu} with GPUs; --gpus 1 takes {}",
                        shapes.len(),
                        choose_shape(&shapes, 1, None, "the workspace")
                            .map(|(id, _)| id)
                            .unwrap_or_else(|_| "none".into())
                    ),
                    "the workspace offers no shapes for jobs: check its node groups",
                ));
            }
        }
        Ok(checks)
    }
}
