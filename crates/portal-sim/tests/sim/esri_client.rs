//! Esri's own ArcGIS API for Python (2.4.4, from PyPI) against portal-sim over HTTPS, signed in
//! with a password as an administrator would: `gis.users.search()` and `Folder.add` of a 12 MB
//! file (multipart upload, `fileName`, asynchronous commit, status polls), then the file read
//! back byte for byte (`tools/pyapi/esri_client_check.py`).
//!
//! The client lives in `tools/pyapi/.venv`, which `scripts/setup.sh` makes
//! (`pip install arcgis==2.4.4`, about a minute); `ORGVAULT_ESRI_PYTHON` names another Python
//! that has it.

use std::path::{Path, PathBuf};
use std::process::Command;

use portal_sim::SimConfig;

use crate::common::start;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn esri_python() -> PathBuf {
    let python = std::env::var_os("ORGVAULT_ESRI_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("tools/pyapi/.venv/bin/python"));
    assert!(
        python.exists(),
        "Esri's ArcGIS API for Python is not installed ({} is missing): run scripts/setup.sh",
        python.display()
    );
    python
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn esris_python_client_searches_users_and_adds_a_12_mb_file() {
    let python = esri_python();
    // Esri's client (arcgis 2.4.4, arcgis/auth/_auth/_token.py, `__call__` of the token auth)
    // sends `X-Esri-Authorization: Bearer <token>` on every method, POST included, unless its
    // `legacy` mode puts the token in the form (older Enterprise); ArcGIS Online serves it so.
    // The simulator's default honours the header on GET only (the strictest deployment, for
    // OrgVault's own client); here it behaves as ArcGIS Online does for Esri's.
    let sim = start(SimConfig {
        tls: true,
        orgs: 1,
        items: 10,
        users: 5,
        groups: 2,
        token_header_everywhere: true,
        ..SimConfig::default()
    })
    .await;
    let org = sim.orgs[0].clone();
    let script = repo_root().join("tools/pyapi/esri_client_check.py");
    // The client blocks; it runs on a blocking thread while the simulator serves it here.
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg("-W")
            .arg("ignore")
            .arg(script)
            .arg(&org.portal_url)
            .arg(&org.admin.username)
            // The password goes in the environment, never in process arguments.
            .env("ESRI_CHECK_PASSWORD", &org.admin.password)
            .output()
            .expect("the Python client runs")
    })
    .await
    .expect("joined");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let tail: String =
        stderr.lines().rev().take(15).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n");
    assert!(out.status.success(), "Esri's client failed against portal-sim:\n{stdout}\n{tail}");
    let line = stdout.lines().last().unwrap_or("");
    let seen: serde_json::Value =
        serde_json::from_str(line).unwrap_or_else(|e| panic!("one JSON line ({e}): {stdout}"));
    assert_eq!(seen["users"], 5, "gis.users.search() lists the org's users: {seen}");
    assert_eq!(seen["same_bytes"], true, "the 12 MB file added by Folder.add reads back byte for byte: {seen}");
    let stats = sim.state.faults.path_counts();
    for op in ["/addPart", "/commit", "/status"] {
        assert!(
            stats.iter().any(|(p, n)| p.ends_with(op) && *n > 0),
            "Esri's client went through {op} (multipart upload, asynchronous commit): {stats:?}"
        );
    }
}
