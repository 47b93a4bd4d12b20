//! Machines platforms keep for jobs (cloud instances): listed with the hoist jobs on them,
//! and removed, never while a hoist job on one is still active unless asked to cancel them.

use crate::{Hoist, Result};
use hoist_core::{InputError, Instance, JobRecord, Platform};
use hoist_store::ListFilter;
use serde::Serialize;

/// One instance and the hoist jobs on it.
#[derive(Debug, Clone, Serialize)]
pub struct InstanceView {
    /// The platform that keeps it.
    pub platform: String,
    /// The instance as the platform lists it.
    #[serde(flatten)]
    pub instance: Instance,
    /// Ids of the hoist jobs that ran or run on it, newest first.
    pub jobs: Vec<String>,
    /// Ids of those not yet ended.
    pub active_jobs: Vec<String>,
}

/// What `remove_instance` did.
#[derive(Debug, Clone, Serialize)]
pub struct RemovedInstance {
    /// The platform.
    pub platform: String,
    /// The instance.
    pub name: String,
    /// Jobs canceled first (`force`).
    pub canceled: Vec<String>,
}

impl Hoist {
    /// The platforms that keep instances: the one named, else all of them.
    fn instance_platforms(&self, platform: Option<&str>) -> Result<Vec<&'static str>> {
        match platform {
            Some(p) => {
                let e = self.entry(p)?;
                let info = e.descriptor.info();
                if !info.capabilities.instances {
                    return Err(InputError::new(
                        format!("the {} platform keeps no instances of its own", info.name),
                        format!(
                            "its jobs run where it points them; platforms with instances: {}",
                            self.with_instances().join(", ")
                        ),
                    )
                    .into());
                }
                Ok(vec![info.name])
            }
            None => Ok(self.with_instances()),
        }
    }

    fn with_instances(&self) -> Vec<&'static str> {
        self.entries()
            .map(|e| e.descriptor.info())
            .filter(|i| i.capabilities.instances)
            .map(|i| i.name)
            .collect()
    }

    /// The hoist jobs of `platform`, by the instance each ran on (active ones refreshed).
    async fn jobs_by_instance(&self, platform: &dyn Platform) -> Result<Vec<(String, JobRecord)>> {
        self.refresh_active(Some(platform.name())).await?;
        let jobs = self.store.list(&ListFilter {
            platform: Some(platform.name().to_string()),
            ..Default::default()
        })?;
        Ok(jobs
            .into_iter()
            .filter_map(|j| platform.instance_of(&j).map(|n| (n, j)))
            .collect())
    }

    /// Every instance of the platforms that keep them (or of `platform`), with the hoist jobs
    /// on each.
    pub async fn instances(
        &self,
        platform: Option<&str>,
        profile: Option<&str>,
    ) -> Result<Vec<InstanceView>> {
        let mut out = Vec::new();
        for name in self.instance_platforms(platform)? {
            let p = self.platform(name, profile)?;
            let listed = p.instances().await?;
            let jobs = self.jobs_by_instance(p.as_ref()).await?;
            for inst in listed {
                let on: Vec<&JobRecord> = jobs
                    .iter()
                    .filter(|(n, _)| *n == inst.name)
                    .map(|(_, j)| j)
                    .collect();
                out.push(InstanceView {
                    platform: name.to_string(),
                    jobs: on.iter().map(|j| j.job_id.clone()).collect(),
                    active_jobs: on
                        .iter()
                        .filter(|j| !j.status.is_terminal())
                        .map(|j| j.job_id.clone())
                        .collect(),
                    instance: inst,
                });
            }
        }
        Ok(out)
    }

    /// Delete instance `name` of `platform`. Refused while a hoist job on it is active,
    /// unless `force`, which cancels those jobs first.
    pub async fn remove_instance(
        &self,
        name: &str,
        platform: &str,
        profile: Option<&str>,
        force: bool,
    ) -> Result<RemovedInstance> {
        let pname = self.instance_platforms(Some(platform))?[0];
        let p = self.platform(pname, profile)?;
        let active: Vec<JobRecord> = self
            .jobs_by_instance(p.as_ref())
            .await?
            .into_iter()
            .filter(|(n, j)| n == name && !j.status.is_terminal())
            .map(|(_, j)| j)
            .collect();
        if !active.is_empty() && !force {
            let ids: Vec<String> = active.iter().map(|j| j.short_id().to_string()).collect();
            return Err(InputError::new(
                format!(
                    "{pname} instance {name} still has {} active hoist job(s): {}",
                    ids.len(),
                    ids.join(", ")
                ),
                "wait for them (hoist wait ID), cancel them, or pass --force to cancel them and delete the instance",
            )
            .into());
        }
        let mut canceled = Vec::new();
        for j in active {
            self.cancel(&j.job_id).await?;
            canceled.push(j.job_id);
        }
        p.delete_instance(name).await?;
        Ok(RemovedInstance {
            platform: pname.to_string(),
            name: name.to_string(),
            canceled,
        })
    }
}
