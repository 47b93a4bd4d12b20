//! A container's state as a job status.

use bollard::models::{ContainerInspectResponse, ContainerStateStatusEnum};
use hoist_core::{JobStatus, StatusReport};

/// Map a container's state to the contract's status. `cancel_requested` turns an exit after
/// a cancel into Canceled; a start failure (created, with an error) is Error.
pub fn map_state(c: &ContainerInspectResponse, cancel_requested: bool) -> StatusReport {
    let st = c.state.clone().unwrap_or_default();
    let ts = |s: Option<String>| {
        s.and_then(|s| s.parse::<jiff::Timestamp>().ok())
            .filter(|t| t.as_second() > 0)
    };
    let started_at = ts(st.started_at.clone());
    let finished_at = ts(st.finished_at.clone());
    let error = st.error.clone().unwrap_or_default();
    let code = st.exit_code.map(|c| c as i32);
    let rep = |status, message: String, exit_code| StatusReport {
        status,
        message,
        exit_code,
        started_at,
        finished_at,
        retriable: false,
        restarts: None,
    };
    match st.status.unwrap_or(ContainerStateStatusEnum::EMPTY) {
        ContainerStateStatusEnum::CREATED if !error.is_empty() => rep(
            JobStatus::Error,
            format!("the container could not start: {error}"),
            None,
        ),
        ContainerStateStatusEnum::CREATED if cancel_requested => rep(
            JobStatus::Canceled,
            "canceled before it started".into(),
            None,
        ),
        ContainerStateStatusEnum::CREATED => rep(JobStatus::Pending, "created".into(), None),
        ContainerStateStatusEnum::RUNNING | ContainerStateStatusEnum::RESTARTING => {
            rep(JobStatus::Running, String::new(), None)
        }
        ContainerStateStatusEnum::PAUSED => rep(JobStatus::Paused, "paused".into(), None),
        ContainerStateStatusEnum::EXITED | ContainerStateStatusEnum::DEAD => {
            let oom = st.oom_killed.unwrap_or(false);
            if cancel_requested {
                rep(
                    JobStatus::Canceled,
                    format!("canceled (exit {})", code.unwrap_or(-1)),
                    code,
                )
            } else if code == Some(0) {
                rep(JobStatus::Complete, String::new(), code)
            } else if oom {
                rep(
                    JobStatus::Error,
                    "OOMKilled: the container exceeded its memory limit".into(),
                    code,
                )
            } else if !error.is_empty() {
                rep(JobStatus::Error, error, code)
            } else {
                rep(
                    JobStatus::Error,
                    format!("exited with code {}", code.unwrap_or(-1)),
                    code,
                )
            }
        }
        // removing, stopping: on its way to a final state; report it live until it gets there.
        _ => rep(JobStatus::Running, "stopping".into(), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::ContainerState;

    fn c(
        status: ContainerStateStatusEnum,
        code: i64,
        oom: bool,
        error: &str,
    ) -> ContainerInspectResponse {
        ContainerInspectResponse {
            state: Some(ContainerState {
                status: Some(status),
                exit_code: Some(code),
                oom_killed: Some(oom),
                error: Some(error.into()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn the_seed_mapping() {
        use ContainerStateStatusEnum::*;
        let table = [
            (CREATED, 0, false, JobStatus::Pending),
            (RUNNING, 0, false, JobStatus::Running),
            (RESTARTING, 0, false, JobStatus::Running),
            (PAUSED, 0, false, JobStatus::Paused),
            (EXITED, 0, false, JobStatus::Complete),
            (EXITED, 2, false, JobStatus::Error),
            (DEAD, 1, false, JobStatus::Error),
            (EXITED, 143, true, JobStatus::Canceled),
        ];
        for (state, code, canceled, want) in table {
            assert_eq!(
                map_state(&c(state, code, false, ""), canceled).status,
                want,
                "{state:?} exit {code}"
            );
        }
        let oom = map_state(&c(EXITED, 137, true, ""), false);
        assert!(oom.message.contains("OOMKilled"));
        let start = map_state(
            &c(
                CREATED,
                128,
                false,
                "could not select device driver \"\" with capabilities: [[gpu]]",
            ),
            false,
        );
        assert_eq!(start.status, JobStatus::Error);
        assert!(start.message.contains("could not select device driver"));
    }
}
