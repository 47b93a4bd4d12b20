//! Shipping this machine's files to a job (a SkyPilot task's workdir and local file mounts):
//! which files go (the directory's `.skyignore`, else its `.gitignore`, as SkyPilot syncs), and
//! one tar of them for platforms that carry it themselves (SLURM over its ssh session).

use crate::{Result, StagingError, walk};
use hoist_core::staging::ignore_file_excludes;
use std::path::Path;

/// What a directory's ignore file leaves out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ignored {
    /// The file read (`.skyignore` or `.gitignore`), if any.
    pub from: Option<&'static str>,
    /// Excludes, in `exclude_matches` terms.
    pub excludes: Vec<String>,
    /// `!pattern` lines, which a list of excludes cannot honour.
    pub negated: Vec<String>,
}

/// The ignore rules of `src`: `.skyignore` wins over `.gitignore`; a file has none.
pub fn ignored(src: &Path) -> Ignored {
    if !src.is_dir() {
        return Ignored::default();
    }
    for name in [".skyignore", ".gitignore"] {
        if let Ok(text) = std::fs::read_to_string(src.join(name)) {
            let (excludes, negated) = ignore_file_excludes(&text);
            return Ignored {
                from: Some(name),
                excludes,
                negated,
            };
        }
    }
    Ignored::default()
}

/// A tar of `src` whose members sit under `name/` (or are `name` for a single file), so it
/// unpacks to one entry wherever it lands. Files keep their mode; symlinks are followed.
pub fn pack(src: &Path, name: &str, excludes: &[String]) -> Result<Vec<u8>> {
    let mut b = tar::Builder::new(Vec::new());
    b.follow_symlinks(true);
    let files = walk(src, excludes)?;
    if src.is_dir() {
        let mut dir = tar::Header::new_gnu();
        dir.set_entry_type(tar::EntryType::Directory);
        dir.set_mode(0o755);
        dir.set_size(0);
        b.append_data(&mut dir, name, std::io::empty())
            .map_err(|e| StagingError::io(format!("packing {}", src.display()), e))?;
    }
    for (abs, rel) in files {
        let member = if rel.is_empty() {
            name.to_string()
        } else {
            format!("{name}/{rel}")
        };
        b.append_path_with_name(&abs, &member)
            .map_err(|e| StagingError::io(format!("packing {}", abs.display()), e))?;
    }
    b.into_inner()
        .map_err(|e| StagingError::io(format!("packing {}", src.display()), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skyignore_wins_and_the_tar_has_one_root() {
        let d = tempfile::tempdir().expect("tmp");
        let w = d.path();
        std::fs::write(w.join("train.py"), "print(1)").expect("w");
        std::fs::create_dir_all(w.join("data/big")).expect("d");
        std::fs::write(w.join("data/big/x.bin"), "xx").expect("w");
        std::fs::write(w.join("a.pyc"), "c").expect("w");
        std::fs::write(w.join(".gitignore"), "*.pyc\n").expect("w");
        std::fs::write(w.join(".skyignore"), "data/\n").expect("w");
        let ig = ignored(w);
        assert_eq!(ig.from, Some(".skyignore"));
        let tar = pack(w, "sky_workdir", &ig.excludes).expect("pack");
        let mut names: Vec<String> = tar::Archive::new(tar.as_slice())
            .entries()
            .expect("entries")
            .map(|e| {
                e.expect("entry")
                    .path()
                    .expect("path")
                    .display()
                    .to_string()
            })
            .collect();
        names.sort();
        assert_eq!(
            names,
            vec![
                "sky_workdir",
                "sky_workdir/.gitignore",
                "sky_workdir/.skyignore",
                "sky_workdir/a.pyc",
                "sky_workdir/train.py"
            ]
        );
        std::fs::remove_file(w.join(".skyignore")).expect("rm");
        assert_eq!(ignored(w).from, Some(".gitignore"));
        let one = pack(&w.join("train.py"), "t.py", &[]).expect("file");
        assert_eq!(
            tar::Archive::new(one.as_slice())
                .entries()
                .expect("e")
                .count(),
            1
        );
    }
}
