//! S3 and S3-compatible stores through object_store: TAO variable names first (ACCESS_KEY,
//! SECRET_KEY, S3_ENDPOINT_URL, CLOUD_REGION), then the standard AWS ones. A custom endpoint
//! means path-style requests, which every S3-compatible server understands.

use crate::progress::Progress;
use crate::{EnvSource, Result, StagingError};
use futures::{StreamExt, TryStreamExt};
use hoist_core::staging::parse_s3;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as OPath;
use object_store::{
    ClientOptions, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig, WriteMultipart,
};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Objects above this size move in parallel parts of this size.
pub const PART_SIZE: u64 = 16 << 20;
/// Parts in flight at once, per object.
pub const PARALLEL_PARTS: usize = 8;
/// Objects in flight at once when a folder moves.
const PARALLEL_OBJECTS: usize = 8;

const CREDENTIAL_HINT: &str = "check ACCESS_KEY/SECRET_KEY (or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY) and S3_ENDPOINT_URL for this bucket";

/// One bucket's client.
pub struct S3 {
    store: Arc<AmazonS3>,
    bucket: String,
    endpoint: String,
}

impl S3 {
    /// A client for the bucket of `uri`, configured from `env`.
    pub fn from_env(uri: &str, env: &dyn EnvSource) -> Result<S3> {
        let (bucket, _) = parse_s3(uri)?;
        let first = |names: &[&str]| names.iter().find_map(|n| env.get(n));
        let endpoint = first(&["S3_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"]);
        let region = first(&["CLOUD_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"])
            .unwrap_or_else(|| "us-east-1".into());
        let mut b = AmazonS3Builder::new()
            .with_bucket_name(bucket)
            .with_region(&region)
            .with_retry(RetryConfig {
                max_retries: 3,
                retry_timeout: Duration::from_secs(60),
                ..Default::default()
            })
            .with_client_options(client_options());
        match (
            first(&["ACCESS_KEY", "AWS_ACCESS_KEY_ID"]),
            first(&["SECRET_KEY", "AWS_SECRET_ACCESS_KEY"]),
        ) {
            (Some(k), Some(s)) => {
                b = b.with_access_key_id(k).with_secret_access_key(s);
                if let Some(t) = env.get("AWS_SESSION_TOKEN") {
                    b = b.with_token(t);
                }
            }
            (None, None) => b = b.with_skip_signature(true),
            (Some(_), None) | (None, Some(_)) => {
                return Err(StagingError::Input(hoist_core::InputError::new(
                    format!("only half of the S3 credentials for {uri} are set"),
                    "set both ACCESS_KEY and SECRET_KEY (or both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)",
                )));
            }
        }
        if let Some(e) = &endpoint {
            b = b
                .with_endpoint(e.trim_end_matches('/'))
                .with_virtual_hosted_style_request(false);
        }
        let store = b.build().map_err(|e| StagingError::Transfer {
            what: format!("configuring S3 for {uri}"),
            why: e.to_string(),
            hint: CREDENTIAL_HINT.into(),
        })?;
        Ok(S3 {
            store: Arc::new(store),
            bucket: bucket.to_string(),
            endpoint: endpoint.unwrap_or_else(|| format!("s3.{region}.amazonaws.com")),
        })
    }

    fn err(&self, uri: &str, what: &str, e: object_store::Error) -> StagingError {
        match e {
            object_store::Error::NotFound { .. } => StagingError::NotFound {
                uri: uri.into(),
                hint: format!(
                    "check the bucket and key at {} (hoist check-path {uri}; hoist ls-path s3://{}/)",
                    self.endpoint, self.bucket
                ),
            },
            object_store::Error::PermissionDenied { source, .. }
            | object_store::Error::Unauthenticated { source, .. } => StagingError::Denied {
                uri: uri.into(),
                why: first_line(&source.to_string()),
                hint: CREDENTIAL_HINT.into(),
            },
            other => StagingError::Transfer {
                what: format!("{what} {uri}"),
                why: first_line(&other.to_string()),
                hint: format!(
                    "check that {} is reachable from here and serves S3",
                    self.endpoint
                ),
            },
        }
    }

    fn key(uri: &str) -> Result<String> {
        Ok(parse_s3(uri)?.1.to_string())
    }

    /// A URL anyone holding it can GET the object `uri` from for `expires` (a presigned
    /// request: the secret key stays here).
    pub async fn presigned_get(&self, uri: &str, expires: Duration) -> Result<String> {
        use object_store::signer::Signer;
        let key = object_store::path::Path::from(Self::key(uri)?);
        let url = self
            .store
            .signed_url(reqwest::Method::GET, &key, expires)
            .await
            .map_err(|e| self.err(uri, "signing a download of", e))?;
        Ok(url.to_string())
    }

    /// The object, or the prefix with at least one object under it.
    pub async fn exists(&self, uri: &str) -> Result<bool> {
        Ok(self.kind(uri).await?.is_some())
    }

    /// `Some(true)` for a prefix (folder), `Some(false)` for an object, `None` for nothing.
    async fn kind(&self, uri: &str) -> Result<Option<bool>> {
        let key = Self::key(uri)?;
        // Some S3-compatible servers answer a HEAD of a "folder" with a server error rather
        // than 404: keep it, and let the listing decide.
        let mut head_err = None;
        if !key.is_empty() && !key.ends_with('/') {
            match self.store.head(&OPath::from(key.as_str())).await {
                Ok(_) => return Ok(Some(false)),
                Err(object_store::Error::NotFound { .. }) => {}
                Err(e @ object_store::Error::PermissionDenied { .. })
                | Err(e @ object_store::Error::Unauthenticated { .. }) => {
                    return Err(self.err(uri, "checking", e));
                }
                Err(e) => head_err = Some(e),
            }
        }
        let prefix = key.trim_end_matches('/');
        let p = (!prefix.is_empty()).then(|| OPath::from(prefix));
        let first = self.store.list(p.as_ref()).next().await;
        match (first, head_err) {
            (Some(Ok(_)), _) => Ok(Some(true)),
            (None, None) => Ok(None),
            (None, Some(e)) => Err(self.err(uri, "checking", e)),
            (Some(Err(e)), _) => Err(self.err(uri, "listing", e)),
        }
    }

    /// Objects and sub-prefixes directly under `uri`, as full URIs (prefixes end in `/`).
    pub async fn list(&self, uri: &str) -> Result<Vec<String>> {
        let key = Self::key(uri)?;
        let prefix = key.trim_end_matches('/');
        let p = (!prefix.is_empty()).then(|| OPath::from(prefix));
        let r = self
            .store
            .list_with_delimiter(p.as_ref())
            .await
            .map_err(|e| self.err(uri, "listing", e))?;
        let strip = |loc: &OPath| {
            let s = loc.as_ref();
            s.strip_prefix(prefix)
                .map(|r| r.trim_start_matches('/').to_string())
                .unwrap_or_else(|| s.to_string())
        };
        if r.objects.is_empty() && r.common_prefixes.is_empty() {
            // A key that is an object lists as itself, like `aws s3 ls`.
            if self.kind(uri).await? == Some(false) {
                return Ok(vec![format!("s3://{}/{prefix}", self.bucket)]);
            }
            return Err(StagingError::NotFound {
                uri: uri.into(),
                hint: format!("nothing is stored under {uri}"),
            });
        }
        // Full URIs, as fsspec's ls gives them: ready to put into a spec.
        let base = if prefix.is_empty() {
            format!("s3://{}/", self.bucket)
        } else {
            format!("s3://{}/{prefix}/", self.bucket)
        };
        let mut out: Vec<String> = r
            .objects
            .iter()
            .map(|o| format!("{base}{}", strip(&o.location)))
            .collect();
        out.extend(
            r.common_prefixes
                .iter()
                .map(|p| format!("{base}{}/", strip(p))),
        );
        Ok(out)
    }

    /// Fetch an object to the file `dest`, or a prefix into the directory `dest`.
    pub async fn download(&self, uri: &str, dest: &Path) -> Result<PathBuf> {
        let key = Self::key(uri)?;
        match self.kind(uri).await? {
            None => Err(StagingError::NotFound {
                uri: uri.into(),
                hint: format!(
                    "check the bucket and key at {} (hoist ls-path s3://{}/)",
                    self.endpoint, self.bucket
                ),
            }),
            Some(false) => {
                let meta = self
                    .store
                    .head(&OPath::from(key.as_str()))
                    .await
                    .map_err(|e| self.err(uri, "reading", e))?;
                let progress = Progress::bytes(uri, meta.size);
                self.get_object(uri, &meta.location, meta.size, dest, &progress)
                    .await?;
                progress.finish();
                Ok(dest.to_path_buf())
            }
            Some(true) => {
                let prefix = key.trim_end_matches('/').to_string();
                let p = (!prefix.is_empty()).then(|| OPath::from(prefix.as_str()));
                let objects: Vec<_> = self
                    .store
                    .list(p.as_ref())
                    .try_collect()
                    .await
                    .map_err(|e| self.err(uri, "listing", e))?;
                let total = objects.iter().map(|o| o.size).sum();
                let progress = Progress::bytes(uri, total);
                let jobs = objects.into_iter().map(|o| {
                    let rel = o
                        .location
                        .as_ref()
                        .strip_prefix(prefix.as_str())
                        .unwrap_or(o.location.as_ref())
                        .trim_start_matches('/')
                        .to_string();
                    let progress = &progress;
                    async move {
                        let Some(rel) = hoist_core::staging::safe_member_path(&rel) else {
                            return Err(StagingError::UnsafeArchive {
                                archive: uri.into(),
                                member: rel,
                                dir: dest.display().to_string(),
                            });
                        };
                        let to = dest.join(&rel);
                        self.get_object(uri, &o.location, o.size, &to, progress)
                            .await
                    }
                });
                crate::all_into(jobs, PARALLEL_OBJECTS, &progress, dest).await
            }
        }
    }

    /// One object to one file: small ones in one GET, large ones as parallel ranged GETs
    /// written in place.
    async fn get_object(
        &self,
        uri: &str,
        loc: &OPath,
        size: u64,
        to: &Path,
        progress: &Progress,
    ) -> Result<()> {
        if let Some(parent) = to.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|e| StagingError::io(format!("creating {}", parent.display()), e))?;
        }
        let file = Arc::new(
            std::fs::File::create(to)
                .map_err(|e| StagingError::io(format!("creating {}", to.display()), e))?,
        );
        file.set_len(size)
            .map_err(|e| StagingError::io(format!("sizing {}", to.display()), e))?;
        let ranges: Vec<(u64, u64)> = (0..size.div_ceil(PART_SIZE).max(1))
            .map(|i| (i * PART_SIZE, ((i + 1) * PART_SIZE).min(size)))
            .filter(|(a, b)| a < b)
            .collect();
        let parts = ranges.into_iter().map(|(a, b)| {
            let file = file.clone();
            async move {
                let bytes = self
                    .store
                    .get_range(loc, a..b)
                    .await
                    .map_err(|e| self.err(uri, "downloading", e))?;
                let n = bytes.len() as u64;
                tokio::task::spawn_blocking(move || file.write_all_at(&bytes, a))
                    .await
                    .map_err(|e| StagingError::io("writing", std::io::Error::other(e)))?
                    .map_err(|e| StagingError::io(format!("writing {}", to.display()), e))?;
                progress.add(n);
                Ok::<_, StagingError>(())
            }
        });
        futures::stream::iter(parts)
            .buffer_unordered(PARALLEL_PARTS)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }

    /// Send a file to the key of `uri`, or a folder under it; returns the files sent.
    pub async fn upload(&self, src: &Path, uri: &str, excludes: &[String]) -> Result<usize> {
        let key = Self::key(uri)?;
        let files = crate::walk(src, excludes)?;
        let total = files
            .iter()
            .map(|(p, _)| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
            .sum();
        let progress = Progress::bytes(&format!("→ {uri}"), total);
        let base = key.trim_end_matches('/').to_string();
        let count = files.len();
        // Owned items: a closure over borrowed ones makes the future Send only for one
        // lifetime, which callers that must be Send (a spawned task, a platform) cannot use.
        let jobs = files.into_iter().map(|(abs, rel)| {
            let k = match (base.is_empty(), rel.is_empty()) {
                (_, true) if key.ends_with('/') || key.is_empty() => {
                    let name = abs.file_name().map(|n| n.to_string_lossy().into_owned());
                    let name = name.unwrap_or_default();
                    if base.is_empty() {
                        name
                    } else {
                        format!("{base}/{name}")
                    }
                }
                (_, true) => base.clone(),
                (true, false) => rel.clone(),
                (false, false) => format!("{base}/{rel}"),
            };
            let progress = &progress;
            async move { self.put_file(uri, &abs, &k, progress).await }
        });
        futures::stream::iter(jobs)
            .buffer_unordered(PARALLEL_OBJECTS)
            .try_collect::<Vec<()>>()
            .await?;
        progress.finish();
        Ok(count)
    }

    async fn put_file(&self, uri: &str, src: &Path, key: &str, progress: &Progress) -> Result<()> {
        let loc = OPath::from(key);
        let size = std::fs::metadata(src)
            .map_err(|e| StagingError::io(format!("reading {}", src.display()), e))?
            .len();
        let read = |off: u64, len: u64| {
            let src = src.to_path_buf();
            async move {
                tokio::task::spawn_blocking(move || {
                    let f = std::fs::File::open(&src)?;
                    let mut buf = vec![0u8; len as usize];
                    f.read_exact_at(&mut buf, off)?;
                    Ok::<_, std::io::Error>(bytes::Bytes::from(buf))
                })
                .await
                .map_err(std::io::Error::other)
                .and_then(|r| r)
            }
        };
        if size <= PART_SIZE {
            let data = read(0, size)
                .await
                .map_err(|e| StagingError::io(format!("reading {}", src.display()), e))?;
            self.store
                .put(&loc, PutPayload::from(data))
                .await
                .map_err(|e| self.err(uri, "uploading to", e))?;
            progress.add(size);
            return Ok(());
        }
        let upload = self
            .store
            .put_multipart(&loc)
            .await
            .map_err(|e| self.err(uri, "starting an upload to", e))?;
        let mut w = WriteMultipart::new_with_chunk_size(upload, PART_SIZE as usize);
        let mut off = 0;
        while off < size {
            let len = PART_SIZE.min(size - off);
            let chunk = match read(off, len).await {
                Ok(c) => c,
                Err(e) => {
                    let _ = w.abort().await;
                    return Err(StagingError::io(format!("reading {}", src.display()), e));
                }
            };
            if let Err(e) = w.wait_for_capacity(PARALLEL_PARTS).await {
                return Err(self.err(uri, "uploading to", e));
            }
            w.put(chunk);
            progress.add(len);
            off += len;
        }
        w.finish()
            .await
            .map_err(|e| self.err(uri, "uploading to", e))?;
        Ok(())
    }
}

fn client_options() -> ClientOptions {
    let mut o = ClientOptions::new()
        .with_connect_timeout(Duration::from_secs(10))
        .with_timeout(Duration::from_secs(300))
        .with_allow_http(true);
    if !crate::system_ca_present() {
        o = o.with_no_system_certificates(true);
        for der in crate::builtin_roots() {
            if let Ok(c) = object_store::Certificate::from_der(der) {
                o = o.with_root_certificate(c);
            }
        }
    }
    o
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or(s).chars().take(300).collect()
}
