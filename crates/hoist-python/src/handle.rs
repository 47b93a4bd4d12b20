//! `hoist._native.Hoist`: one handle on the store and the platforms, with the CLI's verbs.

use crate::convert::{job_dict, job_value, ser_to_py, to_py as json_to_py};
use crate::errors::{HoistError as PyHoistError, refuse, to_py, to_py_in, with_hint};
use crate::follow::LogLines;
use crate::{block, interruptible, launch, request};
use hoist::core::{CancelOutcome, JobStatus};
use hoist::store::ListFilter;
use hoist::{HoistError, HoistOptions};
use pyo3::exceptions::PyTimeoutError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// A hoist handle: the job store under `home` (default `$HOIST_HOME`, else `~/.hoist`) and
/// every platform, configured as the CLI is (environment, then profiles).
#[pyclass(name = "Hoist", module = "hoist._native", frozen)]
pub struct Hoist {
    inner: Arc<hoist::Hoist>,
    home: String,
    opened: launch::Opened,
}

/// The static hoist binary shipped in the package (`hoist/_bin/hoist`): it supervises local
/// jobs and is the runner jobs get, since this process's executable is the interpreter.
fn bundled_binary(py: Python<'_>) -> PyResult<PathBuf> {
    let file: PathBuf = py.import("hoist._native")?.getattr("__file__")?.extract()?;
    let bin = file
        .parent()
        .map(|d| d.join("_bin").join("hoist"))
        .unwrap_or_else(|| PathBuf::from("_bin/hoist"));
    if !bin.is_file() {
        return Err(PyHoistError::new_err(with_hint(
            &format!(
                "the hoist binary is missing from the package: {} does not exist",
                bin.display()
            ),
            Some("reinstall the package from a checkout: pip install ./python"),
        )));
    }
    Ok(bin)
}

/// Seconds as a duration, refusing what is not one.
fn seconds(what: &str, s: Option<f64>) -> PyResult<Option<Duration>> {
    s.map(|s| {
        Duration::try_from_secs_f64(s).map_err(|_| {
            refuse(
                format!("{what}={s} is not a number of seconds"),
                format!("give {what} as seconds, 0 or more (None: no limit)"),
            )
        })
    })
    .transpose()
}

impl Hoist {
    /// A failed submit as the CLI says it (`submit failed: …`), classed as TAO's SDKs class
    /// it: a platform that could not be reached from a machine not set up for it (no
    /// kubeconfig and no service account, say) lacks a credential rather than being down.
    fn submit_error(&self, req: &hoist::JobRequest, e: &HoistError) -> PyErr {
        use hoist::core::PlatformError;
        if matches!(e, HoistError::Platform(PlatformError::Unreachable { .. }))
            && let Some(why) = self.not_set_up(req)
        {
            let text = with_hint(&format!("submit failed: {e}"), e.hint().as_deref());
            return crate::errors::credential(format!("{text}\n  ({why})"));
        }
        to_py_in("submit failed", e)
    }

    /// Why the platform `req` goes to does not look set up on this machine (from settings,
    /// environment and files, as `hoist platforms` decides), or `None` when it does.
    fn not_set_up(&self, req: &hoist::JobRequest) -> Option<String> {
        let name = self.inner.prepare(req).ok()?.platform;
        self.inner
            .platforms()
            .into_iter()
            .find(|p| p.name == name && !p.readiness.configured)
            .map(|p| p.readiness.reason)
    }
}

#[pymethods]
impl Hoist {
    #[new]
    #[pyo3(signature = (home=None))]
    fn new(py: Python<'_>, home: Option<PathBuf>) -> PyResult<Self> {
        let bin = bundled_binary(py)?;
        // HOIST_RUNNER_BIN, when set, names the runner (the library reads it itself).
        let runner = std::env::var_os("HOIST_RUNNER_BIN")
            .is_none()
            .then(|| bin.clone());
        let opened = launch::Opened {
            exe: bin.clone(),
            runner: runner.clone(),
        };
        let opts = HoistOptions {
            home,
            exe: Some(bin),
            runner,
            ..Default::default()
        };
        let inner = py
            .detach(|| hoist::Hoist::open_with(opts))
            .map_err(|e| to_py(&e))?;
        // Settle submits a crashed process left open before anything reads the store, as
        // every CLI command does.
        block(py, inner.reconcile())?.map_err(|e| to_py(&e))?;
        let home = inner.home().display().to_string();
        Ok(Hoist {
            inner: Arc::new(inner),
            home,
            opened,
        })
    }

    /// `$HOIST_HOME` of this handle.
    #[getter]
    fn home(&self) -> &str {
        &self.home
    }

    fn __repr__(&self) -> String {
        format!("Hoist(home={:?})", self.home)
    }

    /// Submit a job; returns its record. Keywords as `hoist run`'s flags.
    #[pyo3(signature = (command, **kwargs))]
    fn run<'py>(
        &self,
        py: Python<'py>,
        command: &Bound<'py, PyAny>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let req = request::build(&self.inner, command, kwargs, "run")?;
        let job = block(py, self.inner.create_job(req.clone()))?
            .map_err(|e| self.submit_error(&req, &e))?;
        job_dict(py, &job)
    }

    /// What `run` would submit, in the platform's own form: `{"text": …, "json": …}`.
    #[pyo3(signature = (command, **kwargs))]
    fn dry_run<'py>(
        &self,
        py: Python<'py>,
        command: &Bound<'py, PyAny>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let req = request::build(&self.inner, command, kwargs, "dry_run")?;
        let d = block(py, self.inner.dry_run(&req))?.map_err(|e| to_py(&e))?;
        json_to_py(py, &serde_json::json!({"text": d.text, "json": d.json}))
    }

    /// The job's record, its status asked of the platform when it is live.
    fn status<'py>(&self, py: Python<'py>, id: &str) -> PyResult<Bound<'py, PyAny>> {
        let job = block(py, self.inner.status(id))?.map_err(|e| to_py(&e))?;
        job_dict(py, &job)
    }

    /// The last `tail` lines of the job's output (all of it with None).
    #[pyo3(signature = (id, tail=None))]
    fn logs(&self, py: Python<'_>, id: &str, tail: Option<usize>) -> PyResult<String> {
        let h = &self.inner;
        block(py, async {
            let job = h.resolve(id)?;
            h.logs(&job, tail).await
        })?
        .map_err(|e| to_py(&e))
    }

    /// The job's output line by line from its last `tail` lines, until it ends.
    #[pyo3(signature = (id, tail=None))]
    fn follow(&self, id: &str, tail: Option<usize>) -> PyResult<LogLines> {
        crate::usable()?;
        let job = self.inner.resolve(id).map_err(|e| to_py(&e))?;
        LogLines::start(self.inner.clone(), job, tail)
    }

    /// Cancel the job: True when it is canceled (or the cancel is under way), False when
    /// it had already ended.
    fn cancel(&self, py: Python<'_>, id: &str) -> PyResult<bool> {
        let (job, outcome) = block(py, self.inner.cancel(id))?.map_err(|e| to_py(&e))?;
        Ok(match outcome {
            CancelOutcome::Requested => true,
            CancelOutcome::AlreadyFinished => false,
            CancelOutcome::NotFound => {
                matches!(job.status, JobStatus::Canceled | JobStatus::Canceling)
            }
        })
    }

    /// Block until the job ends; returns its record. TimeoutError after `timeout` seconds;
    /// Ctrl-C stops waiting and leaves the job running.
    #[pyo3(signature = (id, timeout=None))]
    fn wait<'py>(
        &self,
        py: Python<'py>,
        id: &str,
        timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let limit = seconds("timeout", timeout)?;
        let h = self.inner.clone();
        let arg = id.to_string();
        let done = interruptible(py, async move { h.wait(&arg).await }, limit)?;
        match done {
            Some(r) => job_dict(py, &r.map_err(|e| to_py(&e))?),
            None => {
                let now = self
                    .inner
                    .resolve(id)
                    .map(|j| j.status.to_string())
                    .unwrap_or_else(|_| "unknown".into());
                Err(PyTimeoutError::new_err(format!(
                    "job {id} is still {now} after {} s",
                    timeout.unwrap_or_default()
                )))
            }
        }
    }

    /// Why the job failed: the analysis (`err_class`, `cause`, `suggestion`, `retriable`,
    /// `rule`, `events`) with TAO's `job_failure_by_node_event`; None when it did not fail.
    fn why<'py>(&self, py: Python<'py>, id: &str) -> PyResult<Option<Bound<'py, PyAny>>> {
        let h = &self.inner;
        let fa = block(py, async {
            let job = h.status(id).await?;
            h.failure_analysis(&job).await
        })?
        .map_err(|e| to_py(&e))?;
        let Some(fa) = fa else {
            return Ok(None);
        };
        let mut v = serde_json::to_value(&fa).unwrap_or_default();
        if let serde_json::Value::Object(m) = &mut v {
            let events = m.get("events").cloned().unwrap_or_default();
            m.insert("job_failure_by_node_event".into(), events);
            m.insert("log_streams".into(), serde_json::json!([]));
        }
        json_to_py(py, &v).map(Some)
    }

    /// Where the job's results are.
    fn results(&self, py: Python<'_>, id: &str) -> PyResult<Option<String>> {
        let job = block(py, self.inner.status(id))?.map_err(|e| to_py(&e))?;
        Ok(self.inner.results_dir(&job))
    }

    /// Copy the job's results into `dest`; returns the number of files.
    fn download_results(&self, py: Python<'_>, id: &str, dest: PathBuf) -> PyResult<usize> {
        let h = &self.inner;
        block(py, async {
            let job = h.status(id).await?;
            h.download_results(&job, &dest).await
        })?
        .map_err(|e| to_py(&e))
    }

    /// Jobs, newest first, live ones refreshed.
    #[pyo3(signature = (status=None, platform=None, workflow=None, limit=None))]
    fn ls<'py>(
        &self,
        py: Python<'py>,
        status: Option<&str>,
        platform: Option<&str>,
        workflow: Option<String>,
        limit: Option<usize>,
    ) -> PyResult<Vec<Bound<'py, PyAny>>> {
        let status = status
            .map(|s| {
                s.parse::<JobStatus>()
                    .map_err(|e| refuse(e.to_string(), ""))
            })
            .transpose()?;
        let platform = platform
            .map(hoist::canonical_platform)
            .transpose()
            .map_err(|e| crate::errors::input(&e))?
            .map(str::to_string);
        let filter = ListFilter {
            status,
            platform,
            workflow_id: workflow,
            parent_job_id: None,
            limit,
        };
        let h = &self.inner;
        let jobs = block(py, async {
            h.refresh_active(filter.platform.as_deref()).await?;
            h.store().list(&filter).map_err(HoistError::from)
        })?
        .map_err(|e| to_py(&e))?;
        jobs.iter().map(|j| json_to_py(py, &job_value(j))).collect()
    }

    /// Remove an ended job and what its platform keeps; `force` cancels a live one first.
    #[pyo3(signature = (id, force=false))]
    fn remove<'py>(&self, py: Python<'py>, id: &str, force: bool) -> PyResult<Bound<'py, PyAny>> {
        let job = block(py, self.inner.remove(id, force))?.map_err(|e| to_py(&e))?;
        job_dict(py, &job)
    }

    /// Whether `path` exists where jobs of `platform` run.
    fn check_path(&self, py: Python<'_>, platform: &str, path: &str) -> PyResult<bool> {
        block(py, self.inner.check_path(platform, path))?.map_err(|e| to_py(&e))
    }

    /// The entries under `path` where jobs of `platform` run.
    fn list_path(&self, py: Python<'_>, platform: &str, path: &str) -> PyResult<Vec<String>> {
        block(py, self.inner.list_path(platform, path))?.map_err(|e| to_py(&e))
    }

    /// The machines `platform` keeps for jobs, each with the hoist jobs on it.
    fn instances<'py>(&self, py: Python<'py>, platform: &str) -> PyResult<Vec<Bound<'py, PyAny>>> {
        let list = block(py, self.inner.instances(Some(platform), None))?.map_err(|e| to_py(&e))?;
        list.iter().map(|i| ser_to_py(py, i)).collect()
    }

    /// Delete instance `name` of `platform`; `force` cancels the hoist jobs on it first.
    #[pyo3(signature = (platform, name, force=false))]
    fn remove_instance<'py>(
        &self,
        py: Python<'py>,
        platform: &str,
        name: &str,
        force: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let r = block(py, self.inner.remove_instance(name, platform, None, force))?
            .map_err(|e| to_py(&e))?;
        ser_to_py(py, &r)
    }

    /// Launch a SkyPilot task YAML: one task becomes a job (`{"kind": "job", "job": …}`), a
    /// workflow runs in the background (`{"kind": "run", "run_dir": …, "name": …}`).
    #[pyo3(signature = (path, env=None, secrets=None, platform=None))]
    fn launch<'py>(
        &self,
        py: Python<'py>,
        path: PathBuf,
        env: Option<std::collections::BTreeMap<String, String>>,
        secrets: Option<std::collections::BTreeMap<String, String>>,
        platform: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let args = launch::Args {
            path,
            env: env.unwrap_or_default(),
            secrets: secrets.unwrap_or_default(),
            platform,
        };
        let v = launch::launch(py, &self.inner, &self.opened, args)?;
        json_to_py(py, &v)
    }

    /// Block until the workflow run in `run_dir` ends; returns its `status.json`.
    #[pyo3(signature = (run_dir, timeout=None))]
    fn wait_run<'py>(
        &self,
        py: Python<'py>,
        run_dir: PathBuf,
        timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let limit = seconds("timeout", timeout)?;
        match launch::wait_run(py, run_dir.clone(), limit)? {
            Some(v) => json_to_py(py, &v),
            None => Err(PyTimeoutError::new_err(format!(
                "run {} is still running after {} s",
                run_dir.display(),
                timeout.unwrap_or_default()
            ))),
        }
    }
}
