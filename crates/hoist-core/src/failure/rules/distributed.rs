//! Between GPUs and nodes: NCCL by kind, InfiniBand/RoCE, gloo, the c10d rendezvous, and
//! torchrun's summary of a failed worker.

use super::LogRule;
use crate::failure::ErrClass::{Config, Infra, Program};

pub(super) const NCCL_IB: LogRule = LogRule {
    name: "nccl_ib",
    pattern: r"NET/IB ?: |ibv_[a-z_]+ failed|NET/Plugin.*(failed|error)|Failed to open libnccl-net",
    class: Infra,
    cause: "NCCL's InfiniBand/RoCE transport (or its network plugin) failed between nodes",
    suggestion: "run it again; if it repeats, check the IB ports (ibstat), NCCL_IB_HCA and NCCL_SOCKET_IFNAME, and report the node",
    retriable: true,
};

pub(super) const NCCL_REMOTE_ERROR: LogRule = LogRule {
    name: "nccl_remote_error",
    pattern: r"ncclRemoteError|remote process exited or there was a network error",
    class: Infra,
    cause: "NCCL lost a peer: another rank exited or the network between the nodes failed",
    suggestion: "look in the other ranks' logs for the first error (a crash there is the cause); otherwise run it again and check the network",
    retriable: true,
};

pub(super) const NCCL_ABORTED: LogRule = LogRule {
    name: "nccl_aborted",
    pattern: r"NCCL communicator was aborted",
    class: Infra,
    cause: "the NCCL communicator was aborted after an earlier failure (a collective timed out or another rank failed)",
    suggestion: "find the first failing rank in the logs; run it again if that was an infrastructure fault",
    retriable: true,
};

pub(super) const NCCL_TIMEOUT: LogRule = LogRule {
    name: "nccl_timeout",
    pattern: r"Watchdog caught collective operation timeout|WorkNCCL.* timed out|NCCL timeout",
    class: Infra,
    cause: "an NCCL collective timed out: some rank stopped taking part (it hung, crashed, or was slowed by I/O)",
    suggestion: "look for the rank that stopped first (its log shows an error or a hang); raise the timeout only for long uneven steps; TORCH_NCCL_TRACE_BUFFER_SIZE helps find the stuck collective",
    retriable: true,
};

pub(super) const NCCL_INVALID_USAGE: LogRule = LogRule {
    name: "nccl_invalid_usage",
    pattern: r"ncclInvalidUsage|NCCL error.*invalid usage",
    class: Program,
    cause: "the program used NCCL incorrectly (invalid usage: mismatched collectives, a wrong device, or a rank using the same GPU twice)",
    suggestion: "run with NCCL_DEBUG=WARN to see the reason; check that each rank uses its own GPU (torch.cuda.set_device(local_rank))",
    retriable: false,
};

pub(super) const NCCL_INTERNAL: LogRule = LogRule {
    name: "nccl_internal",
    pattern: r"ncclInternalError|internal error - please report this issue to the NCCL developers|NCCL error.*internal error",
    class: Infra,
    cause: "NCCL hit an internal error, usually after a connection between ranks broke",
    suggestion: "run it again; if it repeats, run with NCCL_DEBUG=INFO and check the network and the NCCL version",
    retriable: true,
};

pub(super) const NCCL: LogRule = LogRule {
    name: "nccl",
    pattern: r"NCCL (WARN|ERROR)|nccl(System|Unhandled)(Error|CudaError)|unhandled system error|NCCL.*error",
    class: Infra,
    cause: "NCCL failed: a system call (socket, memory, shared memory) or the network between GPUs or nodes failed",
    suggestion: "run it again; if it repeats, run with NCCL_DEBUG=INFO and check the network fabric (InfiniBand, firewall, MASTER_ADDR) and /dev/shm",
    retriable: true,
};

pub(super) const INTERCONNECT: LogRule = LogRule {
    name: "interconnect",
    pattern: r"InfiniBand.*error|RDMA.*error|ibv_.*failed|UCX +ERROR",
    class: Infra,
    cause: "the InfiniBand/RDMA interconnect (verbs, UCX) failed between nodes",
    suggestion: "run it again; report the node if it repeats",
    retriable: true,
};

pub(super) const GLOO_CONNECTION: LogRule = LogRule {
    name: "gloo_connection",
    pattern: r"gloo.*(Connection closed by peer|Connection reset by peer|Read error|Timed out)",
    class: Infra,
    cause: "a gloo connection between ranks broke: a peer process exited or the network dropped it",
    suggestion: "look in the other ranks' logs for the first error; otherwise run it again",
    retriable: true,
};

pub(super) const RENDEZVOUS_UNRESOLVABLE: LogRule = LogRule {
    name: "rendezvous_unresolvable",
    pattern: r"c10d.*gai error|c10d.*cannot be retrieved|MASTER_ADDR.*(not known|resolve)",
    class: Config,
    cause: "the rendezvous host (MASTER_ADDR) could not be resolved from this node",
    suggestion: "set MASTER_ADDR to a name or address every node can resolve (hostname -i on the first node), or fix /etc/hosts in the container",
    retriable: false,
};

pub(super) const RENDEZVOUS_PORT_IN_USE: LogRule = LogRule {
    name: "rendezvous_port_in_use",
    pattern: r"server socket has failed to (listen|bind)|EADDRINUSE",
    class: Config,
    cause: "the rendezvous port (MASTER_PORT) is already taken on this node, often by another job's torchrun",
    suggestion: "pick a free MASTER_PORT (or --master_port / --rdzv-endpoint host:0 for a random one)",
    retriable: false,
};

pub(super) const RENDEZVOUS_TIMEOUT: LogRule = LogRule {
    name: "rendezvous_timeout",
    pattern: r"DistStoreError|clients joined|workers joined|RendezvousTimeoutError|client socket has timed out after|Socket Timeout",
    class: Infra,
    cause: "some processes of the distributed job did not join the rendezvous in time (a peer did not start, crashed, or cannot reach MASTER_ADDR:MASTER_PORT)",
    suggestion: "check that every node started and can reach MASTER_ADDR:MASTER_PORT (firewall), and look for an earlier error on the missing ranks",
    retriable: true,
};

pub(super) const TORCHRUN_WORKER_KILLED: LogRule = LogRule {
    name: "torchrun_worker_killed",
    pattern: r"traceback *: Signal (?P<signal>[0-9]+) \((?P<name>SIG[A-Z]+)\) received by PID",
    class: Program,
    cause: "torchrun's worker was killed by signal {signal} ({name}); SIGKILL is almost always the out-of-memory killer",
    suggestion: "for SIGKILL ask for more host memory or load less at once (fewer workers, smaller shards); dmesg on the node confirms the OOM kill",
    retriable: false,
};

pub(super) const TORCHRUN_CHILD_FAILED: LogRule = LogRule {
    name: "torchrun_child_failed",
    pattern: r"^ *rank *: (?P<rank>[0-9]+) \(local_rank: (?P<local>[0-9]+)\)",
    class: Program,
    cause: "torchrun's worker rank {rank} (local rank {local}) failed first; its own error, printed above torchrun's summary, is the cause",
    suggestion: "read the traceback of rank {rank} above the summary (torchrun --redirects and --tee keep each rank's output apart)",
    retriable: false,
};
