//! A job's output: every pod's log read at once (prefixed by rank when there are several), and
//! followed as pods start until the Job ends.

use crate::KubePlatform;
use crate::manifest::{job_name, labels};
use crate::status;
use futures::{AsyncBufReadExt, StreamExt, TryStreamExt};
use hoist_core::{BoxLogStream, JobRecord, PlatformError};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use kube::api::{Api, ListParams, LogParams};

/// How many pods' logs are read at once.
const LOG_FANOUT: usize = 16;

impl KubePlatform {
    /// The last `tail` lines of each pod's `job` container, ordered by rank.
    pub(crate) async fn log_text(
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

    /// One follow stream per pod as pods start; new pods are picked up until the Job ends.
    pub(crate) async fn follow(
        &self,
        job: &JobRecord,
        tail: Option<usize>,
    ) -> Result<BoxLogStream, PlatformError> {
        let client = self.client().await?;
        let name = job_name(&job.job_id);
        let ns = self.namespace.clone();
        let multi = job.spec.nodes > 1;
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
                    .is_none_or(|j| status::job_finished(&j));
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
}
