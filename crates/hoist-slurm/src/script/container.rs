//! The container runtimes a SLURM job can run in (pyxis, enroot, Charliecloud, or none):
//! which one a request gets, how its image is named, and the srun line that starts it.

use hoist_core::spec::sh_quote;
use hoist_core::{InputError, SubmitRequest};

/// Container runtimes a job can run in.
pub const CONTAINERS: &[&str] = &["none", "pyxis", "enroot", "charliecloud"];

/// The container runtime of a request: `--container`, else pyxis with an image, else none.
pub fn container_of(req: &SubmitRequest) -> Result<&'static str, InputError> {
    let opts = req
        .spec
        .options_of::<crate::settings::SlurmOptions>("slurm")?;
    let kind = match (opts.container.as_deref(), &req.spec.image) {
        (Some(c), _) => CONTAINERS
            .iter()
            .find(|k| **k == c)
            .copied()
            .ok_or_else(|| {
                InputError::new(
                    format!("unknown --container {c:?}"),
                    "use none, pyxis, enroot or charliecloud",
                )
            })?,
        (None, Some(_)) => "pyxis",
        (None, None) => "none",
    };
    if kind != "none" && req.spec.image.is_none() {
        return Err(InputError::new(
            format!("--container {kind} needs --image"),
            "give the image (registry/image:tag, docker://registry#image:tag, /path/image.sqsh, or a Charliecloud image directory)",
        ));
    }
    Ok(kind)
}

/// Pyxis/enroot name registries with `#`: `nvcr.io/nvidia/x:1` → `nvcr.io#nvidia/x:1`.
pub fn pyxis_image(image: &str) -> String {
    let img = image.strip_prefix("docker://").unwrap_or(image);
    if img.starts_with('/') || img.contains('#') {
        return img.to_string();
    }
    match img.split_once('/') {
        Some((reg, rest)) if reg.contains('.') || reg.contains(':') || reg == "localhost" => {
            format!("{reg}#{rest}")
        }
        _ => img.to_string(),
    }
}
/// The command srun runs on each node, in the request's container runtime. The job
/// directory and the results root are mounted at the same paths (Charliecloud: at /mnt/0 and
/// /mnt/1, which its images provide), and the entrypoint runs under bash when the image has
/// it, sh otherwise.
pub(super) fn launch(
    req: &SubmitRequest,
    dir: &str,
    results_root: &str,
    image: &str,
    extra_mounts: &[String],
    runner: Option<&str>,
) -> Result<String, InputError> {
    let q = |v: &str| sh_quote(v);
    let run_entry = |path: &str| {
        format!(
            "/bin/sh -c {} {}",
            q("if [ -x /bin/bash ]; then exec /bin/bash \"$0\"; else exec /bin/sh \"$0\"; fi"),
            q(path)
        )
    };
    let image = image.to_string();
    let base = dir.rsplit_once("/jobs/").map(|(b, _)| b).unwrap_or(dir);
    // The base directory at its own path (job files, results), then the site's shared mounts.
    let mut mounts = vec![format!("{base}:{base}")];
    mounts.extend(
        extra_mounts
            .iter()
            .filter(|m| !base.starts_with(m.split(':').next().unwrap_or("")))
            .map(|m| {
                if m.contains(':') {
                    m.clone()
                } else {
                    format!("{m}:{m}")
                }
            }),
    );
    Ok(match container_of(req)? {
        "none" => format!("bash {}/entrypoint.sh", q(dir)),
        "pyxis" => {
            let names: Vec<&str> = req.env.keys().map(String::as_str).collect();
            let mut s = format!(
                "--container-image={} --container-mounts={}",
                q(&pyxis_image(&image)),
                q(&mounts.join(","))
            );
            if !names.is_empty() {
                s.push_str(&format!(" --container-env={}", q(&names.join(","))));
            }
            format!("{s} {}", run_entry(&format!("{dir}/entrypoint.sh")))
        }
        "enroot" => format!(
            "enroot start {} {} {}",
            mounts
                .iter()
                .map(|m| format!("--mount {}", q(m)))
                .collect::<Vec<_>>()
                .join(" "),
            q(&pyxis_image(&image)),
            run_entry(&format!("{dir}/entrypoint.sh"))
        ),
        _ => format!(
            "env TAO_RESULTS_ROOT=/mnt/1 TAO_API_RESULTS_DIR=/mnt/1 ch-run -b {} -b {}{} {} -- {}",
            q(&format!("{dir}:/mnt/0")),
            q(&format!("{results_root}:/mnt/1")),
            match (&req.runner, runner.and_then(|r| r.rsplit_once('/'))) {
                (Some(_), Some((bin, _))) => format!(" -b {}", q(&format!("{bin}:/mnt/2"))),
                _ => String::new(),
            },
            q(&image),
            run_entry("/mnt/0/entrypoint.sh")
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script::tests::{req, settings};
    use crate::script::{ConversionSettings, render};
    use hoist_core::{Command, GpuSpec};

    #[test]
    fn container_launch_lines() {
        let mut r = req(Command::Shell("nvidia-smi".into()), 1, GpuSpec::Count(1));
        r.spec.image = Some("nvcr.io/nvidia/pytorch:24.05-py3".into());
        let p = render(
            &r,
            "/base/jobs/job-1",
            "/base/results",
            &ConversionSettings::default(),
            &settings(),
        )
        .expect("pyxis");
        assert!(p.sbatch.contains("--container-image='nvcr.io#nvidia/pytorch:24.05-py3' --container-mounts=/base:/base,/lustre:/lustre --container-env=HF_TOKEN,MODE"), "{}", p.sbatch);
        r.spec.platform_options.insert(
            "slurm".into(),
            serde_json::json!({"container": "charliecloud"}),
        );
        r.spec.image = Some("/home/me/img dir".into());
        let c = render(
            &r,
            "/base/jobs/job-1",
            "/base/results",
            &ConversionSettings::default(),
            &settings(),
        )
        .expect("charliecloud");
        assert!(
            c.sbatch.contains(
                "ch-run -b /base/jobs/job-1:/mnt/0 -b /base/results:/mnt/1 '/home/me/img dir' --"
            ),
            "{}",
            c.sbatch
        );
        r.spec
            .platform_options
            .insert("slurm".into(), serde_json::json!({"container": "enroot"}));
        r.spec.image = Some("/cache/x.sqsh".into());
        assert!(
            render(
                &r,
                "/d/jobs/j",
                "/d/results",
                &ConversionSettings::default(),
                &settings()
            )
            .expect("enroot")
            .sbatch
            .contains("enroot start --mount /d:/d --mount /lustre:/lustre /cache/x.sqsh")
        );
        r.spec
            .platform_options
            .insert("slurm".into(), serde_json::json!({"container": "docker"}));
        assert!(render(&r, "/d", "/r", &ConversionSettings::default(), &settings()).is_err());
        r.spec
            .platform_options
            .insert("slurm".into(), serde_json::json!({"container": "pyxis"}));
        r.spec.image = None;
        assert!(render(&r, "/d", "/r", &ConversionSettings::default(), &settings()).is_err());
        assert_eq!(
            pyxis_image("docker://nvcr.io#nvidia/x:1"),
            "nvcr.io#nvidia/x:1"
        );
        assert_eq!(pyxis_image("ubuntu:22.04"), "ubuntu:22.04");
        assert_eq!(pyxis_image("/p/i.sqsh"), "/p/i.sqsh");
    }
}
