//! The search index's lag behind writes.
//!
//! ArcGIS documents that a new or changed item reaches search results only after a while
//! ("Search reference": items are indexed asynchronously; an item just added may not be found
//! at once), while the owner's content listing (`content/users/<u>[/<folder>]`) and the item
//! itself are read from the store and are current at once. portal-sim copies that: a REST write
//! of an item (add, update, reassign, share, delete, export, publish, createService) records
//! the item as search saw it before, and search (`/search`, a group's content search) keeps
//! answering that earlier version (or nothing, for a new item; or the deleted item) until the
//! lag has passed. Changes made through the test-control API are indexed at once: they stand
//! for the org as it was before the client looked.
//!
//! The lag is `SimConfig::search_lag_ms` (default [`DEFAULT_SEARCH_LAG_MS`]) and can be changed
//! while running (`POST /_sim/search/lag {"ms": n}`); 0 makes search consistent at once.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::model::{Item, Org};

/// The default lag: long enough that a client searching right after its own write misses it,
/// short enough for tests that wait for the index.
pub const DEFAULT_SEARCH_LAG_MS: u64 = 1_000;

/// What search still shows of one item that was written recently.
#[derive(Debug, Clone)]
pub struct Pending {
    /// When the write reaches search.
    pub due: Instant,
    /// The item as search shows it until then; `None` for an item search has not seen yet.
    pub before: Option<Item>,
}

/// Items written recently, by id.
#[derive(Debug, Clone, Default)]
pub struct IndexLag {
    pending: BTreeMap<String, Pending>,
}

impl Org {
    /// Records, before item `id` is created, changed or deleted by a client, what search shows
    /// of it until `lag` has passed. A second write while one is pending keeps the version search
    /// had and moves the due time.
    pub fn indexing(&mut self, id: &str, lag: Duration) {
        if lag.is_zero() {
            return;
        }
        let now = Instant::now();
        self.index_lag.pending.retain(|_, p| p.due > now);
        let due = now + lag;
        match self.index_lag.pending.get_mut(id) {
            Some(p) => p.due = due,
            None => {
                let before = self.items.get(id).cloned();
                self.index_lag.pending.insert(id.to_owned(), Pending { due, before });
            }
        }
    }

    /// Records that item `id` is new to search until `lag` has passed, whenever it was inserted.
    pub fn indexing_new(&mut self, id: &str, lag: Duration) {
        if lag.is_zero() {
            return;
        }
        let now = Instant::now();
        self.index_lag.pending.retain(|_, p| p.due > now);
        self.index_lag.pending.insert(id.to_owned(), Pending { due: now + lag, before: None });
    }

    /// The items as search sees them now: recent writes not yet indexed show their earlier
    /// version, new ones are missing, deleted ones are still there.
    pub fn searchable_items(&self) -> impl Iterator<Item = &Item> {
        let now = Instant::now();
        let pending = &self.index_lag.pending;
        let lagging = move |id: &str| pending.get(id).filter(move |p| p.due > now);
        let current = self.items.values().filter_map(move |i| match lagging(&i.id) {
            Some(p) => p.before.as_ref(),
            None => Some(i),
        });
        let deleted = pending
            .iter()
            .filter(move |(id, p)| p.due > now && !self.items.contains_key(id.as_str()))
            .filter_map(|(_, p)| p.before.as_ref());
        current.chain(deleted)
    }

    /// Makes every pending write searchable now (test control: "wait until indexed").
    pub fn index_now(&mut self) {
        self.index_lag.pending.clear();
    }
}
