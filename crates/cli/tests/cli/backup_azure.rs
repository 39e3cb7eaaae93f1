//! `orgvault backup --to az://<container>/<prefix>` into Azurite (the Azure Blob emulator, started
//! by the test from tools/azurite as the core suite does), then `orgvault verify --to az://...`,
//! with the connection string only in `AZURE_STORAGE_CONNECTION_STRING`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use portal_sim::{RunningSim, SimConfig};

use crate::support::{stderr, stdout};

/// Azurite's well-known development account key (public, documented by Microsoft).
const DEV_KEY: &str = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

fn tools_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tools/azurite")
}

/// Azurite on a free loopback port with its data in a temporary folder; killed when dropped.
struct Azurite {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Azurite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Azurite {
    /// Starts Azurite; panics (never skips) when it is not installed.
    async fn start() -> Azurite {
        let bin = tools_dir().join("node_modules/.bin/azurite-blob");
        assert!(
            bin.exists(),
            "Azurite is not installed ({} is missing): run `npm install --prefix tools/azurite`",
            bin.display()
        );
        let dir = tempfile::tempdir().expect("a temporary folder");
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("addr").port();
        let child = Command::new(&bin)
            .args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string(), "--location"])
            .arg(dir.path())
            .args(["--skipApiVersionCheck", "--loose", "--silent"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("Azurite starts");
        let mut me = Azurite { child, port, _dir: dir };
        let deadline = Instant::now() + Duration::from_secs(30);
        while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            assert!(me.child.try_wait().expect("child status").is_none(), "Azurite exited at start-up");
            assert!(Instant::now() < deadline, "Azurite did not listen on 127.0.0.1:{port} within 30 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        me
    }

    fn conn_string(&self) -> String {
        format!(
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={DEV_KEY};BlobEndpoint=http://127.0.0.1:{}/devstoreaccount1;",
            self.port
        )
    }

    /// Creates a container with the official JS SDK (independent of our client).
    async fn create_container(&self, name: &str) {
        let out = tokio::process::Command::new("node")
            .current_dir(tools_dir())
            .arg("create-container.js")
            .arg(name)
            .env("AZURE_STORAGE_CONNECTION_STRING", self.conn_string())
            .output()
            .await
            .expect("node runs");
        assert!(out.status.success(), "create-container.js failed: {}", String::from_utf8_lossy(&out.stderr));
    }
}

/// `orgvault` with the Azure connection string in the environment.
async fn orgvault_az(data_dir: &Path, password: &str, conn: &str, args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_orgvault"))
        .args(args)
        .env("ORGVAULT_DATA_DIR", data_dir)
        .env("ORGVAULT_REPOSITORY_PASSWORD", crate::support::REPOSITORY_PASSWORD)
        .env("ORGVAULT_PASSWORD", password)
        .env("AZURE_STORAGE_CONNECTION_STRING", conn)
        .env_remove("ORGVAULT_LOG")
        .stdin(Stdio::null())
        .output()
        .await
        .expect("the orgvault binary runs")
}

fn json_of(out: &Output) -> serde_json::Value {
    serde_json::from_str(stdout(out).trim()).expect("--json output is one JSON value")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_to_an_azure_container_then_verify_passes() {
    let azurite = Azurite::start().await;
    let container = "orgvault-cli-test";
    azurite.create_container(container).await;
    let conn = azurite.conn_string();
    let sim = RunningSim::start(SimConfig { orgs: 1, items: 40, users: 6, groups: 3, ..SimConfig::default() })
        .await
        .expect("the simulator starts");
    let org = &sim.orgs[0];
    let data = tempfile::tempdir().expect("data folder");
    let to = format!("az://{container}/nightly");
    let pw = &org.admin.password;

    let out = orgvault_az(
        data.path(),
        pw,
        &conn,
        &["backup", "--portal", &org.portal_url, "--username", &org.admin.username, "--to", &to, "--json"],
    )
    .await;
    assert!(out.status.success(), "a backup into Azure succeeds: {} {}", stdout(&out), stderr(&out));
    let summary = json_of(&out);
    let counts = sim.control().org(&org.url_key).expect("the org");
    assert_eq!(summary["items"].as_u64(), Some(counts.items as u64), "every item is in the Azure snapshot: {summary}");
    assert_eq!(summary["failed"], 0, "nothing failed: {summary}");
    assert!(!stderr(&out).contains(DEV_KEY), "the account key never appears in the output");

    let out = orgvault_az(data.path(), pw, &conn, &["verify", "--to", &to, "--json"]).await;
    assert!(out.status.success(), "verify of the Azure repository passes: {} {}", stdout(&out), stderr(&out));
    let verified = json_of(&out);
    assert_eq!(verified["ok"], true, "verify reports ok: {verified}");

    let out = orgvault_az(data.path(), pw, &conn, &["snapshots", "--to", &to, "--json"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let list = json_of(&out);
    assert_eq!(
        list.as_array().map(|l| l.len()),
        Some(1),
        "the container under that prefix holds exactly the one snapshot: {list}"
    );
    assert_eq!(list[0]["id"], summary["snapshot"], "the listed snapshot is the one the backup wrote");

    // Staged files are removed after upload: only lock files may remain in the cache.
    let cache = data.path().join("cache");
    let staged: Vec<PathBuf> = walk(&cache).into_iter().filter(|p| !p.ends_with(".orgvault-staging.lock")).collect();
    assert!(staged.is_empty(), "no staged blob is left in the cache after the backup: {staged:?}");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![];
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path());
            }
        }
    }
    out
}
