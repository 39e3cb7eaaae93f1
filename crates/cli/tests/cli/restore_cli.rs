//! `orgvault restore` as a script runs it: a plan as one JSON object, an apply killed with
//! kill -9 midway and run again (it resumes, nothing is duplicated), then a third run that
//! creates nothing; a mapping profile saved and applied again.

use std::collections::BTreeMap;
use std::time::Duration;

use portal_sim::{RunningSim, SimConfig};

use crate::support::{json_line, orgvault, stderr};

/// (title, type) -> how many items of org `url_key` have them.
fn titles(sim: &RunningSim, url_key: &str) -> BTreeMap<(String, String), usize> {
    let universe = sim.state.universe.read().unwrap_or_else(|e| e.into_inner());
    let org = universe.org_by_url_key(url_key).expect("org");
    let mut out = BTreeMap::new();
    for i in org.items.values() {
        *out.entry((i.title.clone(), i.item_type.clone())).or_insert(0) += 1;
    }
    out
}

/// Backs up org `a` into a new repository under `repo` with the CLI; answers the repository's
/// path and the snapshot id.
async fn back_up(data: &tempfile::TempDir, repo: &tempfile::TempDir, a: &portal_sim::OrgLogin) -> (String, String) {
    let from = repo.path().join("vault").display().to_string();
    let out = orgvault(
        data.path(),
        &a.admin.password,
        &["backup", "--portal", &a.portal_url, "--username", &a.admin.username, "--to", &from, "--json"],
    )
    .await;
    assert!(out.status.success(), "the backup of A succeeds: {}", stderr(&out));
    let snapshot = json_line(&out)["snapshot"].as_str().expect("snapshot id").to_owned();
    (from, snapshot)
}

fn item_count(sim: &RunningSim, url_key: &str) -> usize {
    titles(sim, url_key).values().sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_json_then_kill_9_midway_and_resume_without_duplicates() {
    let cfg = SimConfig {
        orgs: 2,
        empty_orgs: 1,
        items: 40,
        users: 6,
        groups: 3,
        latency_ms: 15,
        seed: 11,
        ..SimConfig::default()
    };
    let sim = RunningSim::start(cfg).await.expect("sim starts");
    let (a, b) = (sim.orgs[0].clone(), sim.orgs[1].clone());
    let data = tempfile::tempdir().expect("tmp");
    let repo = tempfile::tempdir().expect("tmp");
    let from = repo.path().join("vault").display().to_string();

    let out = orgvault(
        data.path(),
        &a.admin.password,
        &["backup", "--portal", &a.portal_url, "--username", &a.admin.username, "--to", &from, "--json"],
    )
    .await;
    assert!(out.status.success(), "the backup of A succeeds: {}", stderr(&out));
    let snapshot = json_line(&out)["snapshot"].as_str().expect("snapshot id").to_owned();

    let restore = |extra: &[&str]| {
        let mut v: Vec<String> = [
            "restore",
            "--from",
            &from,
            "--snapshot",
            &snapshot,
            "--portal",
            &b.portal_url,
            "--username",
            &b.admin.username,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };

    let args = restore(&["--plan", "--json"]);
    let out = orgvault(data.path(), &b.admin.password, &args.iter().map(String::as_str).collect::<Vec<_>>()).await;
    assert!(out.status.success(), "planning succeeds: {}", stderr(&out));
    let plan = json_line(&out);
    let planned = plan["items"].as_array().expect("items").len();
    assert!(planned > 20, "the plan lists every item: {planned}");
    assert!(plan["counts"]["create"].as_u64().unwrap_or(0) > 0, "an empty target means creates: {}", plan["counts"]);
    assert_eq!(item_count(&sim, &b.url_key), 0, "--plan writes nothing");

    // Start an apply and kill it with SIGKILL once some items exist.
    let args = restore(&["--apply", "--json"]);
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_orgvault"))
        .args(&args)
        .env("ORGVAULT_DATA_DIR", data.path())
        .env("ORGVAULT_REPOSITORY_PASSWORD", crate::support::REPOSITORY_PASSWORD)
        .env("ORGVAULT_PASSWORD", &b.admin.password)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn orgvault");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while item_count(&sim, &b.url_key) < 5 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.start_kill().expect("kill -9");
    let _ = child.wait().await;
    let partial = item_count(&sim, &b.url_key);
    assert!(partial >= 5, "the first run had made items before it was killed: {partial}");

    let args_ref: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = orgvault(data.path(), &b.admin.password, &args_ref).await;
    assert!(out.status.success(), "the resumed restore succeeds: {}", stderr(&out));
    let resumed = json_line(&out);
    for key in ["created", "updated", "skipped", "failed"] {
        assert!(resumed[key].is_u64(), "--apply --json has {key}: {resumed}");
    }
    assert_eq!(resumed["failed"], 0, "the resumed run fails nothing: {resumed} {}", stderr(&out));

    let want = titles(&sim, &a.url_key);
    let got = titles(&sim, &b.url_key);
    assert_eq!(
        got, want,
        "after the resume B holds each title exactly as often as A: nothing duplicated, nothing missing"
    );

    let out = orgvault(data.path(), &b.admin.password, &args_ref).await;
    assert!(out.status.success(), "a third run succeeds: {}", stderr(&out));
    let third = json_line(&out);
    assert_eq!(third["created"], 0, "a finished restore run again creates nothing: {third}");
    assert_eq!(titles(&sim, &b.url_key), want, "and duplicates nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_profile_is_applied_to_a_later_restore() {
    let cfg = SimConfig { orgs: 2, empty_orgs: 1, items: 12, users: 4, groups: 2, seed: 5, ..SimConfig::default() };
    let sim = RunningSim::start(cfg).await.expect("sim starts");
    let (a, b) = (sim.orgs[0].clone(), sim.orgs[1].clone());
    let (data, repo) = (tempfile::tempdir().expect("tmp"), tempfile::tempdir().expect("tmp"));
    let (from, snapshot) = back_up(&data, &repo, &a).await;

    let base = [
        "restore",
        "--from",
        from.as_str(),
        "--snapshot",
        snapshot.as_str(),
        "--portal",
        b.portal_url.as_str(),
        "--username",
        b.admin.username.as_str(),
    ];
    let mut save = base.to_vec();
    save.extend(["--plan", "--json", "--tag", "from-profile", "--save-profile", "to-b"]);
    let out = orgvault(data.path(), &b.admin.password, &save).await;
    assert!(out.status.success(), "planning with --save-profile succeeds: {}", stderr(&out));

    let mut apply = base.to_vec();
    apply.extend(["--apply", "--json", "--profile", "to-b"]);
    let out = orgvault(data.path(), &b.admin.password, &apply).await;
    assert!(out.status.success(), "applying with --profile succeeds: {}", stderr(&out));
    assert_eq!(json_line(&out)["failed"], 0, "nothing fails");
    {
        let universe = sim.state.universe.read().unwrap_or_else(|e| e.into_inner());
        let org = universe.org_by_url_key(&b.url_key).expect("org");
        assert!(!org.items.is_empty(), "items were restored");
        for i in org.items.values() {
            assert!(i.tags.iter().any(|t| t == "from-profile"), "{} carries the profile's tag: {:?}", i.title, i.tags);
        }
    }

    let out = orgvault(data.path(), &b.admin.password, &{
        let mut v = base.to_vec();
        v.extend(["--plan", "--profile", "nope"]);
        v
    })
    .await;
    assert!(!out.status.success(), "an unknown profile is an error");
    assert!(stderr(&out).contains("nope"), "the error names the profile: {}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postprocess_lists_the_registered_service_previews_a_rule_and_applies_it_as_a_job() {
    let cfg = SimConfig { orgs: 2, empty_orgs: 1, items: 30, users: 5, groups: 2, seed: 5, ..SimConfig::default() };
    let sim = RunningSim::start(cfg).await.expect("sim starts");
    let (a, b) = (sim.orgs[0].clone(), sim.orgs[1].clone());
    let (data, repo) = (tempfile::tempdir().expect("tmp"), tempfile::tempdir().expect("tmp"));
    let (from, snapshot) = back_up(&data, &repo, &a).await;
    let restore = [
        "restore",
        "--from",
        &from,
        "--snapshot",
        &snapshot,
        "--portal",
        &b.portal_url,
        "--username",
        &b.admin.username,
        "--apply",
        "--json",
    ];
    let out = orgvault(data.path(), &b.admin.password, &restore).await;
    assert!(out.status.success(), "the restore into B succeeds: {}", stderr(&out));

    let post = |extra: &[&str]| {
        let mut v = vec![
            "postprocess",
            "--portal",
            &b.portal_url,
            "--username",
            &b.admin.username,
            "--snapshot",
            &snapshot[..12],
        ];
        v.extend_from_slice(extra);
        v.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    let args = post(&["--replace", "https://gis.foreign.invalid/=https://gis.partner.example/", "--json"]);
    let out = orgvault(data.path(), &b.admin.password, &args.iter().map(String::as_str).collect::<Vec<_>>()).await;
    assert!(out.status.success(), "the preview succeeds: {}", stderr(&out));
    let preview = json_line(&out);
    let uses = preview["uses"].as_array().expect("uses");
    assert!(
        !uses.is_empty() && uses.iter().all(|u| u["registered"] == true),
        "registered services only by default: {preview}"
    );
    let n = preview["changes"].as_array().expect("changes").len();
    assert!(n >= 1, "the rule changes the partner layer's URL: {preview}");
    assert!(preview["summary"].is_null(), "nothing written without --apply");

    let args = post(&["--replace", "https://gis.foreign.invalid/=https://gis.partner.example/", "--apply", "--json"]);
    let out = orgvault(data.path(), &b.admin.password, &args.iter().map(String::as_str).collect::<Vec<_>>()).await;
    assert!(out.status.success(), "the apply succeeds: {}", stderr(&out));
    let done = json_line(&out);
    assert_eq!(done["summary"]["counts"]["urls"].as_u64(), Some(n as u64), "every previewed URL changed: {done}");
    let texts: String = {
        let universe = sim.state.universe.read().unwrap_or_else(|e| e.into_inner());
        let org = universe.org_by_url_key(&b.url_key).expect("org B");
        org.items
            .values()
            .filter_map(|i| match &i.data {
                portal_sim::model::ItemData::Json(v) => Some(v.to_string()),
                _ => None,
            })
            .collect()
    };
    assert!(
        texts.contains("gis.partner.example") && !texts.contains("gis.foreign.invalid"),
        "B's maps name the new host only"
    );
    let out = orgvault(data.path(), &b.admin.password, &["jobs", "--json"]).await;
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("postprocess"),
        "the job history has the post-processing job"
    );
}
