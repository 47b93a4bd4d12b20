//! Submitting many jobs in one ssh round trip: what every job shares (the base directory, the
//! account, the cluster's GPU types, the identity) is asked once, each job is rendered here,
//! and one script stages them all and runs one `sbatch` per job, reading every id back
//! ([`script::batch_script`]). A single submit is a batch of one.

use crate::{SlurmPlatform, script, state};
use hoist_core::registry::RegistryLogin;
use hoist_core::spec::sh_quote;
use hoist_core::{InputError, JobStatus, Platform, PlatformError, SubmitRequest, Submitted};
use hoist_ssh::{Failover, RemoteOutput};
use script::{Answer, Rendered};
use std::collections::HashMap;

/// Registry passwords resolved in this batch (a `$(cmd)` runs once per login, not per job),
/// by server, user and the password as written.
type Passwords = HashMap<(String, String, String), String>;

/// What a batch shares, asked of the cluster once.
struct Shared {
    base: String,
    results: String,
    /// The cluster's name as remembered (see `cluster.rs`).
    cluster: String,
    identity: String,
    account: Option<String>,
    /// The cluster's GPU types, when a job asks for a model.
    gres: Option<Result<Vec<String>, PlatformError>>,
}

impl SlurmPlatform {
    /// One answer per request, in order.
    pub(crate) async fn submit_many(
        &self,
        reqs: &[SubmitRequest],
    ) -> Vec<Result<Submitted, PlatformError>> {
        let shared = match self.shared(reqs).await {
            Ok(s) => s,
            Err(e) => return reqs.iter().map(|_| Err(copy_err(&e))).collect(),
        };
        let mut answers: Vec<Option<Result<Submitted, PlatformError>>> =
            reqs.iter().map(|_| None).collect();
        let mut passwords = Passwords::new();
        let mut ready: Vec<(usize, Rendered)> = Vec::new();
        for (i, req) in reqs.iter().enumerate() {
            match self.render_one(req, &shared, &mut passwords).await {
                Ok(r) => ready.push((i, r)),
                Err(e) => answers[i] = Some(Err(e)),
            }
        }
        drop(passwords);
        if !ready.is_empty() {
            let sent = self.send(reqs, &ready, &shared).await;
            for ((i, _), answer) in ready.iter().zip(sent) {
                answers[*i] = Some(answer);
            }
        }
        answers
            .into_iter()
            .map(|a| {
                a.unwrap_or_else(|| {
                    Err(PlatformError::failed(
                        "the batch submit gave this job no answer",
                        "report this; hoist ls shows whether it was submitted",
                    ))
                })
            })
            .collect()
    }

    async fn shared(&self, reqs: &[SubmitRequest]) -> Result<Shared, PlatformError> {
        let base = self.base_dir().await?;
        let identity = self.identity().await?;
        let cluster = self.cluster().await?.name.clone();
        let account = self.account().await;
        let wants_model = reqs
            .iter()
            .any(|r| r.spec.gpu_type.is_some() && r.spec.gpus.wants_gpu());
        let gres = match wants_model {
            true => Some(self.gres_listing().await),
            false => None,
        };
        Ok(Shared {
            results: format!("{base}/results"),
            base,
            cluster,
            identity,
            account,
            gres,
        })
    }

    /// The job's files, or why it cannot be submitted (it is then left out of the batch).
    async fn render_one(
        &self,
        req: &SubmitRequest,
        shared: &Shared,
        passwords: &mut Passwords,
    ) -> Result<Rendered, PlatformError> {
        if !script::plain_job_id(&req.job_id) {
            return Err(InputError::new(
                format!(
                    "job id {:?} cannot name a directory on the cluster",
                    req.job_id
                ),
                "use letters, digits, '-', '_' and '.' (hoist's own ids are UUIDs)",
            )
            .into());
        }
        let mut s = self.settings.script(shared.account.clone());
        let bin = req.runner.as_ref().and(req.runner_binary.as_ref());
        s.runner = bin.map(|b| Self::runner_path(&shared.base, b));
        if let Some(model) = &req.spec.gpu_type
            && req.spec.gpus.wants_gpu()
        {
            let types = match &shared.gres {
                Some(Ok(t)) => t.as_slice(),
                Some(Err(e)) => return Err(copy_err(e)),
                None => &[],
            };
            s.gres_type = Some(Self::gres_type(model, types)?);
        }
        let dir = Self::job_dir(&shared.base, &req.job_id);
        let mut r = script::render(req, &dir, &shared.results, &self.settings.conversion(), &s)?;
        let mut password = |login: &RegistryLogin| {
            let key = (
                login.server.clone(),
                login.username.clone(),
                login.password.clone(),
            );
            if let Some(p) = passwords.get(&key) {
                return Ok(p.clone());
            }
            let p = script::enroot::resolve(login)?;
            passwords.insert(key, p.clone());
            Ok(p)
        };
        if let Some(netrc) = script::enroot::credentials_with(req, &*self.env, &mut password)? {
            script::enroot::use_config(&mut r, &dir);
            r.enroot_credentials = Some(netrc);
        }
        self.check_request(&s, r.gpus_per_node).await?;
        Ok(r)
    }

    /// Stage and submit the rendered jobs in one round trip (two more, once per runner
    /// binary, when the runner is not on the cluster yet); one answer per job, in order.
    async fn send(
        &self,
        reqs: &[SubmitRequest],
        ready: &[(usize, Rendered)],
        shared: &Shared,
    ) -> Vec<Result<Submitted, PlatformError>> {
        let out = match self.run_batch(reqs, ready, shared).await {
            Ok(out) => out,
            Err(e) => return ready.iter().map(|_| Err(copy_err(&e))).collect(),
        };
        let said = script::parse_answers(&out.stdout);
        let broke = hoist_ssh::is_connection_failure(out.code, &out.stderr);
        // The identity is the cluster's answer in this very submit; what was remembered of
        // the cluster is dropped when it no longer matches.
        let identity = match script::reported_cluster(&out.stdout) {
            Some(name) if name != shared.cluster => {
                crate::cluster::forget_cluster(&self.cluster_key(), &self.cache_dir);
                self.identity_of(name)
            }
            _ => shared.identity.clone(),
        };
        let submitted = |id: String, message: String, job_id: &str| Submitted {
            backend_job_id: id,
            backend_identity: identity.clone(),
            results_location: Some(format!("lustre://{}/{job_id}", shared.results)),
            status: JobStatus::Pending,
            message,
        };
        let mut answers: Vec<Option<Result<Submitted, PlatformError>>> = Vec::new();
        let mut lost: Vec<usize> = Vec::new();
        for (k, (i, r)) in ready.iter().enumerate() {
            let job_id = &reqs[*i].job_id;
            let answer = match said.get(&k) {
                Some(Answer::Submitted(text)) => match state::parse_sbatch(text) {
                    Some(id) => Ok(submitted(
                        id,
                        format!(
                            "submitted from {} ({} node(s), {} GPU(s) per node)",
                            out.host, r.nodes, r.gpus_per_node
                        ),
                        job_id,
                    )),
                    None => Err(PlatformError::failed(
                        format!("sbatch on {} printed no job id: {text:?}", out.host),
                        "run the staged job.sbatch by hand on the login node to see why",
                    )),
                },
                Some(Answer::Failed(code, err)) => Err(sbatch_error(&out.host, *code, err)),
                None if broke => {
                    lost.push(k);
                    answers.push(None);
                    continue;
                }
                None if out.code == script::STAGING_FAILED_EXIT => Err(PlatformError::failed(
                    format!(
                        "could not write the job files on {}: {}",
                        out.host,
                        out.stderr.trim()
                    ),
                    "check the space and permissions of the base directory on the cluster",
                )),
                None => Err(PlatformError::failed(
                    format!(
                        "the submit script stopped on {} (exit {}) before this job: {}",
                        out.host,
                        out.code,
                        out.stderr.trim()
                    ),
                    "hoist ls shows the jobs that were submitted; submit the others again",
                )),
            };
            answers.push(Some(answer));
        }
        if !lost.is_empty() {
            // The session broke while sbatch may have run: ask the cluster by the jobs'
            // unique names before calling them failed, so none is lost or doubled.
            let ids: Vec<&str> = lost
                .iter()
                .map(|k| reqs[ready[*k].0].job_id.as_str())
                .collect();
            let found = if hoist_ssh::never_connected(&out.stderr) {
                HashMap::new()
            } else {
                self.find_by_names(&ids).await.unwrap_or_default()
            };
            for (k, job_id) in lost.into_iter().zip(ids) {
                answers[k] = Some(match found.get(job_id) {
                    Some(id) => Ok(submitted(
                        id.clone(),
                        "submitted (found by name after the connection dropped)".into(),
                        job_id,
                    )),
                    None => Err(self.unreachable(&out.stderr)),
                });
            }
        }
        answers
            .into_iter()
            .map(|a| a.unwrap_or_else(|| Err(self.unreachable(&out.stderr))))
            .collect()
    }

    /// The SLURM ids of hoist jobs found by their unique job names, in one round trip (after a
    /// batch submit whose answer was lost). Job id → SLURM id, for those found.
    async fn find_by_names(
        &self,
        job_ids: &[&str],
    ) -> Result<HashMap<String, String>, PlatformError> {
        let names = job_ids
            .iter()
            .map(|j| script::job_name(j))
            .collect::<Vec<_>>()
            .join(",");
        let n = sh_quote(&names);
        let out = self.run(&format!("squeue -h -u \"$(id -un)\" --name={n} -o '%j|%i'; sacct -X -n -P --name={n} -o JobName,JobIDRaw 2>/dev/null")).await?;
        Ok(names_to_ids(&out.stdout))
    }

    async fn run_batch(
        &self,
        reqs: &[SubmitRequest],
        ready: &[(usize, Rendered)],
        shared: &Shared,
    ) -> Result<RemoteOutput, PlatformError> {
        let staged: Vec<script::Staged<'_>> = ready
            .iter()
            .map(|(i, r)| script::Staged {
                job_id: &reqs[*i].job_id,
                rendered: r,
            })
            .collect();
        let text = script::batch_script(&shared.base, &shared.results, &staged)
            .map_err(|e| PlatformError::io("packing the job files", e))?;
        // sbatch moves to another host only if it cannot have started; a lost answer is
        // settled by the jobs' unique names, never by submitting again.
        let submit = || async {
            self.hosts
                .run("sh -s", Some(text.as_bytes()), Failover::BeforeStart)
                .await
                .map_err(|e| PlatformError::io("running ssh", e))
        };
        let out = submit().await?;
        if out.code != script::RUNNER_MISSING_EXIT || !out.stderr.contains(script::RUNNER_MISSING) {
            return Ok(out);
        }
        // The script stopped before writing anything: send the runners, submit again.
        let mut sent: Vec<String> = Vec::new();
        for (i, _) in ready {
            let req = &reqs[*i];
            if let Some(bin) = req.runner.as_ref().and(req.runner_binary.as_ref()) {
                let path = Self::runner_path(&shared.base, bin);
                if !sent.contains(&path) {
                    self.stage_runner(&shared.base, bin).await?;
                    sent.push(path);
                }
            }
        }
        submit().await
    }
}

/// `NAME|ID` lines (squeue's first, then sacct's) → hoist job id → SLURM id; the first line
/// of a name wins, so a job still in the queue beats an older accounting record.
pub(crate) fn names_to_ids(text: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for line in text.lines() {
        let Some((name, id)) = line.trim().split_once('|') else {
            continue;
        };
        let Some(job) = name.strip_prefix("hoist-") else {
            continue;
        };
        if !id.is_empty() && id.chars().all(|c| c.is_ascii_digit()) {
            out.entry(job.to_string()).or_insert_with(|| id.to_string());
        }
    }
    out
}

/// A failed sbatch, said as SLURM's refusal (the request is wrong: exit 2, nothing stored)
/// when it is one.
fn sbatch_error(host: &str, code: i32, stderr: &str) -> PlatformError {
    let msg = stderr.trim();
    let lower = msg.to_ascii_lowercase();
    let refused = [
        "invalid partition",
        "node configuration is not available",
        "invalid account",
        "time limit",
        "invalid generic resource",
        "more processors than permitted",
    ];
    if refused.iter().any(|p| lower.contains(p)) {
        return InputError::new(
            format!("SLURM refused the job: {msg}"),
            "check partition, account, GPUs per node and time against `sinfo` and `sacctmgr show assoc`",
        )
        .into();
    }
    let msg = if msg.is_empty() {
        format!("exit {code}, no message")
    } else {
        msg.to_string()
    };
    PlatformError::Failed {
        message: format!("sbatch failed on {host}: {msg}"),
        hint: "run the staged job.sbatch by hand on the login node to see why".into(),
    }
}

/// The same error again, for every job of a batch it stopped.
fn copy_err(e: &PlatformError) -> PlatformError {
    match e {
        PlatformError::Input(i) => PlatformError::Input(i.clone()),
        PlatformError::Unreachable { what, why, hint } => PlatformError::Unreachable {
            what: what.clone(),
            why: why.clone(),
            hint: hint.clone(),
        },
        PlatformError::Io { context, source } => PlatformError::Io {
            context: context.clone(),
            source: std::io::Error::new(source.kind(), source.to_string()),
        },
        other => PlatformError::failed(other.to_string(), other.hint().unwrap_or_default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_by_job_name() {
        let m = names_to_ids("hoist-a|12\nhoist-b|13\nhoist-a|7\nother|9\nhoist-c|14.batch\n\n");
        assert_eq!(m.len(), 2, "{m:?}");
        assert_eq!(m.get("a").map(String::as_str), Some("12"));
        assert_eq!(m.get("b").map(String::as_str), Some("13"));
    }

    #[test]
    fn refusals_are_input_errors() {
        let e = sbatch_error(
            "login1",
            1,
            "sbatch: error: invalid partition specified: nope\n",
        );
        assert!(matches!(e, PlatformError::Input(_)), "{e:?}");
        let e = sbatch_error(
            "login1",
            1,
            "sbatch: error: Slurm controller not responding",
        );
        assert_eq!(
            e.to_string(),
            "sbatch failed on login1: sbatch: error: Slurm controller not responding"
        );
        assert_eq!(
            sbatch_error("h", 7, " ").to_string(),
            "sbatch failed on h: exit 7, no message"
        );
        let u = PlatformError::Unreachable {
            what: "w".into(),
            why: "y".into(),
            hint: "h".into(),
        };
        assert_eq!(copy_err(&u).to_string(), u.to_string());
        assert_eq!(copy_err(&u).hint(), Some("h".into()));
    }
}
