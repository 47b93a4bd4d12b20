//! `hoist._native`: the hoist library inside a Python interpreter (PyO3). The Python package
//! (`python/hoist`) wraps it in `Job` objects and the TAO SDK's classes; this module is the
//! thin native layer: plain dicts in and out, the library's errors as exceptions, the GIL
//! released whenever the library waits on anything.
//!
//! Every verb runs on one tokio runtime the module starts on first use (two worker threads);
//! a call blocks on it with the GIL released. Waits that can last (`wait`, `follow`,
//! `wait_run`) wake every [`TICK`] to let Python handle Ctrl-C, which stops the wait and
//! leaves the job alone.
//!
//! A process forked after that (`os.fork`, multiprocessing's `fork` start method) inherits
//! the runtime without its threads and the store connection mid-use: the package registers
//! [`forked`] to run in the child, and every later call there raises `RuntimeError` rather
//! than hang.

mod convert;
mod errors;
mod follow;
mod handle;
mod launch;
mod request;

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use std::future::Future;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::runtime::Runtime;

/// How often a long wait lets Python run its signal handlers.
const TICK: Duration = Duration::from_millis(100);

static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();

/// This process is a fork of one that had started the runtime.
static FORKED: AtomicBool = AtomicBool::new(false);

/// Called in a forked child (`os.register_at_fork(after_in_child=…)`): once the parent had
/// used hoist, the child cannot (the runtime's threads stayed in the parent).
#[pyfunction]
fn forked() {
    if RUNTIME.get().is_some() {
        FORKED.store(true, Ordering::SeqCst);
    }
}

/// Refuse every call in a child forked after hoist was used, before it touches the runtime or
/// the store.
pub(crate) fn usable() -> PyResult<()> {
    if FORKED.load(Ordering::SeqCst) {
        return Err(PyRuntimeError::new_err(
            "hoist cannot be used in this process: it was forked (os.fork, or multiprocessing's fork start method) after hoist was used in its parent, and hoist's runtime threads and store connection do not survive a fork; use hoist in the parent only, or start the workers with multiprocessing.get_context(\"spawn\") or \"forkserver\"",
        ));
    }
    Ok(())
}

/// The module's runtime, started on first use.
fn runtime() -> PyResult<&'static Runtime> {
    usable()?;
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("hoist-rt")
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| PyRuntimeError::new_err(format!("cannot start hoist's async runtime: {e}")))
}

/// Run `fut` to its end with the GIL released. For verbs that answer soon: a Ctrl-C meanwhile
/// is raised by Python as soon as the call returns.
fn block<F>(py: Python<'_>, fut: F) -> PyResult<F::Output>
where
    F: Future + Send,
    F::Output: Send,
{
    let rt = runtime()?;
    Ok(py.detach(|| rt.block_on(fut)))
}

/// Run `fut` with the GIL released until it ends (`Some`), `timeout` passes (`None`) or a
/// signal handler raises (Ctrl-C: `KeyboardInterrupt`); in the last two cases `fut` is
/// dropped where it stands, so it must be one that can stop anywhere (a wait, a read).
fn interruptible<T, F>(py: Python<'_>, fut: F, timeout: Option<Duration>) -> PyResult<Option<T>>
where
    F: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let rt = runtime()?;
    let mut task = rt.spawn(fut);
    let deadline = timeout.map(|t| Instant::now() + t);
    loop {
        let step = deadline.map_or(TICK, |d| {
            d.saturating_duration_since(Instant::now()).min(TICK)
        });
        let done = py.detach(|| rt.block_on(async { tokio::time::timeout(step, &mut task).await }));
        match done {
            Ok(Ok(v)) => return Ok(Some(v)),
            Ok(Err(e)) => {
                return Err(PyRuntimeError::new_err(format!(
                    "hoist stopped unexpectedly while waiting: {e}"
                )));
            }
            Err(_) => {}
        }
        if let Err(e) = py.check_signals() {
            task.abort();
            return Err(e);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            task.abort();
            return Ok(None);
        }
    }
}

/// The module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_class::<handle::Hoist>()?;
    m.add_class::<follow::LogLines>()?;
    m.add_function(wrap_pyfunction!(forked, m)?)?;
    m.add("HoistError", py.get_type::<errors::HoistError>())?;
    m.add("InputError", py.get_type::<errors::InputError>())?;
    m.add("CredentialError", py.get_type::<errors::CredentialError>())?;
    m.add("PlatformError", py.get_type::<errors::PlatformError>())?;
    m.add("NotFoundError", py.get_type::<errors::NotFoundError>())?;
    m.add("StoreError", py.get_type::<errors::StoreError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
