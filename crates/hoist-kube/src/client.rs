//! The connection to the API server, the cluster's identity, the API helpers every verb uses,
//! and how the API's refusals become [`PlatformError`]s.

use crate::KubePlatform;
use crate::manifest::{job_name, labels, secret_name};
use crate::pull::pull_secret_name;
use hoist_core::{InputError, PlatformError};
use k8s_openapi::api::core::v1::{Namespace, Pod, Secret, Service};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::{Client, Config};

/// Which of a job's companion objects (those the Job owns once it exists) an operation is
/// about.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Companions {
    /// The Secret with the secret env values.
    pub(crate) secret: bool,
    /// The image pull Secret made from the registry login.
    pub(crate) pull: bool,
    /// The headless Service.
    pub(crate) service: bool,
}

impl Companions {
    /// All of them, for when which exist is not known (a missing one is skipped).
    pub(crate) const ALL: Companions = Companions {
        secret: true,
        pull: true,
        service: true,
    };
}

/// A connected client and what identifies the cluster behind it.
pub(crate) struct Conn {
    pub(crate) client: Client,
    /// API server URL and a hash of the cluster CA: with kube-system's UID, the identity.
    pub(crate) server: String,
    pub(crate) ca: String,
}

impl KubePlatform {
    pub(crate) async fn conn(&self) -> Result<&Conn, PlatformError> {
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

    pub(crate) async fn client(&self) -> Result<Client, PlatformError> {
        Ok(self.conn().await?.client.clone())
    }

    /// `kubernetes:<server>#ca=<CA hash>#ks=<kube-system UID>`.
    pub(crate) async fn cluster_identity(&self) -> Result<String, PlatformError> {
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

    pub(crate) fn api<K>(&self, client: Client) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        <K as kube::Resource>::DynamicType: Default,
    {
        Api::namespaced(client, &self.namespace)
    }

    /// What a failed API call means for the user, as the matchable kind it is.
    pub(crate) fn err(&self, what: &str, e: kube::Error) -> PlatformError {
        let ns = &self.namespace;
        match e {
            // A ResourceQuota refusal is a 403 too, but no change of rights fixes it.
            kube::Error::Api(s) if s.code == 403 && s.message.contains("exceeded quota") => {
                PlatformError::Quota {
                    what: format!("Kubernetes could not {what}"),
                    why: s.message.clone(),
                    hint: format!(
                        "namespace {ns}'s ResourceQuota is used up (kubectl describe resourcequota -n {ns}): wait for other jobs to end, ask for less, or have the quota raised"
                    ),
                }
            }
            kube::Error::Api(s) if s.code == 401 || s.code == 403 => PlatformError::Denied {
                what: format!("the Kubernetes request to {what}"),
                why: s.message.clone(),
                hint: format!(
                    "the kubeconfig's user needs rights on jobs, pods, pods/log, services and secrets in namespace {ns} (kubectl auth can-i create jobs -n {ns})"
                ),
            },
            kube::Error::Api(s)
                if s.code == 404 && s.reason == "NotFound" && s.message.contains("namespaces") =>
            {
                PlatformError::Input(InputError::new(
                    format!("namespace {ns} does not exist: {}", s.message),
                    "create it (kubectl create namespace …) or choose another with --namespace / TAO_K8S_NAMESPACE",
                ))
            }
            kube::Error::Api(s) if s.code == 404 => PlatformError::NotFound {
                what: format!("what Kubernetes needed to {what}"),
                why: format!("{} ({})", s.message, s.code),
                hint: "hoist why JOB explains the common causes".into(),
            },
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

    pub(crate) async fn pods_of(
        &self,
        client: Client,
        name: &str,
    ) -> Result<Vec<Pod>, PlatformError> {
        let pods: Api<Pod> = self.api(client);
        Ok(pods
            .list(&ListParams::default().labels(&format!("{}={name}", labels::JOB_NAME)))
            .await
            .map_err(|e| self.err("list pods", e))?
            .items)
    }

    /// Delete `name`; one that is already gone counts as deleted.
    pub(crate) async fn delete_quietly<K>(
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

    /// Delete the job's companions in `which`, whichever exist.
    pub(crate) async fn delete_companions(
        &self,
        client: Client,
        job_id: &str,
        which: Companions,
    ) -> Result<(), PlatformError> {
        let services: Api<Service> = self.api(client.clone());
        let secrets: Api<Secret> = self.api(client);
        let dp = DeleteParams::default();
        if which.service {
            self.delete_quietly(&services, &job_name(job_id), &dp)
                .await?;
        }
        if which.secret {
            self.delete_quietly(&secrets, &secret_name(job_id), &dp)
                .await?;
        }
        if which.pull {
            self.delete_quietly(&secrets, &pull_secret_name(job_id), &dp)
                .await?;
        }
        Ok(())
    }

    /// Apply a merge patch to the job's companions in `which` (ownership changes); one that
    /// does not exist is skipped.
    pub(crate) async fn patch_companions(
        &self,
        client: Client,
        job_id: &str,
        which: Companions,
        patch: &serde_json::Value,
        what: &str,
    ) -> Result<(), PlatformError> {
        let secrets: Api<Secret> = self.api(client.clone());
        let services: Api<Service> = self.api(client);
        let pp = PatchParams::default();
        let results = [
            match which.secret {
                true => secrets
                    .patch(&secret_name(job_id), &pp, &Patch::Merge(patch))
                    .await
                    .map(|_| ()),
                false => Ok(()),
            },
            match which.service {
                true => services
                    .patch(&job_name(job_id), &pp, &Patch::Merge(patch))
                    .await
                    .map(|_| ()),
                false => Ok(()),
            },
            match which.pull {
                true => secrets
                    .patch(&pull_secret_name(job_id), &pp, &Patch::Merge(patch))
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
}
