//! Finding a platform by name, layering its settings, and building it — for a new request
//! or for a job that already exists (with what it pinned).

use crate::config::Profile;
use crate::registry::{ENTRIES, Entry};
use crate::{Hoist, Result};
use hoist_core::settings::{Layers, Resolved, SettingsMap, resolve};
use hoist_core::{BuildContext, InputError, JobRecord, Platform};

/// The registry entry for a name or alias, among the built-in platforms.
pub(crate) fn entry(name: &str) -> std::result::Result<&'static Entry, InputError> {
    find(ENTRIES.iter(), name)
}

fn find<'a>(
    mut entries: impl Iterator<Item = &'a Entry>,
    name: &str,
) -> std::result::Result<&'a Entry, InputError> {
    let n = name.trim().to_ascii_lowercase();
    entries
        .find(|e| {
            let i = e.descriptor.info();
            i.name == n || i.aliases.contains(&n.as_str())
        })
        .ok_or_else(|| {
            InputError::new(
                format!("unknown platform {name:?}"),
                format!("this hoist has: {}", names().join(", ")),
            )
        })
}

/// Every built-in platform's canonical name.
pub(crate) fn names() -> Vec<&'static str> {
    ENTRIES.iter().map(|e| e.descriptor.info().name).collect()
}

impl Hoist {
    /// The entry for a name or alias: platforms added when opening first, then the built-in
    /// ones.
    pub(crate) fn entry(&self, name: &str) -> std::result::Result<&Entry, InputError> {
        find(self.extra.iter().chain(ENTRIES.iter()), name)
    }

    /// Every platform of this handle.
    pub(crate) fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.extra.iter().chain(ENTRIES.iter())
    }

    /// The canonical name of a platform of this handle.
    pub fn canonical(&self, name: &str) -> std::result::Result<&'static str, InputError> {
        self.entry(name).map(|e| e.descriptor.info().name)
    }

    /// What a platform of this handle can do (a front door shapes a request by it).
    pub fn capabilities_of(
        &self,
        name: &str,
    ) -> std::result::Result<hoist_core::Capabilities, InputError> {
        self.entry(name).map(|e| e.descriptor.info().capabilities)
    }

    pub(crate) fn build_context(&self) -> BuildContext {
        BuildContext {
            home: self.home.clone(),
            exe: self.exe.clone(),
            env: self.env.clone(),
            reporter: self.reporter.clone(),
        }
    }

    /// The named profile (or `HOIST_PROFILE`, or the default one), checked to name a platform
    /// this build has.
    pub(crate) fn profile(&self, name: Option<&str>) -> Result<Option<(String, Profile)>> {
        let selected = self.config.select(name, self.env.as_ref())?;
        if let Some((pname, p)) = &selected
            && let Some(plat) = &p.platform
            && self.entry(plat).is_err()
        {
            return Err(InputError::new(
                format!("profile {pname:?} is for platform {plat:?}, which this build of hoist does not have"),
                format!("this hoist has: {}; change the profile's platform or use a build with {plat}", names().join(", ")),
            )
            .into());
        }
        Ok(selected)
    }

    /// `entry`'s settings: `explicit` (flags, a request's options), then the environment, then
    /// the profile (when it is for this platform, or names none), then defaults.
    pub(crate) fn resolve_settings(
        &self,
        entry: &Entry,
        profile: Option<&(String, Profile)>,
        explicit: Option<&SettingsMap>,
    ) -> Result<Resolved> {
        let info = entry.descriptor.info();
        let empty = SettingsMap::new();
        let pmap = profile
            .filter(|(_, p)| {
                p.platform
                    .as_deref()
                    .is_none_or(|pl| self.canonical(pl).ok() == Some(info.name))
            })
            .map(|(n, p)| (n.as_str(), p.settings_map()));
        let resolved = resolve(
            info.name,
            info.settings,
            &Layers {
                explicit: explicit.unwrap_or(&empty),
                env: self.env.as_ref(),
                profile: pmap.as_ref().map(|(n, m)| (*n, m)),
            },
        )?;
        entry.descriptor.check(&resolved.values)?;
        Ok(resolved)
    }

    /// The platform `name` as configured now (profile, environment, defaults).
    pub fn platform(&self, name: &str, profile: Option<&str>) -> Result<Box<dyn Platform>> {
        let e = self.entry(name)?;
        let prof = self.profile(profile)?;
        let s = self.resolve_settings(e, prof.as_ref(), None)?;
        Ok(e.descriptor.build(&self.build_context(), &s.values, None)?)
    }

    /// The platform of an existing job: its profile's settings as they are now, overridden by
    /// what the platform pinned at submit, so a later shell cannot send it elsewhere.
    pub(crate) fn platform_for(&self, job: &JobRecord) -> Result<Box<dyn Platform>> {
        let e = self.entry(&job.platform)?;
        let prof = match &job.profile {
            Some(p) => self.profile(Some(p))?,
            None => None,
        };
        let s = self.resolve_settings(e, prof.as_ref(), None)?;
        Ok(e.descriptor
            .build(&self.build_context(), &s.values, job.pinned.as_ref())?)
    }
}
