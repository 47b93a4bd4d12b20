//! Unpacking downloaded `.tar`/`.tgz`/`.tar.gz` inputs: every member checked before any is
//! written, a marker so a second run (a retried job) does not unpack again, and a single
//! top-level folder named like the archive stripped, as TAO does.

use crate::{Result, StagingError};
use hoist_core::staging::{Archive, safe_member_path};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Marker left in a directory once an archive is fully extracted into it.
pub const MARKER: &str = ".hoist-extracted";

fn open(path: &Path, kind: Archive) -> Result<tar::Archive<Box<dyn Read>>> {
    let f =
        File::open(path).map_err(|e| StagingError::io(format!("opening {}", path.display()), e))?;
    let r: Box<dyn Read> = match kind {
        Archive::Tar => Box::new(std::io::BufReader::new(f)),
        Archive::TarGz => Box::new(flate2::read::GzDecoder::new(std::io::BufReader::new(f))),
    };
    Ok(tar::Archive::new(r))
}

/// Extract `archive` into `dir` and return the directory the data is in. Refuses the whole
/// archive if any member is absolute, climbs out with `..`, or is a link pointing outside.
pub fn extract(archive: &Path, kind: Archive, dir: &Path) -> Result<PathBuf> {
    let bad = |member: String| StagingError::UnsafeArchive {
        archive: archive.display().to_string(),
        member,
        dir: dir.display().to_string(),
    };
    let rd = |e: std::io::Error| StagingError::io(format!("reading {}", archive.display()), e);
    if dir.join(MARKER).exists() {
        return Ok(strip_root(dir, archive));
    }
    // First pass: check every member, so a bad archive leaves nothing behind.
    let mut a = open(archive, kind)?;
    for entry in a.entries().map_err(rd)? {
        let entry = entry.map_err(rd)?;
        let path = entry.path().map_err(rd)?.to_string_lossy().into_owned();
        let Some(rel) = safe_member_path(&path) else {
            return Err(bad(path));
        };
        let et = entry.header().entry_type();
        if et.is_symlink() || et.is_hard_link() {
            let target = entry
                .link_name()
                .map_err(rd)?
                .map(|t| t.to_string_lossy().into_owned())
                .unwrap_or_default();
            let parent = rel.rsplit_once('/').map(|(p, _)| p).unwrap_or("");
            let joined = if target.starts_with('/') || et.is_hard_link() || parent.is_empty() {
                target.clone()
            } else {
                format!("{parent}/{target}")
            };
            if safe_member_path(&joined).is_none() {
                return Err(bad(format!("{path} -> {target}")));
            }
        }
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| StagingError::io(format!("creating {}", dir.display()), e))?;
    let mut a = open(archive, kind)?;
    a.set_preserve_permissions(true);
    a.set_overwrite(true);
    for entry in a.entries().map_err(rd)? {
        let mut entry = entry.map_err(rd)?;
        // unpack_in refuses members escaping `dir` as a second line of defence.
        entry.unpack_in(dir).map_err(rd)?;
    }
    File::create(dir.join(MARKER))
        .map_err(|e| StagingError::io(format!("marking {}", dir.display()), e))?;
    Ok(strip_root(dir, archive))
}

/// `data.tgz` holding only `data/…` yields `dir/data`, so the path points at the content.
fn strip_root(dir: &Path, archive: &Path) -> PathBuf {
    let name = archive
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let Some((_, stem)) = hoist_core::staging::archive_of(&name) else {
        return dir.to_path_buf();
    };
    let entries: Vec<_> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter(|e| e.file_name() != MARKER)
                .collect()
        })
        .unwrap_or_default();
    match entries.as_slice() {
        [only] if only.file_name() == stem && only.path().is_dir() => only.path(),
        _ => dir.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_with(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_entry_type(tar::EntryType::Regular);
            // set_path refuses `..`; write the raw name like a hostile tool would.
            let raw = &mut h.as_old_mut().name;
            raw[..name.len()].copy_from_slice(name.as_bytes());
            h.set_cksum();
            b.append(&h, *data).expect("append");
        }
        b.into_inner().expect("tar")
    }

    #[test]
    fn extracts_once_and_strips_the_root() {
        let t = tempfile::tempdir().expect("tmp");
        let a = t.path().join("data.tar");
        std::fs::write(
            &a,
            tar_with(&[("data/x.txt", b"x"), ("data/sub/y.txt", b"y")]),
        )
        .expect("w");
        let dir = t.path().join("out");
        let got = extract(&a, Archive::Tar, &dir).expect("extract");
        assert_eq!(got, dir.join("data"));
        assert_eq!(std::fs::read(got.join("sub/y.txt")).expect("y"), b"y");
        std::fs::remove_file(got.join("x.txt")).expect("rm");
        // The marker makes a second run a no-op.
        assert_eq!(extract(&a, Archive::Tar, &dir).expect("again"), got);
        assert!(!got.join("x.txt").exists());
    }

    #[test]
    fn a_climbing_member_refuses_the_whole_archive() {
        let t = tempfile::tempdir().expect("tmp");
        let a = t.path().join("evil.tar");
        std::fs::write(
            &a,
            tar_with(&[("ok.txt", b"fine"), ("../escape.txt", b"bad")]),
        )
        .expect("w");
        let dir = t.path().join("out");
        let e = extract(&a, Archive::Tar, &dir).expect_err("refused");
        assert!(e.to_string().contains("../escape.txt"), "{e}");
        assert!(!t.path().join("escape.txt").exists());
        assert!(
            !dir.join("ok.txt").exists(),
            "nothing is extracted from a bad archive"
        );
    }
}
