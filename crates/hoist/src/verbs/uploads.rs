//! This machine's files a job needs where it runs (a task's workdir, local file mounts): each
//! upload becomes an input before the platform sees the job. A platform on this host reads
//! them in place; one that carries files itself (SLURM's ssh session) gets a tar; any other
//! gets them through the staging bucket, which its runner downloads from. An upload may also
//! name an earlier job's results on a cluster (`lustre://`, what a workflow passes downstream
//! from SLURM): they are fetched here first, as `hoist results --download` would.

use crate::{Hoist, Result};
use hoist_core::spec::DataBinding;
use hoist_core::staging::Scheme;
use hoist_core::{InputError, JobSpec, PathView, Platform, ReportEvent};
use hoist_store::ListFilter;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A name for an upload's copy: its index and a file-system-safe base name.
fn upload_name(i: usize, src: &Path) -> String {
    let base = src
        .file_name()
        .map(|n| hoist_core::staging::file_safe(&n.to_string_lossy(), '_'))
        .unwrap_or_else(|| "upload".into());
    format!("{i}-{}", base.trim_start_matches('.'))
}

impl Hoist {
    /// Turn `spec.uploads` into inputs, shipping the files where the job will run.
    pub(crate) async fn ship_uploads(
        &self,
        platform: &dyn Platform,
        job_id: &str,
        spec: &mut JobSpec,
        env: &mut BTreeMap<String, String>,
    ) -> Result<()> {
        let uploads = std::mem::take(&mut spec.uploads);
        let host = platform.capabilities().paths == PathView::Host;
        for (i, u) in uploads.iter().enumerate() {
            let fetched = if Scheme::of(&u.src) == Scheme::Lustre {
                Some(self.fetch_cluster_results(&u.src, job_id, i).await?)
            } else {
                None
            };
            let src = fetched.as_deref().unwrap_or(Path::new(&u.src));
            if !src.is_absolute() || !src.exists() {
                return Err(InputError::new(
                    format!(
                        "{} does not exist on this machine; nothing was submitted",
                        u.src
                    ),
                    "give an existing absolute path",
                )
                .into());
            }
            let uri = if host {
                src.display().to_string()
            } else {
                let shipped = self
                    .ship_one(platform, job_id, &upload_name(i, src), src, spec, env)
                    .await;
                // The fetched copy was only the way there.
                if fetched.is_some() {
                    let _ = std::fs::remove_dir_all(self.fetch_dir(job_id));
                    let _ = std::fs::remove_dir(self.home().join("jobs").join(job_id));
                }
                shipped?
            };
            spec.inputs.push(DataBinding {
                key: u.dest.clone(),
                uri,
            });
        }
        Ok(())
    }

    /// Where an upload's cluster results are fetched to, under the job's directory.
    fn fetch_dir(&self, job_id: &str) -> PathBuf {
        self.home().join("jobs").join(job_id).join("fetched")
    }

    /// Fetch `uri` (a `lustre://` path: a job's results on its cluster, or a path in them)
    /// to this machine, through the platform of the job whose results they are; returns the
    /// local copy.
    async fn fetch_cluster_results(&self, uri: &str, job_id: &str, i: usize) -> Result<PathBuf> {
        let want = uri.trim_end_matches('/');
        let jobs = self.store.list(&ListFilter::default())?;
        let found = jobs.iter().find_map(|j| {
            let loc = j.results_location.as_deref()?.trim_end_matches('/');
            let rest = want.strip_prefix(loc)?;
            (rest.is_empty() || rest.starts_with('/')).then(|| (j, rest.trim_start_matches('/')))
        });
        let Some((job, rest)) = found else {
            return Err(InputError::new(
                format!(
                    "{uri} is on a cluster's file system, which this job's platform cannot read, and it is not the results of a job hoist knows"
                ),
                "put the data in an object store (s3://…) or run the task on the cluster's platform",
            )
            .into());
        };
        let dest = self
            .fetch_dir(job_id)
            .join(format!("{i}-{}", job.short_id()));
        let _ = std::fs::remove_dir_all(&dest);
        let key = format!("fetch:{i}");
        self.reporter.report(ReportEvent::Phase {
            key: &key,
            message: &format!("fetching the results of job {} ({uri})", job.short_id()),
        });
        if let Err(e) = self.download_results(job, &dest).await {
            let _ = std::fs::remove_dir_all(&dest);
            return Err(e);
        }
        self.reporter.report(ReportEvent::Done { key: &key });
        let got = if rest.is_empty() {
            dest
        } else {
            dest.join(rest)
        };
        if !got.exists() {
            return Err(InputError::new(
                format!(
                    "{uri} does not exist: job {} left no {rest} in its results",
                    job.short_id()
                ),
                format!(
                    "hoist results {} --download DIR shows what it wrote",
                    job.short_id()
                ),
            )
            .into());
        }
        Ok(got)
    }

    async fn ship_one(
        &self,
        platform: &dyn Platform,
        job_id: &str,
        name: &str,
        src: &Path,
        spec: &mut JobSpec,
        env: &mut BTreeMap<String, String>,
    ) -> Result<String> {
        let ig = hoist_staging::ship::ignored(src);
        let key = format!("ship:{name}");
        let rules = match ig.from {
            Some(f) if ig.negated.is_empty() => format!(", leaving out what {f} lists"),
            Some(f) => format!(
                ", leaving out what {f} lists (its !{} lines are not honoured)",
                ig.negated.join(", !")
            ),
            None => String::new(),
        };
        let where_ = platform.name();
        self.reporter.report(ReportEvent::Phase {
            key: &key,
            message: &format!("shipping {} to {where_}{rules}", src.display()),
        });
        let uri = if platform.ships_files() {
            let tar = hoist_staging::ship::pack(src, name, &ig.excludes)?;
            let size = tar.len() as u64;
            let got = platform.ship(job_id, name, tar).await?;
            self.reporter.report(ReportEvent::Transfer {
                key: &key,
                done: size,
                total: Some(size),
            });
            got
        } else {
            None
        };
        let uri = match uri {
            Some(u) => u,
            None => {
                let bucket = env
                    .get("S3_BUCKET_NAME")
                    .cloned()
                    .or_else(|| self.env.get("S3_BUCKET_NAME"))
                    .filter(|b| !b.is_empty())
                    .ok_or_else(|| {
                        InputError::new(
                            format!(
                                "{} must reach a {where_} job through the staging bucket, and S3_BUCKET_NAME is not set",
                                src.display()
                            ),
                            "export S3_BUCKET_NAME (with the S3 credentials the platform's jobs use), or put the files in the image or a git repository",
                        )
                    })?;
                let mut uri = format!("s3://{bucket}/hoist/uploads/{job_id}/{name}");
                if src.is_dir() {
                    uri.push('/');
                }
                // This machine uploads and the job's runner downloads with the same
                // credentials, which the job gets by name.
                let names =
                    hoist_core::staging::credential_env_names(std::slice::from_ref(&uri), false);
                self.forward_env(&names, spec, env);
                hoist_staging::upload(src, &uri, &ig.excludes, &*env).await?;
                uri
            }
        };
        self.reporter.report(ReportEvent::Done { key: &key });
        Ok(uri)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_safe_and_distinct() {
        assert_eq!(upload_name(0, Path::new("/a/my work")), "0-my_work");
        assert_eq!(upload_name(1, Path::new("/a/.cfg")), "1-cfg");
        assert_ne!(
            upload_name(0, Path::new("/x/w")),
            upload_name(1, Path::new("/y/w"))
        );
    }
}
