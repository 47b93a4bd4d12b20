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

/// The lowercase alphanumeric words of a GPU or shape name (`NVIDIA-A100-80GB` → `nvidia`,
/// `a100`, `80gb`).
fn words(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_lowercase)
        .collect()
}

/// Whether `shape` has the GPU model `model`: every word of the model is a word of the
/// shape's accelerator (whole words, so `A10` is not `A100` and `A100-80GB` is not a 40 GB
/// A100). A shape that names no accelerator is judged by its id, counts (`8xh100`) aside.
pub(crate) fn has_model(shape: &Shape, model: &str) -> bool {
    if shape.gpus == 0 {
        return false;
    }
    let have = if shape.accelerator.is_empty() {
        words(&shape.id)
            .into_iter()
            .map(|w| match w.split_once('x') {
                Some((n, rest)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
                    rest.to_string()
                }
                _ => w,
            })
            .collect()
    } else {
        words(&shape.accelerator)
    };
    let want = words(model);
    !want.is_empty() && want.iter().all(|w| have.contains(w))
}

/// The GPU models `shapes` offer, each with its counts: `NVIDIA-H100-SXM (1, 2, 8 GPUs)`.
fn models(shapes: &[Shape]) -> String {
    let mut by: std::collections::BTreeMap<String, Vec<u32>> = Default::default();
    for s in shapes.iter().filter(|s| s.gpus > 0) {
        let name = if s.accelerator.is_empty() {
            format!("shape {}", s.id)
        } else {
            s.accelerator.clone()
        };
        by.entry(name).or_default().push(s.gpus);
    }
    if by.is_empty() {
        return "none (no shape has GPUs)".into();
    }
    by.into_iter()
        .map(|(m, mut n)| {
            n.sort_unstable();
            n.dedup();
            let n: Vec<String> = n.iter().map(u32::to_string).collect();
            format!("{m} ({} GPUs)", n.join(", "))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The shape for `gpus` of model `gpu_type` (any model when `None`): exactly that many, else
/// the smallest with more (a CPU shape for none), and what to say about the choice. `within`
/// names where the shapes come from, for the errors.
pub(crate) fn choose_shape(
    shapes: &[Shape],
    gpus: u32,
    gpu_type: Option<&str>,
    within: &str,
) -> Result<(String, String), InputError> {
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
                format!("no GPUs were asked for and {within} has no CPU-only shape"),
                format!("pass --gpus N or --resource-shape; shapes: {}", listing()),
            )),
        };
    }
    let (fit, model): (Vec<&Shape>, String) = match gpu_type {
        Some(m) => {
            let fit: Vec<&Shape> = shapes.iter().filter(|s| has_model(s, m)).collect();
            if fit.is_empty() {
                return Err(InputError::new(
                    format!("{within} has no resource shape with {m} GPUs"),
                    format!(
                        "ask for a GPU model it offers (--gpus MODEL:N), or name a shape with --resource-shape; GPU models: {}",
                        models(shapes)
                    ),
                ));
            }
            (fit, format!("{m} "))
        }
        None => (shapes.iter().collect(), String::new()),
    };
    if let Some(s) = fit.iter().find(|s| s.gpus == gpus) {
        return Ok((s.id.clone(), format!("shape {} ({gpus} {model}GPU)", s.id)));
    }
    match fit.iter().filter(|s| s.gpus > gpus).min_by_key(|s| s.gpus) {
        Some(s) => Ok((
            s.id.clone(),
            format!(
                "shape {} ({} {model}GPU: no shape has exactly {gpus}, this is the smallest with more)",
                s.id, s.gpus
            ),
        )),
        None => Err(InputError::new(
            format!("no resource shape has {gpus} {model}GPU(s)"),
            format!(
                "ask for fewer GPUs, or name one with --resource-shape; shapes: {}",
                fit.iter()
                    .map(|s| format!("{} ({} GPU)", s.id, s.gpus))
                    .collect::<Vec<_>>()
                    .join(", ")
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
        let within = match (&opts.node_group, &ng) {
            (Some(name), Some(id)) if name != id => format!("node group {name} ({id})"),
            (_, Some(id)) => format!("node group {id}"),
            _ => format!("workspace {}", self.client.workspace()),
        };
        let model = req
            .spec
            .gpu_type
            .as_deref()
            .filter(|m| !m.trim().is_empty());
        let (shape, note) = match &opts.resource_shape {
            Some(s) => {
                let named = shapes.iter().find(|x| &x.id == s);
                if let (Some(x), Some(m)) = (named, model)
                    && gpus > 0
                    && !has_model(x, m)
                {
                    return Err(InputError::new(
                        format!(
                            "resource shape {s} has {} GPUs, and the job asks for {m}",
                            if x.accelerator.is_empty() { "no" } else { &x.accelerator }
                        ),
                        format!(
                            "drop --resource-shape to have hoist pick a {m} shape, or ask for the shape's GPU model; GPU models in {within}: {}",
                            models(&shapes)
                        ),
                    )
                    .into());
                }
                if named.is_none() {
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
            None => choose_shape(&shapes, gpus, model, &within)?,
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
        let mut made_pull_secret = None;
        if let Some(p) = &opts.image_pull_secret {
            pull_secrets.push(p.clone());
        } else if let Some(login) = req
            .spec
            .image
            .as_deref()
            .and_then(|i| crate::pull::login(i, &req.env, &*self.ctx.env))
        {
            let r = self.pull_secret(&login, write).await?;
            pull_secrets.push(r.name.clone());
            made_pull_secret = Some(r);
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
                made_pull_secret,
                runner,
            },
            note,
        ))
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
        gpu_shape(id, gpus, cpu, if gpus > 0 { "NVIDIA-H100-SXM" } else { "" })
    }

    fn gpu_shape(id: &str, gpus: u32, cpu: f64, accelerator: &str) -> Shape {
        Shape {
            id: id.into(),
            gpus,
            accelerator: accelerator.into(),
            cpu,
            memory_mb: 1024,
        }
    }

    const WS: &str = "workspace ws1";

    #[test]
    fn shapes_by_gpu_count() {
        let all = [
            shape("cpu.large", 0, 8.0),
            shape("cpu.small", 0, 2.0),
            shape("gpu.2x", 2, 32.0),
            shape("gpu.8x", 8, 128.0),
        ];
        assert_eq!(choose_shape(&all, 2, None, WS).expect("exact").0, "gpu.2x");
        let (id, note) = choose_shape(&all, 1, None, WS).expect("larger");
        assert_eq!(id, "gpu.2x");
        assert!(note.contains("no shape has exactly 1"), "{note}");
        assert_eq!(choose_shape(&all, 0, None, WS).expect("cpu").0, "cpu.small");
        let e = choose_shape(&all, 16, None, WS).expect_err("none");
        assert!(e.hint.contains("gpu.8x"), "{}", e.hint);
    }

    fn mixed() -> Vec<Shape> {
        vec![
            shape("cpu.small", 0, 2.0),
            gpu_shape("gpu.1xa10", 1, 8.0, "NVIDIA-A10"),
            gpu_shape("gpu.1xa100-80gb", 1, 16.0, "NVIDIA-A100-80GB"),
            gpu_shape("gpu.4xa100-80gb", 4, 64.0, "NVIDIA-A100-80GB"),
            gpu_shape("gpu.2xh100-sxm", 2, 32.0, "NVIDIA-H100-SXM"),
            gpu_shape("gpu.8xh100-sxm", 8, 128.0, "NVIDIA-H100-SXM"),
        ]
    }

    #[test]
    fn the_gpu_model_picks_among_its_shapes_then_the_count() {
        let all = mixed();
        let pick = |n, m| choose_shape(&all, n, Some(m), WS).map(|(id, _)| id);
        assert_eq!(pick(1, "A100").expect("a100"), "gpu.1xa100-80gb");
        assert_eq!(pick(1, "a100").expect("any case"), "gpu.1xa100-80gb");
        assert_eq!(pick(2, "A100").expect("more"), "gpu.4xa100-80gb");
        assert_eq!(
            pick(4, "A100-80GB").expect("with memory"),
            "gpu.4xa100-80gb"
        );
        assert_eq!(pick(1, "A10").expect("a10 is not a100"), "gpu.1xa10");
        assert_eq!(pick(1, "H100").expect("larger h100"), "gpu.2xh100-sxm");
        assert_eq!(
            pick(8, "nvidia-h100").expect("vendor word"),
            "gpu.8xh100-sxm"
        );
        // Without a model the count alone decides, across models.
        assert_eq!(choose_shape(&all, 1, None, WS).expect("any").0, "gpu.1xa10");
        let e = pick(8, "A100").expect_err("no 8x A100");
        assert!(
            e.hint.contains("gpu.4xa100-80gb") && !e.hint.contains("h100"),
            "{}",
            e.hint
        );
    }

    #[test]
    fn a_model_no_shape_has_is_refused_with_the_models_offered() {
        let all = mixed();
        for m in ["A1", "A100-40GB", "L40S", "100"] {
            let e = choose_shape(&all, 1, Some(m), "node group my-h100s (ng-abc123)").expect_err(m);
            assert!(
                e.message.contains("node group my-h100s") && e.message.contains(m),
                "{}",
                e.message
            );
            assert!(
                e.hint.contains("NVIDIA-A10 (1 GPUs)")
                    && e.hint.contains("NVIDIA-A100-80GB (1, 4 GPUs)")
                    && e.hint.contains("NVIDIA-H100-SXM (2, 8 GPUs)"),
                "{}",
                e.hint
            );
        }
        // No GPUs asked for: the model does not matter.
        assert_eq!(
            choose_shape(&all, 0, Some("L40S"), WS).expect("cpu").0,
            "cpu.small"
        );
    }

    #[test]
    fn models_match_whole_words_and_ids_stand_in_for_a_missing_accelerator() {
        let bare = gpu_shape("gpu.8xh100-sxm", 8, 1.0, "");
        assert!(has_model(&bare, "H100"));
        assert!(!has_model(&bare, "H10"));
        assert!(!has_model(&bare, "8xh100"), "the count is not the model");
        let a100 = gpu_shape("x", 1, 1.0, "NVIDIA-A100-80GB");
        assert!(has_model(&a100, "A100") && has_model(&a100, "a100_80gb"));
        assert!(!has_model(&a100, "A10") && !has_model(&a100, "") && !has_model(&a100, "-"));
        assert!(
            !has_model(&shape("cpu.small", 0, 1.0), "cpu"),
            "no GPUs, no model"
        );
    }
}
