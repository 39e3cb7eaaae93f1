//! The restore's target modes within one organization (copies beside the originals; in place after
//! a deletion) and a file above the single-upload limit going up in parts.

use std::collections::{BTreeMap, BTreeSet};

use arcgis::write::{FilePart, ItemContent, ItemFields, SINGLE_UPLOAD_LIMIT, UPLOAD_PART_SIZE};
use orgvault_core::restore::{Action, ItemMethod, PlanMode, RestoreMode};
use orgvault_core::{NoProgress, Selection};
use portal_sim::model::ItemData;
use portal_sim::{RunningSim, SimConfig};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use crate::backup_support::{open_repo, run_backup, scanned};
use crate::restore_support::{options, sim_config, Fixture};
use crate::support::{connect, start_sim};

/// What the checks need of one simulated item.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    title: String,
    item_type: String,
    modified: i64,
    type_keywords: Vec<String>,
    /// JSON data, if the item holds JSON.
    json: Option<Value>,
}

fn items_of(sim: &RunningSim, url_key: &str) -> BTreeMap<String, Seen> {
    let universe = sim.state.universe.read().unwrap_or_else(|e| e.into_inner());
    let org = universe.org_by_url_key(url_key).expect("org");
    org.items
        .values()
        .map(|i| {
            let json = match &i.data {
                ItemData::Json(v) => Some(v.clone()),
                _ => None,
            };
            let seen = Seen {
                title: i.title.clone(),
                item_type: i.item_type.clone(),
                modified: i.modified,
                type_keywords: i.type_keywords.clone(),
                json,
            };
            (i.id.clone(), seen)
        })
        .collect()
}

fn title_counts(items: &BTreeMap<String, Seen>) -> BTreeMap<(String, String), usize> {
    let mut out = BTreeMap::new();
    for s in items.values() {
        *out.entry((s.title.clone(), s.item_type.clone())).or_insert(0) += 1;
    }
    out
}

/// Two ordinary (not hosted) items of org `url_key` with titles unique in the org, the first's
/// JSON data naming the second's id (an app or dashboard naming its web map), and a third
/// ordinary item with JSON data that names neither: (referrer, referenced, bystander).
fn reference_pair(sim: &RunningSim, url_key: &str) -> (String, String, String) {
    let ordinary: BTreeSet<String> = {
        let universe = sim.state.universe.read().unwrap_or_else(|e| e.into_inner());
        let org = universe.org_by_url_key(url_key).expect("org");
        org.items.values().filter(|i| i.service_name.is_none()).map(|i| i.id.clone()).collect()
    };
    let all = items_of(sim, url_key);
    let counts = title_counts(&all);
    let unique = |id: &str| counts[&(all[id].title.clone(), all[id].item_type.clone())] == 1;
    let candidates: Vec<&String> = ordinary.iter().filter(|id| unique(id) && all[*id].json.is_some()).collect();
    for x in &candidates {
        let text = all[*x].json.as_ref().map(Value::to_string).unwrap_or_default();
        if let Some(y) = candidates.iter().find(|y| *y != x && text.contains(y.as_str())) {
            let z = candidates
                .iter()
                .find(|z| {
                    let zt = all[**z].json.as_ref().map(Value::to_string).unwrap_or_default();
                    **z != *x
                        && **z != *y
                        && !text.contains(z.as_str())
                        && !zt.contains(x.as_str())
                        && !zt.contains(y.as_str())
                })
                .expect("a third ordinary item unrelated to the pair");
            return ((*x).clone(), (*y).clone(), (*z).clone());
        }
    }
    panic!("org {url_key} has no ordinary item whose JSON data names another ordinary item");
}

/// Org A with `selection` backed up; the restore targets org `target` (0 = A itself).
async fn backed_up(sim: RunningSim, selection: &Selection, target: usize) -> anyhow::Result<Fixture> {
    let dir = tempfile::tempdir()?;
    let repo = open_repo(dir.path()).await?;
    let a = scanned(&sim).await?;
    let summary = run_backup(&a, &repo, selection, &NoProgress, CancellationToken::new()).await?;
    let snapshot = summary.snapshot.expect("the backup wrote a snapshot");
    let org = sim.orgs[target].clone();
    let target = connect(&org.portal_url, &org.admin).await?;
    let db = orgvault_core::Db::open(&dir.path().join("orgvault.db")).await?;
    Ok(Fixture { sim, _dir: dir, repo, snapshot, target, db })
}

fn exact(items: &[&String]) -> Selection {
    Selection::Exact { items: items.iter().map(|s| (*s).clone()).collect(), users: vec![], groups: vec![] }
}

/// `text` with every occurrence of each `from` id replaced by its `to` id.
fn with_ids(text: &str, ids: &BTreeMap<String, String>) -> String {
    ids.iter().fold(text.to_owned(), |t, (from, to)| t.replace(from.as_str(), to))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copies_in_the_same_org_sit_beside_untouched_originals_and_reference_each_other() -> anyhow::Result<()> {
    let sim = start_sim(sim_config()).await?;
    let a = sim.orgs[0].url_key.clone();
    let (x, y, _) = reference_pair(&sim, &a);
    let f = backed_up(sim, &exact(&[&x, &y]), 0).await?;
    let before = items_of(&f.sim, &a);

    let mut opts = options();
    opts.mapping.mode = RestoreMode::Copies;
    opts.items = Some([x.clone(), y.clone()].into_iter().collect());
    let plan = f.plan(&opts).await?;
    assert_eq!(plan.mode, PlanMode::Copies, "the same org restored with the copies mode");
    let planned: BTreeMap<&str, &Action> = plan.items.iter().map(|p| (p.source_id.as_str(), &p.action)).collect();
    let want: BTreeMap<&str, &Action> = [(x.as_str(), &Action::Create), (y.as_str(), &Action::Create)].into();
    assert_eq!(planned, want, "copies plan a create for each selected item and nothing else");
    assert_eq!(items_of(&f.sim, &a), before, "planning writes nothing");

    let s = f.apply(&opts).await?;
    assert_eq!(s.failed, 0, "nothing fails: {:?}", f.failures(s.job_id).await);
    let after = items_of(&f.sim, &a);

    let mut copy_of = BTreeMap::new();
    for src in [&x, &y] {
        let copy = f.restored_as(src).await?.expect("the journal records the copy");
        assert!(after.contains_key(&copy) && !before.contains_key(&copy), "the copy of {src} is a new item: {copy}");
        let keywords = &after[&copy].type_keywords;
        assert!(keywords.iter().all(|k| !k.contains(src.as_str())), "the copy's marker is opaque: {keywords:?}");
        copy_of.insert(src.clone(), copy);
    }
    let counts = title_counts(&after);
    for src in [&x, &y] {
        let key = (before[src].title.clone(), before[src].item_type.clone());
        assert_eq!(counts.get(&key), Some(&2), "{key:?}: the original and its copy");
        assert_eq!(after.get(src), before.get(src), "the original {src} is untouched (modified time, data, keywords)");
    }
    assert_eq!(after.len(), before.len() + 2, "two items added, none removed");

    let x_copy = &after[&copy_of[&x]];
    let text = x_copy.json.as_ref().map(Value::to_string).expect("the copy of the referrer holds JSON");
    assert!(text.contains(copy_of[&y].as_str()), "the copy's data names the copy of {y}: {text}");
    assert!(!text.contains(y.as_str()), "the copy's data no longer names the original {y}: {text}");
    let want = with_ids(&before[&x].json.as_ref().expect("json").to_string(), &copy_of);
    let want: Value = serde_json::from_str(&want)?;
    assert_eq!(x_copy.json.as_ref(), Some(&want), "the copy's data is the original's with the selected ids remapped");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_place_recreates_a_deleted_item_and_updates_the_others() -> anyhow::Result<()> {
    let sim = start_sim(sim_config()).await?;
    let a = sim.orgs[0].url_key.clone();
    let (x, y, z) = reference_pair(&sim, &a);
    let f = backed_up(sim, &exact(&[&x, &y, &z]), 0).await?;
    let before = items_of(&f.sim, &a);
    assert!(f.sim.control().delete_item(&y), "the referenced item {y} is deleted in the org");

    let mut opts = options();
    opts.mapping.mode = RestoreMode::InPlace;
    opts.items = Some([x.clone(), y.clone(), z.clone()].into_iter().collect());
    let plan = f.plan(&opts).await?;
    assert_eq!(plan.mode, PlanMode::InPlace, "the same org restored in place");
    let planned: BTreeMap<&str, &Action> = plan.items.iter().map(|p| (p.source_id.as_str(), &p.action)).collect();
    let (ux, uz) = (Action::Update { target_id: x.clone() }, Action::Update { target_id: z.clone() });
    let want: BTreeMap<&str, &Action> = [(x.as_str(), &ux), (y.as_str(), &Action::Create), (z.as_str(), &uz)].into();
    assert_eq!(planned, want, "the deleted item is created again, the existing ones are updated in place");

    let s = f.apply(&opts).await?;
    assert_eq!(s.failed, 0, "nothing fails: {:?}", f.failures(s.job_id).await);
    let after = items_of(&f.sim, &a);
    let again: Vec<&String> = after.keys().filter(|id| !before.contains_key(*id)).collect();
    assert_eq!(again.len(), 1, "the deleted item exists again, once: {again:?}");
    assert_eq!(f.restored_as(&y).await?.as_ref(), Some(again[0]), "the journal records it as {y}'s");
    let new_y = again[0].clone();
    assert_ne!(new_y, y, "the re-created item has a new id (Online never lets us choose ids)");
    let (got, old) = (&after[&new_y], &before[&y]);
    assert_eq!((&got.title, &got.item_type), (&old.title, &old.item_type), "the re-created item keeps title and type");
    let ids: BTreeMap<String, String> = [(y.clone(), new_y.clone())].into();
    let remap = |v: &Option<Value>| -> anyhow::Result<Option<Value>> {
        v.as_ref().map(|v| serde_json::from_str(&with_ids(&v.to_string(), &ids))).transpose().map_err(Into::into)
    };
    assert_eq!(got.json, remap(&old.json)?, "the re-created item holds its backed-up data");
    assert_eq!(after[&x].json, remap(&before[&x].json)?, "the referrer's data now names the re-created item");
    assert_eq!(after[&z].json, before[&z].json, "the unrelated item's data is its backed-up data");
    assert_eq!(after.len(), before.len(), "one item re-created, nothing duplicated");

    let plan = f.plan(&opts).await?;
    assert!(
        plan.items.iter().all(|p| matches!(p.action, Action::Skip { .. } | Action::Update { .. })),
        "after the restore nothing is left to create: {:?}",
        plan.items.iter().map(|p| (&p.source_id, &p.action)).collect::<Vec<_>>()
    );
    Ok(())
}

/// Requests the simulator counted on routes ending in `suffix` (`/addPart`, `/commit`).
fn requests_to(sim: &RunningSim, suffix: &str) -> u64 {
    portal_sim::control::stats::by_route(&sim.state.faults.path_counts())
        .into_iter()
        .filter(|(route, _)| route.ends_with(suffix))
        .map(|(_, n)| n)
        .sum()
}

/// Deterministic bytes that do not repeat with the part size (a misplaced part changes the hash).
fn file_bytes(len: usize) -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// Adds a PDF item of `len` deterministic bytes to the org as its admin; its id and sha256.
async fn add_pdf(
    org: &portal_sim::OrgLogin,
    title: &str,
    file_name: &str,
    len: usize,
) -> anyhow::Result<(String, String)> {
    let bytes = file_bytes(len);
    let sha = hex::encode(Sha256::digest(&bytes));
    let source = connect(&org.portal_url, &org.admin).await?;
    let fields = ItemFields {
        title: Some(title.into()),
        item_type: Some("PDF".into()),
        tags: Some(vec!["scans".into()]),
        ..Default::default()
    };
    let part = FilePart {
        field: "file".into(),
        file_name: file_name.into(),
        content_type: "application/pdf".into(),
        bytes: bytes.into(),
    };
    let id = source.add_item(&org.admin.username, None, &fields, ItemContent::File(part), None).await?;
    Ok((id, sha))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_above_the_single_upload_limit_is_restored_in_parts_byte_for_byte() -> anyhow::Result<()> {
    let cfg = SimConfig { items: 8, ..sim_config() };
    let sim = start_sim(cfg).await?;
    let org_a = sim.orgs[0].clone();
    let len = SINGLE_UPLOAD_LIMIT + UPLOAD_PART_SIZE / 2 + 12_345;
    let (id, want) = add_pdf(&org_a, "Survey scans 2019", "survey-scans-2019.pdf", len).await?;
    // The file stands for content the org had before the backup's scan: searchable by then.
    sim.control().index_now();
    let f = backed_up(sim, &exact(&[&id]), 1).await?;
    let b = f.url_key(1);

    let mut opts = options();
    opts.items = Some([id.clone()].into_iter().collect());
    let plan = f.plan(&opts).await?;
    let p = plan.items.iter().find(|p| p.source_id == id).expect("the large file is planned");
    assert_eq!((&p.action, p.method), (&Action::Create, ItemMethod::Item), "created as an ordinary item");
    assert!(p.multipart, "the plan says the {len}-byte file needs a multipart upload");
    assert_eq!(plan.multipart_uploads, 1, "one multipart upload planned");

    // ArcGIS processes a committed upload asynchronously; here for a good while.
    f.sim.state.jobs.set_commit_work(std::time::Duration::from_millis(1_500));
    let (parts_before, commits_before) = (requests_to(&f.sim, "/addPart"), requests_to(&f.sim, "/commit"));
    let s = f.apply(&opts).await?;
    assert_eq!(s.failed, 0, "nothing fails: {:?}", f.failures(s.job_id).await);
    let parts = requests_to(&f.sim, "/addPart") - parts_before;
    let commits = requests_to(&f.sim, "/commit") - commits_before;
    assert_eq!(parts as usize, len.div_ceil(UPLOAD_PART_SIZE), "the restore sent the file in parts (addPart)");
    assert_eq!(commits, 1, "the restore committed the multipart upload once");

    let got = {
        let universe = f.sim.state.universe.read().unwrap_or_else(|e| e.into_inner());
        let org = universe.org_by_url_key(&b).expect("org B");
        let restored: Vec<_> = org.items.values().filter(|i| i.title == "Survey scans 2019").collect();
        assert_eq!(restored.len(), 1, "the file item exists once in B");
        assert!(
            !restored[0].uploads.processing(),
            "the restore waited (polling the item's status) until the portal had processed the commit"
        );
        match &restored[0].data {
            ItemData::Bytes { bytes, .. } => bytes.clone(),
            other => panic!("the restored item holds uploaded bytes, not {other:?}"),
        }
    };
    assert_eq!(got.len(), len, "the restored file has every byte");
    assert_eq!(hex::encode(Sha256::digest(&got)), want, "the restored file's sha256 equals the original's");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_above_the_single_upload_limit_is_updated_in_place_in_parts_from_the_repository() -> anyhow::Result<()> {
    let cfg = SimConfig { items: 8, ..sim_config() };
    let sim = start_sim(cfg).await?;
    let org_a = sim.orgs[0].clone();
    // Far above the single-upload limit: the old update sent it whole, as one part, which the
    // portal refuses; streamed, it goes up part by part and is never held whole.
    let len = SINGLE_UPLOAD_LIMIT + UPLOAD_PART_SIZE + 777;
    let (id, want) = add_pdf(&org_a, "Orthophoto tiles", "orthophoto.pdf", len).await?;
    // The file stands for content the org had before the backup's scan: searchable by then.
    sim.control().index_now();
    let f = backed_up(sim, &exact(&[&id]), 0).await?;
    // Someone replaces the file in the org; the restore puts the backed-up one back in place.
    {
        let mut universe = f.sim.state.universe.write().unwrap_or_else(|e| e.into_inner());
        let org = universe.org_by_url_key_mut(&org_a.url_key).expect("org A");
        let item = org.items.get_mut(&id).expect("the item");
        item.data = ItemData::Bytes {
            file_name: "orthophoto.pdf".into(),
            bytes: b"overwritten".to_vec().into(),
            content_type: "application/pdf".into(),
        };
    }

    let mut opts = options();
    opts.mapping.mode = RestoreMode::InPlace;
    opts.items = Some([id.clone()].into_iter().collect());
    let plan = f.plan(&opts).await?;
    let p = plan.items.iter().find(|p| p.source_id == id).expect("the large file is planned");
    assert_eq!(p.action, Action::Update { target_id: id.clone() }, "updated in place");

    let (parts_before, commits_before) = (requests_to(&f.sim, "/addPart"), requests_to(&f.sim, "/commit"));
    let s = f.apply(&opts).await?;
    assert_eq!(s.failed, 0, "the update of a large file does not fail: {:?}", f.failures(s.job_id).await);
    let parts = requests_to(&f.sim, "/addPart") - parts_before;
    let commits = requests_to(&f.sim, "/commit") - commits_before;
    assert_eq!(parts as usize, len.div_ceil(UPLOAD_PART_SIZE), "the update sent the file in parts (addPart)");
    assert_eq!(commits, 1, "the update committed the multipart upload once");
    let got = {
        let universe = f.sim.state.universe.read().unwrap_or_else(|e| e.into_inner());
        let org = universe.org_by_url_key(&org_a.url_key).expect("org A");
        match &org.items[&id].data {
            ItemData::Bytes { bytes, .. } => bytes.clone(),
            other => panic!("the updated item holds uploaded bytes, not {other:?}"),
        }
    };
    assert_eq!(got.len(), len, "the updated file has every byte");
    assert_eq!(hex::encode(Sha256::digest(&got)), want, "the updated file's sha256 equals the backed-up one's");
    Ok(())
}
