//! Private registries for pyxis and enroot: the registry login this environment gives
//! (`DOCKER_*` / `SKYPILOT_DOCKER_*`, `NGC_KEY` for nvcr.io) becomes an enroot credentials
//! file (netrc lines, mode 0600) in the job's directory, and the job and its image
//! conversion point `ENROOT_CONFIG_PATH` there. The user's own enroot configuration is kept:
//! its credentials are copied in first and its `*.d` directories linked.

use super::Rendered;
use hoist_core::EnvSource;
use hoist_core::registry::{RegistryLogin, login_for};
use hoist_core::spec::sh_quote;
use hoist_core::{InputError, PlatformError, SubmitRequest};

/// Where the job's enroot configuration lives.
pub fn config_dir(job_dir: &str) -> String {
    format!("{job_dir}/enroot")
}

/// Whether this job pulls its image through enroot (pyxis or enroot, from a registry).
fn pulls_with_enroot(req: &SubmitRequest) -> bool {
    let image = req.spec.image.as_deref().unwrap_or("");
    !image.is_empty()
        && !image.starts_with('/')
        && matches!(super::container::container_of(req), Ok("pyxis" | "enroot"))
}

/// The netrc lines for the job's image, the password resolved (`$(cmd)` runs here), or
/// `None` without a login. `shown` masks the password instead of resolving it (dry run).
pub fn credentials(
    req: &SubmitRequest,
    env: &dyn EnvSource,
    shown: bool,
) -> Result<Option<String>, PlatformError> {
    credentials_with(req, env, &mut |login| {
        if shown {
            Ok("<secret>".to_string())
        } else {
            resolve(login)
        }
    })
}

/// The login's password as the job gets it: a `$(cmd)` runs here.
pub fn resolve(login: &RegistryLogin) -> Result<String, PlatformError> {
    hoist_sys::secret::resolve_password(&login.password, &login.username).map_err(|e| {
        PlatformError::Failed {
            message: e.message,
            hint: e.hint.into(),
        }
    })
}

/// [`credentials`] with the password found by `password` (a batch resolves each login once).
pub fn credentials_with(
    req: &SubmitRequest,
    env: &dyn EnvSource,
    password: &mut dyn FnMut(&RegistryLogin) -> Result<String, PlatformError>,
) -> Result<Option<String>, PlatformError> {
    if !pulls_with_enroot(req) {
        return Ok(None);
    }
    let image = req.spec.image.as_deref().unwrap_or("");
    let image = image
        .strip_prefix("docker://")
        .unwrap_or(image)
        .replace('#', "/");
    let Some(login) = login_for(&image, env) else {
        return Ok(None);
    };
    let password = password(&login)?;
    if [&login.server, &login.username, &password]
        .iter()
        .any(|v| v.is_empty() || v.chars().any(char::is_whitespace))
    {
        return Err(InputError::new(
            format!("the registry login for {} cannot be written for enroot: a value is empty or has spaces", login.server),
            "check DOCKER_USERNAME/DOCKER_PASSWORD/DOCKER_SERVER (or SKYPILOT_DOCKER_*)",
        )
        .into());
    }
    let mut lines = format!(
        "machine {} login {} password {password}\n",
        login.server, login.username
    );
    if login.server == "nvcr.io" {
        // NGC's token service answers on a second host.
        lines.push_str(&format!(
            "machine authn.nvidia.com login {} password {password}\n",
            login.username
        ));
    }
    Ok(Some(lines))
}

/// Point the job and its conversion at the job's enroot configuration.
pub fn use_config(r: &mut Rendered, job_dir: &str) {
    let export = format!(
        "export ENROOT_CONFIG_PATH={}\n",
        sh_quote(&config_dir(job_dir))
    );
    for (text, after) in [(&mut r.sbatch, "set -uo pipefail\n")].into_iter().chain(
        r.conversion
            .as_mut()
            .map(|c| (&mut c.sbatch, "set -euo pipefail\n")),
    ) {
        if let Some(i) = text.find(after) {
            text.insert_str(i + after.len(), &export);
        }
    }
}

/// The staging script's lines that write the credentials file (fed through ssh's stdin, as
/// the env file is).
pub fn stage_lines(job_dir: &str, netrc: &str) -> String {
    use base64::Engine;
    let c = sh_quote(&config_dir(job_dir));
    format!(
        "u=\"${{ENROOT_CONFIG_PATH:-$HOME/.config/enroot}}\"\nmkdir -p {c} && chmod 700 {c}\nfor d in environ.d mounts.d hooks.d; do [ -e \"$u/$d\" ] && ln -sfn \"$u/$d\" {c}/\"$d\"; done\n{{ cat \"$u/.credentials\" 2>/dev/null || true; base64 -d <<'HOIST_B64'\n{}\nHOIST_B64\n}} > {c}/.credentials\n",
        base64::engine::general_purpose::STANDARD.encode(netrc.as_bytes())
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script::tests::{req, settings};
    use crate::script::{ConversionSettings, render};
    use hoist_core::{Command, GpuSpec, MapEnv};

    #[test]
    fn a_registry_login_becomes_the_jobs_enroot_credentials() {
        let mut r = req(Command::Shell("true".into()), 2, GpuSpec::Count(1));
        r.spec.image = Some("127.0.0.1:5000/team/img:1".into());
        r.spec
            .platform_options
            .insert("slurm".into(), serde_json::json!({"container": "enroot"}));
        let env = MapEnv::of([
            ("SKYPILOT_DOCKER_USERNAME", "hoist"),
            ("SKYPILOT_DOCKER_PASSWORD", "$(printf pw-from-cmd)"),
            ("SKYPILOT_DOCKER_SERVER", "127.0.0.1:5000"),
        ]);
        let netrc = credentials(&r, &env, false).expect("ok").expect("login");
        assert_eq!(
            netrc,
            "machine 127.0.0.1:5000 login hoist password pw-from-cmd\n"
        );
        let shown = credentials(&r, &env, true).expect("ok").expect("login");
        assert!(shown.contains("<secret>") && !shown.contains("pw-from-cmd"));
        let mut rendered = render(
            &r,
            "/b/jobs/job-1",
            "/b/results",
            &ConversionSettings::default(),
            &settings(),
        )
        .expect("render");
        use_config(&mut rendered, "/b/jobs/job-1");
        assert!(
            rendered
                .sbatch
                .contains("export ENROOT_CONFIG_PATH=/b/jobs/job-1/enroot\n")
        );
        let conv = rendered.conversion.expect("enroot converts");
        assert!(
            conv.sbatch
                .contains("export ENROOT_CONFIG_PATH=/b/jobs/job-1/enroot\n")
        );
        let stage = stage_lines("/b/jobs/job-1", &netrc);
        assert!(
            !stage.contains("pw-from-cmd"),
            "the password travels as base64 only"
        );
        assert!(stage.contains("> /b/jobs/job-1/enroot/.credentials"));

        r.spec
            .platform_options
            .insert("slurm".into(), serde_json::json!({"container": "none"}));
        assert!(credentials(&r, &env, false).expect("ok").is_none());
    }
}
