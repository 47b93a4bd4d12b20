//! Where a job's results end up and which credential variables a job is given: both follow
//! from the environment and the URIs a job touches, decided the same way on either side.

use super::Scheme;

/// Where a job's results go, decided inside the job from its environment (the TAO order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResultsKind {
    /// `TAO_RESULTS_ROOT` is set: results stay under `<root>/<job_id>`, nothing is uploaded.
    Mount(String),
    /// `S3_BUCKET_NAME` is set: results are uploaded to `s3://<bucket>/results/<job_id>/`.
    S3(String),
    /// Neither: `/results/<job_id>` inside the job, lost with it (said loudly).
    Ephemeral,
}

impl ResultsKind {
    /// Decide from an environment lookup.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> ResultsKind {
        let set = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        if let Some(root) = set("TAO_RESULTS_ROOT") {
            ResultsKind::Mount(root)
        } else if let Some(b) = set("S3_BUCKET_NAME") {
            ResultsKind::S3(b)
        } else {
            ResultsKind::Ephemeral
        }
    }

    /// The job's results directory as the job sees it.
    pub fn local_dir(&self, job_id: &str) -> String {
        match self {
            ResultsKind::Mount(root) => format!("{}/{job_id}", root.trim_end_matches('/')),
            _ => format!("/results/{job_id}"),
        }
    }

    /// Where the results end up, as a user would address them afterwards.
    pub fn location(&self, job_id: &str) -> String {
        match self {
            ResultsKind::S3(b) => format!("s3://{b}/results/{job_id}/"),
            _ => self.local_dir(job_id),
        }
    }
}

/// Environment variables a job needs for the URIs it touches (and for S3 results), in the
/// TAO names and the standard AWS/HF names. Only these are passed on; their values are read
/// where the job is submitted and never stored.
pub fn credential_env_names(uris: &[String], s3_results: bool) -> Vec<&'static str> {
    const S3: &[&str] = &[
        "ACCESS_KEY",
        "SECRET_KEY",
        "S3_ENDPOINT_URL",
        "CLOUD_REGION",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
    ];
    const HF: &[&str] = &["HF_TOKEN", "HF_ENDPOINT"];
    const NGC: &[&str] = &[
        "NGC_KEY",
        "NGC_API_KEY",
        "NGC_ENDPOINT",
        "NGC_AUTH_ENDPOINT",
    ];
    let mut out: Vec<&'static str> = Vec::new();
    let mut add = |names: &[&'static str]| {
        for n in names {
            if !out.contains(n) {
                out.push(n);
            }
        }
    };
    if s3_results {
        add(S3);
    }
    for u in uris {
        match Scheme::of(u) {
            Scheme::S3 => add(S3),
            Scheme::HfModel | Scheme::HfDataset => add(HF),
            Scheme::Ngc => add(NGC),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_follow_the_tao_order() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let k = ResultsKind::from_env(env(&[
            ("TAO_RESULTS_ROOT", "/mnt/r/"),
            ("S3_BUCKET_NAME", "bkt"),
        ]));
        assert_eq!(k.local_dir("j"), "/mnt/r/j");
        assert_eq!(k.location("j"), "/mnt/r/j");
        let k = ResultsKind::from_env(env(&[("S3_BUCKET_NAME", "bkt")]));
        assert_eq!(k.location("j"), "s3://bkt/results/j/");
        assert_eq!(k.local_dir("j"), "/results/j");
        assert_eq!(
            ResultsKind::from_env(env(&[("TAO_RESULTS_ROOT", " ")])),
            ResultsKind::Ephemeral
        );
    }

    #[test]
    fn credentials_only_for_the_schemes_used() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert!(credential_env_names(&s(&["/data/x", "lustre:///a"]), false).is_empty());
        let n = credential_env_names(&s(&["hf_model://o/m"]), false);
        assert_eq!(n, vec!["HF_TOKEN", "HF_ENDPOINT"]);
        let n = credential_env_names(&s(&["s3://bkt/a", "s3://bkt/b"]), true);
        assert!(n.contains(&"SECRET_KEY") && !n.contains(&"HF_TOKEN"));
        assert_eq!(
            n.len(),
            n.iter().collect::<std::collections::BTreeSet<_>>().len()
        );
    }
}
