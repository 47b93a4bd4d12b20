//! From a [`JobRequest`] to a validated [`JobSpec`]: the profile's defaults, the platform's
//! settings (flag, environment, profile, default), env values read here and never stored.

use crate::registry::{DEFAULT, DEFAULT_WITH_IMAGE};
use crate::{Hoist, JobRequest, Result};
use hoist_core::settings::{Resolved, SettingsMap};
use hoist_core::spec::EntryMode;
use hoist_core::{GpuSpec, InputError, JobSpec};
use std::collections::BTreeMap;

/// A request resolved against profiles and validated, ready for a platform.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// Canonical platform name.
    pub platform: String,
    /// Profile used, if any.
    pub profile: Option<String>,
    /// The validated spec (env holds names; secrets have no value).
    pub spec: JobSpec,
    /// Env values, secrets included; never stored.
    pub env: BTreeMap<String, String>,
    /// The platform's settings for this job, with where each came from.
    pub settings: Resolved,
}

impl Hoist {
    /// Turn a request into a validated spec (profile defaults applied) and the env values.
    pub fn prepare(&self, req: &JobRequest) -> Result<Prepared> {
        let selected = self.profile(req.profile.as_deref())?;
        let profile = selected
            .as_ref()
            .map(|(_, p)| p.clone())
            .unwrap_or_default();
        let image = req.image.clone().or(profile.image.clone());
        let named = req
            .platform
            .clone()
            .or_else(|| self.env.get("HOIST_PLATFORM"))
            .or(profile.platform.clone());
        let entry = match named {
            Some(p) => self.entry(&p)?,
            None if image.is_some() => self.entry(DEFAULT_WITH_IMAGE).map_err(|_| {
                InputError::new(
                    "--image was given, but this hoist has no container platform",
                    "drop --image to run on the host (--platform local)",
                )
            })?,
            None => self.entry(DEFAULT)?,
        };
        let platform = entry.descriptor.info().name;
        let explicit = self.explicit_options(platform, &req.platform_options)?;
        let settings = self.resolve_settings(entry, selected.as_ref(), Some(&explicit))?;
        let mut spec = JobSpec::new(req.command.clone());
        if let Some(n) = &req.name {
            spec.name = n.clone();
        }
        spec.image = image;
        spec.gpus = match (&req.gpus, &profile.gpus) {
            (Some(g), _) => g.clone(),
            (None, Some(g)) => g.parse()?,
            (None, None) => GpuSpec::None,
        };
        spec.gpu_type = req.gpu_type.clone();
        spec.uploads = req.uploads.clone();
        spec.nodes = req.nodes.or(profile.nodes).unwrap_or(1);
        spec.cpus = req.cpus;
        spec.memory_bytes = req.memory_bytes;
        spec.shell = req.shell.clone();
        spec.workdir = req.workdir.clone();
        spec.labels = profile.labels.clone();
        spec.labels.extend(req.labels.clone());
        let options = settings.per_job(entry.descriptor.info().settings);
        spec.platform_options
            .insert(platform.to_string(), serde_json::Value::Object(options));
        let mut values = BTreeMap::new();
        let given = profile
            .env
            .iter()
            .map(|(k, v)| (k.clone(), Some(v.clone())))
            .chain(req.env.iter().cloned());
        for (name, value) in given {
            hoist_core::spec::validate_env_name(&name)?;
            let v = match value.clone() {
                Some(v) => v,
                None => self.env.get(&name).ok_or_else(|| {
                    InputError::new(
                        format!(
                            "--env {name} takes its value from this shell, but {name} is not set"
                        ),
                        format!("export {name}=... first, or pass --env {name}=VALUE"),
                    )
                })?,
            };
            spec.set_env(&name, value);
            if req.secret_env.contains(&name) {
                spec.env.insert(name.clone(), hoist_core::EnvValue::Secret);
            }
            values.insert(name, v);
        }
        self.apply_staging(req, &mut spec, &mut values)?;
        spec.validate()?;
        Ok(Prepared {
            platform: platform.to_string(),
            profile: selected.map(|(n, _)| n),
            spec,
            env: values,
            settings,
        })
    }

    /// Data bindings, spec and args; the mode they imply; and the credentials their URIs need,
    /// taken by name from this environment (values never stored).
    fn apply_staging(
        &self,
        req: &JobRequest,
        spec: &mut JobSpec,
        values: &mut BTreeMap<String, String>,
    ) -> Result<()> {
        spec.inputs = req.inputs.clone();
        spec.outputs = req.outputs.clone();
        spec.spec = req.spec.clone();
        spec.spec_format = req.spec_format;
        spec.args = req.args.clone();
        spec.upload_excludes = req.upload_excludes.clone();
        spec.mode = match req.mode {
            Some(m) => m,
            None if spec.spec.is_some() => EntryMode::Config,
            None if !spec.args.is_empty() => EntryMode::Args,
            None => EntryMode::Passthrough,
        };
        if spec.mode == EntryMode::Config && spec.spec.is_none() {
            return Err(InputError::new(
                "--mode config needs a spec",
                "pass --spec FILE (YAML, TOML or JSON)",
            )
            .into());
        }
        let Some(plan) = hoist_core::staging::RunnerPlan::for_job("-", spec) else {
            return Ok(());
        };
        let mut names: Vec<&str> = hoist_core::staging::credential_env_names(&plan.uris(), true);
        names.push("S3_BUCKET_NAME");
        self.forward_env(&names, spec, values);
        Ok(())
    }

    /// Give the job each of `names` from this environment that it does not set itself: by
    /// name in the spec (the value goes to the platform, never to the store).
    pub(crate) fn forward_env(
        &self,
        names: &[&str],
        spec: &mut JobSpec,
        values: &mut BTreeMap<String, String>,
    ) {
        for name in names {
            if spec.env.contains_key(*name) {
                continue; // given explicitly: that value wins
            }
            if let Some(v) = self.env.get(name) {
                spec.set_env(name, None);
                values.insert(name.to_string(), v);
            }
        }
    }
}

impl Hoist {
    /// The settings given for the job's platform. Options given under another platform's
    /// name count when the job's platform declares the same setting with the same flag (the
    /// container flags `--mount`, `--pull`, … of every platform that runs jobs through
    /// Docker); any other is a mistake, said as such (`--namespace applies to the kubernetes
    /// platform, not docker`).
    fn explicit_options(
        &self,
        platform: &str,
        given: &BTreeMap<String, SettingsMap>,
    ) -> Result<SettingsMap> {
        let own = self.entry(platform)?.descriptor.info().settings;
        let mut out = SettingsMap::new();
        let mut foreign: Vec<(String, SettingsMap)> = Vec::new();
        for (name, opts) in given {
            let e = self.entry(name)?;
            if e.descriptor.info().name == platform {
                // The platform's own flags win over a shared one given for another.
                out.extend(opts.clone());
            } else if !opts.is_empty() {
                foreign.push((name.clone(), opts.clone()));
            }
        }
        for (name, opts) in foreign {
            let info = self.entry(&name)?.descriptor.info();
            for (k, v) in opts {
                let doc = info.settings.iter().find(|d| d.key == k);
                let shared = doc.is_some_and(|d| {
                    d.flag.is_some() && own.iter().any(|o| o.key == d.key && o.flag == d.flag)
                });
                if shared {
                    out.entry(k).or_insert(v);
                    continue;
                }
                let what = doc
                    .and_then(|d| d.flag)
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("setting {k:?}"));
                return Err(InputError::new(
                    format!(
                        "{what} applies to the {} platform, not {platform}",
                        info.name
                    ),
                    format!(
                        "add --platform {} (with what it needs, e.g. --image), or drop {what}",
                        info.name
                    ),
                )
                .into());
            }
        }
        Ok(out)
    }
}
