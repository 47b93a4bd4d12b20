//! Looking at the set-up rather than a job: preflight checks, the platforms this build has,
//! and the resolved settings with where each came from.

use crate::registry::DEFAULT;
use crate::views::{ConfigView, EnvView, PlatformView, PreflightView, SettingView};
use crate::{Hoist, JobRequest, Result};
use hoist_core::settings::{DefaultValue, SettingsMap, Source, masked};
use hoist_core::{PlatformError, PreflightCheck, PreflightRequest};

impl Hoist {
    /// Preflight checks of the platform a request would run on, the store's own first.
    pub async fn preflight(
        &self,
        req: &JobRequest,
        checks_for: &PreflightRequest,
    ) -> Result<PreflightView> {
        let prepared = self.prepare(req)?;
        let p = self.entry(&prepared.platform)?.descriptor.build(
            &self.build_context(),
            &prepared.settings.values,
            None,
        )?;
        let mut checks = vec![PreflightCheck {
            name: "store".into(),
            ok: true,
            required: true,
            detail: format!(
                "{} (schema {})",
                self.store.path().display(),
                self.store.schema_version()?
            ),
            remedy: String::new(),
        }];
        match p.preflight(checks_for).await {
            Ok(c) => checks.extend(c),
            Err(e @ PlatformError::Unsupported { .. }) => checks.push(PreflightCheck::new(
                "platform",
                true,
                false,
                e.to_string(),
                "",
            )),
            Err(e) => return Err(e.into()),
        }
        let ok = !checks.iter().any(|c| c.required && !c.ok);
        Ok(PreflightView {
            platform: prepared.platform,
            ok,
            checks,
        })
    }

    /// Every platform this build has, and whether this machine looks set up for it (decided
    /// from settings, environment and files only — no network).
    pub fn platforms(&self) -> Vec<PlatformView> {
        let ctx = self.build_context();
        let prof = self.profile(None).ok().flatten();
        self.entries()
            .map(|e| {
                let info = e.descriptor.info();
                let readiness = match self.resolve_settings(e, prof.as_ref(), None) {
                    Ok(s) => e.descriptor.readiness(&ctx, &s.values),
                    Err(err) => hoist_core::Readiness {
                        configured: false,
                        reason: err.to_string(),
                    },
                };
                PlatformView {
                    name: info.name,
                    aliases: info.aliases,
                    summary: info.summary,
                    settings: info.settings,
                    env: info
                        .env
                        .iter()
                        .map(|(name, doc)| EnvView { name, doc })
                        .collect(),
                    capabilities: info.capabilities,
                    readiness,
                }
            })
            .collect()
    }

    /// The settings a job would get now on `platform` (default: what a plain `hoist run`
    /// picks), with where each value came from. `flags` are platform flags given on the
    /// command line, by platform.
    pub fn config_show(
        &self,
        platform: Option<&str>,
        profile: Option<&str>,
        flags: &std::collections::BTreeMap<String, SettingsMap>,
    ) -> Result<ConfigView> {
        let prof = self.profile(profile)?;
        let (named, platform_source) = match (platform, self.env.get("HOIST_PLATFORM")) {
            (Some(p), _) => (p.to_string(), Source::Flag("--platform".into())),
            (None, Some(p)) => (p, Source::Env("HOIST_PLATFORM".into())),
            (None, None) => match prof
                .as_ref()
                .and_then(|(n, p)| Some((n, p.platform.clone()?)))
            {
                Some((n, p)) => (p, Source::Profile(n.clone())),
                None => (DEFAULT.to_string(), Source::Default),
            },
        };
        let e = self.entry(&named)?;
        let info = e.descriptor.info();
        let explicit = flags
            .iter()
            .find(|(k, v)| !v.is_empty() && self.canonical(k).ok() == Some(info.name))
            .map(|(_, v)| v);
        let resolved = self.resolve_settings(e, prof.as_ref(), explicit)?;
        let settings = info
            .settings
            .iter()
            .map(|d| {
                let value = resolved.values.get(d.key).cloned().unwrap_or_default();
                SettingView {
                    key: d.key,
                    value: if d.secret { masked(&value) } else { value },
                    source: resolved.sources.get(d.key).cloned(),
                    default: match d.default {
                        DefaultValue::Computed(how) if !resolved.values.contains_key(d.key) => {
                            Some(how)
                        }
                        _ => None,
                    },
                    doc: d.doc,
                }
            })
            .collect();
        Ok(ConfigView {
            platform: info.name.to_string(),
            platform_source,
            profile: prof.map(|(n, _)| n),
            settings,
        })
    }
}
