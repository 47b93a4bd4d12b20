//! SLURM test stores against the testbed cluster (scripts/testbed.sh: Host
//! hoist-testbed-slurm, user hoistuser): the variables a user exports, ssh to the login node,
//! and a store whose SLURM jobs are cancelled when the test ends, pass or fail.

use super::{Env, Out};
use hoist::core::spec::sh_quote;
use std::process::Command;

/// The login node's ssh alias.
pub const LOGIN: &str = "hoist-testbed-slurm";

/// Run `cmd` on the login node.
pub fn ssh(cmd: &str) -> std::process::Output {
    Command::new("ssh")
        .args(["-o", "BatchMode=yes", LOGIN, cmd])
        .output()
        .expect("ssh")
}

/// What `cmd` printed on the login node (whatever its exit).
pub fn remote(cmd: &str) -> String {
    String::from_utf8_lossy(&ssh(cmd).stdout).into_owned()
}

/// What `cmd` printed on the login node, trimmed; it must succeed.
pub fn remote_ok(cmd: &str) -> String {
    let o = ssh(cmd);
    assert!(
        o.status.success(),
        "{cmd}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// Fail with the fix when the cluster is not up.
pub fn assert_cluster_up() {
    let up = ssh("sinfo -h");
    assert!(
        up.status.success(),
        "the SLURM testbed is not up ({}): run scripts/testbed.sh",
        String::from_utf8_lossy(&up.stderr)
    );
}

/// The TAO SLURM variables as a user would export them, and none a test does not choose.
pub fn slurm_vars(c: &mut Command) -> &mut Command {
    c.env("SLURM_HOSTNAME", LOGIN)
        .env("SLURM_USER", "hoistuser")
        .env("SLURM_PARTITION", "debug")
        .env("SLURM_CPUS_PER_TASK", "1")
        .env_remove("SLURM_ACCOUNT")
        .env_remove("SLURM_TIME_HOURS")
        .env_remove("SLURM_TIMEOUT_HOURS")
        .env_remove("SLURM_BASE_RESULTS_DIR")
        .env_remove("SLURM_CONF")
        .env_remove("HOIST_SLURM_FOLLOW_POLL")
        .env_remove("HOIST_SSH_TRACE")
}

/// Cancel every SLURM job `e`'s store knows.
pub fn scancel_all(e: &Env) {
    let jobs: Vec<serde_json::Value> = e
        .cmd(&["ls", "--json"])
        .output()
        .ok()
        .and_then(|o| serde_json::from_slice(&o.stdout).ok())
        .unwrap_or_default();
    let ids: Vec<&str> = jobs
        .iter()
        .filter(|j| j["platform"] == "slurm")
        .filter_map(|j| j["backend_job_id"].as_str())
        .collect();
    if !ids.is_empty() {
        let _ = ssh(&format!("scancel {}", ids.join(" ")));
    }
}

/// The cluster is shared: most tests run side by side (read), one that takes a node down
/// runs alone (write).
static CLUSTER: std::sync::RwLock<()> = std::sync::RwLock::new(());

pub enum Guard {
    Shared(#[allow(dead_code)] std::sync::RwLockReadGuard<'static, ()>),
    Alone(#[allow(dead_code)] std::sync::RwLockWriteGuard<'static, ()>),
}

/// A test store whose SLURM jobs are cancelled when the test ends, pass or fail.
pub struct SEnv(pub Env, #[allow(dead_code)] Guard);

impl std::ops::Deref for SEnv {
    type Target = Env;
    fn deref(&self) -> &Env {
        &self.0
    }
}

impl Drop for SEnv {
    fn drop(&mut self) {
        scancel_all(&self.0);
    }
}

/// A store for a test that shares the cluster.
pub fn senv() -> SEnv {
    assert_cluster_up();
    SEnv(
        Env::new(),
        Guard::Shared(CLUSTER.read().unwrap_or_else(|p| p.into_inner())),
    )
}

/// A store for a test that must have the cluster to itself (it takes a node down).
pub fn senv_alone() -> SEnv {
    assert_cluster_up();
    SEnv(
        Env::new(),
        Guard::Alone(CLUSTER.write().unwrap_or_else(|p| p.into_inner())),
    )
}

impl SEnv {
    /// hoist with the TAO SLURM variables set.
    pub fn scmd(&self, args: &[&str]) -> Command {
        let mut c = self.0.cmd(args);
        slurm_vars(&mut c);
        c
    }

    pub fn srun(&self, args: &[&str]) -> Out {
        Out(self.scmd(args).output().expect("hoist"))
    }

    /// `run -d` on SLURM; the job id.
    pub fn ssubmit(&self, extra: &[&str], cmd: &[&str]) -> String {
        let mut a = vec!["run", "-d", "--platform", "slurm"];
        a.extend_from_slice(extra);
        a.push("--");
        a.extend_from_slice(cmd);
        let o = self.srun(&a);
        assert_eq!(o.code(), 0, "submit: {}", o.stderr());
        o.stdout().trim().to_string()
    }

    pub fn show(&self, job: &str) -> serde_json::Value {
        serde_json::from_str(&self.srun(&["show", job, "--json"]).stdout()).expect("show --json")
    }

    /// The SLURM job id of a hoist job.
    pub fn slurm_id(&self, job: &str) -> String {
        self.show(job)["backend_job_id"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Everything that tells what became of a job, for a failed assertion: hoist's record and
    /// log, and the controller's and the accounting's view of its SLURM job.
    pub fn evidence(&self, job: &str) -> String {
        let show = self.srun(&["show", job, "--json"]).stdout();
        let id = serde_json::from_str::<serde_json::Value>(&show)
            .ok()
            .and_then(|v| v["backend_job_id"].as_str().map(sh_quote))
            .unwrap_or_default();
        let logs = self.srun(&["logs", job]);
        format!(
            "--- show\n{show}\n--- logs\n{}{}\n--- scontrol\n{}--- sacct\n{}",
            logs.stdout(),
            logs.stderr(),
            remote(&format!("scontrol show job -o {id}")),
            remote(&format!(
                "sacct -n -P -D -j {id} -o JobIDRaw,State,ExitCode,Start,End,NodeList"
            )),
        )
    }

    /// The programs of the ssh round trips `args` made (HOIST_SSH_TRACE).
    pub fn traced(&self, name: &str, args: &[&str]) -> (Out, Vec<String>) {
        let trace = self.path(name);
        let out = Out(self
            .scmd(args)
            .env("HOIST_SSH_TRACE", &trace)
            .output()
            .expect("hoist"));
        let words = std::fs::read_to_string(&trace)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_whitespace().nth(2).map(str::to_string))
            .collect();
        (out, words)
    }
}
