//! `follow(id)`: a job's output as an iterator of lines, read by a task on the module's
//! runtime while Python takes them one at a time; it ends when the job ends.

use crate::errors::to_py;
use crate::{TICK, runtime};
use futures::StreamExt;
use hoist::core::JobRecord;
use hoist::{Hoist, HoistError};
use pyo3::prelude::*;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

/// Lines read ahead of the Python reader before the follower waits for it.
const AHEAD: usize = 1024;

/// Lines of a job's output, until the job ends. Iterating waits with the GIL released; Ctrl-C
/// stops the iteration (the job keeps running).
#[pyclass(module = "hoist._native", frozen)]
pub struct LogLines {
    rx: Mutex<mpsc::Receiver<Result<String, HoistError>>>,
    task: AbortHandle,
}

impl LogLines {
    /// Start following `job` from its last `tail` lines (all with `None`).
    pub fn start(h: Arc<Hoist>, job: JobRecord, tail: Option<usize>) -> PyResult<LogLines> {
        let (tx, rx) = mpsc::channel(AHEAD);
        let task = runtime()?.spawn(async move {
            if let Err(e) = pump(&h, &job, tail, &tx).await {
                let _ = tx.send(Err(e)).await;
            }
        });
        Ok(LogLines {
            rx: Mutex::new(rx),
            task: task.abort_handle(),
        })
    }
}

/// Send each whole line of the job's output (without its newline), then what is left.
async fn pump(
    h: &Hoist,
    job: &JobRecord,
    tail: Option<usize>,
    tx: &mpsc::Sender<Result<String, HoistError>>,
) -> Result<(), HoistError> {
    let mut stream = h.follow_logs(job, tail).await?;
    let mut partial = String::new();
    while let Some(chunk) = stream.next().await {
        partial.push_str(&chunk?);
        while let Some(i) = partial.find('\n') {
            let mut line: String = partial.drain(..=i).collect();
            line.pop();
            if line.ends_with('\r') {
                line.pop();
            }
            if tx.send(Ok(line)).await.is_err() {
                return Ok(()); // the reader is gone
            }
        }
    }
    if !partial.is_empty() {
        let _ = tx.send(Ok(partial)).await;
    }
    Ok(())
}

#[pymethods]
impl LogLines {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<String>> {
        let rt = runtime()?;
        loop {
            let got = py.detach(|| {
                let mut rx = self.rx.lock().unwrap_or_else(|p| p.into_inner());
                rt.block_on(async { tokio::time::timeout(TICK, rx.recv()).await })
            });
            match got {
                Ok(Some(Ok(line))) => return Ok(Some(line)),
                Ok(Some(Err(e))) => return Err(to_py(&e)),
                Ok(None) => return Ok(None),
                Err(_) => py.check_signals()?,
            }
        }
    }

    /// Stop following (the job keeps running).
    fn close(&self) {
        self.task.abort();
    }
}

impl Drop for LogLines {
    fn drop(&mut self) {
        self.task.abort();
    }
}
