//! The SquashFS conversion job (`convert.sbatch`): a registry image is imported with enroot
//! once, in a job of its own, and cached on the shared file system for every later job.

use super::{pyxis_image, slurm_time};
use hoist_core::spec::sh_quote;

/// A registry image converted once to SquashFS for enroot, cached on the shared filesystem.
#[derive(Debug, Clone, PartialEq)]
pub struct Conversion {
    /// Where the image lands (`<base>/sqsh-cache/<image>.sqsh`).
    pub sqsh: String,
    /// SLURM job name of the conversion (shared by everyone converting the same image).
    pub job_name: String,
    /// `convert.sbatch`.
    pub sbatch: String,
    /// Convert again even if cached (`:latest` with SLURM_FORCE_RECONVERT_LATEST=1).
    pub force: bool,
}

/// Settings of the SquashFS conversion (`SLURM_CONVERSION_PARTITION`, `…_TIMEOUT_MINUTES`,
/// `…_MEMORY_GB`, `SLURM_FORCE_RECONVERT_LATEST`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConversionSettings {
    /// Partition for the conversion job (default: the job's).
    pub partition: Option<String>,
    /// Time limit, minutes (default 30).
    pub timeout_minutes: Option<u32>,
    /// Memory, GB (default 32).
    pub memory_gb: Option<u32>,
    /// Re-convert `:latest` images every time.
    pub force_latest: bool,
}

/// The cache file of an image: registry, path, tag and digest characters become `_`.
pub fn sqsh_name(image: &str) -> String {
    let img = image.strip_prefix("docker://").unwrap_or(image);
    format!("{}.sqsh", hoist_core::staging::file_safe(img, '_'))
}

pub(super) fn conversion(
    image: &str,
    base: &str,
    fallback_partition: Option<&str>,
    c: &ConversionSettings,
) -> Conversion {
    use std::hash::{Hash, Hasher};
    let cache = format!("{base}/sqsh-cache");
    let sqsh = format!("{cache}/{}", sqsh_name(image));
    // A stable short hash of the image, so concurrent submits of it share one conversion.
    let mut h = std::collections::hash_map::DefaultHasher::new();
    image.hash(&mut h);
    let job_name = format!("hoist-sqsh-{:08x}", h.finish() as u32);
    let q = |v: &str| sh_quote(v);
    let latest =
        !image.rsplit('/').next().unwrap_or("").contains(':') || image.ends_with(":latest");
    let force = c.force_latest && latest;
    let mut b = String::from("#!/bin/bash\n");
    b.push_str(&format!(
        "#SBATCH --job-name={job_name}\n#SBATCH --ntasks=1\n"
    ));
    if let Some(p) = c.partition.as_deref().or(fallback_partition) {
        b.push_str(&format!("#SBATCH --partition={p}\n"));
    }
    b.push_str(&format!(
        "#SBATCH --time={}\n",
        slurm_time(f64::from(c.timeout_minutes.unwrap_or(30)) / 60.0)
    ));
    b.push_str(&format!("#SBATCH --mem={}G\n", c.memory_gb.unwrap_or(32)));
    b.push_str(&format!("#SBATCH --output={cache}/logs/%x-%j.out\n"));
    b.push_str("set -euo pipefail\n");
    b.push_str(&format!("out={}\n", q(&sqsh)));
    if !force {
        b.push_str("if [ -s \"$out\" ] && [ \"$(head -c 4 \"$out\")\" = hsqs ]; then exit 0; fi\n");
    }
    b.push_str(&format!(
        "export ENROOT_TEMP_PATH={}/.enroot-tmp/\"$SLURM_JOB_ID\"\n",
        q(&cache)
    ));
    b.push_str("mkdir -p \"$ENROOT_TEMP_PATH\"\nrm -f \"$out.partial\"\n");
    b.push_str(&format!(
        "enroot import -o \"$out.partial\" {}\n",
        q(&format!("docker://{}", pyxis_image(image)))
    ));
    // Only a complete SquashFS (magic "hsqs") replaces the cached one, atomically.
    b.push_str("[ \"$(head -c 4 \"$out.partial\")\" = hsqs ]\nmv -f \"$out.partial\" \"$out\"\nrm -rf \"$ENROOT_TEMP_PATH\"\n");
    Conversion {
        sqsh,
        job_name,
        sbatch: b,
        force,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script::tests::{req, settings, staged_one};
    use crate::script::{ScriptSettings, render};
    use hoist_core::{Command, GpuSpec};

    #[test]
    fn registry_images_are_converted_once() {
        let mut r = req(Command::Shell("nvidia-smi".into()), 1, GpuSpec::Count(1));
        r.spec.image = Some("nvcr.io/nvidia/pytorch:24.05-py3".into());
        let sq = render(
            &r,
            "/base/jobs/job-1",
            "/base/results",
            &ConversionSettings::default(),
            &ScriptSettings {
                use_sqsh: true,
                ..settings()
            },
        )
        .expect("pyxis sqsh");
        assert!(
            sq.conversion.is_some()
                && sq.sbatch.contains(
                    "--container-image=/base/sqsh-cache/nvcr.io_nvidia_pytorch_24.05-py3.sqsh"
                ),
            "{}",
            sq.sbatch
        );
        r.spec
            .platform_options
            .insert("slurm".into(), serde_json::json!({"container": "enroot"}));
        r.spec.image = Some("nvcr.io/nvidia/tao:5.5-pyt".into());
        let conv = render(
            &r,
            "/d/jobs/j",
            "/d/results",
            &ConversionSettings::default(),
            &settings(),
        )
        .expect("enroot registry");
        let c = conv.conversion.clone().expect("a conversion job");
        assert_eq!(c.sqsh, "/d/sqsh-cache/nvcr.io_nvidia_tao_5.5-pyt.sqsh");
        assert!(
            c.sbatch.contains(
                "enroot import -o \"$out.partial\" 'docker://nvcr.io#nvidia/tao:5.5-pyt'"
            ) && c.sbatch.contains("mv -f \"$out.partial\" \"$out\""),
            "{}",
            c.sbatch
        );
        assert!(
            conv.sbatch.contains(
                "enroot start --mount /d:/d --mount /lustre:/lustre /d/sqsh-cache/nvcr.io_nvidia_tao_5.5-pyt.sqsh"
            ),
            "{}",
            conv.sbatch
        );
        let staged = staged_one("/d", "j", &conv);
        assert!(
            staged.contains("--dependency=afterok:$conv")
                && staged.contains(&format!("--name={}", c.job_name)),
            "{staged}"
        );
        r.spec.image = Some("nvcr.io/nvidia/tao:latest".into());
        let forced = render(
            &r,
            "/d/jobs/j",
            "/d/results",
            &ConversionSettings {
                force_latest: true,
                ..Default::default()
            },
            &settings(),
        )
        .expect("latest");
        assert!(
            forced
                .conversion
                .is_some_and(|c| c.force && !c.sbatch.contains("then exit 0"))
        );
    }
}
