//! The scan's steps, in order. Each step reads from the portal, then writes its rows in one
//! batched transaction.

use std::collections::{BTreeSet, HashSet};
use std::future::Future;

use futures::StreamExt;
use serde_json::Value;

use super::{ScanRun, CONCURRENCY};
use crate::catalog::{FolderRow, GroupRow, ItemRow, MemberType, ServiceInfo, UserRow};
use crate::error::{Error, Result};
use crate::item_type::{has_json_data, origin_relationships, service_layers_endpoint};
use crate::jobs::SubjectKind;
use crate::references::{self, Reference};

/// Rows per catalog transaction when writing the item list.
const ITEM_BATCH: usize = 2_000;

/// What later steps need to know about an item.
#[derive(Debug, Clone)]
struct ItemBrief {
    id: String,
    title: String,
    item_type: String,
    owner: String,
    in_folder: bool,
    url: Option<String>,
}

#[derive(Debug, Clone)]
struct GroupBrief {
    id: String,
    title: String,
}

pub(super) async fn run_all(run: &mut ScanRun<'_>) -> Result<()> {
    let items = items(run).await?;
    run.check_cancel()?;
    users(run).await?;
    run.check_cancel()?;
    let groups = groups(run).await?;
    run.check_cancel()?;
    memberships(run, &groups).await?;
    run.check_cancel()?;
    let known: HashSet<String> = items.iter().map(|i| i.id.clone()).collect();
    sharing(run, &groups, &known).await?;
    run.check_cancel()?;
    folders(run, &items).await?;
    run.check_cancel()?;
    let mut vanished = HashSet::new();
    relationships(run, &items, &mut vanished).await?;
    run.check_cancel()?;
    references(run, &items, &known, &mut vanished).await?;
    run.check_cancel()?;
    services(run, &items, &vanished).await?;
    let gone: Vec<String> = vanished.into_iter().collect();
    run.catalog.remove_items(run.scan_id, &gone).await?;
    Ok(())
}

/// Runs one request per input, `CONCURRENCY` at a time, advancing the progress per answer.
async fn each<T, R, F, Fut>(run: &ScanRun<'_>, inputs: Vec<T>, request: F) -> Result<Vec<(T, arcgis::Result<R>)>>
where
    F: Fn(&T) -> Fut,
    Fut: Future<Output = arcgis::Result<R>>,
{
    let mut answers = futures::stream::iter(inputs.into_iter().map(|t| {
        let fut = request(&t);
        async move { (t, fut.await) }
    }))
    .buffer_unordered(CONCURRENCY);
    let mut out = Vec::new();
    while let Some(answer) = run.cancellable(answers.next()).await? {
        run.progress.advance(1);
        out.push(answer);
    }
    Ok(out)
}

/// Every result of a paged endpoint (`start`/`num`/`nextStart`), such as a group's content.
async fn paged(portal: &arcgis::Portal, url: url::Url) -> arcgis::Result<Vec<Value>> {
    let mut all = Vec::new();
    let mut start: i64 = 1;
    loop {
        let s = start.to_string();
        let page = portal.json_at(url.clone(), &[("start", s.as_str()), ("num", "100")]).await?;
        let results = page.get("results").and_then(Value::as_array).cloned().unwrap_or_default();
        let got = results.len() as i64;
        all.extend(results);
        let next = page.get("nextStart").and_then(Value::as_i64).unwrap_or(-1);
        // A server that does not move forward would loop forever: stop instead.
        if got == 0 || next <= start {
            return Ok(all);
        }
        start = next;
    }
}

async fn items(run: &mut ScanRun<'_>) -> Result<Vec<ItemBrief>> {
    run.progress.phase("items", None);
    let reported = std::sync::atomic::AtomicUsize::new(0);
    let progress = run.progress;
    let on_page = |done: usize, _total: usize| {
        let before = reported.fetch_max(done, std::sync::atomic::Ordering::Relaxed);
        if done > before {
            progress.advance((done - before) as u64);
        }
    };
    // Items arrive as JSON text and are parsed one at a time into rows: a parsed document
    // costs several times its text, and a large org has tens of thousands.
    let found = run.cancellable(run.portal.search_org_items_json(&on_page)).await??;
    let mut rows = Vec::with_capacity(ITEM_BATCH);
    let mut briefs = Vec::with_capacity(found.len());
    let mut seen = HashSet::new();
    for text in found {
        let value: Value = serde_json::from_str(&text).map_err(|e| {
            Error::Portal(arcgis::Error::Decode { url: "search results".into(), detail: e.to_string() })
        })?;
        drop(text);
        let Some(row) = ItemRow::from_json(&value) else { continue };
        if seen.insert(row.id.clone()) {
            briefs.push(ItemBrief {
                in_folder: row.folder_id.is_some(),
                id: row.id.clone(),
                title: row.title.clone(),
                item_type: row.item_type.clone(),
                owner: row.owner.clone(),
                url: row.url.clone(),
            });
        }
        rows.push(row);
        if rows.len() == ITEM_BATCH {
            run.catalog.insert_items(run.scan_id, &rows).await?;
            rows.clear();
        }
    }
    run.catalog.insert_items(run.scan_id, &rows).await?;
    Ok(briefs)
}

async fn users(run: &mut ScanRun<'_>) -> Result<()> {
    run.progress.phase("users", None);
    let found = run.cancellable(run.portal.org_users()).await??;
    let rows: Vec<UserRow> =
        found.iter().filter_map(|u| serde_json::to_value(u).ok().and_then(|v| UserRow::from_json(&v))).collect();
    run.catalog.insert_users(run.scan_id, &rows).await?;
    run.progress.advance(rows.len() as u64);
    Ok(())
}

async fn groups(run: &mut ScanRun<'_>) -> Result<Vec<GroupBrief>> {
    run.progress.phase("groups", None);
    let found = run.cancellable(run.portal.org_groups()).await??;
    let rows: Vec<GroupRow> =
        found.iter().filter_map(|g| serde_json::to_value(g).ok().and_then(|v| GroupRow::from_json(&v))).collect();
    run.catalog.insert_groups(run.scan_id, &rows).await?;
    run.progress.advance(rows.len() as u64);
    Ok(rows.into_iter().map(|g| GroupBrief { id: g.id, title: g.title }).collect())
}

async fn memberships(run: &mut ScanRun<'_>, groups: &[GroupBrief]) -> Result<()> {
    run.progress.phase("memberships", Some(groups.len() as u64));
    let portal = run.portal;
    let answers = each(run, groups.to_vec(), |g| {
        let id = g.id.clone();
        async move { portal.group_members(&id).await }
    })
    .await?;
    let mut rows = Vec::new();
    for (g, answer) in answers {
        match answer {
            Ok(m) => {
                // Strongest role first: the insert keeps the first row per (group, user).
                if !m.owner.is_empty() {
                    rows.push((g.id.clone(), m.owner.clone(), MemberType::Owner));
                }
                rows.extend(m.admins.iter().map(|u| (g.id.clone(), u.clone(), MemberType::Admin)));
                rows.extend(m.users.iter().map(|u| (g.id.clone(), u.clone(), MemberType::Member)));
            }
            Err(e) => run.problem(SubjectKind::Group, &g.id, &g.title, "reading the members", &e),
        }
    }
    run.catalog.insert_members(run.scan_id, &rows).await
}

async fn sharing(run: &mut ScanRun<'_>, groups: &[GroupBrief], known: &HashSet<String>) -> Result<()> {
    run.progress.phase("sharing", Some(groups.len() as u64));
    let portal = run.portal;
    let answers = each(run, groups.to_vec(), |g| {
        let url = portal.rest_url(&["content", "groups", &g.id, "search"]);
        async move { paged(portal, url?).await }
    })
    .await?;
    let mut rows = Vec::new();
    for (g, answer) in answers {
        match answer {
            Ok(results) => rows.extend(
                results
                    .iter()
                    .filter_map(|r| r.get("id").and_then(Value::as_str))
                    // Groups may hold items of other organizations: not ours to catalog.
                    .filter(|id| known.contains(*id))
                    .map(|id| (id.to_owned(), g.id.clone())),
            ),
            Err(e) => run.problem(SubjectKind::Group, &g.id, &g.title, "reading the group's content", &e),
        }
    }
    run.catalog.insert_sharing(run.scan_id, &rows).await
}

async fn folders(run: &mut ScanRun<'_>, items: &[ItemBrief]) -> Result<()> {
    let owners: Vec<String> =
        items.iter().filter(|i| i.in_folder).map(|i| i.owner.clone()).collect::<BTreeSet<_>>().into_iter().collect();
    run.progress.phase("folders", Some(owners.len() as u64));
    let portal = run.portal;
    let answers = each(run, owners, |u| {
        let url = portal.rest_url(&["content", "users", u]);
        // One item is enough: the folder list comes with every page.
        async move { portal.json_at(url?, &[("num", "1")]).await }
    })
    .await?;
    let mut rows = Vec::new();
    for (owner, answer) in answers {
        match answer {
            Ok(v) => rows.extend(v.get("folders").and_then(Value::as_array).into_iter().flatten().filter_map(|f| {
                Some(FolderRow {
                    id: f.get("id")?.as_str()?.to_owned(),
                    owner: owner.clone(),
                    title: f.get("title").and_then(Value::as_str).unwrap_or_default().to_owned(),
                })
            })),
            Err(e) => run.problem(SubjectKind::User, &owner, &owner, "reading the folders", &e),
        }
    }
    run.catalog.insert_folders(run.scan_id, &rows).await
}

async fn relationships(run: &mut ScanRun<'_>, items: &[ItemBrief], vanished: &mut HashSet<String>) -> Result<()> {
    let asks: Vec<(ItemBrief, &'static str)> =
        items.iter().flat_map(|i| origin_relationships(&i.item_type).iter().map(move |t| (i.clone(), *t))).collect();
    run.progress.phase("relationships", Some(asks.len() as u64));
    let portal = run.portal;
    let answers = each(run, asks, |(item, rel)| {
        let (id, rel) = (item.id.clone(), *rel);
        async move { portal.related_items(&id, rel, arcgis::Direction::Forward).await }
    })
    .await?;
    let mut rows = Vec::new();
    for ((item, rel), answer) in answers {
        match answer {
            Ok(related) => rows.extend(
                related.into_iter().filter(|r| !r.id.is_empty()).map(|r| (item.id.clone(), r.id, rel.to_owned())),
            ),
            Err(e) => note_item_failure(run, &item, "reading related items", &e, vanished),
        }
    }
    run.catalog.insert_relationships(run.scan_id, &rows).await
}

async fn references(
    run: &mut ScanRun<'_>,
    items: &[ItemBrief],
    known: &HashSet<String>,
    vanished: &mut HashSet<String>,
) -> Result<()> {
    let with_data: Vec<ItemBrief> =
        items.iter().filter(|i| has_json_data(&i.item_type) && !vanished.contains(&i.id)).cloned().collect();
    run.progress.phase("references", Some(with_data.len() as u64));
    let portal = run.portal;
    let in_catalog = |id: &str| known.contains(id);
    let in_catalog = &in_catalog;
    // Each answer is reduced to its references as it arrives, so that at most `CONCURRENCY`
    // item documents are in memory at once, whatever the size of the org.
    let answers = each(run, with_data, |item| {
        let id = item.id.clone();
        async move { portal.item_data_json(&id).await.map(|data| data.map(|d| references::extract(&d, in_catalog))) }
    })
    .await?;
    let mut rows: Vec<(String, Reference)> = Vec::new();
    for (item, answer) in answers {
        match answer {
            Ok(Some(found)) => rows.extend(found.into_iter().map(|r| (item.id.clone(), r))),
            Ok(None) => {}
            Err(e) => note_item_failure(run, &item, "reading the item's data", &e, vanished),
        }
    }
    run.catalog.insert_references(run.scan_id, &rows).await
}

async fn services(run: &mut ScanRun<'_>, items: &[ItemBrief], vanished: &HashSet<String>) -> Result<()> {
    let services: Vec<(ItemBrief, url::Url)> = items
        .iter()
        .filter(|i| !vanished.contains(&i.id))
        .filter_map(|i| {
            let with_layers = service_layers_endpoint(&i.item_type)?;
            let base = i.url.as_deref()?.trim_end_matches('/');
            let url = if with_layers { format!("{base}/layers") } else { base.to_owned() };
            Some((i.clone(), url::Url::parse(&url).ok()?))
        })
        // Item URLs are whatever their owner typed: only the org's own hosts and hosts the user
        // allowed are contacted; other services are cataloged without their layer facts.
        .filter(|(i, url)| {
            let permitted = run.portal.check_item_url(url).is_ok();
            if !permitted {
                tracing::debug!(item = %i.id, origin = %url.origin().ascii_serialization(), "service on a host that is not allowed; not read");
            }
            permitted
        })
        .collect();
    run.progress.phase("services", Some(services.len() as u64));
    let portal = run.portal;
    let answers = each(run, services, |(item, url)| {
        let (id, url) = (item.id.clone(), url.clone());
        // The client sends the token only to the org's own hosts: a registered service on an
        // allowed foreign host is read anonymously. The answer is reduced as it arrives (see `references`).
        async move { portal.service_json(&url).await.map(|v| service_info(&id, &v)) }
    })
    .await?;
    let mut rows = Vec::new();
    for ((item, _), answer) in answers {
        match answer {
            Ok(info) => rows.push(info),
            // A service that does not answer says nothing about its item: not vanished.
            Err(e) => run.note(SubjectKind::Item, &item.id, &item.title, "reading the service's layers", &e),
        }
    }
    run.catalog.set_service_info(run.scan_id, &rows).await
}

/// Layer count and newest edit time from a service's `/layers` or root JSON.
fn service_info(item_id: &str, v: &Value) -> ServiceInfo {
    let layers: Vec<&Value> =
        ["layers", "tables"].iter().filter_map(|k| v.get(*k).and_then(Value::as_array)).flatten().collect();
    let edit = |x: &Value| x.get("editingInfo").and_then(|e| e.get("lastEditDate")).and_then(Value::as_i64);
    let last_edit_ms = layers.iter().filter_map(|l| edit(l)).chain(edit(v)).max();
    ServiceInfo { item_id: item_id.to_owned(), layer_count: layers.len() as i64, last_edit_ms }
}

/// Records a failed per-item request once per item; a vanished item is removed at the end.
fn note_item_failure(
    run: &mut ScanRun<'_>,
    item: &ItemBrief,
    step: &str,
    e: &arcgis::Error,
    vanished: &mut HashSet<String>,
) {
    if vanished.contains(&item.id) {
        return;
    }
    if matches!(e, arcgis::Error::NotFound { .. }) {
        vanished.insert(item.id.clone());
    }
    run.problem(SubjectKind::Item, &item.id, &item.title, step, e);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn service_info_counts_layers_and_tables_and_takes_the_newest_edit() {
        let v = json!({
            "layers": [{"id": 0, "editingInfo": {"lastEditDate": 5}}, {"id": 1, "editingInfo": {"lastEditDate": 9}}],
            "tables": [{"id": 2}],
        });
        assert_eq!(
            service_info("x", &v),
            ServiceInfo { item_id: "x".into(), layer_count: 3, last_edit_ms: Some(9) },
            "layers and tables count; the newest edit wins"
        );
        let root = json!({"layers": [{"id": 0, "name": "a"}], "editingInfo": {"lastEditDate": 7}});
        assert_eq!(
            service_info("y", &root).last_edit_ms,
            Some(7),
            "a service-level edit date counts when layers have none"
        );
    }
}
