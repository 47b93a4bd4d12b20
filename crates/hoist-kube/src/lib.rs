//! The `kubernetes` platform: a job is a Job (an Indexed Job plus a headless Service when it
//! spans nodes), its secret env values a Secret the Job owns. Everything goes through kube-rs;
//! the client is built from a kubeconfig (context from `TAO_K8S_CONTEXT`) or the in-cluster
//! service account, or handed in ([`KubePlatform::with_client`]) so tests can script the API.
#![deny(missing_docs)]

pub mod manifest;
pub mod status;

use async_trait::async_trait;
use futures::{AsyncBufReadExt, StreamExt, TryStreamExt};
use hoist_core::failure::FailureInput;
use hoist_core::platform::PreflightRequest;
use hoist_core::{
    BoxLogStream, CancelOutcome, InputError, JobRecord, JobSpec, JobStatus, LaunchRecovery,
    Platform, PlatformError, PreflightCheck, StatusReport, SubmitRequest, Submitted,
};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Namespace, Node, Pod, Secret, Service};
use kube::api::{Api, DeleteParams, ListParams, LogParams, Patch, PatchParams, PostParams};
use kube::{Client, Config};
use manifest::{ManifestSettings, job_name, labels, secret_name};
use std::collections::BTreeMap;
use tokio::sync::OnceCell;

/// Settings from the environment, profile and flags.
#[derive(Debug, Clone, Default)]
pub struct KubeSettings {
    /// kubeconfig context (`TAO_K8S_CONTEXT`).
    pub context: Option<String>,
    /// Namespace (`TAO_K8S_NAMESPACE`, default `default`).
    pub namespace: Option<String>,
    /// Runner image for jobs with data staging (`HOIST_K8S_RUNNER_IMAGE`).
    pub runner_image: Option<String>,
    /// Seconds a finished Job is kept (default 3600).
    pub ttl_seconds: Option<i32>,
}

impl KubeSettings {
    /// Fill what is unset from the TAO variables.
    pub fn with_env(mut self) -> Self {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        self.context = self.context.or_else(|| env("TAO_K8S_CONTEXT"));
        self.namespace = self.namespace.or_else(|| env("TAO_K8S_NAMESPACE"));
        self.runner_image = self.runner_image.or_else(|| env("HOIST_K8S_RUNNER_IMAGE"));
        self
    }
}

struct Conn {
    client: Client,
    /// API server URL and a hash of the cluster CA: with kube-system's UID, the identity.
    server: String,
    ca: String,
}

/// Jobs on one Kubernetes cluster, in one namespace.
pub struct KubePlatform {
    settings: KubeSettings,
    namespace: String,
    conn: OnceCell<Conn>,
    identity: OnceCell<String>,
}

/// How many pods' logs are read at once.
const LOG_FANOUT: usize = 16;

impl KubePlatform {
    /// A platform that connects on first use.
    pub fn new(settings: KubeSettings) -> KubePlatform {
        let namespace = settings
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into());
        KubePlatform {
            settings,
            namespace,
            conn: OnceCell::new(),
            identity: OnceCell::new(),
        }
    }

    /// A platform over a given client (tests script the API through it).
    pub fn with_client(settings: KubeSettings, client: Client, server: &str) -> KubePlatform {
        let p = KubePlatform::new(settings);
        let _ = p.conn.set(Conn {
            client,
            server: server.to_string(),
            ca: "none".into(),
        });
        p
    }

    async fn conn(&self) -> Result<&Conn, PlatformError> {
        self.conn
            .get_or_try_init(|| async {
                let opts = kube::config::KubeConfigOptions {
                    context: self.settings.context.clone(),
                    ..Default::default()
                };
                let cfg = match Config::from_kubeconfig(&opts).await {
                    Ok(c) => c,
                    Err(kerr) => Config::incluster().map_err(|ierr| PlatformError::Unreachable {
                        what: "Kubernetes".into(),
                        why: format!(
                            "no usable kubeconfig ({kerr}; KUBECONFIG or ~/.kube/config{}) and not inside a cluster ({ierr})",
                            self.settings
                                .context
                                .as_ref()
                                .map(|c| format!(", context {c}"))
                                .unwrap_or_default()
                        ),
                        hint: "point KUBECONFIG at a kubeconfig (kubectl config view shows yours), pick its context with TAO_K8S_CONTEXT, or run hoist in a pod with a service account".into(),
                    })?,
                };
                use sha2::Digest;
                let ca = cfg
                    .root_cert
                    .as_ref()
                    .map(|certs| {
                        let d = sha2::Sha256::digest(certs.concat());
                        d.iter().take(8).map(|b| format!("{b:02x}")).collect::<String>()
                    })
                    .unwrap_or_else(|| "none".into());
                let server = cfg.cluster_url.to_string();
                let client = Client::try_from(cfg).map_err(|e| PlatformError::Unreachable {
                    what: format!("Kubernetes at {server}"),
                    why: e.to_string(),
                    hint: "check the kubeconfig's certificates and credentials".into(),
                })?;
                Ok(Conn { client, server, ca })
            })
            .await
    }

    async fn client(&self) -> Result<Client, PlatformError> {
        Ok(self.conn().await?.client.clone())
    }

    fn api<K>(&self, client: Client) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        <K as kube::Resource>::DynamicType: Default,
    {
        Api::namespaced(client, &self.namespace)
    }

    fn err(&self, what: &str, e: kube::Error) -> PlatformError {
        match e {
            kube::Error::Api(s) if s.code == 401 || s.code == 403 => PlatformError::Failed {
                message: format!("Kubernetes refused to {what}: {}", s.message),
                hint: format!(
                    "the kubeconfig's user needs rights on jobs, pods, pods/log, services and secrets in namespace {} (kubectl auth can-i create jobs -n {})",
                    self.namespace, self.namespace
                ),
            },
            kube::Error::Api(s)
                if s.code == 404 && s.reason == "NotFound" && s.message.contains("namespaces") =>
            {
                PlatformError::Input(InputError::new(
                    format!("namespace {} does not exist: {}", self.namespace, s.message),
                    "create it (kubectl create namespace …) or choose another with --namespace / TAO_K8S_NAMESPACE",
                ))
            }
            kube::Error::Api(s) => PlatformError::Failed {
                message: format!("Kubernetes could not {what}: {} ({})", s.message, s.code),
                hint: "hoist why JOB explains the common causes".into(),
            },
            e => PlatformError::Unreachable {
                what: "the Kubernetes API server".into(),
                why: e.to_string(),
                hint: "check the network path to the API server and the kubeconfig".into(),
            },
        }
    }

    fn settings(&self) -> ManifestSettings {
        ManifestSettings {
            namespace: self.namespace.clone(),
            runner_image: self.settings.runner_image.clone(),
            ttl_seconds: self.settings.ttl_seconds.unwrap_or(3600),
        }
    }

    /// Allocatable `nvidia.com/gpu` per node.
    async fn gpu_capacity(&self, client: Client) -> Result<Vec<(String, u64)>, PlatformError> {
        let nodes: Api<Node> = Api::all(client);
        let list = nodes
            .list(&ListParams::default())
            .await
            .map_err(|e| self.err("list nodes", e))?;
        Ok(list
            .items
            .iter()
            .map(|n| {
                let gpus = n
                    .status
                    .as_ref()
                    .and_then(|s| s.allocatable.as_ref())
                    .and_then(|a| a.get("nvidia.com/gpu"))
                    .and_then(|q| q.0.parse::<u64>().ok())
                    .unwrap_or(0);
                (n.metadata.name.clone().unwrap_or_default(), gpus)
            })
            .collect())
    }

    /// Refuse what the cluster can never schedule: fewer allocatable GPUs than asked in all,
    /// or no node with as many as one pod needs.
    async fn capacity_guard(
        &self,
        client: Client,
        per_node: u32,
        nodes: u32,
    ) -> Result<(), PlatformError> {
        if per_node == 0 {
            return Ok(());
        }
        let cap = self.gpu_capacity(client).await?;
        let total: u64 = cap.iter().map(|(_, g)| g).sum();
        let need = u64::from(per_node) * u64::from(nodes);
        let biggest = cap.iter().map(|(_, g)| *g).max().unwrap_or(0);
        if total < need || biggest < u64::from(per_node) {
            return Err(InputError::new(
                format!(
                    "the cluster has {total} allocatable nvidia.com/gpu ({} per node at most, over {} nodes), but the job needs {per_node} per node on {nodes} node(s)",
                    biggest,
                    cap.len()
                ),
                "install the NVIDIA GPU Operator (or device plugin) so nodes advertise nvidia.com/gpu (https://docs.nvidia.com/datacenter/cloud-native/gpu-operator/), or ask for fewer GPUs",
            )
            .into());
        }
        Ok(())
    }

    async fn pods_of(&self, client: Client, name: &str) -> Result<Vec<Pod>, PlatformError> {
        let pods: Api<Pod> = self.api(client);
        Ok(pods
            .list(&ListParams::default().labels(&format!("{}={name}", labels::JOB_NAME)))
            .await
            .map_err(|e| self.err("list pods", e))?
            .items)
    }

    async fn delete_quietly<K>(
        &self,
        api: &Api<K>,
        name: &str,
        dp: &DeleteParams,
    ) -> Result<(), PlatformError>
    where
        K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    {
        match api.delete(name, dp).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(e) => Err(self.err(&format!("delete {name}"), e)),
        }
    }

    async fn log_text(
        &self,
        client: Client,
        pods: &[Pod],
        tail: Option<usize>,
    ) -> Result<String, PlatformError> {
        let api: Api<Pod> = self.api(client);
        let multi = pods.len() > 1 || pods.iter().any(|p| status::rank(p).is_some());
        let mut sorted: Vec<&Pod> = pods.iter().collect();
        sorted.sort_by_key(|p| status::rank(p).and_then(|r| r.parse::<u32>().ok()));
        let targets: Vec<(String, Option<String>)> = sorted
            .iter()
            .map(|p| {
                let name = p.metadata.name.clone().unwrap_or_default();
                let prefix = multi
                    .then(|| format!("[{}] ", status::rank(p).unwrap_or_else(|| name.clone())));
                (name, prefix)
            })
            .collect();
        let reads = targets.into_iter().map(|(name, prefix)| {
            let api = api.clone();
            async move {
                let lp = LogParams {
                    container: Some("job".into()),
                    tail_lines: tail.map(|t| t as i64),
                    ..Default::default()
                };
                let text = match api.logs(&name, &lp).await {
                    Ok(t) => t,
                    // A pod that has not started has no log yet.
                    Err(kube::Error::Api(s)) if s.code == 400 || s.code == 404 => String::new(),
                    Err(e) => return Err(e),
                };
                Ok(match prefix {
                    Some(p) => text.lines().map(|l| format!("{p}{l}\n")).collect(),
                    None => text,
                })
            }
        });
        let parts: Vec<String> = futures::stream::iter(reads)
            .buffered(LOG_FANOUT)
            .try_collect()
            .await
            .map_err(|e| self.err("read pod logs", e))?;
        Ok(parts.concat())
    }

    /// Delete the job's Service and Secret, whichever exist.
    async fn delete_companions(&self, client: Client, job_id: &str) -> Result<(), PlatformError> {
        let services: Api<Service> = self.api(client.clone());
        let secrets: Api<Secret> = self.api(client);
        let dp = DeleteParams::default();
        self.delete_quietly(&services, &job_name(job_id), &dp)
            .await?;
        self.delete_quietly(&secrets, &secret_name(job_id), &dp)
            .await
    }

    /// Apply a merge patch to the job's Secret and/or Service (ownership changes); one that
    /// does not exist is skipped.
    async fn patch_companions(
        &self,
        client: Client,
        job_id: &str,
        (secret, service): (bool, bool),
        patch: &serde_json::Value,
        what: &str,
    ) -> Result<(), PlatformError> {
        let secrets: Api<Secret> = self.api(client.clone());
        let services: Api<Service> = self.api(client);
        let pp = PatchParams::default();
        let results = [
            match secret {
                true => secrets
                    .patch(&secret_name(job_id), &pp, &Patch::Merge(patch))
                    .await
                    .map(|_| ()),
                false => Ok(()),
            },
            match service {
                true => services
                    .patch(&job_name(job_id), &pp, &Patch::Merge(patch))
                    .await
                    .map(|_| ()),
                false => Ok(()),
            },
        ];
        for res in results {
            if let Err(e) = res
                && !matches!(&e, kube::Error::Api(s) if s.code == 404)
            {
                return Err(self.err(what, e));
            }
        }
        Ok(())
    }

    /// The job's pods, for `hoist show`.
    pub async fn replicas(&self, job: &JobRecord) -> Result<Vec<status::Replica>, PlatformError> {
        let client = self.client().await?;
        Ok(status::replicas(
            &self.pods_of(client, &job_name(&job.job_id)).await?,
        ))
    }
}

fn jobs_terminal(j: &Job) -> bool {
    j.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True")
        })
}

#[async_trait]
impl Platform for KubePlatform {
    fn name(&self) -> &'static str {
        "kubernetes"
    }

    async fn identity(&self) -> Result<String, PlatformError> {
        self.identity
            .get_or_try_init(|| async {
                let conn = self.conn().await?;
                // kube-system's UID tells two clusters behind the same URL apart; a user who
                // may not read it gets an identity without it, consistently.
                let ns: Api<Namespace> = Api::all(conn.client.clone());
                let uid = match ns.get_opt("kube-system").await {
                    Ok(Some(n)) => n.metadata.uid.unwrap_or_default(),
                    Ok(None) => String::new(),
                    Err(kube::Error::Api(s)) if s.code == 401 || s.code == 403 => String::new(),
                    Err(e) => return Err(self.err("read namespace kube-system", e)),
                };
                Ok(format!(
                    "kubernetes:{}#ca={}#ks={uid}",
                    conn.server, conn.ca
                ))
            })
            .await
            .cloned()
    }

    fn pin(&self, spec: &mut JobSpec) {
        let o = &mut spec.platform_options.kubernetes;
        o.namespace.get_or_insert_with(|| self.namespace.clone());
        if o.context.is_none() {
            o.context = self.settings.context.clone();
        }
    }

    async fn dry_run(&self, req: &SubmitRequest) -> Result<String, PlatformError> {
        let m = manifest::render(req, &self.settings())?;
        serde_json::to_string_pretty(&manifest::redacted(&m)).map_err(|e| PlatformError::Failed {
            message: e.to_string(),
            hint: String::new(),
        })
    }

    async fn submit(&self, req: &SubmitRequest) -> Result<Submitted, PlatformError> {
        let m = manifest::render(req, &self.settings())?;
        let client = self.client().await?;
        self.capacity_guard(client.clone(), m.gpus_per_node, req.spec.nodes.max(1))
            .await?;
        let name = job_name(&req.job_id);
        let pp = PostParams::default();
        let secrets: Api<Secret> = self.api(client.clone());
        let services: Api<Service> = self.api(client.clone());
        let jobs: Api<Job> = self.api(client.clone());
        // Secret and Service first, so the pods find them; a refused Job takes them back.
        if let Some(s) = &m.secret {
            secrets
                .create(&pp, s)
                .await
                .map_err(|e| self.err("create the job's Secret", e))?;
        }
        if let Some(s) = &m.service
            && let Err(e) = services.create(&pp, s).await
        {
            self.delete_quietly(
                &secrets,
                &secret_name(&req.job_id),
                &DeleteParams::default(),
            )
            .await?;
            return Err(self.err("create the headless Service", e));
        }
        let created = match jobs.create(&pp, &m.job).await {
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
                self.delete_companions(client.clone(), &req.job_id).await?;
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
        // The Job owns the Secret (and Service), so deleting the Job removes them.
        if let Some(uid) = &created.metadata.uid {
            self.patch_companions(
                client.clone(),
                &req.job_id,
                (m.secret.is_some(), m.service.is_some()),
                &manifest::owned_by(&name, uid),
                "hand the Secret and Service to the Job",
            )
            .await?;
        }
        Ok(Submitted {
            backend_job_id: name,
            backend_identity: self.identity().await?,
            results_location: None,
            status: JobStatus::Pending,
            message: format!(
                "submitted to namespace {} ({} pod(s), {} GPU(s) each)",
                self.namespace,
                req.spec.nodes.max(1),
                m.gpus_per_node
            ),
        })
    }

    async fn recover_launch(&self, job: &JobRecord) -> Result<LaunchRecovery, PlatformError> {
        let client = self.client().await?;
        let jobs: Api<Job> = self.api(client.clone());
        let name = job_name(&job.job_id);
        match jobs
            .get_opt(&name)
            .await
            .map_err(|e| self.err("read the Job", e))?
        {
            Some(j)
                if j.metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(labels::LAUNCH_TOKEN))
                    == Some(&job.launch_token) =>
            {
                Ok(LaunchRecovery::Adopted(Submitted {
                    backend_job_id: name,
                    backend_identity: self.identity().await?,
                    results_location: None,
                    status: JobStatus::Pending,
                    message: "adopted after an interrupted submit".into(),
                }))
            }
            _ => {
                // What a dead launcher created before the Job stays unowned: remove it.
                self.delete_companions(client, &job.job_id).await?;
                Ok(LaunchRecovery::NotLaunched)
            }
        }
    }

    async fn status(&self, jobs: &[JobRecord]) -> Vec<Result<StatusReport, PlatformError>> {
        let client = match self.client().await {
            Ok(c) => c,
            Err(e) => {
                let msg = e.to_string();
                return jobs
                    .iter()
                    .map(|_| {
                        Err(PlatformError::Unreachable {
                            what: "Kubernetes".into(),
                            why: msg.clone(),
                            hint: "check the kubeconfig".into(),
                        })
                    })
                    .collect();
            }
        };
        // Two calls for any number of jobs: every hoist Job and every hoist pod in the namespace.
        let sel = ListParams::default().labels(&format!("{}=hoist", labels::MANAGED_BY));
        let japi: Api<Job> = self.api(client.clone());
        let papi: Api<Pod> = self.api(client);
        let (jl, pl) = futures::join!(japi.list(&sel), papi.list(&sel));
        let (jl, pl) = match (jl, pl) {
            (Ok(j), Ok(p)) => (j.items, p.items),
            (Err(e), _) | (_, Err(e)) => {
                let msg = self.err("list jobs and pods", e).to_string();
                return jobs
                    .iter()
                    .map(|_| {
                        Err(PlatformError::Unreachable {
                            what: "Kubernetes".into(),
                            why: msg.clone(),
                            hint: "check the kubeconfig and the API server".into(),
                        })
                    })
                    .collect();
            }
        };
        let mut pods: BTreeMap<String, Vec<Pod>> = BTreeMap::new();
        for p in pl {
            if let Some(n) = p
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(labels::JOB_NAME))
            {
                pods.entry(n.clone()).or_default().push(p);
            }
        }
        jobs.iter()
            .map(|j| {
                let name = job_name(&j.job_id);
                match jl.iter().find(|k| k.metadata.name.as_deref() == Some(name.as_str())) {
                    Some(k) => Ok(status::report(
                        k,
                        &status::current_pods(k, pods.get(&name).map(Vec::as_slice).unwrap_or(&[])),
                    )),
                    None if j.status == JobStatus::Canceling => Ok(StatusReport {
                        status: JobStatus::Canceled,
                        message: "canceled".into(),
                        exit_code: None,
                        started_at: None,
                        finished_at: Some(jiff::Timestamp::now()),
                        retriable: false,
                        restarts: None,
                    }),
                    None => Ok(StatusReport {
                        status: JobStatus::Error,
                        message: format!("the Job {name} is gone from namespace {} (deleted outside hoist, or removed by its TTL after it ended)", self.namespace),
                        exit_code: None,
                        started_at: None,
                        finished_at: None,
                        retriable: false,
                        restarts: None,
                    }),
                }
            })
            .collect()
    }

    async fn logs(&self, job: &JobRecord, tail: Option<usize>) -> Result<String, PlatformError> {
        let client = self.client().await?;
        let pods = self.pods_of(client.clone(), &job_name(&job.job_id)).await?;
        self.log_text(client, &pods, tail).await
    }

    async fn follow_logs(
        &self,
        job: &JobRecord,
        tail: Option<usize>,
    ) -> Result<BoxLogStream, PlatformError> {
        let client = self.client().await?;
        let name = job_name(&job.job_id);
        let ns = self.namespace.clone();
        let multi = job.spec.nodes > 1;
        // One follow stream per pod as pods start; new pods are picked up until the Job ends.
        let (tx, rx) = futures::channel::mpsc::unbounded::<Result<String, PlatformError>>();
        tokio::spawn(async move {
            let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
            let jobs: Api<Job> = Api::namespaced(client, &ns);
            let mut started = std::collections::BTreeSet::new();
            let mut streams = futures::stream::SelectAll::new();
            loop {
                let list = pods
                    .list(&ListParams::default().labels(&format!("{}={name}", labels::JOB_NAME)))
                    .await;
                if let Ok(list) = list {
                    for p in list.items {
                        let pn = p.metadata.name.clone().unwrap_or_default();
                        let running = matches!(
                            p.status.as_ref().and_then(|s| s.phase.as_deref()),
                            Some("Running" | "Succeeded" | "Failed")
                        );
                        if !running || !started.insert(pn.clone()) {
                            continue;
                        }
                        let prefix = multi.then(|| {
                            format!("[{}] ", status::rank(&p).unwrap_or_else(|| pn.clone()))
                        });
                        let lp = LogParams {
                            container: Some("job".into()),
                            follow: true,
                            tail_lines: tail.map(|t| t as i64),
                            ..Default::default()
                        };
                        if let Ok(r) = pods.log_stream(&pn, &lp).await {
                            let prefix = prefix.unwrap_or_default();
                            streams.push(
                                r.lines()
                                    .map(move |l| l.map(|l| format!("{prefix}{l}\n")))
                                    .boxed(),
                            );
                        }
                    }
                }
                let done = jobs
                    .get_opt(&name)
                    .await
                    .ok()
                    .flatten()
                    .is_none_or(|j| jobs_terminal(&j));
                // Drain what the streams have for a while, then look for new pods again.
                let tick = tokio::time::sleep(std::time::Duration::from_millis(if done {
                    0
                } else {
                    1000
                }));
                tokio::pin!(tick);
                loop {
                    tokio::select! {
                        line = streams.next(), if !streams.is_empty() => {
                            if let Some(Ok(l)) = line
                                && tx.unbounded_send(Ok(l)).is_err()
                            {
                                return;
                            }
                        }
                        _ = &mut tick => break,
                    }
                }
                if done {
                    // Each log stream ends with its container: drain them fully, then stop.
                    while let Some(l) = streams.next().await {
                        if let Ok(l) = l
                            && tx.unbounded_send(Ok(l)).is_err()
                        {
                            return;
                        }
                    }
                    return;
                }
            }
        });
        Ok(rx.boxed())
    }

    /// Run an evicted (or otherwise infrastructure-failed) job again: its Secret and Service
    /// are released from the old Job, the old Job and its pods are deleted, and the same Job is
    /// created again (the server's fields stripped) and given the Secret and Service back.
    async fn retry(&self, job: &JobRecord) -> Result<Option<Submitted>, PlatformError> {
        let client = self.client().await?;
        let name = job_name(&job.job_id);
        let jobs: Api<Job> = self.api(client.clone());
        let Some(old) = jobs
            .get_opt(&name)
            .await
            .map_err(|e| self.err("read the Job", e))?
        else {
            return Ok(None); // nothing left to run again from
        };
        let release = serde_json::json!({"metadata": {"ownerReferences": null}});
        self.patch_companions(
            client.clone(),
            &job.job_id,
            (true, true),
            &release,
            "keep the job's Secret and Service",
        )
        .await?;
        let mut dp = DeleteParams::background();
        dp.preconditions = Some(kube::api::Preconditions {
            uid: old.metadata.uid.clone(),
            resource_version: None,
        });
        self.delete_quietly(&jobs, &name, &dp).await?;
        let fresh = manifest::rerun(&old);
        let mut created = None;
        for _ in 0..50 {
            match jobs.create(&PostParams::default(), &fresh).await {
                Ok(j) => {
                    created = Some(j);
                    break;
                }
                // The old object may still be on its way out.
                Err(kube::Error::Api(s)) if s.code == 409 => {
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                }
                Err(e) => return Err(self.err("create the Job again", e)),
            }
        }
        let Some(created) = created else {
            return Err(PlatformError::Failed {
                message: format!("the old Job {name} did not go away; not run again"),
                hint: "check for finalizers on it (kubectl get job -o yaml)".into(),
            });
        };
        if let Some(uid) = &created.metadata.uid {
            self.patch_companions(
                client,
                &job.job_id,
                (true, true),
                &manifest::owned_by(&name, uid),
                "hand the Secret and Service to the new Job",
            )
            .await?;
        }
        Ok(Some(Submitted {
            backend_job_id: name,
            backend_identity: self.identity().await?,
            results_location: job.results_location.clone(),
            status: JobStatus::Pending,
            message: "running again after an infrastructure failure".into(),
        }))
    }

    async fn cancel(&self, job: &JobRecord) -> Result<CancelOutcome, PlatformError> {
        let client = self.client().await?;
        let jobs: Api<Job> = self.api(client.clone());
        let services: Api<Service> = self.api(client.clone());
        let name = job_name(&job.job_id);
        let Some(existing) = jobs
            .get_opt(&name)
            .await
            .map_err(|e| self.err("read the Job", e))?
        else {
            self.delete_quietly(&services, &name, &DeleteParams::default())
                .await?;
            return Ok(CancelOutcome::NotFound);
        };
        let ours = existing
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(labels::JOB_ID))
            == Some(&job.job_id);
        if !ours {
            return Err(PlatformError::Failed {
                message: format!(
                    "the Job {name} is not labelled as hoist job {}; not deleting it",
                    job.job_id
                ),
                hint: "someone replaced it; delete it yourself if it is stale".into(),
            });
        }
        if jobs_terminal(&existing) {
            return Ok(CancelOutcome::AlreadyFinished);
        }
        // Foreground: the Job goes only after its pods; the UID precondition makes sure a
        // Job re-created under the same name is never the one deleted.
        let mut dp = DeleteParams::foreground();
        dp.preconditions = Some(kube::api::Preconditions {
            uid: existing.metadata.uid.clone(),
            resource_version: None,
        });
        self.delete_quietly(&jobs, &name, &dp).await?;
        self.delete_companions(client, &job.job_id).await?;
        Ok(CancelOutcome::Requested)
    }

    async fn failure_input(&self, job: &JobRecord) -> Result<FailureInput, PlatformError> {
        let client = self.client().await?;
        let name = job_name(&job.job_id);
        let jobs: Api<Job> = self.api(client.clone());
        let mut input = FailureInput::default();
        let Some(k) = jobs
            .get_opt(&name)
            .await
            .map_err(|e| self.err("read the Job", e))?
        else {
            input.message = format!(
                "the Job {name} no longer exists (its TTL removes it an hour after it ends)"
            );
            return Ok(input);
        };
        let pods = status::current_pods(&k, &self.pods_of(client.clone(), &name).await?);
        let (findings, events, exit) = status::findings(&k, &pods);
        input.findings = findings;
        input.events = events;
        input.exit_code = exit;
        input.log_tail = self
            .log_text(client, &pods, Some(200))
            .await
            .unwrap_or_default();
        Ok(input)
    }

    async fn watch_change(
        &self,
        job: &JobRecord,
        max: std::time::Duration,
    ) -> Result<bool, PlatformError> {
        let client = self.client().await?;
        let jobs: Api<Job> = self.api(client);
        let name = job_name(&job.job_id);
        let Some(k) = jobs
            .get_opt(&name)
            .await
            .map_err(|e| self.err("read the Job", e))?
        else {
            return Ok(true); // gone: the next status says so
        };
        let rv = k.metadata.resource_version.unwrap_or_default();
        let wp = kube::api::WatchParams::default()
            .fields(&format!("metadata.name={name}"))
            .timeout(max.as_secs().clamp(1, 290) as u32);
        let mut stream = jobs
            .watch(&wp, &rv)
            .await
            .map_err(|e| self.err("watch the Job", e))?
            .boxed();
        // Any event (or the server closing the watch at its timeout) is the cue to look again.
        let _ = stream.next().await;
        Ok(true)
    }

    async fn details(&self, job: &JobRecord) -> Result<Option<serde_json::Value>, PlatformError> {
        let replicas = self.replicas(job).await?;
        Ok(Some(serde_json::json!({
            "namespace": self.namespace,
            "job": job_name(&job.job_id),
            "replicas": replicas,
        })))
    }

    async fn check_path(&self, path: &str) -> Result<bool, PlatformError> {
        Err(InputError::new(
            format!("{path}: paths of a Kubernetes job live in its volumes, which hoist cannot see from outside the cluster"),
            "give jobs their data as s3://, hf_model:// or ngc:// URIs (checked before submit), or check the volume with kubectl",
        )
        .into())
    }

    async fn list_path(&self, path: &str) -> Result<Vec<String>, PlatformError> {
        self.check_path(path).await.map(|_| vec![])
    }

    async fn preflight(&self, _req: &PreflightRequest) -> Vec<PreflightCheck> {
        let mut checks = Vec::new();
        let client = match self.client().await {
            Ok(c) => {
                let server = self
                    .conn()
                    .await
                    .map(|c| c.server.clone())
                    .unwrap_or_default();
                checks.push(PreflightCheck::new(
                    "kubeconfig",
                    true,
                    true,
                    format!("API server {server}"),
                    "",
                ));
                c
            }
            Err(e) => {
                checks.push(PreflightCheck::new(
                    "kubeconfig",
                    false,
                    true,
                    e.to_string(),
                    &e.hint().unwrap_or_default(),
                ));
                return checks;
            }
        };
        let ns: Api<Namespace> = Api::all(client.clone());
        match ns.get_opt(&self.namespace).await {
            Ok(Some(_)) => checks.push(PreflightCheck::new(
                "namespace",
                true,
                true,
                self.namespace.clone(),
                "",
            )),
            Ok(None) => checks.push(PreflightCheck::new(
                "namespace",
                false,
                true,
                format!("namespace {} does not exist", self.namespace),
                "create it, or choose one with --namespace / TAO_K8S_NAMESPACE",
            )),
            Err(e) => checks.push(PreflightCheck::new(
                "namespace",
                false,
                true,
                self.err("read the namespace", e).to_string(),
                "check the API server and your rights",
            )),
        }
        match self.gpu_capacity(client).await {
            Ok(cap) => {
                let total: u64 = cap.iter().map(|(_, g)| g).sum();
                checks.push(PreflightCheck::new(
                    "gpus",
                    total > 0,
                    false,
                    format!(
                        "{total} allocatable nvidia.com/gpu on {} node(s)",
                        cap.len()
                    ),
                    "install the NVIDIA GPU Operator so nodes advertise nvidia.com/gpu",
                ));
            }
            Err(e) => checks.push(PreflightCheck::new("gpus", false, false, e.to_string(), "")),
        }
        checks.push(PreflightCheck::new(
            "runner image",
            self.settings.runner_image.is_some(),
            false,
            self.settings
                .runner_image
                .clone()
                .unwrap_or_else(|| "not set: jobs with inputs or outputs cannot run".into()),
            "hoist runner-image --tag REGISTRY/hoist-runner:TAG, push it, set HOIST_K8S_RUNNER_IMAGE",
        ));
        checks
    }

    async fn remove(&self, job: &JobRecord) -> Result<(), PlatformError> {
        let client = self.client().await?;
        let name = job_name(&job.job_id);
        let jobs: Api<Job> = self.api(client.clone());
        self.delete_quietly(&jobs, &name, &DeleteParams::background())
            .await?;
        self.delete_companions(client, &job.job_id).await
    }
}
