//! Progress bars for transfers, shown only when stderr is a terminal (never in job logs).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

/// A byte counter that draws itself on a terminal and stays silent elsewhere.
#[derive(Clone)]
pub struct Progress(ProgressBar);

impl Progress {
    /// A bar of `total` bytes labelled `label`.
    pub fn bytes(label: &str, total: u64) -> Progress {
        let pb = ProgressBar::with_draw_target(Some(total), target());
        if let Ok(style) = ProgressStyle::with_template(
            "{msg} {bar:30} {bytes}/{total_bytes} {bytes_per_sec} {eta}",
        ) {
            pb.set_style(style);
        }
        pb.set_message(label.to_string());
        Progress(pb)
    }

    /// Count `n` more bytes.
    pub fn add(&self, n: u64) {
        self.0.inc(n);
    }

    /// Done: leave the final line on the terminal.
    pub fn finish(&self) {
        self.0.finish();
    }
}

fn target() -> ProgressDrawTarget {
    if std::io::stderr().is_terminal() && std::env::var_os("HOIST_NO_PROGRESS").is_none() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    }
}
