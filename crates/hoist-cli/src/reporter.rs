//! Draws the library's progress events on a terminal: one spinner per step on stderr, and
//! nothing at all when stderr is not a terminal (logs and pipes stay clean).

use hoist::core::{ReportEvent, Reporter};
use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;

#[derive(Default)]
pub struct Terminal {
    bars: Mutex<HashMap<String, indicatif::ProgressBar>>,
}

impl Reporter for Terminal {
    fn report(&self, event: ReportEvent<'_>) {
        if std::env::var_os("HOIST_NO_PROGRESS").is_some() {
            return;
        }
        if !std::io::stderr().is_terminal() {
            // A log gets the phases of long steps, one line each, and nothing that redraws.
            if let ReportEvent::Phase { message, .. } = event {
                eprintln!("hoist: {message}");
            }
            return;
        }
        let mut bars = self.bars.lock().unwrap_or_else(|p| p.into_inner());
        match event {
            ReportEvent::Step { key, message } | ReportEvent::Phase { key, message } => {
                let b = bars
                    .entry(key.to_string())
                    .or_insert_with(indicatif::ProgressBar::new_spinner);
                b.set_message(message.to_string());
                b.tick();
            }
            ReportEvent::Transfer { key, done, total } => {
                let b = bars.entry(key.to_string()).or_insert_with(|| {
                    let b = indicatif::ProgressBar::new(total.unwrap_or(0));
                    if let Ok(style) = indicatif::ProgressStyle::with_template(
                        "{msg} {bar:30} {bytes}/{total_bytes} {bytes_per_sec} {eta}",
                    ) {
                        b.set_style(style);
                    }
                    b.set_message(key.to_string());
                    b
                });
                if let Some(t) = total {
                    b.set_length(t);
                }
                b.set_position(done);
            }
            ReportEvent::Done { key } => {
                if let Some(b) = bars.remove(key) {
                    // A transfer leaves its final line; a step's spinner goes away.
                    if b.length().is_some_and(|l| l > 0) {
                        b.finish();
                    } else {
                        b.finish_and_clear();
                    }
                }
            }
            ReportEvent::Status { .. } | ReportEvent::Log { .. } => {}
        }
    }
}
