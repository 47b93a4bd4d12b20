//! hoist's staging runner, container engines and Kubernetes: texts the platform (not the
//! program) wrote, in the log or in the status message.

use super::LogRule;
use crate::failure::ErrClass::{Config, Infra, Program};

// The staging runner prefixes each of its lines with `hoist-runner:`.

pub(super) const INPUT_MISSING: LogRule = LogRule {
    name: "input_missing",
    pattern: r"hoist-runner: input .* does not exist",
    class: Config,
    cause: "an input of the job does not exist, so the command was never started",
    suggestion: "check the URI (hoist check-path URI; hoist ls-path on its parent lists what is there) and fix --input or the spec",
    retriable: false,
};

pub(super) const INPUT_ACCESS_DENIED: LogRule = LogRule {
    name: "input_access_denied",
    pattern: r"hoist-runner: .*access refused",
    class: Config,
    cause: "the object store refused the job's credentials",
    suggestion: "export the right ACCESS_KEY/SECRET_KEY (or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY) and S3_ENDPOINT_URL, or HF_TOKEN, where you run hoist; they are passed to the job as environment",
    retriable: false,
};

pub(super) const UNSAFE_ARCHIVE: LogRule = LogRule {
    name: "unsafe_archive",
    pattern: r"hoist-runner: .*would land outside",
    class: Config,
    cause: "an input archive has members that climb out of its directory (../ or absolute paths); nothing was extracted",
    suggestion: "rebuild the archive with relative paths: tar -C DIR -czf data.tgz .",
    retriable: false,
};

pub(super) const SPEC_UNWRITABLE: LogRule = LogRule {
    name: "spec_unwritable",
    pattern: r"hoist-runner: cannot (write the spec|rewrite the spec|route the outputs)|hoist-runner: config mode needs a spec",
    class: Config,
    cause: "the spec could not be written as asked (a key through a non-map, a missing list element, a null in TOML)",
    suggestion: "fix the spec or the --input/--output keys as the message says, or use --spec-format yaml",
    retriable: false,
};

pub(super) const UPLOAD_FAILED: LogRule = LogRule {
    name: "upload_failed",
    pattern: r"hoist-runner: upload failed",
    class: Infra,
    cause: "the job's outputs could not be uploaded when it ended",
    suggestion: "check that the store is reachable from the job and the credentials can write there; the command's own exit code is kept and the files stay in the job's scratch directory",
    retriable: false,
};

pub(super) const INPUT_FETCH_FAILED: LogRule = LogRule {
    name: "input_fetch_failed",
    pattern: r"hoist-runner: input .* failed:",
    class: Infra,
    cause: "an input could not be downloaded (network or server error)",
    suggestion: "check that the store's endpoint is reachable from where the job runs (S3_ENDPOINT_URL, HF_ENDPOINT)",
    retriable: true,
};

// Container engines.

pub(super) const NVIDIA_TOOLKIT_MISSING: LogRule = LogRule {
    name: "nvidia_toolkit_missing",
    pattern: r#"could not select device driver "[^"]*" with capabilities: \[\[gpu|unknown or invalid runtime name: nvidia|unknown runtime specified nvidia"#,
    class: Infra,
    cause: "the Docker daemon cannot give containers GPUs: the NVIDIA Container Toolkit is not installed or not registered",
    suggestion: "on the daemon's host: install nvidia-container-toolkit, run `nvidia-ctk runtime configure --runtime=docker`, restart dockerd; `hoist preflight --platform docker` checks it",
    retriable: false,
};

pub(super) const DOCKER_PORT_IN_USE: LogRule = LogRule {
    name: "docker_port_in_use",
    pattern: r"port is already allocated|failed to bind host port",
    class: Config,
    cause: "the container asked to publish a host port that another container or process already holds",
    suggestion: "publish a different host port, or stop whatever holds it (docker ps; ss -ltnp on the daemon's host)",
    retriable: false,
};

pub(super) const DOCKER_NAME_CONFLICT: LogRule = LogRule {
    name: "docker_name_conflict",
    pattern: r"Conflict\. The container name .* is already in use",
    class: Config,
    cause: "a container with the same name already exists on the daemon",
    suggestion: "choose another --name, or remove the old container (docker rm NAME) if it is finished",
    retriable: false,
};

pub(super) const NGC_UNAUTHORIZED: LogRule = LogRule {
    name: "ngc_unauthorized",
    pattern: r"nvcr\.io.*(401|unauthorized|authentication required|denied)|ngc.*(invalid api ?key|missing api key)",
    class: Config,
    cause: "NGC (nvcr.io) refused the pull: no NGC API key was given, it is wrong, or it has no access to this image",
    suggestion: "export NGC_KEY (an NGC API key with access to the image's org) where you run hoist; check the image path on catalog.ngc.nvidia.com",
    retriable: false,
};

pub(super) const IMAGE_PULL_RATE_LIMIT: LogRule = LogRule {
    name: "image_pull_rate_limit",
    pattern: r"toomanyrequests|reached your pull rate limit|429 Too Many Requests",
    class: Infra,
    cause: "the registry's pull rate limit was reached (anonymous Docker Hub pulls are limited per IP)",
    suggestion: "log in to the registry (DOCKER_USERNAME/DOCKER_PASSWORD), use a mirror or a registry of your own, or run again later",
    retriable: true,
};

pub(super) const IMAGE_PULL_AUTH: LogRule = LogRule {
    name: "image_pull_auth",
    pattern: r"pull access denied|unauthorized: authentication required|no basic auth credentials|denied: requested access to the resource is denied|unauthorized: incorrect username or password|failed to fetch anonymous token",
    class: Config,
    cause: "the registry refused to send the image: credentials missing or wrong (Docker Hub says the same when the repository does not exist)",
    suggestion: "for nvcr.io export NGC_KEY; otherwise DOCKER_USERNAME/DOCKER_PASSWORD (and DOCKER_SERVER), or docker login on this machine; check the image name",
    retriable: false,
};

pub(super) const IMAGE_NOT_FOUND: LogRule = LogRule {
    name: "image_not_found",
    pattern: r"manifest unknown|manifest for .* not found|No such image|repository does not exist|not found: manifest|failed to resolve reference .*: not found|code = NotFound desc = failed to pull",
    class: Config,
    cause: "the image does not exist (wrong name or tag), or it is not on the daemon and pulling is off",
    suggestion: "check the image name and tag; with --pull never, load or build it on the daemon's host first",
    retriable: false,
};

pub(super) const BIND_SOURCE_MISSING: LogRule = LogRule {
    name: "bind_source_missing",
    pattern: r"bind source path does not exist|invalid mount config.*(no such file|does not exist)|error while creating mount source path",
    class: Config,
    cause: "a --mount source path does not exist on the daemon's host",
    suggestion: "create the path on the host that runs the daemon (for a remote daemon, not this machine), or fix the --mount",
    retriable: false,
};

// Kubernetes: reasons and messages from pod status and events.

pub(super) const K8S_CREATE_CONTAINER_CONFIG: LogRule = LogRule {
    name: "k8s_create_container_config",
    pattern: r#"CreateContainerConfigError|(secret|configmap) "[^"]+" not found|couldn't find key .* in (Secret|ConfigMap)"#,
    class: Config,
    cause: "Kubernetes could not build the container: a Secret or ConfigMap it refers to (or a key in it) does not exist in the namespace",
    suggestion: "create the Secret/ConfigMap in the job's namespace (kubectl get secret,configmap -n NS) or fix the reference",
    retriable: false,
};

pub(super) const K8S_OOMKILLED: LogRule = LogRule {
    name: "k8s_oomkilled",
    pattern: r"\bOOMKilled\b",
    class: Program,
    cause: "the container used more memory than its limit and the kernel killed it (OOMKilled)",
    suggestion: "raise --memory (the pod's memory limit) or reduce what the job holds in memory (data-loader workers, caches)",
    retriable: false,
};

pub(super) const K8S_EVICTED: LogRule = LogRule {
    name: "k8s_evicted",
    pattern: r"node was low on resource: (?P<resource>[a-z-]+)",
    class: Infra,
    cause: "Kubernetes evicted the pod because its node ran low on {resource}",
    suggestion: "set requests and limits for {resource} so the scheduler places the pod where it fits, clean up what the job writes locally, and run it again",
    retriable: false,
};

pub(super) const K8S_INSUFFICIENT_GPU: LogRule = LogRule {
    name: "k8s_insufficient_gpu",
    pattern: r"Insufficient nvidia\.com/gpu",
    class: Infra,
    cause: "no node has enough free GPUs (nvidia.com/gpu) for the pod",
    suggestion: "ask for fewer GPUs per pod, wait for GPUs to free up, or add GPU nodes; kubectl describe nodes shows what is allocatable",
    retriable: false,
};

pub(super) const K8S_NODE_SELECTOR: LogRule = LogRule {
    name: "k8s_node_selector",
    pattern: r"didn't match (Pod's )?node (affinity/)?selector|didn't match node selector",
    class: Config,
    cause: "no node carries the labels the pod's node selector or affinity asks for",
    suggestion: "fix the node selector (kubectl get nodes --show-labels lists the labels), or label the GPU nodes",
    retriable: false,
};

pub(super) const K8S_UNTOLERATED_TAINT: LogRule = LogRule {
    name: "k8s_untolerated_taint",
    pattern: r"untolerated taint|had taints? .* that the pod didn't tolerate",
    class: Config,
    cause: "the nodes that could run the pod have a taint the pod does not tolerate",
    suggestion: "add a toleration for the taint (for GPU nodes usually nvidia.com/gpu:NoSchedule) or ask the cluster owner which nodes to use",
    retriable: false,
};

pub(super) const K8S_DEADLINE: LogRule = LogRule {
    name: "k8s_deadline",
    pattern: r"DeadlineExceeded|was active longer than specified deadline",
    class: Config,
    cause: "the Kubernetes Job ran past its activeDeadlineSeconds and was stopped",
    suggestion: "raise the job's time limit (activeDeadlineSeconds) or make the job save and resume from checkpoints",
    retriable: false,
};
