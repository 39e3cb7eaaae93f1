//! The core's progress sink drawn as an indicatif bar on stderr (hidden when stderr is not a
//! terminal or `--json` is asked, so scripts get clean output).

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use orgvault_core::jobs::{ItemOutcome, Outcome};
use orgvault_core::Progress;

pub struct TerminalProgress {
    bar: ProgressBar,
}

impl TerminalProgress {
    pub fn new(quiet: bool) -> Self {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        if quiet || !std::io::stderr().is_terminal() {
            bar.set_draw_target(ProgressDrawTarget::hidden());
        }
        Self { bar }
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Progress for TerminalProgress {
    fn phase(&self, name: &str, total: Option<u64>) {
        self.bar.reset();
        match total {
            Some(t) => {
                self.bar.set_length(t);
                self.bar.set_style(
                    ProgressStyle::with_template("{prefix:>12} [{bar:30}] {pos}/{len} {msg}")
                        .expect("static template")
                        .progress_chars("=> "),
                );
            }
            None => {
                self.bar.unset_length();
                self.bar.set_style(
                    ProgressStyle::with_template("{prefix:>12} {spinner} {pos} {msg}").expect("static template"),
                );
            }
        }
        self.bar.set_prefix(name.to_owned());
    }

    fn advance(&self, n: u64) {
        self.bar.inc(n);
    }

    fn item(&self, outcome: &ItemOutcome) {
        if matches!(outcome.outcome, Outcome::Failed | Outcome::Skipped) {
            let reason = outcome.reason.as_deref().unwrap_or("");
            self.bar.println(format!("  {:?} {} ({}): {reason}", outcome.outcome, outcome.title, outcome.id));
        }
    }

    fn message(&self, text: &str) {
        self.bar.set_message(text.to_owned());
    }
}
