//! Moving a job's data: inputs from object stores, model hubs and paths; outputs back; the
//! in-job runner that does both around the user's command.
//!
//! The same code runs on the submitting host (`hoist results --download`, `check_path`,
//! preflight) and inside the job (the runner, a subcommand of the static hoist binary), so
//! a job needs neither Python nor pip nor network access beyond its data.
#![deny(missing_docs)]

pub mod archive;
pub mod hf;
pub mod ngc;
pub mod progress;
pub mod runner;
pub mod s3;
pub mod ship;

use hoist_core::spec::InputError;
use hoist_core::staging::{Scheme, local_path};
use std::path::Path;

/// Every way staging fails, each with the fix a user needs.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StagingError {
    /// The URI names nothing.
    #[error("{uri} does not exist")]
    NotFound {
        /// The URI.
        uri: String,
        /// What to check.
        hint: String,
    },
    /// The store refused the credentials.
    #[error("{uri}: access refused ({why})")]
    Denied {
        /// The URI.
        uri: String,
        /// The store's words.
        why: String,
        /// Which variables to check.
        hint: String,
    },
    /// The transfer itself failed (network, server error).
    #[error("{what} failed: {why}")]
    Transfer {
        /// What was being done.
        what: String,
        /// Why.
        why: String,
        /// What to do.
        hint: String,
    },
    /// An archive member would be written outside the target directory.
    #[error(
        "archive {archive} has a member {member:?} that would land outside {dir}; nothing was extracted"
    )]
    UnsafeArchive {
        /// The archive.
        archive: String,
        /// The offending member path.
        member: String,
        /// The target directory.
        dir: String,
    },
    /// The request is malformed.
    #[error(transparent)]
    Input(#[from] InputError),
    /// A local file operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

impl StagingError {
    /// The fix to show under the error.
    pub fn hint(&self) -> Option<String> {
        match self {
            StagingError::NotFound { hint, .. }
            | StagingError::Denied { hint, .. }
            | StagingError::Transfer { hint, .. } => Some(hint.clone()),
            StagingError::UnsafeArchive { .. } => Some(
                "rebuild the archive with relative member paths (tar -C DIR -czf x.tgz .)".into(),
            ),
            StagingError::Input(e) => Some(e.hint.clone()),
            StagingError::Io { .. } => None,
        }
    }

    /// Helper for I/O errors with context.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        StagingError::Io {
            context: context.into(),
            source,
        }
    }
}

/// Result of staging operations.
pub type Result<T, E = StagingError> = std::result::Result<T, E>;

/// Where credentials and endpoints come from: the process environment on the host and in
/// the job, the library's injected environment, a map in tests.
pub use hoist_core::env::{EnvSource, ProcessEnv};

/// Whether `uri` names something that exists: an object or prefix, a repository, a path on
/// this machine. `lustre://` paths are this machine's too (the SLURM platform asks over ssh).
pub async fn check_path(uri: &str, env: &dyn EnvSource) -> Result<bool> {
    hoist_core::spec::validate_uri(uri)?;
    match Scheme::of(uri) {
        Scheme::S3 => s3::S3::from_env(uri, env)?.exists(uri).await,
        Scheme::HfModel | Scheme::HfDataset => hf::Hub::from_env(env)?.exists(uri).await,
        Scheme::Ngc => ngc::Ngc::from_env(env)?.exists(uri).await,
        Scheme::Lustre | Scheme::File | Scheme::Local => {
            Ok(Path::new(local_path(uri).unwrap_or(uri)).exists())
        }
    }
}

/// The entries directly under `uri`, sorted: full URIs of objects and sub-prefixes for S3,
/// full paths for a directory (sub-directories end in `/`), file names for a repository.
pub async fn list_path(uri: &str, env: &dyn EnvSource) -> Result<Vec<String>> {
    hoist_core::spec::validate_uri(uri)?;
    let mut out = match Scheme::of(uri) {
        Scheme::S3 => s3::S3::from_env(uri, env)?.list(uri).await?,
        Scheme::HfModel | Scheme::HfDataset => hf::Hub::from_env(env)?.files(uri).await?,
        Scheme::Ngc => ngc::Ngc::from_env(env)?.files(uri).await?,
        Scheme::Lustre | Scheme::File | Scheme::Local => {
            let p = local_path(uri).unwrap_or(uri);
            let rd = std::fs::read_dir(p).map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    StagingError::NotFound {
                        uri: uri.into(),
                        hint: "check the path".into(),
                    }
                } else {
                    StagingError::io(format!("listing {p}"), e)
                }
            })?;
            let mut v = Vec::new();
            for e in rd {
                let e = e.map_err(|e| StagingError::io(format!("listing {p}"), e))?;
                let mut name = e.path().display().to_string();
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    name.push('/');
                }
                v.push(name);
            }
            v
        }
    };
    out.sort();
    Ok(out)
}

/// Fetch `uri` (a file or a folder) to `dest`; returns the path of what was written (a file
/// or a directory).
pub async fn download(uri: &str, dest: &Path, env: &dyn EnvSource) -> Result<std::path::PathBuf> {
    match Scheme::of(uri) {
        Scheme::S3 => s3::S3::from_env(uri, env)?.download(uri, dest).await,
        Scheme::HfModel | Scheme::HfDataset => hf::Hub::from_env(env)?.download(uri, dest).await,
        Scheme::Ngc => ngc::Ngc::from_env(env)?.download(uri, dest).await,
        Scheme::Lustre | Scheme::File | Scheme::Local => {
            let src = Path::new(local_path(uri).unwrap_or(uri));
            copy_tree(src, dest)?;
            Ok(dest.to_path_buf())
        }
    }
}

/// Send the file or folder `src` to `uri`, leaving out relative paths that match `excludes`.
/// Returns the number of files sent.
pub async fn upload(
    src: &Path,
    uri: &str,
    excludes: &[String],
    env: &dyn EnvSource,
) -> Result<usize> {
    match Scheme::of(uri) {
        Scheme::S3 => s3::S3::from_env(uri, env)?.upload(src, uri, excludes).await,
        Scheme::Lustre | Scheme::File | Scheme::Local => {
            let dest = Path::new(local_path(uri).unwrap_or(uri));
            let files = walk(src, excludes)?;
            for (abs, rel) in &files {
                let to = if rel.is_empty() {
                    dest.to_path_buf()
                } else {
                    dest.join(rel)
                };
                if let Some(parent) = to.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| {
                        StagingError::io(format!("creating {}", parent.display()), e)
                    })?;
                }
                std::fs::copy(abs, &to)
                    .map_err(|e| StagingError::io(format!("copying to {}", to.display()), e))?;
            }
            Ok(files.len())
        }
        other => Err(StagingError::Input(InputError::new(
            format!("outputs cannot be written to {uri} ({other:?} is read-only for hoist)"),
            "send outputs to s3://, lustre:// or a path",
        ))),
    }
}

/// Put the file `src` at the S3 object `uri` unless it is there already (a content-addressed
/// key never changes), and return a presigned URL jobs can download it from for `expires`.
pub async fn publish(
    src: &Path,
    uri: &str,
    expires: std::time::Duration,
    env: &dyn EnvSource,
) -> Result<String> {
    let s3 = s3::S3::from_env(uri, env)?;
    if !s3.exists(uri).await? {
        s3.upload(src, uri, &[]).await?;
    }
    s3.presigned_get(uri, expires).await
}

/// A listing's answer as an existence check: not found is `false`, other errors stay errors.
pub(crate) fn found<T>(listing: Result<T>) -> Result<bool> {
    match listing {
        Ok(_) => Ok(true),
        Err(StagingError::NotFound { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Run transfers `n` at a time, then make sure `dest` exists (an empty folder or repository
/// still yields a directory) and return it.
pub(crate) async fn all_into<I, F>(
    jobs: I,
    n: usize,
    progress: &progress::Progress,
    dest: &Path,
) -> Result<std::path::PathBuf>
where
    I: IntoIterator<Item = F>,
    F: std::future::Future<Output = Result<()>>,
{
    use futures::{StreamExt, TryStreamExt};
    futures::stream::iter(jobs)
        .buffer_unordered(n)
        .try_collect::<Vec<()>>()
        .await?;
    progress.finish();
    std::fs::create_dir_all(dest)
        .map_err(|e| StagingError::io(format!("creating {}", dest.display()), e))?;
    Ok(dest.to_path_buf())
}

/// Whether this machine (or image) has a CA bundle where TLS libraries look. A minimal image
/// often has none, and then the system verifier cannot even be built.
pub fn system_ca_present() -> bool {
    if std::env::var_os("SSL_CERT_FILE").is_some() || std::env::var_os("SSL_CERT_DIR").is_some() {
        return true;
    }
    [
        "/etc/ssl/certs/ca-certificates.crt",
        "/etc/pki/tls/certs/ca-bundle.crt",
        "/etc/ssl/cert.pem",
        "/etc/ssl/ca-bundle.pem",
    ]
    .iter()
    .any(|p| Path::new(p).is_file())
}

/// Mozilla's root certificates compiled in, for images without a CA bundle.
pub fn builtin_roots() -> impl Iterator<Item = &'static [u8]> {
    webpki_root_certs::TLS_SERVER_ROOT_CERTS
        .iter()
        .map(|c| c.as_ref())
}

/// Files under `root` (or `root` itself when it is a file) as (absolute, relative) pairs,
/// minus excluded ones. Symlinks are followed only at the top.
pub fn walk(root: &Path, excludes: &[String]) -> Result<Vec<(std::path::PathBuf, String)>> {
    let meta = std::fs::metadata(root)
        .map_err(|e| StagingError::io(format!("reading {}", root.display()), e))?;
    if meta.is_file() {
        return Ok(vec![(root.to_path_buf(), String::new())]);
    }
    let mut out = Vec::new();
    let mut stack = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, rel)) = stack.pop() {
        let rd = std::fs::read_dir(&dir)
            .map_err(|e| StagingError::io(format!("listing {}", dir.display()), e))?;
        for e in rd {
            let e = e.map_err(|e| StagingError::io(format!("listing {}", dir.display()), e))?;
            let name = e.file_name().to_string_lossy().into_owned();
            let r = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            let t = e
                .file_type()
                .map_err(|err| StagingError::io(format!("reading {}", e.path().display()), err))?;
            if t.is_dir() {
                stack.push((e.path(), r));
            } else if t.is_file()
                && !excludes
                    .iter()
                    .any(|p| hoist_core::staging::exclude_matches(p, &r))
            {
                out.push((e.path(), r));
            }
        }
    }
    out.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(out)
}

fn copy_tree(src: &Path, dest: &Path) -> Result<()> {
    let files = walk(src, &[])?;
    for (abs, rel) in files {
        let to = if rel.is_empty() {
            dest.to_path_buf()
        } else {
            dest.join(rel)
        };
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| StagingError::io(format!("creating {}", parent.display()), e))?;
        }
        std::fs::copy(&abs, &to)
            .map_err(|e| StagingError::io(format!("copying {}", abs.display()), e))?;
    }
    Ok(())
}
