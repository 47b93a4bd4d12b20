//! Resolving a request against the workspace before the job is created: the node group's id,
//! the resource shape for `--gpus`, the secrets and pull secret, where the runner comes from.

use crate::LeptonPlatform;
use crate::body::Placement;
use crate::settings::LeptonOptions;
use hoist_core::spec::InputError;
use hoist_core::{GpuSpec, PlatformError, SubmitRequest};
use reqwest::Method;
use serde_json::{Value, json};

/// How long a presigned runner URL stays valid (a job may wait in a queue that long).
const RUNNER_URL_LIFETIME: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

/// The name of the pull secret hoist makes for nvcr.io from NGC_KEY.
pub const NGC_PULL_SECRET: &str = "hoist-ngc";

/// One shape as `/shapes` lists it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Shape {
    pub id: String,
    pub gpus: u32,
    pub accelerator: String,
    pub cpu: f64,
    pub memory_mb: u64,
}

fn shapes_of(v: &Value) -> Vec<Shape> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| {
            let spec = s.get("spec")?;
            Some(Shape {
                id: s.pointer("/metadata/id")?.as_str()?.to_string(),
                gpus: spec
                    .get("accelerator_num")
                    .and_then(Value::as_u64)
                    .unwrap_or(0) as u32,
                accelerator: spec
                    .get("accelerator_type")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                cpu: spec.get("cpu").and_then(Value::as_f64).unwrap_or(0.0),
                memory_mb: spec
                    .get("memory_in_mb")
                    .and_then(Value::as_u64)
                    .unwrap_or(0),
            })
        })
        .collect()
}

/// The shape for `gpus`: exactly that many, else the smallest with more (a CPU shape for
/// none), and what to say about the choice.
pub(crate) fn choose_shape(shapes: &[Shape], gpus: u32) -> Result<(String, String), InputError> {
    let listing = || {
        shapes
            .iter()
            .map(|s| format!("{} ({} GPU)", s.id, s.gpus))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if gpus == 0 {
        let cpu = shapes.iter().filter(|s| s.gpus == 0).min_by(|a, b| {
            (a.cpu, a.memory_mb)
                .partial_cmp(&(b.cpu, b.memory_mb))
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        return match cpu {
            Some(s) => Ok((s.id.clone(), format!("shape {} (no GPU asked for)", s.id))),
            None => Err(InputError::new(
                "no GPUs were asked for and the workspace has no CPU-only shape",
                format!("pass --gpus N or --resource-shape; shapes: {}", listing()),
            )),
        };
    }
    if let Some(s) = shapes.iter().find(|s| s.gpus == gpus) {
        return Ok((s.id.clone(), format!("shape {} ({gpus} GPU)", s.id)));
    }
    match shapes
        .iter()
        .filter(|s| s.gpus > gpus)
        .min_by_key(|s| s.gpus)
    {
        Some(s) => Ok((
            s.id.clone(),
            format!(
                "shape {} ({} GPU: no shape has exactly {gpus}, this is the smallest with more)",
                s.id, s.gpus
            ),
        )),
        None => Err(InputError::new(
            format!("no resource shape has {gpus} GPU(s)"),
            format!(
                "ask for fewer GPUs, or name one with --resource-shape; shapes: {}",
                listing()
            ),
        )),
    }
}

impl LeptonPlatform {
    /// The node group's id for a name or id given by the user.
    pub(crate) async fn node_group_id(&self, given: &str) -> Result<String, PlatformError> {
        let v = self.client.get("/dedicated-node-groups", &[]).await?;
        let groups: Vec<(String, String)> = v
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|g| {
                Some((
                    g.pointer("/metadata/id")?.as_str()?.to_string(),
                    g.pointer("/metadata/name")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string(),
                ))
            })
            .collect();
        groups
            .iter()
            .find(|(id, name)| id == given || name == given)
            .map(|(id, _)| id.clone())
            .ok_or_else(|| {
                InputError::new(
                    format!(
                        "Lepton node group {given:?} is not in workspace {}",
                        self.client.workspace()
                    ),
                    format!(
                        "node groups: {}",
                        if groups.is_empty() {
                            "none (the workspace has no dedicated node groups)".to_string()
                        } else {
                            groups
                                .iter()
                                .map(|(id, n)| format!("{n} ({id})"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        }
                    ),
                )
                .into()
            })
    }

    /// The shapes jobs may use (in the node group, when there is one).
    pub(crate) async fn shapes(
        &self,
        node_group: Option<&str>,
    ) -> Result<Vec<Shape>, PlatformError> {
        let mut q = vec![("purpose", "job".to_string())];
        if let Some(ng) = node_group {
            q.push(("node_groups", ng.to_string()));
        }
        Ok(shapes_of(&self.client.get("/shapes", &q).await?))
    }

    /// Everything about the job the workspace decides. `write`: create the secrets and the
    /// pull secret and publish the runner (a dry run only reads).
    pub(crate) async fn place(
        &self,
        req: &SubmitRequest,
        opts: &LeptonOptions,
        write: bool,
    ) -> Result<(Placement, String), PlatformError> {
        let gpus = match &req.spec.gpus {
            GpuSpec::None => 0,
            GpuSpec::Count(n) => *n,
            GpuSpec::All | GpuSpec::Ids(_) => {
                return Err(InputError::new(
                    "Lepton places GPUs by count",
                    "pass --gpus N (GPUs per worker), or name a shape with --resource-shape",
                )
                .into());
            }
        };
        let ng = match &opts.node_group {
            Some(g) => Some(self.node_group_id(g).await?),
            None => None,
        };
        let shapes = self.shapes(ng.as_deref()).await?;
        let (shape, note) = match &opts.resource_shape {
            Some(s) => {
                if !shapes.iter().any(|x| &x.id == s) {
                    return Err(InputError::new(
                        format!(
                            "Lepton resource shape {s:?} is not offered{}",
                            ng.as_ref()
                                .map(|g| format!(" in node group {g}"))
                                .unwrap_or_default()
                        ),
                        format!(
                            "shapes: {}",
                            shapes
                                .iter()
                                .map(|x| x.id.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    )
                    .into());
                }
                (s.clone(), format!("shape {s}"))
            }
            None => choose_shape(&shapes, gpus)?,
        };
        let short: String = req.job_id.chars().take(8).collect();
        let secret_refs = req
            .env
            .keys()
            .filter(|k| req.spec.is_secret(k))
            .map(|k| {
                (
                    k.clone(),
                    format!("hoist-{short}-{}", k.to_ascii_lowercase().replace('_', "-")),
                )
            })
            .collect::<std::collections::BTreeMap<_, _>>();
        let mut pull_secrets = Vec::new();
        if let Some(p) = &opts.image_pull_secret {
            pull_secrets.push(p.clone());
        } else if req
            .spec
            .image
            .as_deref()
            .is_some_and(|i| i.starts_with("nvcr.io/"))
            && let Some(key) = req
                .env
                .get("NGC_KEY")
                .cloned()
                .or_else(|| self.ctx.env.get("NGC_KEY"))
                .or_else(|| self.ctx.env.get("NGC_API_KEY"))
        {
            if write {
                self.ensure_ngc_pull_secret(&key).await?;
            }
            pull_secrets.push(NGC_PULL_SECRET.to_string());
        }
        let runner = match (&req.runner, &req.runner_binary) {
            (Some(_), Some(bin)) => {
                Some((self.runner_url(req, bin, write).await?, bin.sha256.clone()))
            }
            _ => None,
        };
        if write && !secret_refs.is_empty() {
            let body: Vec<Value> = secret_refs
                .iter()
                .filter_map(|(env, name)| {
                    Some(json!({"name": name, "value": req.env.get(env)?, "visibility": "private"}))
                })
                .collect();
            self.client
                .call(Method::POST, "/usersecrets", &[], Some(&Value::Array(body)))
                .await?;
            self.set_secrets(secret_refs.values().cloned().collect());
        }
        Ok((
            Placement {
                shape,
                node_group_id: ng,
                secret_refs,
                pull_secrets,
                runner,
            },
            note,
        ))
    }

    /// The workspace's pull secret for nvcr.io, made from the NGC key when it is missing.
    async fn ensure_ngc_pull_secret(&self, key: &str) -> Result<(), PlatformError> {
        let have = self.client.get("/imagepullsecrets", &[]).await?;
        let exists = have.as_array().into_iter().flatten().any(|s| {
            s.pointer("/metadata/id").and_then(Value::as_str) == Some(NGC_PULL_SECRET)
                || s.pointer("/metadata/name").and_then(Value::as_str) == Some(NGC_PULL_SECRET)
        });
        if !exists {
            let body = json!({
                "metadata": {"name": NGC_PULL_SECRET, "id": NGC_PULL_SECRET},
                "spec": {"registry_server": "https://nvcr.io", "username": "$oauthtoken", "password": key},
            });
            self.client
                .call(Method::POST, "/imagepullsecrets", &[], Some(&body))
                .await?;
        }
        Ok(())
    }

    /// Where the job fetches hoist's static runner: the runner_url setting, else the binary
    /// published once per version to the job's S3 bucket, by a presigned URL.
    async fn runner_url(
        &self,
        req: &SubmitRequest,
        bin: &hoist_core::staging::RunnerBinary,
        write: bool,
    ) -> Result<String, PlatformError> {
        if let Some(u) = &self.settings.runner_url {
            return Ok(u.clone());
        }
        let Some(bucket) = req
            .env
            .get("S3_BUCKET_NAME")
            .cloned()
            .or_else(|| self.ctx.env.get("S3_BUCKET_NAME"))
        else {
            return Err(InputError::new(
                "this job stages data, and Lepton jobs need a place to fetch hoist's runner from",
                "give jobs S3_BUCKET_NAME with S3 credentials (hoist uploads the runner there once per version), or set HOIST_LEPTON_RUNNER_URL to where this hoist's static binary is served",
            )
            .into());
        };
        let uri = format!("s3://{bucket}/hoist/runner/{}/hoist", bin.sha256);
        if !write {
            return Ok(format!("(a presigned URL of {uri}, made at submit)"));
        }
        // The job's own credentials sign it: the ones in this request, else this shell's.
        let env = hoist_core::MapEnv::of(
            req.env.iter().map(|(k, v)| (k.clone(), v.clone())).chain(
                [
                    "ACCESS_KEY",
                    "SECRET_KEY",
                    "AWS_ACCESS_KEY_ID",
                    "AWS_SECRET_ACCESS_KEY",
                    "AWS_SESSION_TOKEN",
                    "S3_ENDPOINT_URL",
                    "AWS_ENDPOINT_URL",
                    "AWS_REGION",
                    "CLOUD_REGION",
                ]
                .iter()
                .filter(|k| !req.env.contains_key(**k))
                .filter_map(|k| self.ctx.env.get(k).map(|v| (k.to_string(), v))),
            ),
        );
        hoist_staging::publish(&bin.path, &uri, RUNNER_URL_LIFETIME, &env)
            .await
            .map_err(|e| {
                PlatformError::failed(
                    format!("publishing hoist's runner for the job: {e}"),
                    e.hint().unwrap_or_default(),
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(id: &str, gpus: u32, cpu: f64) -> Shape {
        Shape {
            id: id.into(),
            gpus,
            accelerator: if gpus > 0 {
                "NVIDIA-H100-SXM".into()
            } else {
                String::new()
            },
            cpu,
            memory_mb: 1024,
        }
    }

    #[test]
    fn shapes_by_gpu_count() {
        let all = [
            shape("cpu.large", 0, 8.0),
            shape("cpu.small", 0, 2.0),
            shape("gpu.2x", 2, 32.0),
            shape("gpu.8x", 8, 128.0),
        ];
        assert_eq!(choose_shape(&all, 2).expect("exact").0, "gpu.2x");
        let (id, note) = choose_shape(&all, 1).expect("larger");
        assert_eq!(id, "gpu.2x");
        assert!(note.contains("no shape has exactly 1"), "{note}");
        assert_eq!(choose_shape(&all, 0).expect("cpu").0, "cpu.small");
        let e = choose_shape(&all, 16).expect_err("none");
        assert!(e.hint.contains("gpu.8x"), "{}", e.hint);
    }
}
