//! The in-job runner from the submitting side: which binary jobs run, its content hash (cached
//! per file), the static-link check, installing it into a volume, the runner image, and the
//! runner's own entry point.

use crate::{Hoist, HoistError, Result};
use hoist_core::InputError;
use std::path::{Path, PathBuf};

impl Hoist {
    /// The hoist binary that runs inside jobs: the one given when opening, else
    /// `$HOIST_RUNNER_BIN`, else this one.
    pub fn runner_exe(&self) -> PathBuf {
        self.runner
            .clone()
            .or_else(|| self.env.get("HOIST_RUNNER_BIN").map(PathBuf::from))
            .unwrap_or_else(|| self.exe.clone())
    }

    /// The runner binary with its content hash, checked to be static. Hashing a large binary
    /// on every submit would cost more than the runner saves, so the hash is kept in
    /// `$HOIST_HOME/runner-hash/`, keyed by the file's inode, size and modification time.
    pub fn runner_binary(&self) -> Result<hoist_core::staging::RunnerBinary> {
        use sha2::{Digest, Sha256};
        use std::os::unix::fs::MetadataExt;
        let path = self.runner_exe();
        let io = |e: std::io::Error| {
            HoistError::from(hoist_staging::StagingError::io(
                format!("reading the runner {}", path.display()),
                e,
            ))
        };
        let meta = std::fs::metadata(&path).map_err(io)?;
        let key = format!(
            "{}-{}-{}-{}",
            meta.dev(),
            meta.ino(),
            meta.len(),
            meta.mtime_nsec() + meta.mtime() * 1_000_000_000
        );
        let cache = self.home.join("runner-hash").join(key);
        if let Ok(h) = std::fs::read_to_string(&cache)
            && h.len() == 64
        {
            return Ok(hoist_core::staging::RunnerBinary { path, sha256: h });
        }
        check_static(&path)?;
        let bytes = std::fs::read(&path).map_err(io)?;
        let sha256: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        if let Some(dir) = cache.parent() {
            let _ = std::fs::create_dir_all(dir);
            let _ = std::fs::write(&cache, &sha256);
        }
        Ok(hoist_core::staging::RunnerBinary { path, sha256 })
    }

    /// Build the runner image (FROM scratch, the static hoist as `/hoist`) on a Docker daemon
    /// (`docker_host`, else the one jobs use); returns the image id.
    pub async fn build_runner_image(
        &self,
        tag: &str,
        docker_host: Option<String>,
    ) -> Result<String> {
        let exe = self.runner_exe();
        check_static(&exe)?;
        let binary = std::fs::read(&exe).map_err(|e| {
            hoist_staging::StagingError::io(format!("reading {}", exe.display()), e)
        })?;
        Ok(
            crate::registry::build_runner_image(&self.build_context(), docker_host, tag, &binary)
                .await?,
        )
    }
}

/// A binary copied into images must not need their libc: refuse a dynamically linked one
/// (an ELF with an interpreter) before anything is queued.
fn check_static(exe: &Path) -> Result<()> {
    let refuse = |why: String| -> HoistError {
        InputError::new(
            format!("the runner {} {why}", exe.display()),
            "build hoist from this repository (its .cargo/config.toml links statically), or point HOIST_RUNNER_BIN at a static hoist",
        )
        .into()
    };
    let bytes = std::fs::read(exe).map_err(|e| refuse(format!("cannot be read: {e}")))?;
    match elf_has_interpreter(&bytes) {
        Some(false) => Ok(()),
        Some(true) => Err(refuse(
            "is dynamically linked and would not run inside an arbitrary image".into(),
        )),
        None => Err(refuse("is not a 64-bit ELF executable".into())),
    }
}

/// `Some(true)` when a 64-bit little-endian ELF has a PT_INTERP program header.
fn elf_has_interpreter(b: &[u8]) -> Option<bool> {
    if b.get(..5)? != b"\x7fELF\x02" || *b.get(5)? != 1 {
        return None;
    }
    let u16_at = |o: usize| Some(u16::from_le_bytes(b.get(o..o + 2)?.try_into().ok()?));
    let u64_at = |o: usize| Some(u64::from_le_bytes(b.get(o..o + 8)?.try_into().ok()?));
    let phoff = usize::try_from(u64_at(0x20)?).ok()?;
    let phentsize = usize::from(u16_at(0x36)?);
    let phnum = usize::from(u16_at(0x38)?);
    for i in 0..phnum {
        let off = phoff.checked_add(i.checked_mul(phentsize)?)?;
        let p_type = u32::from_le_bytes(b.get(off..off + 4)?.try_into().ok()?);
        if p_type == 3 {
            return Some(true);
        }
    }
    Some(false)
}

/// Read a spec file (YAML, TOML or JSON, by extension; YAML when it has none).
pub fn load_spec(path: &Path) -> Result<(serde_json::Value, hoist_core::spec::SpecFormat)> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        InputError::new(
            format!("cannot read the spec {name}: {e}"),
            "check the path",
        )
    })?;
    let fmt = hoist_core::spec::SpecFormat::from_file_name(&name)
        .unwrap_or(hoist_core::spec::SpecFormat::Yaml);
    let v = hoist_staging::runner::parse_spec(&text, fmt, &name)?;
    Ok((v, fmt))
}

/// Copy the running binary to `dir/hoist` (mode 0755), written under a temporary name and
/// renamed so a reader never sees half a file. What a runner image's init container runs.
pub fn install_runner(dir: &Path) -> std::io::Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let exe = std::env::current_exe()?;
    std::fs::create_dir_all(dir)?;
    // Unique per writer: two fills of one volume may run at once (pids are 1 in both).
    let tmp = dir.join(format!(".hoist.tmp.{}", uuid::Uuid::new_v4()));
    std::fs::copy(&exe, &tmp)?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755))?;
    let dest = dir.join("hoist");
    std::fs::rename(&tmp, &dest)?;
    Ok(dest)
}

/// The in-job runner's entry: read the plan (the file, else `$HOIST_PLAN`), run it, return
/// the job's exit code. Inside a job there is no front door, so the runner speaks to the
/// job's log (stderr) itself.
pub fn run_plan(path: Option<&Path>) -> i32 {
    use hoist_core::staging::{RUNNER_PLAN_ENV, exit};
    let (from, text) = match path {
        Some(p) => (
            p.display().to_string(),
            std::fs::read(p).map_err(|e| e.to_string()),
        ),
        None => (
            format!("${RUNNER_PLAN_ENV}"),
            std::env::var(RUNNER_PLAN_ENV)
                .map(String::into_bytes)
                .map_err(|_| "it is not set".to_string()),
        ),
    };
    let plan: hoist_core::staging::RunnerPlan =
        match text.and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string())) {
            Ok(p) => p,
            Err(e) => {
                eprintln!(
                    "{} cannot read the plan {from}: {e}",
                    hoist_staging::runner::PREFIX
                );
                return exit::CONFIG;
            }
        };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{} cannot start: {e}", hoist_staging::runner::PREFIX);
            return exit::EXEC;
        }
    };
    rt.block_on(hoist_staging::runner::run(
        &plan,
        &hoist_staging::ProcessEnv,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elf_interpreter_is_found() {
        assert_eq!(elf_has_interpreter(b"not an elf"), None);
        let me = std::fs::read("/bin/sh").expect("read /bin/sh");
        assert_eq!(elf_has_interpreter(&me), Some(true), "/bin/sh is dynamic");
    }
}
