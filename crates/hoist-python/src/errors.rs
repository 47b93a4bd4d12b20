//! The library's errors as Python exceptions: one class per kind a caller acts on, the message
//! exactly as the CLI prints it (the error, then `  hint: …` on its own line).

use hoist::HoistError as LibError;
use hoist::core::{InputError as LibInput, PlatformError as LibPlatform};
use hoist::store::StoreError as LibStore;
use pyo3::PyErr;
use pyo3::create_exception;
use pyo3::exceptions::PyException;

create_exception!(
    hoist,
    HoistError,
    PyException,
    "Base class of every error hoist raises."
);
create_exception!(
    hoist,
    InputError,
    HoistError,
    "Bad input: what the CLI refuses with exit code 2. The message says how to fix it."
);
create_exception!(
    hoist,
    CredentialError,
    HoistError,
    "A credential or environment variable is missing, or the backend refused the one given."
);
create_exception!(
    hoist,
    PlatformError,
    HoistError,
    "The platform (daemon, cluster, cloud API) failed or could not be reached."
);
create_exception!(
    hoist,
    NotFoundError,
    HoistError,
    "No job has that id, id prefix or name."
);
create_exception!(
    hoist,
    StoreError,
    HoistError,
    "The job store ($HOIST_HOME/hoist.db) failed."
);

/// `message`, then the hint on its own line when there is one (as `hoist` prints errors).
pub fn with_hint(message: &str, hint: Option<&str>) -> String {
    match hint.map(str::trim).filter(|h| !h.is_empty()) {
        Some(h) => format!("{message}\n  hint: {h}"),
        None => message.to_string(),
    }
}

/// Whether an input error is a missing variable: its fix is to export one, or it says one
/// is not set.
fn missing_variable(e: &LibInput) -> bool {
    e.hint.trim_start().starts_with("export ") || e.message.contains(" is not set")
}

/// The exception for a library error.
pub fn to_py(e: &LibError) -> PyErr {
    classed(e, with_hint(&e.to_string(), e.hint().as_deref()))
}

/// The exception for a library error met while doing `context`, worded as the CLI words it
/// (`submit failed: …`).
pub fn to_py_in(context: &str, e: &LibError) -> PyErr {
    classed(
        e,
        with_hint(&format!("{context}: {e}"), e.hint().as_deref()),
    )
}

/// A missing credential, in these words: a submit that could not reach a platform this
/// machine is not set up for (no kubeconfig and no service account).
pub fn credential(text: String) -> PyErr {
    CredentialError::new_err(text)
}

/// `text` raised as the exception class for `e`.
fn classed(e: &LibError, text: String) -> PyErr {
    let input = match e {
        LibError::Input(i) | LibError::Platform(LibPlatform::Input(i)) => Some(i),
        _ => None,
    };
    if input.is_some_and(missing_variable) {
        return CredentialError::new_err(text);
    }
    match e {
        LibError::Platform(LibPlatform::Denied { .. }) => CredentialError::new_err(text),
        // The store refused the credentials (front doors see staging errors through the
        // facade only, so by the words its Display promises).
        LibError::Staging(s) if s.to_string().contains(": access refused (") => {
            CredentialError::new_err(text)
        }
        LibError::Store(LibStore::NotFound(_)) => NotFoundError::new_err(text),
        // An id prefix that fits several jobs is the caller's to fix, as the CLI's exit 2 says.
        LibError::Store(LibStore::Ambiguous { .. }) => InputError::new_err(text),
        LibError::Store(_) => StoreError::new_err(text),
        _ if e.exit_code() == 2 => InputError::new_err(text),
        LibError::Platform(_) | LibError::Staging(_) => PlatformError::new_err(text),
        _ => HoistError::new_err(text),
    }
}

/// The exception for bad input found here, before the library was called.
pub fn input(e: &LibInput) -> PyErr {
    to_py(&LibError::Input(e.clone()))
}

/// An input error with its message and hint.
pub fn refuse(message: impl Into<String>, hint: impl Into<String>) -> PyErr {
    input(&LibInput::new(message, hint))
}
