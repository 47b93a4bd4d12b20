//! Command-line definitions. Doc comments are the help text.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Launch, track and explain GPU jobs on any platform, from one durable job store.
#[derive(Parser, Debug)]
#[command(
    name = "hoist",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// Store directory (default: $HOIST_HOME, else ~/.hoist).
    #[arg(long, global = true, value_name = "DIR")]
    pub home: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Cmd,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Submit a job and follow its output until it ends (exit code mirrors the job).
    Run(Box<RunArgs>),
    /// Run a SkyPilot task YAML (several documents: a pipeline), attached like `run`.
    Launch(LaunchArgs),
    /// Show a job's status.
    Status(JobJson),
    /// Print a job's output.
    Logs(LogsArgs),
    /// Cancel a job (idempotent; a finished job keeps its result).
    Cancel(JobArg),
    /// Wait until a job ends; exit code mirrors the job.
    Wait(JobArg),
    /// List jobs, newest first.
    Ls(LsArgs),
    /// Show everything hoist knows about a job (never a secret value).
    Show(JobJson),
    /// Explain why a job failed (class, cause, fix, evidence) or why it waits; --rules, --explain RULE.
    Why(WhyArgs),
    /// Print where a job's results are, or fetch them with --download.
    Results(ResultsArgs),
    /// Whether a path or URI exists (s3://, hf_model://, lustre://, a path) where jobs run.
    CheckPath(PathArgs),
    /// List what is under a path or URI where jobs run.
    LsPath(PathArgs),
    /// Check that jobs can run on a platform, with a fix for each problem.
    Preflight(PreflightArgs),
    /// Remove a finished job from the store (and its logs).
    Rm(RmArgs),
    /// Remove ended jobs' leftovers on their backends (stopped Docker containers) once they
    /// are older than the platform's `retain` setting (default 7d); logs, why and show still
    /// answer from what hoist saves first.
    Gc(GcArgs),
    /// Settle submits interrupted by a crash (also done automatically on every command).
    Reconcile,
    /// Print shell completions.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Build an image holding only this static hoist (FROM scratch), for init containers.
    RunnerImage(RunnerImageArgs),
    /// List the platforms this build has, their settings, and whether this machine looks set
    /// up for each.
    Platforms(PlatformsArgs),
    /// Settings: `hoist config show` prints them resolved, with where each value came from.
    #[command(subcommand)]
    Config(ConfigCmd),
    /// Cloud instances hoist runs jobs on (Brev): list them with their hoist jobs, or remove
    /// one (`hoist instances rm NAME --platform brev`).
    Instances(InstancesArgs),
    /// Workflow runs (hoist launch of a pipeline, DAG or sweep): list them, show one as a
    /// tree of its jobs, cancel its active jobs, remove its folder.
    Runs(RunsArgs),
    /// Serve a live dashboard in the browser: jobs, runs, platforms, logs, cancel (loopback
    /// and an access token by default).
    Ui(UiArgs),
    /// (internal) copy this binary into DIR as DIR/hoist (an init container's job).
    #[command(name = "__install", hide = true)]
    Install {
        /// Directory to copy into (a volume the job's container shares).
        dir: PathBuf,
    },
    /// (internal) the in-job runner: fetch inputs, write the spec, run, upload outputs.
    #[command(name = "__run", hide = true)]
    Runner {
        /// The plan (JSON) hoist wrote for the job (default: the HOIST_PLAN variable).
        #[arg(long)]
        plan: Option<PathBuf>,
    },
    /// (internal) run one local job under supervision.
    #[command(name = "__supervise", hide = true)]
    Supervise { dir: PathBuf },
    /// (internal) drive a workflow run in the background (`hoist launch -d` starts it).
    #[command(name = "__workflow", hide = true)]
    Workflow { dir: PathBuf },
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Platform: local (default without --image), docker (default with --image).
    #[arg(long, short = 'p')]
    pub platform: Option<String>,
    /// Profile from $HOIST_HOME/config.toml.
    #[arg(long)]
    pub profile: Option<String>,
    /// Container image.
    #[arg(long)]
    pub image: Option<String>,
    /// GPUs per node: 0, a count, all, ids such as 0,1, or MODEL:COUNT (A100:8), which
    /// also asks for that model where the platform can choose.
    #[arg(long, value_name = "SPEC")]
    pub gpus: Option<String>,
    /// Number of nodes.
    #[arg(long)]
    pub nodes: Option<u32>,
    /// CPU limit (cores).
    #[arg(long)]
    pub cpus: Option<f64>,
    /// Memory limit, e.g. 512m or 16g.
    // A negative size must reach the size parser (which names it), not read as a flag.
    #[arg(long, value_name = "SIZE", allow_hyphen_values = true)]
    pub memory: Option<String>,
    /// Environment variable NAME=VALUE, or NAME to pass this shell's value (repeatable).
    #[arg(long = "env", short = 'e', value_name = "K=V")]
    pub env: Vec<String>,
    /// File of NAME=VALUE lines.
    #[arg(long, value_name = "FILE")]
    pub env_file: Vec<PathBuf>,
    /// Label KEY=VALUE (repeatable).
    #[arg(long = "label", value_name = "K=V")]
    pub labels: Vec<String>,
    /// Job name (default: from the command).
    #[arg(long)]
    pub name: Option<String>,
    /// Shell for a one-string command (default /bin/sh).
    #[arg(long)]
    pub shell: Option<String>,
    /// Working directory of the command.
    #[arg(long, short = 'w')]
    pub workdir: Option<String>,
    /// Input KEY=URI (repeatable): s3://, hf_model://, hf_dataset://, lustre://, file:// or a
    /// path. KEY is a dotted spec key (dataset.train[0].path) with --spec, an arg name with
    /// --arg, else the path the job reads it at (/data/train.json).
    #[arg(long = "input", short = 'i', value_name = "KEY=URI")]
    pub inputs: Vec<String>,
    /// Output KEY[=URI] (repeatable): a spec key, arg name or job path whose contents are kept;
    /// without URI they go to the job's results location.
    #[arg(long = "output", short = 'o', value_name = "KEY[=URI]")]
    pub outputs: Vec<String>,
    /// Spec file (YAML, TOML or JSON) written for the job with remote URIs rewritten to local
    /// paths; the command names it as {config_path}.
    #[arg(long, value_name = "FILE")]
    pub spec: Option<PathBuf>,
    /// Format the spec is written in: yaml, toml or json (default: the file's own).
    #[arg(long, value_name = "FMT")]
    pub spec_format: Option<String>,
    /// Arg K=V appended to the command as --K V (repeatable; V may be JSON: 3, true, [1,2]).
    // Names may be written with their dashes (`--arg --lr=0.1`): the parser strips them.
    #[arg(long = "arg", value_name = "K=V", allow_hyphen_values = true)]
    pub args: Vec<String>,
    /// Mode: config (with --spec), args (with --arg) or passthrough (default otherwise).
    #[arg(long, value_name = "MODE")]
    pub mode: Option<String>,
    /// Glob of result files never uploaded, e.g. '*.tmp' (repeatable).
    #[arg(long = "upload-exclude", value_name = "GLOB")]
    pub upload_excludes: Vec<String>,
    /// Parent job (id, prefix or name) this one continues.
    #[arg(long, value_name = "JOB")]
    pub parent: Option<String>,
    /// A sweep: KEY=V1,V2 (repeatable); one job per combination, each with KEY in its env
    /// and {KEY} in the command replaced (a one-task workflow: see hoist runs).
    #[arg(long, value_name = "KEY=V1,V2")]
    pub matrix: Vec<String>,
    /// With --matrix: at most N jobs at once.
    #[arg(long = "max-parallel", value_name = "N", requires = "matrix", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_parallel: Option<u32>,
    /// Return after submitting; print the job id.
    #[arg(long, short = 'd')]
    pub detach: bool,
    /// Print what would be submitted; submit nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print one JSON object (job_id, platform, status, …).
    #[arg(long)]
    pub json: bool,
    /// The command (after --).
    #[arg(last = true, required = false, value_name = "CMD")]
    pub command: Vec<String>,
}

#[derive(Args, Debug)]
pub struct JobArg {
    /// Job id, unique id prefix, or name.
    pub job: String,
}

#[derive(Args, Debug)]
pub struct JobJson {
    /// Job id, unique id prefix, or name.
    pub job: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct WhyArgs {
    /// Job id, unique id prefix, or name.
    #[arg(required_unless_present_any = ["rules", "explain"])]
    pub job: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// List every rule `why` can name.
    #[arg(long, conflicts_with_all = ["job", "explain"])]
    pub rules: bool,
    /// Describe one rule: what triggers it, its class, whether it is retried, the fix.
    #[arg(long, value_name = "RULE", conflicts_with = "job")]
    pub explain: Option<String>,
}

#[derive(Args, Debug)]
pub struct LogsArgs {
    /// Job id, unique id prefix, or name.
    pub job: String,
    /// Only the last N lines.
    #[arg(long, short = 'n', value_name = "N")]
    pub tail: Option<usize>,
    /// Keep printing until the job ends.
    #[arg(long, short = 'f')]
    pub follow: bool,
}

#[derive(Args, Debug)]
pub struct LsArgs {
    /// Only jobs in this status.
    #[arg(long)]
    pub status: Option<String>,
    /// Only jobs on this platform.
    #[arg(long)]
    pub platform: Option<String>,
    /// Only jobs of this workflow.
    #[arg(long, value_name = "ID")]
    pub workflow: Option<String>,
    /// Only jobs of this workflow run (NAME, NAME/TIMESTAMP or its folder; see hoist runs).
    #[arg(long, value_name = "RUN", conflicts_with = "workflow")]
    pub run: Option<String>,
    /// Only jobs that continue this job (id, prefix or name).
    #[arg(long, value_name = "JOB")]
    pub parent: Option<String>,
    /// At most N jobs.
    #[arg(long, short = 'n')]
    pub limit: Option<usize>,
    /// Print a JSON array.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct PreflightArgs {
    /// Platform to check (default: the profile's, else local).
    #[arg(long, short = 'p')]
    pub platform: Option<String>,
    /// Profile from $HOIST_HOME/config.toml.
    #[arg(long)]
    pub profile: Option<String>,
    /// A path jobs need, NAME=PATH (repeatable).
    #[arg(long = "path", value_name = "NAME=PATH")]
    pub paths: Vec<String>,
    /// Image jobs will run (checked for presence; used to check paths on a remote daemon).
    #[arg(long)]
    pub image: Option<String>,
    /// Image to run nvidia-smi in, to see the GPUs a job would get.
    #[arg(long, value_name = "IMG")]
    pub gpu_smoke_image: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct GcArgs {
    /// Remove what jobs that ended longer ago than this keep (90s, 12h, 7d, 2w); default: the
    /// platform's retain setting (HOIST_DOCKER_RETAIN, profile `retain`, else 7d).
    #[arg(long, value_name = "AGE")]
    pub older_than: Option<String>,
    /// Keep the leftovers of the N most recently ended jobs, whatever their age; alone, it
    /// keeps only those N.
    #[arg(long, value_name = "N")]
    pub keep: Option<usize>,
    /// Only list what would be removed.
    #[arg(long)]
    pub dry_run: bool,
    /// Only this platform's jobs.
    #[arg(long, short = 'p')]
    pub platform: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct RmArgs {
    /// Job id, unique id prefix, or name.
    pub job: String,
    /// Cancel a live job first.
    #[arg(long)]
    pub force: bool,
}

#[derive(Args, Debug)]
pub struct ResultsArgs {
    /// Job id, unique id prefix, or name.
    pub job: String,
    /// Copy the results into DIR (from S3, the local disk, or the cluster over ssh).
    #[arg(long, value_name = "DIR")]
    pub download: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct PathArgs {
    /// s3://bucket/key, hf_model://org/name, lustre:///path, file:///path or a path.
    pub uri: String,
    /// Platform whose view of lustre:// and plain paths counts (default local).
    #[arg(long, short = 'p')]
    pub platform: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct RunnerImageArgs {
    /// Image name and tag (default hoist-runner:<version>).
    #[arg(long, short = 't')]
    pub tag: Option<String>,
    /// Docker daemon to build on (default: as for jobs).
    #[arg(long, value_name = "URL")]
    pub docker_host: Option<String>,
}

#[derive(Args, Debug)]
pub struct PlatformsArgs {
    /// Only this platform (name or alias).
    pub name: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct UiArgs {
    /// Address to serve on; port 0 picks a free one. Anything but loopback needs --token.
    #[arg(long, default_value = "127.0.0.1:8421", value_name = "ADDR:PORT")]
    pub listen: std::net::SocketAddr,
    /// Open the dashboard in the browser (xdg-open).
    #[arg(long)]
    pub open: bool,
    /// The access token every request needs (default: a random one, printed in the URL).
    #[arg(long, env = "HOIST_UI_TOKEN", hide_env_values = true, value_name = "T")]
    pub token: Option<String>,
}

#[derive(Args, Debug)]
pub struct LaunchArgs {
    /// The task YAML (SkyPilot 0.14's format; a header then tasks = a pipeline).
    #[arg(required_unless_present = "resume")]
    pub file: Option<PathBuf>,
    /// Run a workflow again from its run folder: completed jobs are kept, live ones watched,
    /// failed and canceled ones (and what needs them) run again.
    #[arg(long, value_name = "RUN_DIR", conflicts_with_all = ["file", "dry_run", "run_dir", "platform", "profile", "gpus", "image_id", "num_nodes", "name"])]
    pub resume: Option<PathBuf>,
    /// Platform (default: the task's infra/cloud when hoist has it, docker for a docker
    /// image_id, else local).
    #[arg(long, short = 'p')]
    pub platform: Option<String>,
    /// Profile from $HOIST_HOME/config.toml.
    #[arg(long)]
    pub profile: Option<String>,
    /// An env of the task: K=V, or K to take this shell's value (repeatable).
    #[arg(long = "env", value_name = "K[=V]")]
    pub env: Vec<String>,
    /// A secret of the task: K=V, or K to take this shell's value (repeatable).
    #[arg(long = "secret", value_name = "K[=V]")]
    pub secret: Vec<String>,
    /// GPUs per node (default: the task's accelerators count).
    #[arg(long, value_name = "SPEC")]
    pub gpus: Option<String>,
    /// Image (docker:IMG or IMG; default: the task's resources.image_id).
    #[arg(long = "image-id", value_name = "IMG")]
    pub image_id: Option<String>,
    /// Nodes (default: the task's num_nodes).
    #[arg(long = "num-nodes", value_name = "N")]
    pub num_nodes: Option<u32>,
    /// Job name (default: the task's name).
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Return at once: one task prints its job id; a workflow prints its run folder and is
    /// driven by a background process (no shell needs to stay open).
    #[arg(long, short = 'd')]
    pub detach: bool,
    /// Print what would be submitted (the platform's own form; --json: the normalized task).
    #[arg(long = "dry-run")]
    pub dry_run: bool,
    /// A workflow's run folder (default: $HOIST_HOME/runs/NAME/TIMESTAMP).
    #[arg(long = "run-dir", value_name = "DIR")]
    pub run_dir: Option<PathBuf>,
    /// Jobs of a workflow at once (over the file's max_parallel).
    #[arg(long = "max-parallel", value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_parallel: Option<u32>,
    /// Stop a workflow at its first failure (cancel running jobs, start no more).
    #[arg(long = "fail-fast")]
    pub fail_fast: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct RunsArgs {
    #[command(subcommand)]
    pub cmd: Option<RunsCmd>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand, Debug)]
pub enum RunsCmd {
    /// List runs, newest first (the default).
    Ls {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// One run: its DAG as an indented tree, each job's status and exit code.
    Show {
        /// NAME (its latest run), NAME/TIMESTAMP, or the run folder.
        run: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Cancel every active job of a run.
    Cancel {
        /// NAME, NAME/TIMESTAMP, or the run folder.
        run: String,
    },
    /// Remove a run's folder (its jobs stay in the store); refused while a job is active.
    Rm {
        /// NAME/TIMESTAMP, or the run folder.
        run: String,
    },
}

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct InstancesArgs {
    #[command(subcommand)]
    pub cmd: Option<InstancesCmd>,
    #[command(flatten)]
    pub ls: InstancesLsArgs,
}

#[derive(Subcommand, Debug)]
pub enum InstancesCmd {
    /// List instances (the default).
    Ls(InstancesLsArgs),
    /// Delete an instance; refused while a hoist job on it is active, unless --force.
    Rm(InstancesRmArgs),
}

#[derive(Args, Debug)]
pub struct InstancesLsArgs {
    /// Only this platform's instances (default: every platform that keeps instances).
    #[arg(long, value_name = "NAME")]
    pub platform: Option<String>,
    /// Profile whose settings to use.
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct InstancesRmArgs {
    /// The instance's name.
    pub name: String,
    /// The platform that keeps it.
    #[arg(long, value_name = "NAME")]
    pub platform: String,
    /// Profile whose settings to use.
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// Cancel the hoist jobs still active on it first.
    #[arg(long)]
    pub force: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand, Debug)]
pub enum ConfigCmd {
    /// The settings a job would get now (flag, then environment, then profile, then
    /// default), with where each came from; secrets masked.
    Show(ConfigShowArgs),
}

#[derive(Args, Debug)]
pub struct ConfigShowArgs {
    /// Platform (default: what `hoist run` would pick).
    #[arg(long, short = 'p')]
    pub platform: Option<String>,
    /// Profile from $HOIST_HOME/config.toml.
    #[arg(long)]
    pub profile: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}
