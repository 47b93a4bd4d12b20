//! The log rule table: which lines of a job's output mean what (class, cause, fix, whether
//! a retry can help). Data only: the matcher is `super::matcher`, the weighing against a
//! platform's own evidence is [`super::analyze`].
//!
//! The rules live in one file per kind of failure (`rules/*.rs`); this file only decides
//! their order, because order is priority: the first rule in [`LOG_RULES`] that matches any
//! line of the log wins. The order follows "what explains what": a platform's or scheduler's
//! own verdict first, then hardware faults, then the program's own errors, then distributed
//! errors (a failing rank makes its peers time out, so the rank's error is the cause), and
//! the generic catch-alls last.
//!
//! A new rule is a table entry plus a corpus case under `crates/hoist-cli/tests/corpus/`
//! (a unit test below fails when a rule has none).

use super::ErrClass;

mod data;
mod distributed;
mod gpu;
mod host;
mod program;
mod runtime;
mod scheduler;

/// A log pattern and what it means.
#[derive(Debug)]
pub struct LogRule {
    /// Rule name (`log:<name>` in the analysis).
    pub name: &'static str,
    /// Case-insensitive regex, matched per line.
    pub pattern: &'static str,
    /// Class.
    pub class: ErrClass,
    /// Cause.
    pub cause: &'static str,
    /// Fix.
    pub suggestion: &'static str,
    /// Whether a retry can help.
    pub retriable: bool,
}

/// Log patterns, in priority order. Infrastructure patterns marked retriable double as the
/// retry triggers inside job scripts (`super::retry_patterns_ere`), so they stay plain POSIX
/// extended regexes: no named groups, no lookaround, no `\d` inside a class, no quotes.
pub static LOG_RULES: &[LogRule] = &[
    // hoist's own staging runner: before the command ran, or after it ended.
    runtime::INPUT_MISSING,
    runtime::INPUT_ACCESS_DENIED,
    runtime::UNSAFE_ARCHIVE,
    runtime::SPEC_UNWRITABLE,
    runtime::UPLOAD_FAILED,
    runtime::INPUT_FETCH_FAILED,
    // Container engines and Kubernetes: the job never ran, or the platform stopped it.
    runtime::NVIDIA_TOOLKIT_MISSING,
    runtime::DOCKER_PORT_IN_USE,
    runtime::DOCKER_NAME_CONFLICT,
    runtime::NGC_UNAUTHORIZED,
    runtime::IMAGE_PULL_RATE_LIMIT,
    runtime::IMAGE_PULL_AUTH,
    runtime::IMAGE_NOT_FOUND,
    runtime::BIND_SOURCE_MISSING,
    runtime::K8S_CREATE_CONTAINER_CONFIG,
    runtime::K8S_OOMKILLED,
    runtime::K8S_EVICTED,
    runtime::K8S_INSUFFICIENT_GPU,
    runtime::K8S_NODE_SELECTOR,
    runtime::K8S_UNTOLERATED_TAINT,
    runtime::K8S_DEADLINE,
    // The scheduler's own verdicts.
    scheduler::SLURM_TIME_LIMIT,
    scheduler::SLURM_PREEMPTED,
    scheduler::SLURM_INVALID_ACCOUNT,
    scheduler::SLURM_INVALID_PARTITION,
    scheduler::SLURM_INVALID_QOS,
    scheduler::SLURM_INVALID_TIME,
    scheduler::SLURM_NODE_CONFIG,
    scheduler::PYXIS_REGISTRY_AUTH,
    scheduler::PYXIS_IMPORT_FAILED,
    host::OOM_KILLER,
    // GPU hardware and driver faults explain every CUDA or NCCL error after them.
    gpu::GPU_FELL_OFF_BUS,
    gpu::XID_ECC,
    gpu::XID_NVLINK,
    gpu::XID_FIRMWARE,
    gpu::GPU_LOST,
    gpu::NVML_MISMATCH,
    gpu::ECC,
    gpu::NVLINK,
    // CUDA as the program meets it.
    gpu::CUDA_OOM,
    gpu::CUDA_OOM_ERROR,
    gpu::CUDA_DRIVER_TOO_OLD,
    gpu::CUDA_NO_KERNEL_IMAGE,
    gpu::CUDA_NO_GPUS,
    gpu::CUDA_INIT,
    gpu::CUDA_LIBRARY_INIT,
    gpu::CUDA_ILLEGAL_ADDRESS,
    gpu::CUDA_DEVICE_ASSERT,
    gpu::XID_APP_FAULT,
    // The host and the container around the process.
    host::SHM_EXHAUSTED,
    host::DATALOADER_KILLED,
    host::BUS_ERROR,
    host::DISK_FULL,
    host::READ_ONLY_FS,
    host::EXEC_FORMAT_ERROR,
    host::ILLEGAL_INSTRUCTION,
    host::SEGFAULT,
    host::HOST_OOM,
    // Data and credentials.
    data::S3_NO_CREDENTIALS,
    data::S3_ACCESS_DENIED,
    data::S3_NO_SUCH_BUCKET,
    data::S3_NO_SUCH_KEY,
    data::S3_ENDPOINT_UNREACHABLE,
    data::HF_GATED_REPO,
    data::HF_REPO_NOT_FOUND,
    data::HF_RATE_LIMITED,
    data::HF_UNAUTHORIZED,
    data::CHECKPOINT_MISSING,
    data::WEIGHTS_ONLY_LOAD,
    data::CORRUPT_CHECKPOINT,
    // The program and its environment.
    program::MODULE_NOT_FOUND,
    program::UNDEFINED_SYMBOL,
    program::SHARED_LIB_MISSING,
    program::NAN_LOSS,
    program::YAML_ERROR,
    program::OMEGACONF_ERROR,
    program::HYDRA_ERROR,
    program::TORCH_COMPILE_FAILED,
    program::TRITON_FAILED,
    // Between GPUs and nodes: usually the consequence when anything above also matched.
    distributed::NCCL_IB,
    distributed::NCCL_REMOTE_ERROR,
    distributed::NCCL_ABORTED,
    distributed::NCCL_TIMEOUT,
    distributed::NCCL_INVALID_USAGE,
    distributed::NCCL_INTERNAL,
    distributed::NCCL,
    distributed::INTERCONNECT,
    distributed::GLOO_CONNECTION,
    distributed::RENDEZVOUS_UNRESOLVABLE,
    distributed::RENDEZVOUS_PORT_IN_USE,
    distributed::RENDEZVOUS_TIMEOUT,
    gpu::XID,
    // Summaries and catch-alls: right only when nothing more specific is in the log.
    distributed::TORCHRUN_WORKER_KILLED,
    distributed::TORCHRUN_CHILD_FAILED,
    host::NATIVE_ABORT,
    scheduler::SLURM_CANCELLED,
    host::COMMAND_NOT_FOUND,
    host::NO_SUCH_FILE,
    host::PERMISSION_DENIED,
    data::CREDENTIALS,
];

#[cfg(test)]
mod tests;
