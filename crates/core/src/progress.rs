//! How the engine reports progress without knowing who listens: the CLI draws bars, the desktop
//! app turns the calls into events. Implementations must be cheap and must not block: the scan
//! calls them from its hot loops.

use crate::jobs::ItemOutcome;

/// A progress sink. `phase` starts a named step (with its total when known); `advance` moves
/// within it; `item` reports one subject's outcome; `message` is free text for the user.
pub trait Progress: Send + Sync {
    fn phase(&self, name: &str, total: Option<u64>);
    fn advance(&self, n: u64);
    fn item(&self, outcome: &ItemOutcome);
    fn message(&self, text: &str);
    /// The running total of bytes the current job has transferred (a backup's downloads).
    /// Monotonic within a job; called from streaming loops, so it must be cheap. Sinks that do
    /// not show bytes ignore it.
    fn bytes(&self, _total: u64) {}
}

/// Listens to nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn phase(&self, _name: &str, _total: Option<u64>) {}
    fn advance(&self, _n: u64) {}
    fn item(&self, _outcome: &ItemOutcome) {}
    fn message(&self, _text: &str) {}
}
