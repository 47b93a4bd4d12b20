//! Asking the queue: the states of many jobs in one round trip, a cancel in one, the log
//! follow's remote loop, and the release of a run SLURM holds after hoist's own requeue.

use crate::{SlurmPlatform, script, state};
use hoist_core::PlatformError;
use hoist_core::spec::sh_quote;
use std::collections::HashMap;

/// The states a cancel read right after its scancel, by login hosts, for the status the
/// facade asks next (within a moment, in the same process): the cancel already paid the
/// round trip that tells.
type FreshStates = Vec<(
    String,
    std::time::Instant,
    HashMap<String, state::AcctEntry>,
)>;

static AFTER_CANCEL: std::sync::Mutex<FreshStates> = std::sync::Mutex::new(Vec::new());

/// How long a cancel's reading stands in for a status call.
const AFTER_CANCEL_TTL: std::time::Duration = std::time::Duration::from_secs(2);

impl SlurmPlatform {
    /// State of SLURM jobs in one round trip: squeue for those in the queue, scontrol for
    /// those that left it (exact ExitCode while the controller still holds the job; sacct lags
    /// behind it right after the end), and a second one, sacct, only for purged jobs. On the
    /// way, a job hoist's requeue left held for a BeginTime is released ([`RELEASE_REQUEUED`]).
    pub(crate) async fn states(
        &self,
        ids: &[String],
    ) -> Result<HashMap<String, state::AcctEntry>, PlatformError> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        if let Some(map) = self.fresh_after_cancel(ids) {
            return Ok(map);
        }
        let out = self.run(&states_script(ids)).await?;
        let mut map = parse_states(&out.stdout, ids);
        let purged: Vec<&String> = ids.iter().filter(|i| !map.contains_key(*i)).collect();
        if !purged.is_empty() {
            let list = purged
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(",");
            let a = self
                .run(&format!(
                    "sacct -X -n -P -j {} -o JobIDRaw,State,ExitCode",
                    sh_quote(&list)
                ))
                .await?;
            if a.code == 0 {
                for e in state::parse_sacct(&a.stdout) {
                    map.insert(e.id.clone(), e);
                }
            }
        }
        Ok(map)
    }

    /// Cancel SLURM job `id` in one round trip: whether it was still in the queue, scancel,
    /// and the controller's record once the job has wound down (up to 5 s of COMPLETING,
    /// which every caller would wait out anyway), kept for the status asked next.
    pub(crate) async fn scancel(&self, id: &str) -> Result<CancelAnswer, PlatformError> {
        let q = sh_quote(id);
        let out = self
            .run(&format!(
                "s=$(squeue -h -j {q} -o %T 2>/dev/null); if [ -n \"$s\" ]; then scancel {q} 2>&1 >/dev/null | sed 's/^/{SCANCEL_ERR}/'; echo {LIVE}; \
                 i=0; while [ $i -lt 50 ] && squeue -h -j {q} -o %T 2>/dev/null | grep -Eq 'RUNNING|COMPLETING|CONFIGURING'; do sleep 0.1; i=$((i+1)); done; fi; \
                 scontrol show job -o {q} 2>/dev/null; true"
            ))
            .await?;
        let live = out.stdout.lines().any(|l| l == LIVE);
        if let Some(err) = out.stdout.lines().find_map(|l| l.strip_prefix(SCANCEL_ERR)) {
            return Err(PlatformError::Failed {
                message: format!("scancel {id} failed: {}", err.trim()),
                hint: "check the job with squeue on the login node".into(),
            });
        }
        let after = out.stdout.lines().find_map(state::parse_scontrol_job);
        if let Some(e) = &after {
            let mut fresh = AFTER_CANCEL.lock().unwrap_or_else(|p| p.into_inner());
            fresh.retain(|(_, at, _)| at.elapsed() < AFTER_CANCEL_TTL);
            fresh.push((
                self.hosts_key(),
                std::time::Instant::now(),
                HashMap::from([(e.id.clone(), e.clone())]),
            ));
        }
        Ok(match (live, after) {
            (true, _) => CancelAnswer::Requested,
            (false, Some(_)) => CancelAnswer::AlreadyFinished,
            (false, None) => CancelAnswer::NotFound,
        })
    }

    /// A cancel's reading of exactly these jobs, taken a moment ago (used once).
    fn fresh_after_cancel(&self, ids: &[String]) -> Option<HashMap<String, state::AcctEntry>> {
        let mut fresh = AFTER_CANCEL.lock().unwrap_or_else(|p| p.into_inner());
        let key = self.hosts_key();
        let at = fresh.iter().position(|(k, at, m)| {
            *k == key && at.elapsed() < AFTER_CANCEL_TTL && ids.iter().all(|i| m.contains_key(i))
        })?;
        Some(fresh.remove(at).2)
    }
}

/// What a cancel found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CancelAnswer {
    /// The job was in the queue; scancel was sent.
    Requested,
    /// The controller holds it, ended.
    AlreadyFinished,
    /// Neither the queue nor the controller knows it.
    NotFound,
}

/// The line the cancel script prints when the job was in the queue.
const LIVE: &str = "hoist:live";
/// The prefix of scancel's complaints in the cancel script's output.
const SCANCEL_ERR: &str = "hoist:scancel-error ";
/// Between squeue's lines and scontrol's in the states script's output.
const GONE: &str = "hoist:gone";

/// One remote shell for [`SlurmPlatform::states`]: the user's queue (one squeue however many
/// jobs), then `scontrol show job` for each asked job that is not in it, and the release of
/// asked jobs held for a BeginTime after a requeue. One awk picks those out (a shell `case`
/// per job scans the whole queue text each time: tens of milliseconds at 200 jobs), so 200
/// jobs in the queue cost one squeue and one awk.
fn states_script(ids: &[String]) -> String {
    let list = sh_quote(&ids.join(" "));
    format!(
        "set -f; q=$(squeue -h -u \"$(id -un)\" -o '%i|%T|%r'); printf '%s\\n' \"$q\"; echo {GONE}; \
         for x in $(printf '%s\\n' \"$q\" | awk -F'|' -v ids={list} \
         'BEGIN {{ n = split(ids, a, \" \") }} {{ t[$1] = $2 \"|\" $3 }} \
         END {{ for (i = 1; i <= n; i++) {{ j = a[i]; if (!(j in t)) print \"g\" j; else if (t[j] == \"PENDING|BeginTime\") print \"r\" j }} }}'); do \
         j=${{x#?}}; case $x in g*) scontrol show job -o \"$j\" 2>/dev/null;; r*) {release};; esac; done; true",
        release = RELEASE_REQUEUED.replace("{id}", "\"$j\""),
    )
}

/// The states script's output → job id → state, for the asked `ids` (purged jobs are
/// missing).
fn parse_states(stdout: &str, ids: &[String]) -> HashMap<String, state::AcctEntry> {
    let mut map = HashMap::new();
    let (queue, gone) = stdout
        .split_once(&format!("{GONE}\n"))
        .unwrap_or((stdout, ""));
    for e in state::parse_squeue(queue) {
        if ids.contains(&e.id) {
            map.insert(
                e.id.clone(),
                state::AcctEntry {
                    id: e.id,
                    state: e.state,
                    exit_code: None,
                    signal: None,
                    reason: e.reason,
                    restarts: None,
                },
            );
        }
    }
    for line in gone.lines() {
        if let Some(e) = state::parse_scontrol_job(line)
            && ids.contains(&e.id)
        {
            map.entry(e.id.clone()).or_insert(e);
        }
    }
    map
}

/// The remote side of a log follow, one ssh session: `tail` streams both log files while the
/// login shell watches the job; when the shell exits, tail (`--pid`) reads the files a last
/// time and ends, so the stream ends with the job's last line. The shell checks the job's end
/// marker ([`script::END_MARKER`], a file test: no load on the controller) every 0.2 s and
/// squeue every `poll` seconds, or every 0.2 s once the marker is there; a job whose script
/// never wrote it (cancelled, its node lost) is seen leaving the queue by squeue. A run that
/// SLURM holds until a BeginTime after hoist's requeue is released on the way
/// ([`RELEASE_REQUEUED`]). Everything it creates is the user's alone (umask 077).
pub(crate) fn follow_script(dir: &str, id: &str, start: &str, poll: f64) -> String {
    let ticks = (poll / 0.2).ceil().max(1.0) as u64;
    format!(
        "umask 077; d={d}; j={id}; mkdir -p \"$d\" 2>/dev/null; touch \"$d/main.out\" \"$d/main.err\" 2>/dev/null; \
         tail -q -n {start} -s 0.2 --pid=$$ -F \"$d/main.out\" \"$d/main.err\" 2>/dev/null & \
         n={ticks}; while :; do \
         if [ -e \"$d/{end}\" ] || [ \"$n\" -ge {ticks} ]; then n=0; \
         s=$(squeue -h -j \"$j\" -o '%T|%r' 2>/dev/null); \
         case \"$s\" in \"\"|COMPLETED*|CANCELLED*|FAILED*|TIMEOUT*|NODE_FAIL*|BOOT_FAIL*|DEADLINE*|OUT_OF_MEMORY*|PREEMPTED*) break;; \
         PENDING\\|BeginTime) {release};; esac; fi; \
         sleep 0.2; n=$((n+1)); done",
        d = sh_quote(dir),
        id = sh_quote(id),
        end = script::END_MARKER,
        release = RELEASE_REQUEUED.replace("{id}", "\"$j\""),
    )
}

/// Shell that starts job `{id}` now if hoist's own requeue left it waiting for a BeginTime
/// (SLURM holds a requeued job about two minutes; its owner may lift that). Only a job that
/// has been restarted is touched: hoist never submits with a begin time of its own.
// Only a hold SLURM's own requeue set (a begin time about two minutes out) is lifted: a start
// time someone chose further out (`scontrol update StartTime=now+1hour`) is theirs to keep.
// And not in the requeue's own second or the next (SubmitTime is the requeue's time): the
// nodes revoked the last run's credential at that time, to the second, and a run launched
// with a credential no newer is refused there ("already killed, do not launch batch job") and
// ends FAILED. SLURM's own hold is that rule with two minutes to spare.
pub(crate) const RELEASE_REQUEUED: &str = "l=$(scontrol show job -o {id} 2>/dev/null); case \"$l\" in *\" Restarts=\"[1-9]*) s=${l##* StartTime=}; s=${s%% *}; u=${l##* SubmitTime=}; u=${u%% *}; n=$(date +%s); t=$(date -d \"$s\" +%s 2>/dev/null) && v=$(date -d \"$u\" +%s 2>/dev/null) && [ $((t - n)) -le 300 ] && [ $((n - v)) -ge 2 ] && scontrol update JobId={id} StartTime=now >/dev/null 2>&1;; esac";

#[cfg(test)]
mod tests {
    use super::{parse_states, states_script};

    /// The states script run by this machine's `sh` with a fake squeue and scontrol: one
    /// squeue for all jobs, scontrol only for those not in the queue, and the release of a
    /// requeued job held for its BeginTime.
    #[test]
    fn states_in_one_script() {
        let dir = tempfile::tempdir().expect("tmp");
        let bin = dir.path();
        let log = bin.join("log");
        let write = |name: &str, body: &str| {
            use std::os::unix::fs::PermissionsExt;
            let p = bin.join(name);
            std::fs::write(
                &p,
                format!(
                    "#!/bin/sh\necho \"{name} $*\" >> {}\n{body}\n",
                    log.display()
                ),
            )
            .expect("write");
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        };
        write(
            "squeue",
            "printf '10|RUNNING|None\\n11|PENDING|BeginTime\\n12|PENDING|BeginTime\\n15|PENDING|BeginTime\\n16|PENDING|BeginTime\\n99|PENDING|Priority\\n'",
        );
        write(
            "scontrol",
            "soon=$(date -d '+100 seconds' +%Y-%m-%dT%H:%M:%S); later=$(date -d '+1 hour' +%Y-%m-%dT%H:%M:%S); ago=$(date -d '-20 seconds' +%Y-%m-%dT%H:%M:%S); now=$(date +%Y-%m-%dT%H:%M:%S); case \"$*\" in 'show job -o 11') echo \"JobId=11 JobState=PENDING Restarts=1 SubmitTime=$ago StartTime=$soon EndTime=x\";; 'show job -o 12') echo \"JobId=12 JobState=PENDING Restarts=0 SubmitTime=$ago StartTime=$soon\";; 'show job -o 15') echo \"JobId=15 JobState=PENDING Restarts=1 SubmitTime=$ago StartTime=$later EndTime=x\";; 'show job -o 16') echo \"JobId=16 JobState=PENDING Restarts=1 SubmitTime=$now StartTime=$soon EndTime=x\";; 'show job -o 13') echo 'JobId=13 JobState=COMPLETED ExitCode=0:0';; esac",
        );
        write("id", "echo me");
        let ids: Vec<String> = ["10", "11", "12", "13", "14", "15", "16"]
            .map(String::from)
            .to_vec();
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(states_script(&ids))
            .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
            .output()
            .expect("sh");
        let map = parse_states(&String::from_utf8_lossy(&out.stdout), &ids);
        assert_eq!(map.len(), 6, "14 is purged: {map:?}");
        assert_eq!(map["10"].state, "RUNNING");
        assert_eq!(map["11"].reason, "BeginTime");
        assert_eq!(map["13"].exit_code, Some(0));
        assert!(!map.contains_key("99"), "only the asked jobs");
        let calls = std::fs::read_to_string(&log).expect("log");
        assert_eq!(calls.matches("squeue").count(), 1, "{calls}");
        assert!(
            calls.contains("scontrol update JobId=11 StartTime=now"),
            "{calls}"
        );
        assert!(
            !calls.contains("JobId=12 StartTime"),
            "never requeued: not hoist's hold\n{calls}"
        );
        assert!(
            !calls.contains("JobId=15 StartTime"),
            "a start time someone set an hour out is kept\n{calls}"
        );
        assert!(
            !calls.contains("JobId=16 StartTime"),
            "requeued this very second: the nodes would refuse its launch\n{calls}"
        );
        assert!(
            !calls.contains("show job -o 10"),
            "in the queue: no scontrol\n{calls}"
        );
    }
}
