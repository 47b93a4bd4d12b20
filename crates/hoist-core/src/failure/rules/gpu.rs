//! GPUs: hardware faults the driver reports (Xid codes by meaning, ECC, NVLink), driver and
//! CUDA setup, and CUDA errors as the program meets them.
//!
//! Xid meanings follow NVIDIA's Xid catalog: 13/31/43 are usually the application's own
//! fault; 48/63/64/92/94/95 memory (ECC, row remapping); 74 NVLink; 61/62/119/120 the GPU's
//! firmware (GSP); 79 the GPU left the PCIe bus.

use super::LogRule;
use crate::failure::ErrClass::{Config, Infra, Program};

pub(super) const GPU_FELL_OFF_BUS: LogRule = LogRule {
    name: "gpu_fell_off_bus",
    pattern: r"fallen off the bus|Xid \([^)]*\): 79,",
    class: Infra,
    cause: "a GPU fell off the PCIe bus (Xid 79): the node's hardware, power or cooling failed",
    suggestion: "run it again on another node and report the node to its administrators (it needs a reboot or repair)",
    retriable: true,
};

pub(super) const XID_ECC: LogRule = LogRule {
    name: "xid_ecc",
    pattern: r"Xid \([^)]*\): (48|63|64|92|94|95),",
    class: Infra,
    cause: "the GPU's memory reported an ECC error or a row-remapping event (Xid 48/63/64/92/94/95); the GPU needs a reset or replacement",
    suggestion: "run it again on another node; have the node drained and the GPU reset (nvidia-smi -q -d ECC,ROW_REMAPPER shows the counters)",
    retriable: true,
};

pub(super) const XID_NVLINK: LogRule = LogRule {
    name: "xid_nvlink",
    pattern: r"Xid \([^)]*\): 74,",
    class: Infra,
    cause: "an NVLink connection between GPUs failed (Xid 74)",
    suggestion: "run it again on another node; report the node (nvidia-smi nvlink -s shows the links)",
    retriable: true,
};

pub(super) const XID_FIRMWARE: LogRule = LogRule {
    name: "xid_firmware",
    pattern: r"Xid \([^)]*\): (61|62|119|120),|Timeout waiting for RPC from GSP",
    class: Infra,
    cause: "the GPU's firmware (GSP or an internal micro-controller) stopped answering the driver (Xid 61/62/119/120)",
    suggestion: "run it again on another node; the GPU needs a reset and the node may need a newer driver",
    retriable: true,
};

pub(super) const GPU_LOST: LogRule = LogRule {
    name: "gpu_lost",
    pattern: r"GPU is lost|Unable to determine the device handle for GPU",
    class: Infra,
    cause: "a GPU stopped responding and the driver marked it lost",
    suggestion: "run it again on another node; the node needs a reboot",
    retriable: true,
};

pub(super) const NVML_MISMATCH: LogRule = LogRule {
    name: "nvml_mismatch",
    pattern: r"Driver/library version mismatch",
    class: Infra,
    cause: "the node's NVIDIA driver was upgraded without a reboot: the loaded kernel module and the user-space libraries differ",
    suggestion: "run it again on another node; the node needs a reboot (or the old driver module unloaded)",
    retriable: true,
};

pub(super) const ECC: LogRule = LogRule {
    name: "ecc",
    pattern: r"uncorrectable ECC error|ECC error",
    class: Infra,
    cause: "a GPU memory ECC error stopped the computation",
    suggestion: "run it again on another node; the GPU needs a reset or replacement",
    retriable: true,
};

pub(super) const NVLINK: LogRule = LogRule {
    name: "nvlink",
    pattern: r"uncorrectable NVLink error|NVLINK_UNCORRECTABLE|NVLink: fatal",
    class: Infra,
    cause: "an NVLink connection between GPUs failed",
    suggestion: "run it again on another node; report the node (nvidia-smi nvlink -s shows the links)",
    retriable: true,
};

pub(super) const CUDA_OOM: LogRule = LogRule {
    name: "cuda_oom",
    // Older PyTorch: "(… 3.44 MiB free; …)"; newer: "of which 3.44 MiB is free".
    pattern: r"CUDA out of memory\. Tried to allocate (?P<size>[0-9.]+ [KMGT]?i?B)(?:.*?(?P<free>[0-9.]+ [KMGT]?i?B) (?:is )?free)?",
    class: Program,
    cause: "the GPU ran out of memory: an allocation of {size} did not fit (only {free} was free)",
    suggestion: "reduce the batch size or sequence length, enable mixed precision or gradient checkpointing, or use GPUs with more memory; PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True helps when memory is fragmented",
    retriable: false,
};

pub(super) const CUDA_OOM_ERROR: LogRule = LogRule {
    name: "cuda_oom_error",
    pattern: r"CUDA out of memory|CUDA error: out of memory|torch\.(cuda\.)?OutOfMemoryError|CUBLAS_STATUS_ALLOC_FAILED|cudaErrorMemoryAllocation",
    class: Program,
    cause: "the GPU ran out of memory",
    suggestion: "reduce the batch size or sequence length, enable mixed precision or gradient checkpointing, or use GPUs with more memory",
    retriable: false,
};

pub(super) const CUDA_DRIVER_TOO_OLD: LogRule = LogRule {
    name: "cuda_driver_too_old",
    pattern: r"NVIDIA driver on your system is too old|CUDA driver version is insufficient for CUDA runtime version|driver.*too old",
    class: Config,
    cause: "the image's CUDA is newer than the node's NVIDIA driver supports (the driver is older than the CUDA runtime needs)",
    suggestion: "use an image (or a PyTorch build) made for an older CUDA, or run on nodes with a newer driver (nvidia-smi shows the highest CUDA it supports)",
    retriable: false,
};

pub(super) const CUDA_NO_KERNEL_IMAGE: LogRule = LogRule {
    name: "cuda_no_kernel_image",
    pattern: r"no kernel image is available for execution on the device|is not compatible with the current PyTorch installation",
    class: Config,
    cause: "the code was not compiled for this GPU's compute capability (the image's CUDA build does not include its sm_ architecture)",
    suggestion: "use a PyTorch/CUDA build that supports the GPU (newer GPUs need newer CUDA), or rebuild the extension with TORCH_CUDA_ARCH_LIST including the GPU's capability",
    retriable: false,
};

pub(super) const CUDA_NO_GPUS: LogRule = LogRule {
    name: "cuda_no_gpus",
    pattern: r"No CUDA GPUs are available|Found no NVIDIA driver on your system|CUDA_VISIBLE_DEVICES.*(empty|no devices)",
    class: Config,
    cause: "the job sees no GPU: it was started without one, or CUDA_VISIBLE_DEVICES hides them",
    suggestion: "ask for GPUs (--gpus N) and do not override CUDA_VISIBLE_DEVICES in the command; `hoist preflight` shows what the platform offers",
    retriable: false,
};

pub(super) const CUDA_INIT: LogRule = LogRule {
    name: "cuda_init",
    pattern: r"no CUDA-capable device|cuInit.*failed|CUDA initialization.*error|CUDA error: initialization error|torch\.cuda\.is_available\(\).*False",
    class: Infra,
    cause: "CUDA could not initialise a GPU (driver, device or container runtime problem)",
    suggestion: "check nvidia-smi on the node and that the container runtime exposes GPUs (hoist preflight); run it again elsewhere",
    retriable: true,
};

pub(super) const CUDA_LIBRARY_INIT: LogRule = LogRule {
    name: "cuda_library_init",
    pattern: r"CUBLAS_STATUS_NOT_INITIALIZED|CUDNN_STATUS_NOT_INITIALIZED|CUDNN_STATUS_INTERNAL_ERROR|cuDNN error: CUDNN_STATUS|failed to create cublas handle|cuDNN version incompatibility",
    class: Config,
    cause: "a CUDA library (cuBLAS or cuDNN) could not start: most often the GPU had no memory left for its handle, or the library does not match the driver or PyTorch",
    suggestion: "check that nothing else holds the GPU's memory and lower the batch size; otherwise use an image whose cuDNN/cuBLAS match its PyTorch build",
    retriable: false,
};

pub(super) const CUDA_ILLEGAL_ADDRESS: LogRule = LogRule {
    name: "cuda_illegal_address",
    pattern: r"an illegal memory access was encountered|cudaErrorIllegalAddress|CUDA_ERROR_ILLEGAL_ADDRESS",
    class: Program,
    cause: "a CUDA kernel made an illegal memory access (out-of-bounds index, a bug in a custom kernel, or a library bug)",
    suggestion: "run with CUDA_LAUNCH_BLOCKING=1 to find the kernel (compute-sanitizer for detail); check custom CUDA extensions and index ranges",
    retriable: false,
};

pub(super) const CUDA_DEVICE_ASSERT: LogRule = LogRule {
    name: "cuda_device_assert",
    pattern: r"device-side assert triggered",
    class: Program,
    cause: "a device-side assertion failed in a CUDA kernel, most often an index out of range (a label >= the number of classes, an embedding index past the vocabulary)",
    suggestion: "run on CPU or with CUDA_LAUNCH_BLOCKING=1 to see the failing operation, then check label and index ranges",
    retriable: false,
};

pub(super) const XID_APP_FAULT: LogRule = LogRule {
    name: "xid_app_fault",
    pattern: r"Xid \([^)]*\): (13|31|43),",
    class: Program,
    cause: "the GPU stopped a kernel on a fault of its own making (Xid 13/31/43: out-of-range address, MMU fault), most often a bug in the program or a CUDA extension",
    suggestion: "run with CUDA_LAUNCH_BLOCKING=1 and compute-sanitizer to find the kernel; if known-good code faults on one GPU only, report the node",
    retriable: false,
};

pub(super) const XID: LogRule = LogRule {
    name: "xid",
    pattern: r"\bXid\b.*(error|\d+)",
    class: Infra,
    cause: "the NVIDIA driver reported an Xid error (a GPU fault)",
    suggestion: "run it again on another node; if it repeats on one node, have it drained (the Xid number in the evidence says which fault)",
    retriable: true,
};
