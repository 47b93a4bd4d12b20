//! Data and credentials: S3 (botocore's and other clients' words), the Hugging Face Hub,
//! checkpoints and their loading.

use super::LogRule;
use crate::failure::ErrClass::{Config, Infra};

pub(super) const S3_NO_CREDENTIALS: LogRule = LogRule {
    name: "s3_no_credentials",
    pattern: r"NoCredentialsError|Unable to locate credentials|PartialCredentialsError",
    class: Config,
    cause: "the S3 client found no credentials in the job's environment",
    suggestion: "export AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (or ACCESS_KEY/SECRET_KEY) where you run hoist; hoist passes them to the job as secrets",
    retriable: false,
};

pub(super) const S3_ACCESS_DENIED: LogRule = LogRule {
    name: "s3_access_denied",
    pattern: r"\(AccessDenied\)|AccessDenied: Access Denied|<Code>AccessDenied</Code>",
    class: Config,
    cause: "the object store refused the request: the credentials have no right to that bucket or key",
    suggestion: "check the bucket policy and the key's permissions for these credentials (aws s3 ls s3://BUCKET with the same keys), and the S3_ENDPOINT_URL",
    retriable: false,
};

pub(super) const S3_NO_SUCH_BUCKET: LogRule = LogRule {
    name: "s3_no_such_bucket",
    pattern: r"NoSuchBucket|The specified bucket does not exist",
    class: Config,
    cause: "the bucket does not exist on that endpoint (a typo, another region, or another S3 endpoint)",
    suggestion: "check the bucket name and S3_ENDPOINT_URL/region (hoist ls-path s3://BUCKET/ lists what is there)",
    retriable: false,
};

pub(super) const S3_NO_SUCH_KEY: LogRule = LogRule {
    name: "s3_no_such_key",
    pattern: r"NoSuchKey|The specified key does not exist|\(404\) when calling the HeadObject operation",
    class: Config,
    cause: "the object (key) does not exist in the bucket",
    suggestion: "check the key's path and spelling (hoist ls-path on its parent prefix lists what is there)",
    retriable: false,
};

pub(super) const S3_ENDPOINT_UNREACHABLE: LogRule = LogRule {
    name: "s3_endpoint_unreachable",
    pattern: r"EndpointConnectionError|Could not connect to the endpoint URL",
    class: Infra,
    cause: "the S3 endpoint could not be reached from the job (wrong URL, DNS, firewall, or the server is down)",
    suggestion: "check S3_ENDPOINT_URL and that the job's network reaches it (curl -I the endpoint from a job); run it again if the server was down",
    retriable: true,
};

pub(super) const HF_GATED_REPO: LogRule = LogRule {
    name: "hf_gated_repo",
    pattern: r"GatedRepoError|Cannot access gated repo|access a gated repo",
    class: Config,
    cause: "the Hugging Face model or dataset is gated: the token is missing or its account has not been granted access",
    suggestion: "request access on the repo's page with the account whose token you use, then export HF_TOKEN where you run hoist",
    retriable: false,
};

pub(super) const HF_REPO_NOT_FOUND: LogRule = LogRule {
    name: "hf_repo_not_found",
    pattern: r"RepositoryNotFoundError|Repository Not Found for url|is not a valid model identifier listed on",
    class: Config,
    cause: "the Hugging Face repository was not found: the name is wrong, or it is private and the token cannot see it",
    suggestion: "check the repo id (and repo_type for datasets); for a private repo export HF_TOKEN of an account with access",
    retriable: false,
};

pub(super) const HF_RATE_LIMITED: LogRule = LogRule {
    name: "hf_rate_limited",
    pattern: r"429 Client Error: Too Many Requests for url: https://huggingface\.co",
    class: Infra,
    cause: "the Hugging Face Hub rate-limited the downloads (HTTP 429)",
    suggestion: "export HF_TOKEN (authenticated requests get higher limits), cache models in HF_HOME on shared storage, or run it again later",
    retriable: true,
};

pub(super) const HF_UNAUTHORIZED: LogRule = LogRule {
    name: "hf_unauthorized",
    pattern: r"401 Client Error.*huggingface\.co|Invalid user token|Invalid credentials in Authorization header",
    class: Config,
    cause: "the Hugging Face Hub refused the request (401): HF_TOKEN is missing, invalid or expired",
    suggestion: "export a valid HF_TOKEN where you run hoist (huggingface-cli whoami checks it)",
    retriable: false,
};

pub(super) const CHECKPOINT_MISSING: LogRule = LogRule {
    name: "checkpoint_missing",
    pattern: r"checkpoint.*(does not exist|not found)|No such file or directory: '[^']*\.(ckpt|pt|pth|safetensors|bin)'",
    class: Config,
    cause: "the checkpoint the job loads or resumes from does not exist at that path",
    suggestion: "check the checkpoint path (and that the job sees it: inputs, mounts), or start without resuming",
    retriable: false,
};

pub(super) const WEIGHTS_ONLY_LOAD: LogRule = LogRule {
    name: "weights_only_load",
    pattern: r"Weights only load failed|WeightsUnpickler error",
    class: Config,
    cause: "torch.load refused the checkpoint: since PyTorch 2.6 it loads weights only, and this file holds other Python objects",
    suggestion: "if you trust the file, pass weights_only=False to torch.load, or allow its classes with torch.serialization.add_safe_globals",
    retriable: false,
};

pub(super) const CORRUPT_CHECKPOINT: LogRule = LogRule {
    name: "corrupt_checkpoint",
    pattern: r"invalid load key|PytorchStreamReader failed reading zip archive|failed finding central directory|Error while deserializing header|UnpicklingError",
    class: Config,
    cause: "the checkpoint file cannot be read: it is truncated, corrupt, or not a checkpoint at all (often a Git LFS pointer or an HTML error page)",
    suggestion: "download the file again and compare its size and checksum (git lfs pull for LFS files)",
    retriable: false,
};

pub(super) const CREDENTIALS: LogRule = LogRule {
    name: "credentials",
    pattern: r"InvalidAccessKeyId|SignatureDoesNotMatch|ExpiredToken|401 Unauthorized|403 Forbidden|AccessDenied",
    class: Config,
    cause: "a storage or registry request was refused: credentials missing, wrong or expired",
    suggestion: "check ACCESS_KEY/SECRET_KEY, HF_TOKEN or NGC_KEY in the submitting environment",
    retriable: false,
};
