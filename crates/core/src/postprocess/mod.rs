//! Post-processing: after a restore, the service URLs its items name, changed where the admin
//! says. A restored web map or layer item may still point at the source's registered (non-hosted)
//! services, an ArcGIS Server on premises the new organization reaches at another address; the
//! restore's own rewriting only knows the source organization's hosts. Backup My Org calls this
//! "updating Registered Services URLs during post-processing", with a global find/replace besides.
//!
//! - [`Postprocess::url_uses`] lists every URL the restore's items name (the item's `url` and each
//!   URL in its JSON data, by JSON pointer), marking those of registered services: a
//!   `/rest/services/` URL on a host that is neither the target organization's nor Esri's.
//! - [`changes`] turns find/replace rules and one-by-one edits into the exact changes (a preview;
//!   nothing is written).
//! - [`Postprocess::apply_job`] writes them as a `postprocess` job, item by item, each item's
//!   outcome (with every URL changed) in the job history.
//!
//! Ownership: only items the restore's journal says this restore wrote are read or changed; a
//! change naming any other item is refused for that item. A value that changed since the
//! preview is left as it is (the item is reported skipped), so nobody's later edit is undone.

use std::collections::{BTreeMap, BTreeSet};

use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::db::Db;
use crate::error::{Error, Result};
use crate::jobs::counts::PostprocessCounts;
use crate::jobs::runner::{JobRunner, JobSpec};
use crate::jobs::{ItemOutcome, JobCounts, JobEnd, JobKind, JobState, Jobs, Outcome, SubjectKind};
use crate::progress::Progress;
use crate::restore::{EntryKind, Journal};

mod place;

pub use place::{get_at, set_at, ITEM_URL};

/// Items read or written at once.
const AT_ONCE: usize = 8;

/// One URL a restored item names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct UrlUse {
    /// The item in the target organization.
    pub item_id: String,
    pub title: String,
    pub item_type: String,
    pub owner: String,
    /// Where: [`ITEM_URL`] for the item's `url`, else a JSON pointer into its data.
    pub place: String,
    pub url: String,
    /// A service on a host that is neither the organization's nor Esri's.
    pub registered: bool,
}

/// One URL given by hand for one use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct UrlEdit {
    pub item_id: String,
    pub place: String,
    pub to: String,
}

/// One change to write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct UrlChange {
    pub item_id: String,
    pub title: String,
    pub owner: String,
    pub place: String,
    pub from: String,
    pub to: String,
}

/// What an apply did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostprocessSummary {
    pub job_id: i64,
    pub counts: PostprocessCounts,
}

/// The changes `rules` (find -> replace, in order, on every use) and `edits` (a URL for one use,
/// which wins over the rules) make to `uses`; uses that stay the same are left out.
pub fn changes(uses: &[UrlUse], rules: &[(String, String)], edits: &[UrlEdit]) -> Vec<UrlChange> {
    let by_place: BTreeMap<(&str, &str), &str> =
        edits.iter().map(|e| ((e.item_id.as_str(), e.place.as_str()), e.to.as_str())).collect();
    uses.iter()
        .filter_map(|u| {
            let to = match by_place.get(&(u.item_id.as_str(), u.place.as_str())) {
                Some(to) if !to.trim().is_empty() => to.trim().to_owned(),
                _ => rules
                    .iter()
                    .filter(|(find, _)| !find.is_empty())
                    .fold(u.url.clone(), |s, (find, replace)| s.replace(find.as_str(), replace)),
            };
            (to != u.url).then(|| UrlChange {
                item_id: u.item_id.clone(),
                title: u.title.clone(),
                owner: u.owner.clone(),
                place: u.place.clone(),
                from: u.url.clone(),
                to,
            })
        })
        .collect()
}

/// The full id of the snapshot whose restore into `target_org` the journal records, from its full
/// id or a unique prefix.
pub async fn restored_snapshot(db: &Db, target_org: &str, text: &str) -> Result<String> {
    let text = text.trim();
    let ids: Vec<(String,)> =
        sqlx::query_as("SELECT DISTINCT snapshot_id FROM restore_journal WHERE target_org = ? AND kind = 'item'")
            .bind(target_org)
            .fetch_all(db.pool())
            .await?;
    let found: Vec<String> =
        ids.into_iter().map(|(s,)| s).filter(|s| !text.is_empty() && s.starts_with(text)).collect();
    match found.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(Error::InvalidInput(format!(
            "no restore of a snapshot {text:?} into this organization is recorded here"
        ))),
        _ => {
            Err(Error::InvalidInput(format!("{text:?} names {} restored snapshots; give more of the id", found.len())))
        }
    }
}

/// A post-processing job's name: how many URLs of how many items.
pub fn job_name(changes: &[UrlChange]) -> String {
    let items: BTreeSet<&str> = changes.iter().map(|c| c.item_id.as_str()).collect();
    format!("Post-processing: {} URLs in {} restored items", changes.len(), items.len())
}

/// Whether `url` is a service URL of a registered (federated or stand-alone) ArcGIS Server: a
/// `/rest/services/` URL whose host is not one of the organization's (`is_org`) nor Esri's.
fn is_registered_service(url: &str, is_org: &dyn Fn(&url::Url) -> bool) -> bool {
    let Ok(u) = url::Url::parse(url) else { return false };
    let host = u.host_str().unwrap_or_default().to_ascii_lowercase();
    let esri =
        ["arcgis.com", "arcgisonline.com", "esri.com"].iter().any(|d| host == *d || host.ends_with(&format!(".{d}")));
    u.path().to_ascii_lowercase().contains("/rest/services/") && !esri && !is_org(&u)
}

/// Post-processing of what one restore (a snapshot restored into the organization `portal` is
/// signed in to) wrote.
pub struct Postprocess<'a> {
    pub db: &'a Db,
    pub clock: &'a dyn Clock,
    pub portal: &'a arcgis::Portal,
    /// The snapshot the restore came from (its journal's key with the target organization).
    pub snapshot: &'a str,
    /// The identity the job is recorded for (the target's), if any.
    pub identity_id: Option<&'a str>,
    pub progress: &'a dyn Progress,
    pub cancel: CancellationToken,
}

impl Postprocess<'_> {
    /// The target ids of the items the restore wrote, from its journal.
    pub async fn restored_items(&self) -> Result<BTreeSet<String>> {
        let journal = Journal::new(self.db, self.clock, self.portal.org_id(), self.snapshot);
        let rows =
            journal.load().await.map_err(|e| Error::InvalidInput(format!("reading the restore journal: {e}")))?;
        Ok(rows.into_iter().filter(|((k, _), _)| *k == EntryKind::Item).map(|(_, e)| e.target_id).collect())
    }

    /// Every URL the restore's items name, item by item (an item that cannot be read is left
    /// out and logged: it may have been deleted since).
    pub async fn url_uses(&self) -> Result<Vec<UrlUse>> {
        let ids = self.restored_items().await?;
        if ids.is_empty() {
            return Err(Error::InvalidInput(format!(
                "no restore of snapshot {} into this organization is recorded here: nothing to post-process",
                self.snapshot
            )));
        }
        let portal = self.portal;
        let is_org = |u: &url::Url| portal.is_org_url(u);
        let mut out: Vec<UrlUse> = Vec::new();
        let mut reads = futures::stream::iter(ids)
            .map(|id| async move {
                let info = portal.item(&id).await;
                let data = match &info {
                    Ok(_) => portal.item_data_json(&id).await.ok().flatten(),
                    Err(_) => None,
                };
                (id, info, data)
            })
            .buffer_unordered(AT_ONCE);
        while let Some((id, info, data)) = reads.next().await {
            if self.cancel.is_cancelled() {
                return Err(Error::Cancelled);
            }
            let info = match info {
                Ok(i) => i,
                Err(e) => {
                    tracing::warn!(item = %id, "a restored item could not be read for post-processing: {e}");
                    continue;
                }
            };
            let mut found: Vec<(String, String)> = Vec::new();
            if let Some(url) = info.url.as_ref().filter(|u| u.starts_with("http")) {
                found.push((ITEM_URL.to_owned(), url.clone()));
            }
            if let Some(data) = &data {
                place::urls_in(data, "", &mut found);
            }
            out.extend(found.into_iter().map(|(place, url)| UrlUse {
                item_id: info.id.clone(),
                title: info.title.clone(),
                item_type: info.item_type.clone(),
                owner: info.owner.clone(),
                registered: is_registered_service(&url, &is_org),
                place,
                url,
            }));
        }
        out.sort_by(|a, b| (&a.title, &a.item_id, &a.place).cmp(&(&b.title, &b.item_id, &b.place)));
        Ok(out)
    }

    /// Writes `changes` as a `postprocess` job (begun here).
    pub async fn apply(&self, changes: &[UrlChange]) -> Result<PostprocessSummary> {
        let spec = JobSpec::new(JobKind::Postprocess, self.identity_id, job_name(changes));
        let token = self.cancel.clone();
        JobRunner::new(self.db, self.clock).run(&spec, &token, |job_id| self.apply_job(job_id, changes), |_| None).await
    }

    /// Writes `changes` in the begun job `job_id`: per item, the URLs are checked to be still as
    /// previewed, then the item's `url` and data are written in one update.
    pub async fn apply_job(&self, job_id: i64, changes: &[UrlChange]) -> Result<PostprocessSummary> {
        let jobs = Jobs::new(self.db, self.clock);
        jobs.mark_running(job_id).await?;
        let ours = self.restored_items().await?;
        let mut by_item: BTreeMap<String, Vec<UrlChange>> = BTreeMap::new();
        for c in changes {
            by_item.entry(c.item_id.clone()).or_default().push(c.clone());
        }
        self.progress.phase("post-processing", Some(by_item.len() as u64));
        let mut counts = PostprocessCounts { items: by_item.len() as u64, ..PostprocessCounts::default() };
        let mut outcomes = Vec::new();
        let work: Vec<(String, Vec<UrlChange>, bool)> = by_item
            .into_iter()
            .map(|(id, list)| {
                let ours = ours.contains(&id);
                (id, list, ours)
            })
            .collect();
        let mut writes = futures::stream::iter(work)
            .map(|(id, list, ours)| async move {
                let result = if ours { self.apply_item(&id, &list).await } else { Err(NotOurs) };
                (id, list, result)
            })
            .buffer_unordered(AT_ONCE);
        while let Some((id, list, result)) = writes.next().await {
            let title = list.first().map(|c| c.title.clone()).unwrap_or_default();
            let (outcome, reason) = match result {
                Ok(Written::All) => {
                    counts.changed += 1;
                    counts.urls += list.len() as u64;
                    let what: Vec<String> =
                        list.iter().map(|c| format!("{}: {} -> {}", c.place, c.from, c.to)).collect();
                    (Outcome::Ok, Some(what.join("; ")))
                }
                Ok(Written::Failed(reason)) => (Outcome::Failed, Some(reason)),
                Ok(Written::Stale(place)) => {
                    counts.skipped += 1;
                    (Outcome::Skipped, Some(format!("{place} changed since the preview; left as it is")))
                }
                Err(NotOurs) => {
                    counts.skipped += 1;
                    (Outcome::Skipped, Some("not written by this restore: OrgVault changes only its own items".into()))
                }
            };
            let outcome = ItemOutcome { kind: SubjectKind::Item, id, title, outcome, reason };
            self.progress.item(&outcome);
            outcomes.push(outcome);
            if self.cancel.is_cancelled() {
                break;
            }
        }
        drop(writes);
        // Failures are the ones apply_item reported as portal errors.
        counts.failed = outcomes.iter().filter(|o| o.outcome == Outcome::Failed).count() as u64;
        jobs.record_items(job_id, &outcomes).await?;
        let state = if self.cancel.is_cancelled() {
            JobState::Cancelled
        } else if counts.failed > 0 {
            JobState::Partial
        } else {
            JobState::Succeeded
        };
        let error = (counts.failed > 0).then(|| format!("{} items could not be changed", counts.failed));
        jobs.finish(job_id, &JobEnd { state, counts: JobCounts::Postprocess(counts.clone()), error }).await?;
        if state == JobState::Cancelled {
            return Err(Error::Cancelled);
        }
        Ok(PostprocessSummary { job_id, counts })
    }

    /// Reads the item as it is now, checks every `from`, writes the new values.
    async fn apply_item(&self, id: &str, list: &[UrlChange]) -> std::result::Result<Written, NotOurs> {
        match self.write_item(id, list).await {
            Ok(w) => Ok(w),
            Err(e) => {
                tracing::warn!(item = %id, "post-processing an item failed: {e}");
                Ok(Written::Failed(e.to_string()))
            }
        }
    }

    async fn write_item(&self, id: &str, list: &[UrlChange]) -> arcgis::Result<Written> {
        let info = self.portal.item(id).await?;
        let needs_data = list.iter().any(|c| c.place != ITEM_URL);
        let mut data = if needs_data { self.portal.item_data_json(id).await? } else { None };
        let mut fields = arcgis::write::ItemFields::default();
        for c in list {
            let now = if c.place == ITEM_URL {
                info.url.clone()
            } else {
                data.as_ref().and_then(|d| get_at(d, &c.place)).map(str::to_owned)
            };
            if now.as_deref() != Some(c.from.as_str()) {
                return Ok(Written::Stale(c.place.clone()));
            }
            if c.place == ITEM_URL {
                fields.url = Some(c.to.clone());
            } else if let Some(d) = data.as_mut() {
                set_at(d, &c.place, Value::String(c.to.clone()));
            }
        }
        let content = match (&data, needs_data) {
            (Some(d), true) => arcgis::write::ItemContent::Text(d.to_string()),
            _ => arcgis::write::ItemContent::None,
        };
        self.portal.update_item(&info.owner, id, &fields, content, None).await?;
        Ok(Written::All)
    }
}

/// How one item's changes ended.
enum Written {
    All,
    /// A value was no longer what the preview showed (the place named).
    Stale(String),
    Failed(String),
}

/// The item is not one this restore wrote.
struct NotOurs;

#[cfg(test)]
mod tests {
    use super::*;

    fn use_of(item: &str, place: &str, url: &str) -> UrlUse {
        UrlUse {
            item_id: item.into(),
            title: format!("T {item}"),
            item_type: "Web Map".into(),
            owner: "ann".into(),
            place: place.into(),
            url: url.into(),
            registered: true,
        }
    }

    #[test]
    fn rules_apply_in_order_an_edit_wins_and_unchanged_uses_are_left_out() {
        let uses = vec![
            use_of("a", "/operationalLayers/0/url", "https://old.example/arcgis/rest/services/P/MapServer"),
            use_of("b", ITEM_URL, "https://old.example/arcgis/rest/services/Q/FeatureServer"),
            use_of("c", ITEM_URL, "https://elsewhere.example/arcgis/rest/services/R/MapServer"),
        ];
        let rules = vec![
            ("old.example".to_owned(), "mid.example".to_owned()),
            ("mid.example".to_owned(), "new.example".to_owned()),
        ];
        let edits =
            vec![UrlEdit { item_id: "b".into(), place: ITEM_URL.into(), to: " https://by-hand.example/x ".into() }];
        let got = changes(&uses, &rules, &edits);
        assert_eq!(got.len(), 2, "c matches no rule and has no edit: {got:?}");
        assert_eq!(got[0].to, "https://new.example/arcgis/rest/services/P/MapServer", "rules apply one after another");
        assert_eq!(got[1].to, "https://by-hand.example/x", "an edit wins over the rules, trimmed");
        assert!(changes(&uses, &[(String::new(), "x".into())], &[]).is_empty(), "an empty find changes nothing");
    }

    #[test]
    fn a_registered_service_is_a_rest_services_url_off_the_org_and_off_esri() {
        let org = |u: &url::Url| u.host_str() == Some("services.myorg.example");
        assert!(is_registered_service("https://gis.city.example/arcgis/rest/services/Parcels/MapServer", &org));
        assert!(!is_registered_service("https://services.myorg.example/arcgis/rest/services/X/FeatureServer", &org));
        assert!(!is_registered_service(
            "https://services.arcgisonline.com/ArcGIS/rest/services/World_Topo_Map/MapServer",
            &org
        ));
        assert!(!is_registered_service("https://gis.city.example/home/index.html", &org), "not a service");
        assert!(!is_registered_service("not a url", &org));
    }
}
