//! The output layer: the only place that writes to stdout and stderr during a run.
//!
//! It runs on its own thread and drains the pipeline's events: NDJSON on stdout with
//! `--json`, and for humans on stderr either live bars (a terminal) or plain lines (CI).

mod format;
mod github;
mod human;
mod json;

use std::sync::mpsc::Receiver;
use std::thread::JoinHandle;

use crate::event::Event;
use crate::settings::OutputSettings;

pub use format::{bytes as format_bytes, file_line, summary_line};
pub use human::Human;
pub use json::{file_json, summary_json};

/// Starts the output thread. It ends after the `Summary` event, or when every sender is gone.
pub fn spawn(settings: OutputSettings, dry_run: bool, rx: Receiver<Event>) -> JoinHandle<()> {
    std::thread::Builder::new()
        .name("output".into())
        .spawn(move || {
            let mut human = Human::new(&settings, dry_run);
            let mut json = settings.json.then(json::JsonOut::stdout);
            loop {
                let event = match rx.recv_timeout(human.tick_interval()) {
                    Ok(e) => e,
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                        human.tick();
                        continue;
                    }
                    Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
                };
                if let Some(j) = json.as_mut() {
                    j.event(&event, dry_run);
                }
                let last = matches!(event, Event::Summary(_));
                human.event(event);
                if last {
                    break;
                }
                human.tick();
            }
            human.close();
        })
        .expect("spawning the output thread")
}

/// `error: …` and its `hint:` lines, on stderr (fd's and xh's shape).
pub fn print_error(err: &anyhow::Error, color: bool) {
    let red = console::Style::new().red().bold().force_styling(color);
    let mut lines = vec![format!("{} {err:#}", red.apply_to("error:"))];
    if let Some(u) = err.downcast_ref::<crate::exit::UsageError>() {
        lines.extend(u.hints.iter().map(|h| format!("  hint: {h}")));
    }
    let _ = std::io::Write::write_all(&mut std::io::stderr(), (lines.join("\n") + "\n").as_bytes());
}

pub fn print_warning(text: &str, color: bool) {
    let y = console::Style::new().yellow().force_styling(color);
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        format!("{} {text}\n", y.apply_to("warning:")).as_bytes(),
    );
}
