//! What a data URI names: its scheme, and the parts of the remote ones (S3, Hugging Face,
//! NGC) that the runner fetches from. Kept apart so every side reads a URI the same way.

use crate::spec::InputError;

/// The kind of location a URI names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `s3://bucket/key`.
    S3,
    /// `hf_model://org/name[@revision]`.
    HfModel,
    /// `hf_dataset://org/name[@revision]`.
    HfDataset,
    /// `ngc://org/[team/]name:version`.
    Ngc,
    /// `lustre:///abs/path`: a path on the cluster's shared file system.
    Lustre,
    /// `file:///abs/path`.
    File,
    /// A plain path.
    Local,
}

impl Scheme {
    /// The scheme of `uri` (a plain path when it has none hoist knows).
    pub fn of(uri: &str) -> Scheme {
        match uri.split_once("://").map(|(s, _)| s) {
            Some("s3") => Scheme::S3,
            Some("hf_model") => Scheme::HfModel,
            Some("hf_dataset") => Scheme::HfDataset,
            Some("ngc") => Scheme::Ngc,
            Some("lustre") => Scheme::Lustre,
            Some("file") => Scheme::File,
            _ => Scheme::Local,
        }
    }

    /// Data that must be fetched over the network (not a path the job can open).
    pub fn is_remote(self) -> bool {
        matches!(
            self,
            Scheme::S3 | Scheme::HfModel | Scheme::HfDataset | Scheme::Ngc
        )
    }
}

/// The path a `lustre://`, `file://` or plain URI names; `None` for remote schemes.
pub fn local_path(uri: &str) -> Option<&str> {
    match Scheme::of(uri) {
        Scheme::Lustre => uri.strip_prefix("lustre://"),
        Scheme::File => uri.strip_prefix("file://"),
        Scheme::Local => Some(uri),
        _ => None,
    }
}

/// `s3://bucket/some/key` → (`bucket`, `some/key`); the key may be empty (the bucket's root).
pub fn parse_s3(uri: &str) -> Result<(&str, &str), InputError> {
    let rest = uri.strip_prefix("s3://").ok_or_else(|| {
        InputError::new(
            format!("{uri:?} is not an s3:// URI"),
            "write s3://bucket/key",
        )
    })?;
    let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.len() < 3 {
        return Err(InputError::new(
            format!("malformed URI {uri:?}: an S3 bucket name has at least 3 characters"),
            "write s3://bucket/key",
        ));
    }
    Ok((bucket, key))
}

/// A Hugging Face repository reference: `hf_model://org/name[@revision]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HfRepo {
    /// `org/name`.
    pub repo: String,
    /// Branch, tag or commit (default `main`).
    pub revision: String,
    /// A dataset rather than a model.
    pub dataset: bool,
}

/// Parse an `hf_model://` or `hf_dataset://` URI.
pub fn parse_hf(uri: &str) -> Result<HfRepo, InputError> {
    let (dataset, rest) = if let Some(r) = uri.strip_prefix("hf_model://") {
        (false, r)
    } else if let Some(r) = uri.strip_prefix("hf_dataset://") {
        (true, r)
    } else {
        return Err(InputError::new(
            format!("{uri:?} is not a Hugging Face URI"),
            "write hf_model://org/name or hf_dataset://org/name",
        ));
    };
    let (repo, revision) = match rest.split_once('@') {
        Some((r, rev)) if !rev.is_empty() => (r, rev.to_string()),
        _ => (rest, "main".to_string()),
    };
    let repo = repo.trim_matches('/');
    if repo.is_empty() || repo.split('/').any(|p| p.is_empty() || p == "..") {
        return Err(InputError::new(
            format!("malformed URI {uri:?}: the repository name is missing or odd"),
            "write hf_model://org/name[@revision]",
        ));
    }
    Ok(HfRepo {
        repo: repo.to_string(),
        revision,
        dataset,
    })
}

/// An NGC registry model: `ngc://org[/team]/name:version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NgcModel {
    /// Organisation.
    pub org: String,
    /// Team, when the model belongs to one.
    pub team: Option<String>,
    /// Model name.
    pub name: String,
    /// Version.
    pub version: String,
}

/// Parse an `ngc://` URI.
pub fn parse_ngc(uri: &str) -> Result<NgcModel, InputError> {
    let bad = || {
        InputError::new(
            format!("malformed URI {uri:?}"),
            "write ngc://org/team/model:version (or ngc://org/model:version)",
        )
    };
    let rest = uri.strip_prefix("ngc://").ok_or_else(bad)?;
    let (path, version) = rest.rsplit_once(':').ok_or_else(bad)?;
    let parts: Vec<&str> = path.split('/').collect();
    if version.is_empty() || parts.iter().any(|p| p.is_empty() || *p == "..") {
        return Err(bad());
    }
    let (org, team, name) = match parts.as_slice() {
        [org, name] => (org, None, name),
        [org, team, name] => (org, Some(team.to_string()), name),
        _ => return Err(bad()),
    };
    Ok(NgcModel {
        org: org.to_string(),
        team,
        name: name.to_string(),
        version: version.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_parse() {
        assert_eq!(parse_s3("s3://bkt/a/b").ok(), Some(("bkt", "a/b")));
        assert_eq!(parse_s3("s3://bkt").ok(), Some(("bkt", "")));
        assert!(parse_s3("s3://b/x").is_err());
        let h = parse_hf("hf_dataset://org/set@v2").expect("hf");
        assert!(h.dataset && h.repo == "org/set" && h.revision == "v2");
        assert_eq!(parse_hf("hf_model://org/m").expect("hf").revision, "main");
        assert!(parse_hf("hf_model://org/../x").is_err());
        let n = parse_ngc("ngc://nvidia/tao/resnet:1.0").expect("ngc");
        assert_eq!(
            (
                n.org.as_str(),
                n.team.as_deref(),
                n.name.as_str(),
                n.version.as_str()
            ),
            ("nvidia", Some("tao"), "resnet", "1.0")
        );
        assert!(parse_ngc("ngc://nvidia/resnet").is_err());
        assert_eq!(local_path("lustre:///fs/a"), Some("/fs/a"));
        assert_eq!(local_path("s3://bkt/a"), None);
    }
}
