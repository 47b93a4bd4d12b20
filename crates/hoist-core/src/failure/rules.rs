//! The log rule table: which lines of a job's output mean what (class, cause, fix, whether
//! a retry can help). Data only: the matcher is `super::matcher`, the weighing against a
//! platform's own evidence is [`super::analyze`].

use super::ErrClass;

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

/// Log patterns, most specific first. Infrastructure patterns double as the retry triggers
/// (GPU faults, interconnect and driver failures).
pub static LOG_RULES: &[LogRule] = &[
    // The staging runner's own lines (hoist-staging's runner prefixes each with
    // `hoist-runner:`): they come before the command ran, or after it ended.
    LogRule {
        name: "input_missing",
        pattern: r"hoist-runner: input .* does not exist",
        class: ErrClass::Config,
        cause: "an input of the job does not exist, so the command was never started",
        suggestion: "check the URI (hoist check-path URI; hoist ls-path on its parent lists what is there) and fix --input or the spec",
        retriable: false,
    },
    LogRule {
        name: "input_access_denied",
        pattern: r"hoist-runner: .*access refused",
        class: ErrClass::Config,
        cause: "the object store refused the job's credentials",
        suggestion: "export the right ACCESS_KEY/SECRET_KEY (or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY) and S3_ENDPOINT_URL, or HF_TOKEN, where you run hoist; they are passed to the job as environment",
        retriable: false,
    },
    LogRule {
        name: "unsafe_archive",
        pattern: r"hoist-runner: .*would land outside",
        class: ErrClass::Config,
        cause: "an input archive has members that climb out of its directory (../ or absolute paths); nothing was extracted",
        suggestion: "rebuild the archive with relative paths: tar -C DIR -czf data.tgz .",
        retriable: false,
    },
    LogRule {
        name: "spec_unwritable",
        pattern: r"hoist-runner: cannot (write the spec|rewrite the spec|route the outputs)|hoist-runner: config mode needs a spec",
        class: ErrClass::Config,
        cause: "the spec could not be written as asked (a key through a non-map, a missing list element, a null in TOML)",
        suggestion: "fix the spec or the --input/--output keys as the message says, or use --spec-format yaml",
        retriable: false,
    },
    LogRule {
        name: "upload_failed",
        pattern: r"hoist-runner: upload failed",
        class: ErrClass::Infra,
        cause: "the job's outputs could not be uploaded when it ended",
        suggestion: "check that the store is reachable from the job and the credentials can write there; the command's own exit code is kept and the files stay in the job's scratch directory",
        retriable: false,
    },
    LogRule {
        name: "input_fetch_failed",
        pattern: r"hoist-runner: input .* failed:",
        class: ErrClass::Infra,
        cause: "an input could not be downloaded (network or server error)",
        suggestion: "check that the store's endpoint is reachable from where the job runs (S3_ENDPOINT_URL, HF_ENDPOINT)",
        retriable: true,
    },
    LogRule {
        name: "nvidia_toolkit_missing",
        pattern: r#"could not select device driver "[^"]*" with capabilities: \[\[gpu"#,
        class: ErrClass::Infra,
        cause: "the Docker daemon cannot give containers GPUs: the NVIDIA Container Toolkit is not installed or not registered",
        suggestion: "on the daemon's host: install nvidia-container-toolkit, run `nvidia-ctk runtime configure --runtime=docker`, restart dockerd; `hoist preflight --platform docker` checks it",
        retriable: false,
    },
    LogRule {
        name: "image_pull_auth",
        pattern: r"pull access denied|unauthorized: authentication required|no basic auth credentials|denied: requested access to the resource is denied|unauthorized: incorrect username or password",
        class: ErrClass::Config,
        cause: "the registry refused to send the image: credentials missing or wrong",
        suggestion: "for nvcr.io export NGC_KEY; otherwise DOCKER_USERNAME/DOCKER_PASSWORD (and DOCKER_SERVER), or docker login on this machine",
        retriable: false,
    },
    LogRule {
        name: "image_not_found",
        pattern: r"manifest unknown|manifest for .* not found|No such image|repository does not exist|not found: manifest",
        class: ErrClass::Config,
        cause: "the image does not exist (wrong name or tag), or it is not on the daemon and pulling is off",
        suggestion: "check the image name and tag; with --pull never, load or build it on the daemon's host first",
        retriable: false,
    },
    LogRule {
        name: "bind_source_missing",
        pattern: r"bind source path does not exist|invalid mount config.*(no such file|does not exist)|error while creating mount source path",
        class: ErrClass::Config,
        cause: "a --mount source path does not exist on the daemon's host",
        suggestion: "create the path on the host that runs the daemon (for a remote daemon, not this machine), or fix the --mount",
        retriable: false,
    },
    LogRule {
        name: "cuda_oom",
        pattern: r"CUDA out of memory|CUDA error: out of memory|torch\.OutOfMemoryError|CUBLAS_STATUS_ALLOC_FAILED",
        class: ErrClass::Program,
        cause: "the GPU ran out of memory",
        suggestion: "reduce the batch size or sequence length, enable mixed precision or gradient checkpointing, or use GPUs with more memory",
        retriable: false,
    },
    LogRule {
        name: "host_oom",
        pattern: r"\bMemoryError\b|std::bad_alloc|Cannot allocate memory|out of memory: killed process",
        class: ErrClass::Program,
        cause: "the process ran out of host memory (or hit its --memory limit)",
        suggestion: "raise --memory, use a node with more RAM, or reduce what the job holds in memory (data-loader workers, caches)",
        retriable: false,
    },
    LogRule {
        name: "gpu_fell_off_bus",
        pattern: r"fallen off the bus",
        class: ErrClass::Infra,
        cause: "a GPU fell off the PCIe bus (hardware fault)",
        suggestion: "retry on another node and report the node to its administrators",
        retriable: true,
    },
    LogRule {
        name: "xid",
        pattern: r"\bXid\b.*(error|\d+)",
        class: ErrClass::Infra,
        cause: "the NVIDIA driver reported an Xid error (GPU fault)",
        suggestion: "retry on another node; if it repeats on one node, have it drained",
        retriable: true,
    },
    LogRule {
        name: "ecc",
        pattern: r"ECC.*error|uncorrectable ECC",
        class: ErrClass::Infra,
        cause: "a GPU memory ECC error",
        suggestion: "retry on another node; the GPU needs a reset or replacement",
        retriable: true,
    },
    LogRule {
        name: "cuda_init",
        pattern: r"no CUDA-capable device|CUDA driver version is insufficient|NVIDIA driver.*too old|cuInit.*failed|CUDA initialization.*error|Unable to determine the device handle for GPU|torch\.cuda\.is_available\(\).*False",
        class: ErrClass::Infra,
        cause: "CUDA could not initialise a GPU (driver, device or container runtime problem)",
        suggestion: "check nvidia-smi on the node and that the container runtime exposes GPUs (hoist preflight); retry elsewhere",
        retriable: true,
    },
    LogRule {
        name: "nccl",
        pattern: r"NCCL (WARN|ERROR)|nccl(System|Internal|Remote|Unhandled)(Error|CudaError)|NCCL.*error|Watchdog caught collective operation timeout",
        class: ErrClass::Infra,
        cause: "NCCL collective communication failed between GPUs or nodes",
        suggestion: "retry; if it repeats, run with NCCL_DEBUG=INFO and check the network fabric (InfiniBand, firewall, MASTER_ADDR)",
        retriable: true,
    },
    LogRule {
        name: "interconnect",
        pattern: r"InfiniBand.*error|RDMA.*error|ibv_.*failed",
        class: ErrClass::Infra,
        cause: "the InfiniBand/RDMA interconnect failed",
        suggestion: "retry; report the node if it repeats",
        retriable: true,
    },
    LogRule {
        name: "module_not_found",
        pattern: r"ModuleNotFoundError: No module named|ImportError: No module named",
        class: ErrClass::Config,
        cause: "a Python module the command imports is not installed",
        suggestion: "install it in the image (or environment), or use an image that has it",
        retriable: false,
    },
    LogRule {
        name: "command_not_found",
        pattern: r"command not found|: not found$|executable file not found",
        class: ErrClass::Config,
        cause: "the command (or one it runs) is not installed or not on PATH",
        suggestion: "check the command name, install it, or give its full path",
        retriable: false,
    },
    LogRule {
        name: "no_such_file",
        pattern: r"No such file or directory|FileNotFoundError",
        class: ErrClass::Config,
        cause: "a file or directory the job needs does not exist",
        suggestion: "check input paths, mounts and the working directory (hoist preflight --path NAME=PATH checks them before a run)",
        retriable: false,
    },
    LogRule {
        name: "permission_denied",
        pattern: r"Permission denied|PermissionError",
        class: ErrClass::Config,
        cause: "the job lacked permission on a file or directory",
        suggestion: "check ownership and modes of the paths it uses, and the user it runs as",
        retriable: false,
    },
    LogRule {
        name: "credentials",
        pattern: r"InvalidAccessKeyId|SignatureDoesNotMatch|ExpiredToken|401 Unauthorized|403 Forbidden|AccessDenied",
        class: ErrClass::Config,
        cause: "a storage or registry request was refused: credentials missing, wrong or expired",
        suggestion: "check ACCESS_KEY/SECRET_KEY, HF_TOKEN or NGC_KEY in the submitting environment",
        retriable: false,
    },
];
