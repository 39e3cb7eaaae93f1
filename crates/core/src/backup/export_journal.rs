//! The journal of temporary export items (table `export_journal`), and the sweep that deletes
//! the ones a lost answer or a killed process left in the organization.
//!
//! Why: `export` creates an item in the owner's content at once; only its answer names the item.
//! When that answer is lost, or the process dies while it polls, nothing in memory remembers the
//! item, and it costs the org storage for good.
//!
//! Rules:
//! - A row is written before `export` is called, with a title no one else uses
//!   (`orgvault-export-<job>-<source item>-<random>`), the owner and the item type the export
//!   makes; it gets the item's id when the answer names it, and is marked deleted once the item
//!   is deleted (`mark_deleted`). A marked row stays 30 minutes, because search lags behind
//!   writes: a scan just after the deletion may still list the item, and the backup leaves it out
//!   by its journaled title only while the row is there. The next backup's sweep purges older ones.
//! - The sweep reads the owner's root folder (`content/users/<owner>`, not search, which lags on
//!   real portals) and deletes an item only when it is proven to be the one journaled: the exact
//!   title, the journaled type, and the journaled id when the answer named one (else a creation
//!   time near the journal's). Never by a title prefix, never when two items qualify.
//! - The sweep runs at the start of every backup of the same portal and org and at the end of
//!   each backup for its own rows. At the start it first settles every job whose lease expired
//!   (`JobRunner::reconcile`: no heartbeat for the lease time, or a holder process on this host
//!   that is gone), whatever its identity, so the rows it leaves alone are exactly those of jobs
//!   whose lease is alive, in this process or another: a live backup's export is never taken
//!   from under it, and a killed one's is cleaned up by the next backup of the org.

use std::collections::BTreeMap;
use std::time::Duration;

use rand::RngCore;

use crate::clock::Clock;
use crate::db::Db;
use crate::error::Result;

/// The prefix of every export item title this tool gives (never used alone to find one).
pub(crate) const TITLE_PREFIX: &str = "orgvault-export-";

/// How far an export item's `created` may lie from the journal row's time when its id is not
/// known: the request's own duration plus clock skew between this machine and the portal.
const CREATED_WINDOW_MS: i64 = 30 * 60 * 1000;

/// How long the row of an export item this tool deleted stays (see `mark_deleted`): well past
/// the search lag of a real portal (seconds to a minute).
const DELETED_GRACE_MS: i64 = 30 * 60 * 1000;

/// Longest wait for deleting one leftover export item.
const DELETE_DEADLINE: Duration = Duration::from_secs(30);

/// One journaled export item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub title: String,
    pub owner: String,
    pub item_type: String,
    pub export_item_id: Option<String>,
    pub created_ms: i64,
}

/// The journal rows of one portal and org, written by one backup job.
pub(crate) struct ExportJournal<'a> {
    db: &'a Db,
    clock: &'a dyn Clock,
    portal_url: String,
    org_id: String,
    job_id: i64,
}

/// Which rows a sweep handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// Every row of the org whose job is not running (the start of a backup).
    Leftovers,
    /// The rows of this job (its end).
    ThisJob,
}

impl<'a> ExportJournal<'a> {
    pub fn new(db: &'a Db, clock: &'a dyn Clock, portal: &arcgis::Portal, job_id: i64) -> Self {
        ExportJournal {
            db,
            clock,
            portal_url: portal.portal_url().to_string(),
            org_id: portal.org_id().to_owned(),
            job_id,
        }
    }

    /// A title for the next export of `source_item_id`, unique to this job and call.
    pub fn new_title(&self, source_item_id: &str) -> String {
        let mut random = [0u8; 8];
        rand::thread_rng().fill_bytes(&mut random);
        format!("{TITLE_PREFIX}{}-{source_item_id}-{}", self.job_id, hex::encode(random))
    }

    /// Records an export about to be started; must succeed before `export` is called.
    pub async fn record(&self, title: &str, owner: &str, source_item_id: &str, item_type: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO export_journal (title, portal_url, org_id, owner, source_item_id, item_type, job_id, created_ms)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(title)
        .bind(&self.portal_url)
        .bind(&self.org_id)
        .bind(owner)
        .bind(source_item_id)
        .bind(item_type)
        .bind(self.job_id)
        .bind(self.clock.now_ms())
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    /// Records the id the answer to `export` named.
    pub async fn set_item(&self, title: &str, export_item_id: &str) -> Result<()> {
        sqlx::query("UPDATE export_journal SET export_item_id = ? WHERE title = ?")
            .bind(export_item_id)
            .bind(title)
            .execute(self.db.pool())
            .await?;
        Ok(())
    }

    /// Records the user whose content holds the export item: the one `export` was finally
    /// called for, or the owner the item itself names.
    pub async fn set_owner(&self, title: &str, owner: &str) -> Result<()> {
        sqlx::query("UPDATE export_journal SET owner = ? WHERE title = ?")
            .bind(owner)
            .bind(title)
            .execute(self.db.pool())
            .await?;
        Ok(())
    }

    /// Marks an export item deleted by this tool: the row stays for [`DELETED_GRACE_MS`] so that
    /// a scan whose search still lists the item (search lags behind writes) leaves it out of the
    /// backup; sweeps no longer look for it.
    pub async fn mark_deleted(&self, title: &str) -> Result<()> {
        sqlx::query("UPDATE export_journal SET deleted_ms = ? WHERE title = ?")
            .bind(self.clock.now_ms())
            .bind(title)
            .execute(self.db.pool())
            .await?;
        Ok(())
    }

    /// Purges the rows of this portal and org whose item was deleted more than the grace ago.
    async fn purge_deleted(&self) -> Result<u64> {
        let done = sqlx::query(
            "DELETE FROM export_journal WHERE portal_url = ? AND org_id = ? AND deleted_ms IS NOT NULL AND deleted_ms < ?",
        )
        .bind(&self.portal_url)
        .bind(&self.org_id)
        .bind(self.clock.now_ms() - DELETED_GRACE_MS)
        .execute(self.db.pool())
        .await?;
        Ok(done.rows_affected())
    }

    /// Forgets an export item (proven never made, or not ours to delete).
    pub async fn remove(&self, title: &str) -> Result<()> {
        sqlx::query("DELETE FROM export_journal WHERE title = ?").bind(title).execute(self.db.pool()).await?;
        Ok(())
    }

    async fn entries(&self, scope: Scope) -> Result<Vec<Entry>> {
        let rows: Vec<(String, String, String, Option<String>, i64)> = match scope {
            Scope::Leftovers => {
                // "Not queued or running" must mean "no live lease": settle the dead ones first.
                crate::jobs::runner::JobRunner::new(self.db, self.clock).reconcile().await?;
                sqlx::query_as(
                    "SELECT e.title, e.owner, e.item_type, e.export_item_id, e.created_ms
                     FROM export_journal e LEFT JOIN jobs j ON j.id = e.job_id
                     WHERE e.portal_url = ? AND e.org_id = ? AND e.job_id != ? AND e.deleted_ms IS NULL
                       AND (j.state IS NULL OR j.state NOT IN ('queued', 'running'))
                     ORDER BY e.created_ms",
                )
                .bind(&self.portal_url)
                .bind(&self.org_id)
                .bind(self.job_id)
                .fetch_all(self.db.pool())
                .await?
            }
            Scope::ThisJob => {
                sqlx::query_as(
                    "SELECT title, owner, item_type, export_item_id, created_ms FROM export_journal
                     WHERE portal_url = ? AND org_id = ? AND job_id = ? AND deleted_ms IS NULL ORDER BY created_ms",
                )
                .bind(&self.portal_url)
                .bind(&self.org_id)
                .bind(self.job_id)
                .fetch_all(self.db.pool())
                .await?
            }
        };
        Ok(rows
            .into_iter()
            .map(|(title, owner, item_type, export_item_id, created_ms)| Entry {
                title,
                owner,
                item_type,
                export_item_id,
                created_ms,
            })
            .collect())
    }
}

/// What a sweep did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Swept {
    /// Export items deleted.
    pub deleted: Vec<String>,
    /// Journal rows kept for a later sweep (listing or delete failed, or not provable).
    pub kept: usize,
}

/// What the sweep decides for one journal row, given the owner's root items.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// Exactly this item is the journaled export item.
    Delete(String),
    /// No item carries the title: nothing to delete, the row is done.
    Gone,
    /// No item carries the title yet, but the answer that would have named it was lost recently:
    /// the portal may still be making it. The row is kept for a later sweep.
    NotYet,
    /// Items carry the title, none is proven to be ours: left alone, the row is done.
    NotOurs(Vec<String>),
    /// More than one item qualifies: nothing is deleted, the row is kept.
    Ambiguous(Vec<String>),
}

fn judge(entry: &Entry, items: &[arcgis::ItemInfo], now_ms: i64) -> Verdict {
    let titled: Vec<&arcgis::ItemInfo> =
        items.iter().filter(|i| i.title == entry.title && i.owner == entry.owner).collect();
    if titled.is_empty() {
        // An item whose id the answer named and that is not there was deleted. One whose answer
        // was lost may still be made by the portal (a timed-out `export` may finish later): its
        // row stays until the creation window has passed.
        if entry.export_item_id.is_none() && now_ms - entry.created_ms <= CREATED_WINDOW_MS {
            return Verdict::NotYet;
        }
        return Verdict::Gone;
    }
    let proven: Vec<&arcgis::ItemInfo> = titled
        .iter()
        .copied()
        .filter(|i| i.item_type == entry.item_type)
        .filter(|i| match &entry.export_item_id {
            Some(id) => &i.id == id,
            None => i.created.is_some_and(|c| (c - entry.created_ms).abs() <= CREATED_WINDOW_MS),
        })
        .collect();
    match proven.as_slice() {
        [one] => Verdict::Delete(one.id.clone()),
        [] => Verdict::NotOurs(titled.iter().map(|i| i.id.clone()).collect()),
        many => Verdict::Ambiguous(many.iter().map(|i| i.id.clone()).collect()),
    }
}

/// The items of the catalog `scan_id` that are this tool's temporary export items: an item of
/// the same owner whose title is journaled for this portal and org, by any backup, finished or
/// still running. A backup leaves them out: they are not the organization's content, and the
/// sweep (or the backup that made them) deletes them.
pub(crate) async fn own_items_in_catalog(db: &Db, portal: &arcgis::Portal, scan_id: i64) -> Result<Vec<String>> {
    let ids = sqlx::query_scalar(
        "SELECT i.id FROM items i JOIN export_journal j ON j.title = i.title AND j.owner = i.owner
         WHERE i.scan_id = ? AND j.portal_url = ? AND j.org_id = ?",
    )
    .bind(scan_id)
    .bind(portal.portal_url().as_str())
    .bind(portal.org_id())
    .fetch_all(db.pool())
    .await?;
    Ok(ids)
}

/// Deletes the journaled export items of `scope` that are still in the organization; see the
/// module documentation for what proves an item is one. Failures are logged and leave the row
/// for the next sweep; a sweep never fails the backup.
pub(crate) async fn sweep(portal: &arcgis::Portal, journal: &ExportJournal<'_>, scope: Scope) -> Swept {
    let mut swept = Swept::default();
    if scope == Scope::Leftovers {
        if let Err(e) = journal.purge_deleted().await {
            tracing::warn!("cannot purge the journal of deleted export items: {e}");
        }
    }
    let entries = match journal.entries(scope).await {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!("cannot read the journal of temporary export items: {e}");
            return swept;
        }
    };
    let mut by_owner: BTreeMap<String, Vec<Entry>> = BTreeMap::new();
    for e in entries {
        by_owner.entry(e.owner.clone()).or_default().push(e);
    }
    for (owner, entries) in by_owner {
        let items = match portal.user_root_items(&owner).await {
            Ok(items) => items,
            // The owner is gone, and their content with them.
            Err(arcgis::Error::NotFound { .. }) => Vec::new(),
            Err(e) => {
                tracing::warn!(owner = %owner, "cannot list the content holding temporary export items; trying again at the next backup: {e}");
                swept.kept += entries.len();
                continue;
            }
        };
        for entry in entries {
            let done = match judge(&entry, &items, journal.clock.now_ms()) {
                Verdict::Delete(id) => {
                    match tokio::time::timeout(DELETE_DEADLINE, portal.delete_item(&owner, &id)).await {
                        Ok(Ok(())) => {
                            tracing::info!(item = %id, owner = %owner, "deleted a temporary export item left by an earlier backup");
                            swept.deleted.push(id);
                            if let Err(e) = journal.mark_deleted(&entry.title).await {
                                tracing::warn!("cannot update the journal of temporary export items: {e}");
                            }
                            // The row stays (marked) for scans whose search still lists the item.
                            continue;
                        }
                        Ok(Err(e)) => {
                            tracing::warn!(item = %id, "deleting a leftover export item failed: {e}");
                            false
                        }
                        Err(_) => {
                            tracing::warn!(item = %id, "deleting a leftover export item timed out");
                            false
                        }
                    }
                }
                Verdict::Gone => true,
                Verdict::NotYet => false,
                Verdict::NotOurs(ids) => {
                    tracing::warn!(title = %entry.title, ?ids, "items carry the title of a journaled export item but are not provably it; left alone");
                    true
                }
                Verdict::Ambiguous(ids) => {
                    tracing::warn!(title = %entry.title, ?ids, "more than one item could be the journaled export item; none deleted");
                    false
                }
            };
            if !done {
                swept.kept += 1;
            } else if let Err(e) = journal.remove(&entry.title).await {
                tracing::warn!("cannot update the journal of temporary export items: {e}");
            }
        }
    }
    swept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: &str, title: &str, item_type: &str, created: i64) -> arcgis::ItemInfo {
        arcgis::ItemInfo {
            id: id.into(),
            owner: "ann".into(),
            title: title.into(),
            item_type: item_type.into(),
            created: Some(created),
            ..Default::default()
        }
    }

    fn entry(id: Option<&str>) -> Entry {
        Entry {
            title: "orgvault-export-7-abc-0011223344556677".into(),
            owner: "ann".into(),
            item_type: "File Geodatabase".into(),
            export_item_id: id.map(str::to_owned),
            created_ms: 1_000_000_000,
        }
    }

    /// A sweep well after the journal rows were written.
    const NOW: i64 = 1_000_000_000 + 2 * CREATED_WINDOW_MS;

    #[test]
    fn a_lost_answers_row_waits_for_its_item_while_the_portal_may_still_make_it() {
        let young = 1_000_000_000 + 60_000;
        assert_eq!(judge(&entry(None), &[], young), Verdict::NotYet, "a minute after a lost answer: keep looking");
        assert_eq!(judge(&entry(None), &[], NOW), Verdict::Gone, "past the creation window: nothing will come");
        assert_eq!(
            judge(&entry(Some("e1")), &[], young),
            Verdict::Gone,
            "an item named by its answer and gone was deleted"
        );
    }

    #[test]
    fn only_the_journaled_item_is_judged_ours() {
        let t = "orgvault-export-7-abc-0011223344556677";
        let ours = item("e1", t, "File Geodatabase", 1_000_000_500);
        let planted_type = item("p1", t, "Web Map", 1_000_000_500);
        let prefix_only = item("p2", "orgvault-export-7-abc", "File Geodatabase", 1_000_000_500);
        let twin = item("p3", t, "File Geodatabase", 1_000_000_900);
        let late = item("p4", t, "File Geodatabase", 1_000_000_000 + CREATED_WINDOW_MS + 1);

        let items = vec![ours.clone(), planted_type.clone(), prefix_only.clone()];
        assert_eq!(judge(&entry(None), &items, NOW), Verdict::Delete("e1".into()), "title, type and time prove it");
        assert_eq!(
            judge(&entry(Some("e1")), &[ours.clone(), twin.clone()], NOW),
            Verdict::Delete("e1".into()),
            "a journaled id picks the item among same-titled twins"
        );
        assert_eq!(
            judge(&entry(None), &[ours, twin], NOW),
            Verdict::Ambiguous(vec!["e1".into(), "p3".into()]),
            "without an id, two candidates mean none is deleted"
        );
        assert_eq!(
            judge(&entry(None), &[planted_type, late], NOW),
            Verdict::NotOurs(vec!["p1".into(), "p4".into()]),
            "another type or a creation far from the journal's time is not ours"
        );
        assert_eq!(judge(&entry(None), &[prefix_only], NOW), Verdict::Gone, "a prefix match is no match");
        assert_eq!(
            judge(&entry(Some("e9")), &[item("e1", t, "File Geodatabase", 1_000_000_500)], NOW),
            Verdict::NotOurs(vec!["e1".into()]),
            "with an id journaled, only that id is ours"
        );
    }
}
