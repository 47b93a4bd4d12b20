//! The files a SLURM job is made of, rendered from the request. Pure: `--dry-run` prints the
//! same text submit stages.
//!
//! This module renders the job itself (sbatch directives, environment, entrypoint); the
//! container runtimes, the SquashFS conversion job and the staging script are submodules,
//! re-exported here so every item keeps its `script::X` path.

mod container;
mod convert;
pub mod enroot;
#[cfg(test)]
mod requeue_tests;
mod stage;

pub use container::{CONTAINERS, container_of, pyxis_image};
pub use convert::{Conversion, ConversionSettings, sqsh_name};
pub use stage::{
    Answer, CLUSTER_LINE, RUNNER_MISSING, RUNNER_MISSING_EXIT, STAGING_FAILED_EXIT, Staged,
    batch_script, parse_answers, plain_job_id, reported_cluster,
};

use container::launch;
use convert::conversion;

use hoist_core::spec::{NODE_IPS_ENV, rendezvous_env, sh_quote, sh_quote_checked};
use hoist_core::{Command, GpuSpec, InputError, SubmitRequest};

/// Settings that shape the sbatch script.
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptSettings {
    /// Partition list (comma-separated allowed).
    pub partition: Option<String>,
    /// Account.
    pub account: Option<String>,
    /// Wall time in hours.
    pub time_hours: f64,
    /// Inner timeout in hours (the job requeues itself when it expires).
    pub timeout_hours: Option<f64>,
    /// Default CPUs per task.
    pub cpus_per_task: Option<u32>,
    /// GPUs per node on this cluster.
    pub max_gpus_per_node: u32,
    /// `--requeue`.
    pub requeue: bool,
    /// Runs after an infrastructure failure before giving up.
    pub max_retries: u32,
    /// Convert registry images to a cached SquashFS for pyxis too (`SLURM_USE_SQSH`).
    pub use_sqsh: bool,
    /// Extra container mounts, `SRC[:DST]` (`SLURM_CONTAINER_MOUNTS`, default `/lustre`).
    pub container_mounts: Vec<String>,
    /// The staged runner on the shared file system (`<base>/bin/hoist-<hash>`), for jobs
    /// with data staging.
    pub runner: Option<String>,
    /// The cluster's GRES type for the job's GPU model (`a100` in `gpu:a100:8`).
    pub gres_type: Option<String>,
}

/// Staged files and where they go.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// `job.sbatch`.
    pub sbatch: String,
    /// `entrypoint.sh`.
    pub entrypoint: String,
    /// `env` (mode 0600): `export K='V'` lines, secrets included. Never printed.
    pub env_file: String,
    /// Nodes asked for.
    pub nodes: u32,
    /// GPUs per node asked for.
    pub gpus_per_node: u32,
    /// For enroot with a registry image: the SquashFS conversion that must finish first.
    pub conversion: Option<Conversion>,
    /// `meta.json`: the request as hoist stored it (no secret values), for whoever finds the
    /// directory on the cluster.
    pub meta: String,
    /// `plan.json`: the runner's plan, for jobs with data staging.
    pub plan: Option<String>,
    /// The staged runner the job needs (`<base>/bin/hoist-<hash>`), checked by the submit
    /// script before anything is written.
    pub runner: Option<String>,
    /// `enroot/.credentials` (netrc lines, mode 0600): the registry login. Never printed.
    pub enroot_credentials: Option<String>,
}

/// The file in a job's log folder that its batch script writes (its exit code) as its very
/// last act, after all output.
pub const END_MARKER: &str = "end";

/// Shell function that requeues the running job, asking the controller a few times: a
/// controller that is busy, or a job still settling into RUNNING, refuses a requeue for a moment,
/// and a refused requeue would end an infrastructure failure as the program's own.
const REQUEUE_FN: &str = "hoist_requeue() { for _ in 1 2 3 4 5 6 7 8 9 10; do scontrol requeue \"$SLURM_JOB_ID\" && return 0; sleep 1; done; echo \"hoist: scontrol requeue kept failing; the job ends with its own exit code\" >&2; return 1; }\n";

/// The job name SLURM shows: unique per hoist job, so an ambiguous submit can be found again.
pub fn job_name(job_id: &str) -> String {
    format!("hoist-{job_id}")
}

/// `HH:MM:SS` for a number of hours (minutes rounded up, as SLURM rounds).
pub fn slurm_time(hours: f64) -> String {
    let mins = (hours * 60.0).ceil().max(1.0) as u64;
    format!("{:02}:{:02}:00", mins / 60, mins % 60)
}

/// Nodes and GPUs per node: a request of at least a node's worth of GPUs takes whole nodes
/// (`--exclusive`) and as many as the total needs.
pub fn shape(nodes: u32, gpus: &GpuSpec, max_per_node: u32) -> (u32, u32, bool) {
    let per = match gpus {
        GpuSpec::None => 0,
        GpuSpec::All => max_per_node,
        g => g.count().unwrap_or(0),
    };
    if per >= max_per_node && max_per_node > 0 {
        let need = per.div_ceil(max_per_node);
        return (nodes.max(need), max_per_node, true);
    }
    (nodes, per, false)
}

/// Render the staged files for `req` in job directory `dir` under results root `results`.
pub fn render(
    req: &SubmitRequest,
    dir: &str,
    results_root: &str,
    conv: &ConversionSettings,
    s: &ScriptSettings,
) -> Result<Rendered, InputError> {
    let spec = &req.spec;
    if matches!(spec.gpus, GpuSpec::Ids(_)) {
        return Err(InputError::new(
            "--gpus with device ids cannot be honoured on SLURM: the scheduler assigns devices",
            "ask for a count, e.g. --gpus 2",
        ));
    }
    let (nodes, gpn, exclusive) = shape(spec.nodes, &spec.gpus, s.max_gpus_per_node);
    let name = job_name(&req.job_id);
    let q = |v: &str| sh_quote(v);
    let mut b = String::from("#!/bin/bash\n");
    let mut d = |line: String| {
        b.push_str("#SBATCH ");
        b.push_str(&line);
        b.push('\n');
    };
    d(format!("--job-name={name}"));
    d(format!("--comment=hoist:{}", req.job_id));
    if let Some(p) = &s.partition {
        d(format!("--partition={p}"));
    }
    if let Some(a) = &s.account {
        d(format!("--account={a}"));
    }
    d(format!("--nodes={nodes}"));
    d("--ntasks-per-node=1".into());
    match (&s.gres_type, gpn) {
        (_, 0) => {}
        (Some(t), n) => d(format!("--gres=gpu:{t}:{n}")),
        (None, n) => d(format!("--gres=gpu:{n}")),
    }
    let cpus = spec.cpus.map(|c| c.ceil() as u32).or(s.cpus_per_task);
    if let Some(c) = cpus {
        d(format!("--cpus-per-task={c}"));
    }
    if let Some(m) = spec.memory_bytes {
        d(format!("--mem={}M", m.div_ceil(1 << 20)));
    }
    d(format!("--time={}", slurm_time(s.time_hours)));
    if exclusive {
        d("--exclusive".into());
    }
    // Explicit either way: clusters default to requeueing (JobRequeue=1), and with requeue off
    // a node failure must end the job as NODE_FAIL for hoist to resubmit it.
    d(if s.requeue {
        "--requeue".into()
    } else {
        "--no-requeue".into()
    });
    if nodes > 1 {
        d("--wait-all-nodes=1".into());
    }
    // SLURM does not create directories for --output, and the per-job log directory needs the
    // job id: the script creates it and redirects itself there. This file catches what
    // happens before that line.
    d(format!("--output={dir}/slurm-logs/sbatch-%j.out"));
    d("--open-mode=append".into());
    // Whatever the job or SLURM writes here (log folders, the log files, results) is the
    // user's alone, whatever umask sbatch was called with.
    b.push_str("set -uo pipefail\numask 077\n");
    b.push_str(&format!(
        "LOGDIR={}/slurm-logs/\"${{SLURM_JOB_NAME}}-${{SLURM_JOB_ID}}\"\n",
        q(dir)
    ));
    // `END_MARKER` is written last, after every line of output: a log follow stops on it
    // instead of waiting for its next squeue. A requeued run starts without it.
    b.push_str(&format!(
        "mkdir -p \"$LOGDIR\"\nrm -f \"$LOGDIR/{END_MARKER}\"\nexec >>\"$LOGDIR/main.out\" 2>>\"$LOGDIR/main.err\"\n"
    ));
    b.push_str(&format!("set -a; . {}/env; set +a\n", q(dir)));
    b.push_str(&format!(
        "export TAO_JOB_ID={id} HOIST_JOB_ID={id} TAO_RESULTS_ROOT={r} TAO_API_RESULTS_DIR={r}\n",
        id = q(&req.job_id),
        r = q(results_root)
    ));
    b.push_str("export PYTHONNOUSERSITE=1 PYTHONDONTWRITEBYTECODE=1\n");
    for (k, v) in rendezvous_env(nodes, gpn, "0", "") {
        match k.as_str() {
            "NODE_RANK" => {} // per node, in the entrypoint
            "MASTER_ADDR" => {
                b.push_str("export MASTER_ADDR=\"$(scontrol show hostnames \"$SLURM_JOB_NODELIST\" | head -n 1)\"\n");
                // Every node's address in rank order (SLURM ranks nodes in list order).
                b.push_str(&format!("export {NODE_IPS_ENV}=\"$(for h in $(scontrol show hostnames \"$SLURM_JOB_NODELIST\"); do a=$(getent hosts \"$h\" | awk '{{print $1; exit}}'); echo \"${{a:-$h}}\"; done)\"\n"));
            }
            _ => b.push_str(&format!("export {k}={}\n", q(&v))),
        }
    }
    let timeout = s.timeout_hours.filter(|t| *t > 0.0 && *t < s.time_hours);
    let prefix = timeout
        .map(|t| format!("timeout {}m ", (t * 60.0).floor().max(1.0) as u64))
        .unwrap_or_default();
    let base = dir.rsplit_once("/jobs/").map(|(b, _)| b).unwrap_or(dir);
    let image = req.spec.image.clone().unwrap_or_default();
    // enroot runs SquashFS files: a registry image is converted once, in a job of its own
    // that the training job depends on, and cached for every later job.
    // enroot always; pyxis too with SLURM_USE_SQSH, so each node reads one cached file
    // instead of pulling from the registry.
    let kind = container_of(req)?;
    let convert = (kind == "enroot" || (kind == "pyxis" && s.use_sqsh)) && !image.starts_with('/');
    let conversion = convert.then(|| conversion(&image, base, s.partition.as_deref(), conv));
    let run_image = conversion.as_ref().map(|c| c.sqsh.clone()).unwrap_or(image);
    b.push_str(&format!(
        "{prefix}srun --ntasks-per-node=1 --kill-on-bad-exit=1 {}\n",
        launch(
            req,
            dir,
            results_root,
            &run_image,
            &s.container_mounts,
            s.runner.as_deref()
        )?
    ));
    b.push_str("rc=$?\n");
    if timeout.is_some() {
        // The inner timeout fired before SLURM's own limit: requeue, so the job continues
        // (from its checkpoint) instead of being killed at the wall-time limit.
        b.push_str(REQUEUE_FN);
        b.push_str("if [ \"$rc\" -eq 124 ]; then echo \"hoist: inner timeout reached; requeueing\" >&2; hoist_requeue; fi\n");
    }
    if s.requeue && s.max_retries > 0 {
        if timeout.is_none() {
            b.push_str(REQUEUE_FN);
        }
        // grep reads all of its input (no -q): under pipefail, a grep that quits at the first
        // match can leave tail writing into a closed pipe, and tail's SIGPIPE would fail the
        // test that decides to requeue.
        // Detection on the cluster: a failure whose log shows the infrastructure's fault (GPU
        // fell off the bus, Xid, ECC, NCCL/InfiniBand, CUDA init) requeues the job in place,
        // so retries do not wait for anyone's hoist to poll.
        b.push_str(&format!(
            "if [ \"$rc\" -ne 0 ] && [ \"$rc\" -ne 124 ] && [ \"${{SLURM_RESTART_COUNT:-0}}\" -lt {max} ] && tail -n 500 \"$LOGDIR/main.err\" \"$LOGDIR/main.out\" 2>/dev/null | grep -Ei {pat} >/dev/null; then\n  echo \"hoist: infrastructure failure (exit $rc); requeueing, run $(( ${{SLURM_RESTART_COUNT:-0}} + 2 )) of at most {runs}\" >&2\n  hoist_requeue && exit 0\nfi\n",
            max = s.max_retries,
            runs = s.max_retries + 1,
            pat = q(&hoist_core::failure::retry_patterns_ere())
        ));
    }
    b.push_str(&format!(
        "echo \"$rc\" >\"$LOGDIR/{END_MARKER}\"\nexit \"$rc\"\n"
    ));

    let mut e = String::from("#!/bin/bash\nset -euo pipefail\n");
    e.push_str("export NODE_RANK=\"${SLURM_NODEID:-0}\"\n");
    // An inner srun or torchrun would read the outer step's layout from these and misbehave.
    e.push_str("unset SLURM_NTASKS SLURM_NNODES SLURM_PROCID SLURM_LOCALID SLURM_NTASKS_PER_NODE RANK LOCAL_RANK GROUP_RANK\n");
    if let Some(w) = &spec.workdir {
        e.push_str(&format!("cd {}\n", q(w)));
    }
    let plan = match (&req.runner, &s.runner) {
        (Some(p), Some(_)) => Some(serde_json::to_string_pretty(p).map_err(|e| {
            InputError::new(format!("cannot encode the runner plan: {e}"), "report this")
        })?),
        (Some(_), None) => {
            return Err(InputError::new(
                "this job stages data but no runner binary was staged",
                "set HOIST_RUNNER_BIN to a static hoist",
            ));
        }
        _ => None,
    };
    let line = match &spec.command {
        // The runner fetches inputs, writes the spec and runs the command itself.
        _ if plan.is_some() => {
            let (runner, plan_path) = match (kind, s.runner.as_deref()) {
                ("charliecloud", Some(r)) => (
                    format!("/mnt/2/{}", r.rsplit('/').next().unwrap_or(r)),
                    "/mnt/0/plan.json".to_string(),
                ),
                (_, r) => (
                    r.unwrap_or_default().to_string(),
                    format!("{dir}/plan.json"),
                ),
            };
            format!("exec {} __run --plan {}", q(&runner), q(&plan_path))
        }
        Command::Shell(sh) => sh.clone(),
        Command::Argv(a) => a
            .iter()
            .map(|w| sh_quote_checked(w))
            .collect::<Result<Vec<_>, _>>()?
            .join(" "),
    };
    match &spec.shell {
        _ if plan.is_some() => {
            e.push_str(&line);
            e.push('\n');
        }
        Some(shell) if shell != "/bin/bash" && shell != "none" => {
            e.push_str(&format!("exec {} -c {}\n", q(shell), q(&line)))
        }
        _ => {
            e.push_str(&line);
            e.push('\n');
        }
    }
    let mut env_file = String::new();
    for (k, v) in &req.env {
        env_file.push_str(&format!("{k}={}\n", sh_quote(v)));
    }
    Ok(Rendered {
        sbatch: b,
        entrypoint: e,
        env_file,
        nodes,
        gpus_per_node: gpn,
        conversion,
        meta: serde_json::to_string_pretty(
            &serde_json::json!({"job_id": req.job_id, "name": spec.name, "spec": spec.redacted()}),
        )
        .unwrap_or_default(),
        runner: plan.as_ref().and(s.runner.clone()),
        plan,
        enroot_credentials: None,
    })
}

/// The env file as it may be shown: secret values masked.
pub fn shown_env(req: &SubmitRequest) -> String {
    req.env
        .iter()
        .map(|(k, v)| {
            format!(
                "{k}={}\n",
                if req.spec.is_secret(k) {
                    "<secret>".to_string()
                } else {
                    sh_quote(v)
                }
            )
        })
        .collect()
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use hoist_core::JobSpec;
    use std::collections::BTreeMap;

    pub(super) fn settings() -> ScriptSettings {
        ScriptSettings {
            partition: Some("debug".into()),
            account: Some("acct".into()),
            time_hours: 4.0,
            timeout_hours: Some(3.8),
            cpus_per_task: Some(2),
            max_gpus_per_node: 8,
            requeue: true,
            max_retries: 10,
            use_sqsh: false,
            container_mounts: vec!["/lustre".into()],
            runner: None,
            gres_type: None,
        }
    }

    /// The batch script of one job.
    pub(super) fn staged_one(base: &str, job_id: &str, r: &Rendered) -> String {
        batch_script(
            base,
            &format!("{base}/results"),
            &[Staged {
                job_id,
                rendered: r,
            }],
        )
        .expect("script")
    }

    pub(super) fn req(cmd: Command, nodes: u32, gpus: GpuSpec) -> SubmitRequest {
        let mut spec = JobSpec::new(cmd);
        spec.nodes = nodes;
        spec.gpus = gpus;
        SubmitRequest {
            job_id: "job-1".into(),
            launch_token: "t".into(),
            spec,
            env: BTreeMap::from([
                ("HF_TOKEN".into(), "hf_secret".into()),
                ("MODE".into(), "a b".into()),
            ]),
            runner: None,
            runner_binary: None,
        }
    }

    #[test]
    fn directives_and_env() {
        let r = render(
            &req(
                Command::Argv(vec!["python".into(), "train.py".into()]),
                2,
                GpuSpec::Count(2),
            ),
            "/base/jobs/job-1",
            "/base/results",
            &ConversionSettings::default(),
            &settings(),
        )
        .expect("render");
        for want in [
            "#SBATCH --job-name=hoist-job-1",
            "#SBATCH --comment=hoist:job-1",
            "#SBATCH --partition=debug",
            "#SBATCH --account=acct",
            "#SBATCH --nodes=2",
            "#SBATCH --ntasks-per-node=1",
            "#SBATCH --gres=gpu:2",
            "#SBATCH --cpus-per-task=2",
            "#SBATCH --time=04:00:00",
            "#SBATCH --requeue",
            "export WORLD_SIZE=2",
            "export NUM_GPU_PER_NODE=2",
            "export MASTER_PORT=29500",
            "timeout 228m srun",
            "scontrol requeue",
        ] {
            assert!(r.sbatch.contains(want), "missing {want:?} in\n{}", r.sbatch);
        }
        assert!(
            !r.sbatch.contains("hf_secret"),
            "secrets live only in the env file"
        );
        assert!(r.env_file.contains("HF_TOKEN=hf_secret") && r.env_file.contains("MODE='a b'"));
        assert!(
            r.meta.contains("job-1") && !r.meta.contains("hf_secret"),
            "{}",
            r.meta
        );
        assert!(
            r.entrypoint
                .contains("export NODE_RANK=\"${SLURM_NODEID:-0}\"")
                && r.entrypoint.contains("unset SLURM_NTASKS")
        );
        assert!(
            shown_env(&req(Command::Shell("x".into()), 1, GpuSpec::None))
                .contains("HF_TOKEN=<secret>")
        );
    }

    #[test]
    fn exclusive_nodes_from_a_large_gpu_count() {
        assert_eq!(shape(1, &GpuSpec::Count(16), 8), (2, 8, true));
        assert_eq!(shape(1, &GpuSpec::Count(8), 8), (1, 8, true));
        assert_eq!(shape(3, &GpuSpec::Count(8), 8), (3, 8, true));
        assert_eq!(shape(1, &GpuSpec::Count(2), 8), (1, 2, false));
        assert_eq!(shape(1, &GpuSpec::None, 8), (1, 0, false));
        let r = render(
            &req(Command::Shell("x".into()), 1, GpuSpec::Count(16)),
            "/d",
            "/r",
            &ConversionSettings::default(),
            &settings(),
        )
        .expect("render");
        assert!(r.sbatch.contains("#SBATCH --exclusive") && r.sbatch.contains("#SBATCH --nodes=2"));
    }

    #[test]
    fn the_runner_is_checked_first_and_runs_the_plan() {
        let mut rq = req(Command::Argv(vec!["train".into()]), 1, GpuSpec::None);
        rq.spec.inputs = vec![hoist_core::spec::DataBinding {
            key: "/data/x".into(),
            uri: "s3://bkt/x".into(),
        }];
        rq.runner = hoist_core::staging::RunnerPlan::for_job(&rq.job_id, &rq.spec);
        let mut s = settings();
        s.runner = Some("/b/bin/hoist-0123".into());
        let r = render(
            &rq,
            "/b/jobs/job-1",
            "/b/results",
            &ConversionSettings::default(),
            &s,
        )
        .expect("render");
        assert!(
            r.entrypoint
                .contains("exec /b/bin/hoist-0123 __run --plan /b/jobs/job-1/plan.json"),
            "{}",
            r.entrypoint
        );
        let script = staged_one("/b", "job-1", &r);
        let first = script.lines().nth(3).unwrap_or_default();
        assert_eq!(
            first,
            "[ -x /b/bin/hoist-0123 ] || { echo 'hoist: runner not staged' >&2; exit 97; }"
        );
        // Without data staging there is nothing to check.
        s.runner = None;
        let plain = render(
            &req(Command::Argv(vec!["train".into()]), 1, GpuSpec::None),
            "/d",
            "/r",
            &ConversionSettings::default(),
            &s,
        )
        .expect("render");
        assert!(!staged_one("/d", "job-1", &plain).contains("runner not staged"));
    }

    #[test]
    fn hostile_commands_stay_data() {
        let r = render(
            &req(
                Command::Argv(vec![
                    "echo".into(),
                    "$(touch /tmp/pwned)".into(),
                    "a'b".into(),
                ]),
                1,
                GpuSpec::None,
            ),
            "/d",
            "/r",
            &ConversionSettings::default(),
            &settings(),
        )
        .expect("render");
        assert!(
            r.entrypoint
                .contains("echo '$(touch /tmp/pwned)' 'a'\"'\"'b'"),
            "{}",
            r.entrypoint
        );
        let dir_attack = render(
            &req(Command::Shell("true".into()), 1, GpuSpec::None),
            "/d/$(id)",
            "/r",
            &ConversionSettings::default(),
            &settings(),
        )
        .expect("render");
        assert!(
            dir_attack.sbatch.contains("'/d/$(id)'/slurm-logs"),
            "{}",
            dir_attack.sbatch
        );
        let staged = staged_one("/d x", "job-1", &dir_attack);
        assert!(
            staged.contains("mkdir -p '/d x'/jobs '/d x/results'")
                && staged.contains("tar -C '/d x' ")
                && staged.contains("cd '/d x/jobs/job-1'")
                && !staged.contains("hf_secret"),
            "{staged}"
        );
        assert!(
            render(
                &req(Command::Shell("x".into()), 1, GpuSpec::Ids(vec![0])),
                "/d",
                "/r",
                &ConversionSettings::default(),
                &settings()
            )
            .is_err()
        );
    }

    #[test]
    fn times() {
        assert_eq!(slurm_time(4.0), "04:00:00");
        assert_eq!(slurm_time(0.5), "00:30:00");
        assert_eq!(slurm_time(3.8), "03:48:00");
        assert_eq!(slurm_time(0.001), "00:01:00");
    }
}
