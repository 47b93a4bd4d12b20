//! Scheduler texts that reach the job's log or the submit error: SLURM's slurmstepd and
//! sbatch/srun, and pyxis/enroot importing the container image.

use super::LogRule;
use crate::failure::ErrClass::{Config, Infra};

pub(super) const SLURM_TIME_LIMIT: LogRule = LogRule {
    name: "slurm_time_limit",
    pattern: r"DUE TO TIME LIMIT",
    class: Config,
    cause: "the job ran past its time limit and SLURM cancelled it",
    suggestion: "ask for more time (--time, within the partition's MaxTime: sinfo -o '%P %l'), or save checkpoints and resume",
    retriable: false,
};

pub(super) const SLURM_PREEMPTED: LogRule = LogRule {
    name: "slurm_preempted",
    pattern: r"DUE TO PREEMPTION",
    class: Infra,
    cause: "SLURM preempted the job to give its nodes to a job of higher priority",
    suggestion: "run it again (hoist requeues it when retries are on); save checkpoints often on preemptible partitions or use a partition without preemption",
    retriable: true,
};

pub(super) const SLURM_INVALID_ACCOUNT: LogRule = LogRule {
    name: "slurm_invalid_account",
    pattern: r"Invalid account or account/partition combination",
    class: Config,
    cause: "SLURM refused the job: the account is unknown, or it may not use that partition",
    suggestion: "pass an account you belong to (sacctmgr show assoc user=$USER format=account,partition) with --account, or pick a partition it allows",
    retriable: false,
};

pub(super) const SLURM_INVALID_PARTITION: LogRule = LogRule {
    name: "slurm_invalid_partition",
    pattern: r"invalid partition (name )?specified",
    class: Config,
    cause: "SLURM refused the job: the partition does not exist",
    suggestion: "pick a partition that exists (sinfo -s lists them) with --partition",
    retriable: false,
};

pub(super) const SLURM_INVALID_QOS: LogRule = LogRule {
    name: "slurm_invalid_qos",
    pattern: r"Invalid qos specification|Job violates accounting/QOS policy",
    class: Config,
    cause: "SLURM refused the job: the QOS is not allowed for the account, or the request breaks the QOS limits",
    suggestion: "pick a QOS your account may use (sacctmgr show assoc user=$USER format=account,qos) or ask for less (GPUs, time, jobs)",
    retriable: false,
};

pub(super) const SLURM_INVALID_TIME: LogRule = LogRule {
    name: "slurm_invalid_time",
    pattern: r"Requested time limit is invalid",
    class: Config,
    cause: "SLURM refused the job: the requested time limit is missing or longer than the partition allows",
    suggestion: "set --time within the partition's MaxTime (sinfo -o '%P %l')",
    retriable: false,
};

pub(super) const SLURM_NODE_CONFIG: LogRule = LogRule {
    name: "slurm_node_config",
    pattern: r"Requested node configuration is not available",
    class: Config,
    cause: "SLURM refused the job: no node in the partition has what it asks for (GPUs, CPUs per node, memory or features)",
    suggestion: "compare the request with the nodes (sinfo -N -o '%N %c %m %G %f') and ask for what one node has",
    retriable: false,
};

pub(super) const PYXIS_REGISTRY_AUTH: LogRule = LogRule {
    name: "pyxis_registry_auth",
    pattern: r"pyxis: .*(401|unauthorized)|enroot.*(401|unauthorized)",
    class: Config,
    cause: "the container registry refused enroot's credentials while pyxis imported the image",
    suggestion: "put the registry's credentials in ~/.config/enroot/.credentials on the cluster (for nvcr.io: machine nvcr.io login $oauthtoken password NGC_KEY), or export NGC_KEY for hoist to pass",
    retriable: false,
};

pub(super) const PYXIS_IMPORT_FAILED: LogRule = LogRule {
    name: "pyxis_import_failed",
    pattern: r"pyxis: failed to import docker image|pyxis: failed to create container filesystem",
    class: Config,
    cause: "pyxis/enroot could not import the container image (wrong name or tag, no access to the registry, or no space for the image)",
    suggestion: "read the enroot log lines after it; check the image (enroot import docker://IMAGE on a login node) and the enroot cache's free space",
    retriable: false,
};

pub(super) const SLURM_CANCELLED: LogRule = LogRule {
    name: "slurm_cancelled",
    pattern: r"\*\*\* (JOB|STEP) [^ ]+ ON [^ ]+ CANCELLED AT [^ ]+ \*\*\*",
    class: Infra,
    cause: "SLURM cancelled the job (scancel by you or an administrator)",
    suggestion: "if nobody meant to cancel it, ask the cluster's administrators (sacct -j JOB -o JobID,State,Reason); run it again",
    retriable: false,
};
