//! A real submit: the inputs checked, the registry password resolved, the nodes read once
//! (capacity and GPU model placement), then the Secrets, the Service and the Job created in
//! the order the pods need them, the companions handed to the Job, and the Job (created held
//! back, see `fence.rs`) let run once nothing fenced its launch off.

use crate::KubePlatform;
use crate::client::Companions;
use crate::manifest::{self, job_name, labels};
use crate::{placement, pull};
use hoist_core::{InputError, JobStatus, PlatformError, SubmitRequest, Submitted};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Secret, Service};
use kube::api::{Api, PostParams};

impl KubePlatform {
    pub(crate) async fn create_job(&self, req: &SubmitRequest) -> Result<Submitted, PlatformError> {
        // Rendered once as a dry run would, so a mistake in the request is refused before any
        // password command runs or the cluster is asked.
        let gpus = manifest::render(req, &self.settings())?.gpus_per_node;
        let pods = req.spec.nodes.max(1);
        let mut s = self.settings();
        let client = self.client().await?;
        if gpus > 0 {
            // None: this user may not list nodes; the scheduler is left to say what fits.
            let nodes = self.list_nodes(client.clone()).await?;
            let model = manifest::gpu_model(&req.spec);
            let mut admitted = None;
            if let Some(model) = model {
                s.gpu_placement = Some(match &nodes {
                    Some(nodes) => {
                        let placed = placement::place(model, nodes)?;
                        admitted = Some(placed.nodes);
                        placed.placement
                    }
                    None => placement::GpuPlacement::Selector(model.to_string()),
                });
            }
            if let Some(nodes) = &nodes {
                let capacity: Vec<(String, u64)> = crate::preflight::gpu_capacity_of(nodes)
                    .into_iter()
                    .filter(|(n, _)| admitted.as_ref().is_none_or(|a| a.contains(n)))
                    .collect();
                crate::preflight::capacity_guard(&capacity, gpus, pods, model)?;
            }
        }
        // Last before anything is created: the command may be slow (a cloud CLI's token).
        s.pull_login = pull::PullLogin::for_job(&req.spec, &*self.env)?
            .map(pull::PullLogin::resolve)
            .transpose()?;
        let m = manifest::render(req, &s)?;
        let name = job_name(&req.job_id);
        let pp = PostParams::default();
        let secrets: Api<Secret> = self.api(client.clone());
        let services: Api<Service> = self.api(client.clone());
        let jobs: Api<Job> = self.api(client.clone());
        // Secrets and Service first, so the pods find them; a refused Job takes them back,
        // as a failure on the way takes back what this submit created before it.
        let mut made = Companions::default();
        if let Some(secret) = &m.secret
            && let Err(e) = secrets.create(&pp, secret).await
        {
            return Err(self.err("create the job's Secret", e));
        }
        made.secret = m.secret.is_some();
        if let Some(secret) = &m.pull_secret
            && let Err(e) = secrets.create(&pp, secret).await
        {
            self.delete_companions(client.clone(), &req.job_id, made)
                .await?;
            return Err(self.err("create the job's image pull Secret", e));
        }
        made.pull = m.pull_secret.is_some();
        if let Some(s) = &m.service
            && let Err(e) = services.create(&pp, s).await
        {
            self.delete_companions(client.clone(), &req.job_id, made)
                .await?;
            return Err(self.err("create the headless Service", e));
        }
        made.service = m.service.is_some();
        let created = match jobs.create(&pp, &crate::fence::held(m.job.clone())).await {
            Ok(j) => j,
            Err(kube::Error::Api(s)) if s.code == 409 => {
                // Already there: ours (a retried submit) or someone else's name clash.
                let existing = jobs
                    .get(&name)
                    .await
                    .map_err(|e| self.err("read the Job", e))?;
                let token = existing
                    .metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(labels::LAUNCH_TOKEN))
                    .cloned();
                if token.as_deref()
                    != m.job
                        .metadata
                        .labels
                        .as_ref()
                        .and_then(|l| l.get(labels::LAUNCH_TOKEN))
                        .map(String::as_str)
                {
                    return Err(PlatformError::Failed {
                        message: format!(
                            "a Job named {name} exists in {} and is not this launch's",
                            self.namespace
                        ),
                        hint: format!(
                            "delete it (kubectl delete job {name} -n {}) if it is stale",
                            self.namespace
                        ),
                    });
                }
                existing
            }
            Err(e) => {
                self.delete_companions(client.clone(), &req.job_id, made)
                    .await?;
                return Err(match e {
                    kube::Error::Api(s) if matches!(s.code, 400 | 422) => InputError::new(
                        format!("Kubernetes refused the Job: {}", s.message),
                        "check the image, resources and options against the message",
                    )
                    .into(),
                    e => self.err("create the Job", e),
                });
            }
        };
        // The Job owns the Secrets (and Service), so deleting the Job removes them.
        if let Some(uid) = &created.metadata.uid {
            self.patch_companions(
                client.clone(),
                &req.job_id,
                made,
                &manifest::owned_by(&name, uid),
                "hand the Secrets and Service to the Job",
            )
            .await?;
        }
        if !self.resume(client, &req.job_id, &created).await? {
            return Err(PlatformError::Failed {
                message: format!(
                    "the launch of job {} was fenced off (abandoned or removed) while its Job was being created; the Job was deleted before any pod ran",
                    req.job_id
                ),
                hint: "submit the job again".into(),
            });
        }
        Ok(Submitted {
            backend_job_id: name,
            backend_identity: self.cluster_identity().await?,
            results_location: None,
            status: JobStatus::Pending,
            message: format!(
                "submitted to namespace {} ({} pod(s), {} GPU(s) each)",
                self.namespace, pods, gpus
            ),
        })
    }
}
