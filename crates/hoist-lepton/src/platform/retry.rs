//! Running a Lepton job again after the infrastructure failed it: which failed jobs count
//! (the shared failure rules over the job's log, and the workspace's own eviction events),
//! and a new job on the workspace with the failed one's spec.

use crate::LeptonPlatform;
use crate::body::lepton_id;
use crate::logs;
use crate::status::JobState;
use hoist_core::failure::{FailureInput, infra_retry_cause};
use hoist_core::{JobRecord, JobStatus, Platform, PlatformError, StatusReport, Submitted};
use reqwest::Method;
use serde_json::{Value, json};

/// Lines of a failed job's log the rules read (as `hoist why` does).
const LOG_TAIL: usize = 200;

/// Characters of the decisive log line kept in a retry's recorded cause.
const LINE_CHARS: usize = 160;

/// Warning events that say a worker's node failed under it: running again can help.
const NODE_LOST: &[&str] = &["Evicted", "Preempted", "NodeLost", "NodeNotReady"];

/// Warning events that say the job itself is at fault, whatever its log shows afterwards
/// (peers of an OOM-killed worker log NCCL errors too).
const PROGRAM: &[&str] = &["OOMKilled", "ErrImagePull", "ImagePullBackOff"];

/// The cause to run a failed job again for, when the evidence is the infrastructure's: a node
/// that went away (the workspace's Warning events), or a retriable `ERR_INFRA` rule in the
/// job's own log (GPU faults, NCCL/InfiniBand errors). A program or configuration failure, or
/// a failure with no evidence beyond "Failed", never counts.
pub(crate) fn infra_cause(log_tail: &str, events: &[Value]) -> Option<String> {
    let warnings: Vec<(&str, &str)> = events
        .iter()
        .filter(|e| e.get("type").and_then(Value::as_str) == Some("Warning"))
        .map(|e| {
            (
                e.get("reason").and_then(Value::as_str).unwrap_or(""),
                e.get("message").and_then(Value::as_str).unwrap_or(""),
            )
        })
        .collect();
    if warnings.iter().any(|(r, _)| PROGRAM.contains(r)) {
        return None;
    }
    if let Some((reason, message)) = warnings.iter().find(|(r, _)| NODE_LOST.contains(r)) {
        return Some(format!(
            "a worker's node went away or evicted it ({reason}: {})",
            message.chars().take(LINE_CHARS).collect::<String>()
        ));
    }
    infra_retry_cause(
        &FailureInput {
            status: Some(JobStatus::Error),
            log_tail: log_tail.to_string(),
            ..Default::default()
        },
        LINE_CHARS,
    )
}

/// The id of run `n` (from 2) of a job whose first run was `base` (`<head>-<id8>`):
/// `<head>-<id8>-r<n>`, the head shortened so it stays within Lepton's 36 characters.
pub(crate) fn rerun_id(base: &str, n: u32) -> String {
    let suffix = format!("-r{n}");
    let (head, short) = base.rsplit_once('-').unwrap_or(("hoist", base));
    let room = 36usize.saturating_sub(short.len() + 1 + suffix.len());
    let mut head: String = head.chars().take(room).collect();
    while head.ends_with('-') {
        head.pop();
    }
    if head.is_empty() {
        head = "h".into();
    }
    format!("{head}-{short}{suffix}")
}

/// The create body of a new job doing what `old` (the workspace's answer) did: its spec as
/// the workspace holds it (secrets stay references to the job's workspace secrets), a new id,
/// and the old name, labels and visibility. `None` when the answer has no spec.
pub(crate) fn rerun_body(old: &Value, id: &str) -> Option<Value> {
    let mut spec = old.get("spec")?.clone();
    if let Some(o) = spec.as_object_mut() {
        // A stopped job's flag would create the new one stopped.
        o.remove("stopped");
    }
    let meta = old.get("metadata").cloned().unwrap_or(Value::Null);
    let mut m = json!({
        "id": id,
        "visibility": meta.get("visibility").cloned().unwrap_or_else(|| json!("private")),
    });
    for key in ["name", "labels"] {
        if let Some(v) = meta.get(key).filter(|v| !v.is_null()) {
            m[key] = v.clone();
        }
    }
    Some(json!({"metadata": m, "spec": spec}))
}

impl LeptonPlatform {
    /// Mark a failed job `retriable` when the evidence is the infrastructure's, with the cause
    /// as the report's message (what the retry is recorded with). A log or events that cannot
    /// be read leave the failure as it is.
    pub(super) async fn judge(&self, st: &JobState, rep: &mut StatusReport) {
        if rep.status != JobStatus::Error {
            return;
        }
        let (log, events) = tokio::join!(
            logs::history(&self.client, st, Some(LOG_TAIL)),
            self.events(&st.id)
        );
        if let Some(cause) = infra_cause(&log.unwrap_or_default(), &events) {
            rep.retriable = true;
            rep.message = cause;
        }
    }

    /// Run the job again as a new Lepton job with the failed one's spec. The failed job stays
    /// on the workspace (its logs with it) until its TTL; `hoist rm` deletes every run.
    pub(super) async fn rerun(&self, job: &JobRecord) -> Result<Option<Submitted>, PlatformError> {
        let old_id = Self::backend_id(job)?;
        let Some(old) = self.job(old_id).await? else {
            return Ok(None);
        };
        let want = rerun_id(&lepton_id(&job.spec.name, &job.job_id), job.retry_count + 2);
        let Some(body) = rerun_body(&old, &want) else {
            return Ok(None);
        };
        let created = self
            .client
            .call(Method::POST, "/jobs", &[], Some(&body))
            .await?;
        // The server may add a suffix to the id: the answer's is the job's.
        let id = created
            .pointer("/metadata/id")
            .and_then(Value::as_str)
            .or(created.pointer("/status/job_name").and_then(Value::as_str))
            .map(str::to_string)
            .unwrap_or(want);
        Ok(Some(Submitted {
            message: format!(
                "Lepton job {id}: run again after an infrastructure failure (run {} of the job; the failed run {old_id} stays on the workspace until its TTL)",
                job.retry_count + 2
            ),
            backend_job_id: id,
            backend_identity: self.identity().await?,
            results_location: job.results_location.clone(),
            status: JobStatus::Pending,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const XID: &str = "NVRM: Xid (PCI:0000:3b:00): 79, pid=1, GPU has fallen off the bus.";

    fn warning(reason: &str, message: &str) -> Value {
        json!({"type": "Warning", "reason": reason, "message": message, "count": 1,
               "last_observed_time": "2026-01-01T00:00:00Z"})
    }

    #[test]
    fn infrastructure_evidence_is_retried_with_its_cause() {
        let c = infra_cause(&format!("step 1\n{XID}\n"), &[]).expect("retried");
        assert!(c.contains("fell off") && c.contains("Xid"), "{c}");
        let c = infra_cause(
            "",
            &[warning("Evicted", "The node was low on resource: memory.")],
        )
        .expect("evicted");
        assert!(c.contains("Evicted: The node was low"), "{c}");
    }

    #[test]
    fn program_failures_and_bare_failures_are_not() {
        assert_eq!(infra_cause("", &[]), None, "nothing but Failed");
        assert_eq!(
            infra_cause(
                "Traceback (most recent call last):\nValueError: bad lr\n",
                &[]
            ),
            None
        );
        assert_eq!(
            infra_cause(XID, &[warning("OOMKilled", "worker 0")]),
            None,
            "an OOM-killed worker decides"
        );
        let normal = json!({"type": "Normal", "reason": "Evicted", "message": "x"});
        assert_eq!(infra_cause("", &[normal]), None);
    }

    #[test]
    fn rerun_ids_fit_lepton_rules() {
        assert_eq!(rerun_id("train-1a2b3c4d", 2), "train-1a2b3c4d-r2");
        let long = lepton_id(&"x".repeat(60), "1a2b3c4d-0000");
        assert_eq!(long.len(), 36);
        let r = rerun_id(&long, 11);
        assert!(r.len() <= 36 && r.ends_with("-1a2b3c4d-r11"), "{r}");
        let dashed = rerun_id("ab-cd-ef-gh-ij-kl-mn-op-qr-st-1a2b3c4d", 2);
        assert!(!dashed.contains("--") && dashed.len() <= 36, "{dashed}");
    }

    #[test]
    fn a_rerun_copies_the_spec_and_drops_the_stop() {
        let old = json!({
            "metadata": {"id": "train-1a2b3c4d-x9z1", "name": "train", "visibility": "private",
                          "created_at": 1, "version": 1, "labels": {"team": "v"}},
            "spec": {"resource_shape": "gpu.1xh100-sxm", "stopped": true,
                     "envs": [{"name": "HF_TOKEN", "value_from": {"secret_name_ref": "hoist-1a2b3c4d-hf-token"}}]},
            "status": {"state": "Failed"}
        });
        let b = rerun_body(&old, "train-1a2b3c4d-r2").expect("body");
        assert_eq!(b["metadata"]["id"], "train-1a2b3c4d-r2");
        assert_eq!(b["metadata"]["name"], "train");
        assert_eq!(b["metadata"]["labels"]["team"], "v");
        assert!(b["metadata"].get("created_at").is_none() && b.get("status").is_none());
        assert!(b["spec"].get("stopped").is_none());
        assert_eq!(
            b["spec"]["envs"][0]["value_from"]["secret_name_ref"],
            "hoist-1a2b3c4d-hf-token"
        );
    }
}
