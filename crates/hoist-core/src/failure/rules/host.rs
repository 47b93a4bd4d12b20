//! The host and container around the process: memory, shared memory, disks, the binary
//! itself, and the generic file, permission and command errors (last in the table).

use super::LogRule;
use crate::failure::ErrClass::{Config, Infra, Program};

pub(super) const OOM_KILLER: LogRule = LogRule {
    name: "oom_killer",
    pattern: r"oom[-_]kill event|Some of the step tasks have been OOM Killed|killed by the cgroup out-of-memory handler|Out of memory: Killed process|Memory cgroup out of memory",
    class: Program,
    cause: "the kernel's out-of-memory killer stopped the job: it used more host memory than its limit",
    suggestion: "ask for more memory (--memory; on SLURM --mem or --mem-per-cpu) or reduce what the job holds in memory (data-loader workers, caches, batch size)",
    retriable: false,
};

pub(super) const SHM_EXHAUSTED: LogRule = LogRule {
    name: "shm_exhausted",
    pattern: r"insufficient shared memory \(shm\)|out of shared memory|is killed by signal: Bus error",
    class: Config,
    cause: "the data loader's workers ran out of shared memory (/dev/shm is too small for them)",
    suggestion: "raise the shared memory size (--shm-size on Docker, an emptyDir with medium Memory on Kubernetes) or use fewer data-loader workers",
    retriable: false,
};

pub(super) const DATALOADER_KILLED: LogRule = LogRule {
    name: "dataloader_killed",
    pattern: r"DataLoader worker \(pid[^)]*\) is killed by signal: Killed",
    class: Program,
    cause: "a data-loader worker was killed (SIGKILL), almost always by the out-of-memory killer when host memory ran out",
    suggestion: "use fewer data-loader workers or a smaller prefetch, or ask for more memory",
    retriable: false,
};

pub(super) const BUS_ERROR: LogRule = LogRule {
    name: "bus_error",
    pattern: r"\bBus error\b",
    class: Infra,
    cause: "the process hit a bus error (SIGBUS): most often /dev/shm is full, or a memory-mapped file shrank under it",
    suggestion: "raise the shared memory size (--shm-size) or reduce data-loader workers; check that input files are not rewritten while the job reads them",
    retriable: false,
};

pub(super) const DISK_FULL: LogRule = LogRule {
    name: "disk_full",
    pattern: r"No space left on device|Errno 28|StorageFull|Disk quota exceeded|Errno 122",
    class: Infra,
    cause: "the disk the job writes to is full, or the user's disk quota is used up",
    suggestion: "free space or write to a larger file system (results, caches and checkpoints: HF_HOME, TMPDIR); df -h and quota show where",
    retriable: false,
};

pub(super) const READ_ONLY_FS: LogRule = LogRule {
    name: "read_only_fs",
    pattern: r"Read-only file system|Errno 30",
    class: Config,
    cause: "the job tried to write to a read-only file system (an image layer or a read-only mount)",
    suggestion: "write results and caches under a writable path (the results directory hoist mounts, or /tmp); set the output directory accordingly",
    retriable: false,
};

pub(super) const EXEC_FORMAT_ERROR: LogRule = LogRule {
    name: "exec_format_error",
    pattern: r"exec format error",
    class: Config,
    cause: "the binary was built for another CPU architecture (an amd64 image on arm64 or the reverse), or a script lacks its #! line",
    suggestion: "use an image built for the node's architecture (docker manifest inspect IMAGE lists them), or add the interpreter line to the script",
    retriable: false,
};

pub(super) const ILLEGAL_INSTRUCTION: LogRule = LogRule {
    name: "illegal_instruction",
    pattern: r"Illegal instruction",
    class: Config,
    cause: "the program used a CPU instruction the node's CPU does not have (a build for newer CPUs, e.g. AVX2/AVX-512)",
    suggestion: "use a build for the node's CPU, or run on nodes with newer CPUs (lscpu lists the flags)",
    retriable: false,
};

pub(super) const SEGFAULT: LogRule = LogRule {
    name: "segfault",
    pattern: r"Segmentation fault|segfault at [0-9a-f]+ ip",
    class: Program,
    cause: "the process crashed with a segmentation fault in native code",
    suggestion: "read the frame above the crash (PYTHONFAULTHANDLER=1 prints the Python frames); check native extensions and library versions for mismatches",
    retriable: false,
};

pub(super) const HOST_OOM: LogRule = LogRule {
    name: "host_oom",
    pattern: r"\bMemoryError\b|std::bad_alloc|Cannot allocate memory",
    class: Program,
    cause: "the process ran out of host memory (or hit its --memory limit)",
    suggestion: "raise --memory, use a node with more RAM, or reduce what the job holds in memory (data-loader workers, caches)",
    retriable: false,
};

pub(super) const NATIVE_ABORT: LogRule = LogRule {
    name: "native_abort",
    pattern: r"terminate called after throwing an instance of '(?P<what>[^']+)'",
    class: Program,
    cause: "native code threw an uncaught {what} and the process aborted",
    suggestion: "read the what(): line after it for the reason; it names the failing call",
    retriable: false,
};

pub(super) const COMMAND_NOT_FOUND: LogRule = LogRule {
    name: "command_not_found",
    pattern: r"command not found|: not found$|executable file not found",
    class: Config,
    cause: "the command (or one it runs) is not installed or not on PATH",
    suggestion: "check the command name, install it, or give its full path",
    retriable: false,
};

pub(super) const NO_SUCH_FILE: LogRule = LogRule {
    name: "no_such_file",
    pattern: r"No such file or directory|FileNotFoundError",
    class: Config,
    cause: "a file or directory the job needs does not exist",
    suggestion: "check input paths, mounts and the working directory (hoist preflight --path NAME=PATH checks them before a run)",
    retriable: false,
};

pub(super) const PERMISSION_DENIED: LogRule = LogRule {
    name: "permission_denied",
    pattern: r"Permission denied|PermissionError",
    class: Config,
    cause: "the job was denied permission on a file or directory (often the results or output directory, owned by another user)",
    suggestion: "check ownership and modes of the paths it writes (ls -ld) and the user it runs as; write under the results directory hoist provides",
    retriable: false,
};
