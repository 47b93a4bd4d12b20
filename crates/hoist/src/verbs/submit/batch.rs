//! Many jobs at once: each request is prepared on its own (its errors are its own), the
//! requests are grouped by platform and resolved settings (so one platform instance, and
//! one pinned value, serves a group), every row of a group is written with its launch fence
//! before the platform is called, and the group goes to [`Platform::submit_batch`] in one
//! call (SLURM: one ssh round trip for all of them). Groups run side by side.

use crate::prepare::Prepared;
use crate::{Hoist, JobRequest, Result, failpoint};
use hoist_core::staging::{ResultsKind, RunnerPlan};
use hoist_core::{JobRecord, Platform, PlatformError, SubmitRequest, Submitted};

/// How many jobs of a group are readied at once (uploads, input checks: each may be a
/// network round trip of its own).
const READY_AT_ONCE: usize = 8;

/// Requests that share a platform instance, by their index in the call.
struct Group<'r> {
    platform: String,
    settings: hoist_core::settings::SettingsMap,
    members: Vec<(usize, Prepared, &'r JobRequest)>,
}

impl Hoist {
    /// Submit many jobs, one answer per request in the same order. Each job goes through the
    /// steps of [`Hoist::create_job`] (uploads, its row and launch fence before the platform
    /// sees it, the fence closed after), but the jobs of one platform and settings are handed
    /// to the platform together, so a platform that can submit many in one exchange does.
    pub async fn create_jobs(&self, reqs: Vec<JobRequest>) -> Vec<Result<JobRecord>> {
        let mut answers: Vec<Option<Result<JobRecord>>> = reqs.iter().map(|_| None).collect();
        let mut groups: Vec<Group<'_>> = Vec::new();
        for (i, req) in reqs.iter().enumerate() {
            let p = match self.prepare(req) {
                Ok(p) => p,
                Err(e) => {
                    answers[i] = Some(Err(e));
                    continue;
                }
            };
            // Same platform and same resolved settings: the same instance and pinned value.
            match groups
                .iter_mut()
                .find(|g| g.platform == p.platform && g.settings == p.settings.values)
            {
                Some(g) => g.members.push((i, p, req)),
                None => groups.push(Group {
                    platform: p.platform.clone(),
                    settings: p.settings.values.clone(),
                    members: vec![(i, p, req)],
                }),
            }
        }
        let launched = futures::future::join_all(groups.into_iter().map(|g| self.launch_group(g)));
        for (i, answer) in launched.await.into_iter().flatten() {
            answers[i] = Some(answer);
        }
        answers
            .into_iter()
            .map(|a| {
                a.unwrap_or_else(|| {
                    Err(PlatformError::failed(
                        "this request got no answer",
                        "report this; hoist ls shows whether it was submitted",
                    )
                    .into())
                })
            })
            .collect()
    }

    fn build_for(&self, g: &Group<'_>) -> Result<Box<dyn Platform>> {
        Ok(self
            .entry(&g.platform)?
            .descriptor
            .build(&self.build_context(), &g.settings, None)?)
    }

    async fn launch_group(&self, g: Group<'_>) -> Vec<(usize, Result<JobRecord>)> {
        let platform = match self.build_for(&g) {
            Ok(p) => p,
            Err(e) => {
                // Building contacts nothing: building again gives each request its own error.
                let mut first = Some(e);
                return g
                    .members
                    .iter()
                    .map(|(i, ..)| {
                        let e = first.take().unwrap_or_else(|| match self.build_for(&g) {
                            Err(e) => e,
                            Ok(_) => unsteady_build().into(),
                        });
                        (*i, Err(e))
                    })
                    .collect();
            }
        };
        let platform = platform.as_ref();
        let mut out = Vec::new();
        let readied: Vec<_> = g
            .members
            .into_iter()
            .map(|(i, p, req)| async move { (i, self.ready_job(platform, p, req).await) })
            .collect();
        let readied: Vec<(usize, Result<(JobRecord, SubmitRequest)>)> = {
            use futures::StreamExt;
            futures::stream::iter(readied)
                .buffered(READY_AT_ONCE)
                .collect()
                .await
        };
        let mut ready: Vec<(usize, JobRecord, SubmitRequest)> = Vec::new();
        for (i, r) in readied {
            match r {
                Ok((job, sub)) => ready.push((i, job, sub)),
                Err(e) => out.push((i, Err(e))),
            }
        }
        // Every row and its launch token first, in one transaction; should that fail, row by
        // row, so each job gets its own answer.
        let jobs: Vec<JobRecord> = ready.iter().map(|(_, j, _)| j.clone()).collect();
        if self.store.insert_many(&jobs).is_err() {
            let mut kept = Vec::new();
            for (i, job, sub) in ready {
                match self.store.insert(&job) {
                    Ok(()) => kept.push((i, job, sub)),
                    Err(e) => out.push((i, Err(e.into()))),
                }
            }
            ready = kept;
        }
        if ready.is_empty() {
            return out;
        }
        failpoint("after-insert");
        let subs: Vec<SubmitRequest> = ready.iter().map(|(_, _, s)| s.clone()).collect();
        let answers = platform.submit_batch(&subs).await;
        for ((i, job, sub), answer) in ready.into_iter().zip(answers) {
            out.push((i, self.close_fence(platform, job, &sub, answer)));
        }
        out
    }

    /// Everything before the row: uploads shipped, the record, the runner plan, inputs
    /// checked.
    async fn ready_job(
        &self,
        platform: &dyn Platform,
        p: Prepared,
        req: &JobRequest,
    ) -> Result<(JobRecord, SubmitRequest)> {
        let Prepared {
            platform: platform_name,
            profile,
            mut spec,
            mut env,
            ..
        } = p;
        let job_id = uuid::Uuid::new_v4().to_string();
        // What the backend can tell is wrong is refused before anything is shipped or
        // stored: bad input leaves no row.
        let check = SubmitRequest {
            job_id: job_id.clone(),
            launch_token: String::new(),
            spec: spec.clone(),
            env: Default::default(),
            runner: None,
            runner_binary: None,
        };
        match platform.check_request(&check).await {
            Ok(()) | Err(PlatformError::Unsupported { .. }) => {}
            Err(PlatformError::Input(e)) => return Err(e.into()),
            Err(_) => {} // the submit meets it again and says so
        }
        self.ship_uploads(platform, &job_id, &mut spec, &mut env)
            .await?;
        let mut job = JobRecord::pending(
            job_id,
            platform_name,
            spec.clone(),
            uuid::Uuid::new_v4().to_string(),
        );
        job.pinned = platform.pin();
        job.profile = profile;
        job.parent_job_id = req.parent_job_id.clone();
        job.workflow_id = req.workflow_id.clone();
        job.launcher = Some(crate::verbs::control::launcher_id());
        let runner = RunnerPlan::for_job(&job.job_id, &spec);
        let runner_binary = self.runner_binary_for(platform, runner.is_some())?;
        if runner.is_some() {
            self.check_inputs(platform, &spec, &env).await?;
        }
        let sub = SubmitRequest {
            job_id: job.job_id.clone(),
            launch_token: job.launch_token.clone(),
            spec,
            env,
            runner,
            runner_binary,
        };
        Ok((job, sub))
    }

    /// Record what the platform said about one job: launched (and repinned), refused before
    /// anything ran (no trace kept), or failed (the row says why).
    fn close_fence(
        &self,
        platform: &dyn Platform,
        job: JobRecord,
        sub: &SubmitRequest,
        answer: std::result::Result<Submitted, PlatformError>,
    ) -> Result<JobRecord> {
        match answer {
            Ok(mut submitted) => {
                if submitted.results_location.is_none() && sub.runner.is_some() {
                    submitted.results_location = Some(
                        ResultsKind::from_env(|k| sub.env.get(k).cloned()).location(&job.job_id),
                    );
                }
                failpoint("after-submit");
                self.store
                    .mark_launched(&job.job_id, &job.launch_token, &submitted)?;
                self.repin(platform, &job)?;
                Ok(self.store.get(&job.job_id)?.unwrap_or(job))
            }
            Err(PlatformError::Input(e)) => {
                // Refused before anything was launched: the request was wrong, keep no trace.
                self.store.delete(&job.job_id)?;
                Err(e.into())
            }
            Err(e) => {
                // The backend may still complete a create this process gave up on (a timeout
                // is not a refusal): sweep for it as for a fenced launch.
                self.note_fenced(&job);
                self.store.mark_abandoned(
                    &job.job_id,
                    &job.launch_token,
                    &format!("submit failed: {e}"),
                )?;
                Err(e.into())
            }
        }
    }
}

/// The error of a build that failed once and then did not (it contacts nothing, so this is
/// not expected).
fn unsteady_build() -> PlatformError {
    PlatformError::failed(
        "the platform could not be set up for this job",
        "run the job again",
    )
}
