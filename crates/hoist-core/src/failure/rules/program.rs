//! The program and its environment: missing modules and native libraries, diverging
//! training, configuration files, and the compiler stack (torch.compile, Triton).

use super::LogRule;
use crate::failure::ErrClass::{Config, Program};

pub(super) const MODULE_NOT_FOUND: LogRule = LogRule {
    name: "module_not_found",
    pattern: r"(ModuleNotFoundError|ImportError): No module named '?(?P<module>[A-Za-z0-9_.]+)",
    class: Config,
    cause: "the Python module '{module}' is not installed where the job runs",
    suggestion: "install it in the image or environment (pip install), or use an image that has it; check that the job uses the Python you expect",
    retriable: false,
};

pub(super) const UNDEFINED_SYMBOL: LogRule = LogRule {
    name: "undefined_symbol",
    pattern: r"undefined symbol: (?P<symbol>[^ ,]+)",
    class: Config,
    cause: "a compiled extension does not match the libraries it loads (undefined symbol {symbol}): it was built against another version of PyTorch or CUDA",
    suggestion: "rebuild or reinstall the extension against the installed PyTorch (pip install --no-build-isolation --force-reinstall), or pin matching versions",
    retriable: false,
};

pub(super) const SHARED_LIB_MISSING: LogRule = LogRule {
    name: "shared_lib_missing",
    pattern: r"(?P<lib>lib[A-Za-z0-9_+.-]*\.so[0-9.]*): cannot open shared object file",
    class: Config,
    cause: "the shared library {lib} is not in the image or not on the library path",
    suggestion: "install the library the package was built for (libcudart/libcudnn come with the matching CUDA/cuDNN), use an image that has it, or fix LD_LIBRARY_PATH",
    retriable: false,
};

pub(super) const NAN_LOSS: LogRule = LogRule {
    name: "nan_loss",
    pattern: r"loss (is|became|=) ?(nan|inf)|nan loss|non-finite loss|detected (nan|inf)|returned nan values|NaN or Inf found|loss_scale.*(reached|minimum)|Loss is nan",
    class: Program,
    cause: "training diverged: the loss became NaN or infinite",
    suggestion: "lower the learning rate, add warm-up or gradient clipping, check the inputs for NaN, and prefer bf16 over fp16 (or check the loss scaler)",
    retriable: false,
};

pub(super) const YAML_ERROR: LogRule = LogRule {
    name: "yaml_error",
    pattern: r"yaml\.(scanner|parser|constructor|composer|reader)\.[A-Za-z]*Error|mapping values are not allowed here|could not find expected ':'|found character that cannot start any token",
    class: Config,
    cause: "a YAML file the job reads is not valid YAML",
    suggestion: "fix the file at the line and column the error gives (indentation, a missing ':' or an unquoted special character); yamllint FILE checks it",
    retriable: false,
};

pub(super) const OMEGACONF_ERROR: LogRule = LogRule {
    name: "omegaconf_error",
    pattern: r"omegaconf\.errors\.[A-Za-z]+|ConfigAttributeError|ConfigKeyError|MissingMandatoryValue|is not in struct",
    class: Config,
    cause: "the OmegaConf configuration is wrong: a key is missing, misspelt, has no value (???) or the wrong type",
    suggestion: "fix the key named in the error in the config or the command-line override (+key=value adds a key to a struct config)",
    retriable: false,
};

pub(super) const HYDRA_ERROR: LogRule = LogRule {
    name: "hydra_error",
    pattern: r"hydra\.errors\.[A-Za-z]+|ConfigCompositionException|Could not override '|in the config search path|MissingConfigException",
    class: Config,
    cause: "Hydra could not compose the configuration: a config group, file or override does not exist",
    suggestion: "check the override against the config tree (--cfg job prints the composed config, --info searchpath the search path)",
    retriable: false,
};

pub(super) const TORCH_COMPILE_FAILED: LogRule = LogRule {
    name: "torch_compile_failed",
    pattern: r"torch\._dynamo\.exc\.[A-Za-z]+|BackendCompilerFailed|torch\._inductor\.exc\.[A-Za-z]+|InductorError",
    class: Program,
    cause: "torch.compile failed to compile the model (TorchDynamo or Inductor raised)",
    suggestion: "run without torch.compile to confirm, then try another backend or mode, or a newer PyTorch; TORCH_LOGS=+dynamo shows where it breaks",
    retriable: false,
};

pub(super) const TRITON_FAILED: LogRule = LogRule {
    name: "triton_failed",
    pattern: r"triton\.compiler\.errors\.[A-Za-z]+|triton\.runtime\.errors\.[A-Za-z]+|OutOfResources: out of resource",
    class: Program,
    cause: "a Triton kernel failed to compile or launch (too much shared memory or registers for this GPU, or an unsupported construct)",
    suggestion: "use smaller block sizes or fewer stages for the kernel, or a Triton/PyTorch version that supports the GPU",
    retriable: false,
};
