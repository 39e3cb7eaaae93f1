//! Shared set-up of the repository tests: Azurite and an S3 server (moto) started by the test
//! itself, storage targets, and manifests whose blobs are really stored.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use arcgis::Secret;
use bytes::Bytes;
use orgvault_core::repo::{
    BlobRef, DataEntry, DataKind, FileEntry, GroupEntry, ItemEntry, Manifest, Repository, ResourceEntry, Sharing,
    UserEntry,
};
use orgvault_core::storage::{AzureConnection, S3Connection, S3Credentials, StorageTarget};

const DEV_KEY: &str = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

fn tools_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tools/azurite")
}

/// An Azurite blob service on a free loopback port, with its data in a temporary folder;
/// killed when dropped.
pub struct Azurite {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Azurite {
    /// Starts Azurite. Fails (never skips) when it is not installed.
    pub async fn start() -> anyhow::Result<Azurite> {
        let bin = tools_dir().join("node_modules/.bin/azurite-blob");
        if !bin.exists() {
            bail!(
                "Azurite is not installed ({} is missing): run `npm install --prefix tools/azurite` (needs Node.js)",
                bin.display()
            );
        }
        let dir = tempfile::tempdir()?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let child = Command::new(&bin)
            .args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string(), "--location"])
            .arg(dir.path())
            .args(["--skipApiVersionCheck", "--loose", "--silent"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        let mut me = Azurite { child, port, _dir: dir };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                return Ok(me);
            }
            if let Some(status) = me.child.try_wait()? {
                bail!("Azurite exited at start-up with {status}");
            }
            if Instant::now() > deadline {
                bail!("Azurite did not listen on 127.0.0.1:{port} within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}/devstoreaccount1", self.port)
    }

    /// The connection string in the portal's form, with an explicit BlobEndpoint.
    pub fn conn_string(&self) -> String {
        format!(
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={DEV_KEY};BlobEndpoint={};",
            self.endpoint()
        )
    }

    /// Creates a container (via the official JS SDK, independent of our client); with `sas`,
    /// returns a container SAS query string with those permissions.
    pub async fn create_container(&self, name: &str, sas: Option<&str>) -> anyhow::Result<String> {
        let mut cmd = tokio::process::Command::new("node");
        cmd.current_dir(tools_dir()).arg("create-container.js").arg(name);
        if let Some(perms) = sas {
            cmd.args(["--sas", perms]);
        }
        let out = cmd.env("AZURE_STORAGE_CONNECTION_STRING", self.conn_string()).output().await?;
        if !out.status.success() {
            bail!("create-container.js failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8(out.stdout)?.trim().to_owned())
    }

    /// An Azure target for a new container with a random name, staging in `cache`.
    pub async fn target(&self, cache: &Path) -> anyhow::Result<StorageTarget> {
        let container = format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        self.create_container(&container, None).await?;
        Ok(StorageTarget::Azure {
            conn: AzureConnection::parse(&self.conn_string())?,
            container,
            prefix: "org/prod".into(),
            cache_dir: cache.to_owned(),
        })
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn s3_tools_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tools/s3")
}

/// An S3-compatible server (moto in server mode) on a free loopback port, enforcing IAM: two
/// users, one allowed everything, one allowed all but `s3:DeleteObject`. Killed when dropped.
pub struct S3Server {
    child: Child,
    pub port: u16,
    /// (access key id, secret) of the user allowed everything.
    pub full: (String, String),
    /// (access key id, secret) of the user whose policy lacks `s3:DeleteObject`.
    pub no_delete: (String, String),
}

impl S3Server {
    /// Starts the server and makes its users. Fails (never skips) when moto is not installed.
    pub async fn start() -> anyhow::Result<S3Server> {
        let bin = s3_tools_dir().join(".venv/bin/moto_server");
        if !bin.exists() {
            bail!(
                "moto is not installed ({} is missing): python3 -m venv tools/s3/.venv && \
                 tools/s3/.venv/bin/pip install -r tools/s3/requirements.txt",
                bin.display()
            );
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let child = Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            // The users are made by the first six actions; everything after is checked by IAM.
            .env("INITIAL_NO_AUTH_ACTION_COUNT", "6")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        let mut me = S3Server { child, port, full: Default::default(), no_delete: Default::default() };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                break;
            }
            if let Some(status) = me.child.try_wait()? {
                bail!("moto_server exited at start-up with {status}");
            }
            if Instant::now() > deadline {
                bail!("moto_server did not listen on 127.0.0.1:{port} within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let users: serde_json::Value = serde_json::from_str(&me.admin(&["users", &me.endpoint()]).await?)?;
        let pair = |name: &str| -> anyhow::Result<(String, String)> {
            let p = users[name].as_array().context("a key pair")?;
            Ok((p[0].as_str().unwrap_or_default().to_owned(), p[1].as_str().unwrap_or_default().to_owned()))
        };
        me.full = pair("full")?;
        me.no_delete = pair("no_delete")?;
        Ok(me)
    }

    async fn admin(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = tokio::process::Command::new(s3_tools_dir().join(".venv/bin/python"))
            .arg(s3_tools_dir().join("s3-admin.py"))
            .args(args)
            .output()
            .await?;
        if !out.status.success() {
            bail!("s3-admin.py {} failed: {}", args[0], String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8(out.stdout)?)
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Creates a bucket with a random name (through AWS's own SDK, not our client).
    pub async fn bucket(&self) -> anyhow::Result<String> {
        let name = format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        self.admin(&["bucket", &self.endpoint(), &name, &self.full.0, &self.full.1]).await?;
        Ok(name)
    }

    /// A connection to `bucket` as the user `keys`, path style on the loopback endpoint.
    pub fn connection(&self, bucket: &str, keys: &(String, String)) -> S3Connection {
        S3Connection {
            bucket: bucket.to_owned(),
            region: "us-east-1".into(),
            endpoint: Some(self.endpoint().parse().expect("a URL")),
            path_style: true,
            credentials: S3Credentials {
                access_key_id: keys.0.clone(),
                secret_access_key: Secret::new(keys.1.clone()),
                session_token: None,
            },
        }
    }

    /// An S3 target for a new bucket, as the user allowed everything, staging in `cache`.
    pub async fn target(&self, cache: &Path) -> anyhow::Result<StorageTarget> {
        let bucket = self.bucket().await?;
        Ok(StorageTarget::S3 {
            conn: self.connection(&bucket, &self.full),
            prefix: "org/prod".into(),
            cache_dir: cache.to_owned(),
        })
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn local_target(dir: &Path) -> StorageTarget {
    StorageTarget::Local { path: dir.join("repo") }
}

/// Deterministic pseudo-random bytes (incompressible).
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Stores one item's parts and returns its entry: item JSON, a data file, a resource and a
/// thumbnail. `tag` varies the content; items with the same tag share blobs.
pub async fn stored_item(repo: &Repository, id: &str, title: &str, tag: u64) -> anyhow::Result<ItemEntry> {
    let json = serde_json::json!({"id": id, "title": title, "type": "PDF", "tag": tag});
    let item_json = repo.put_blob_json(&json).await?;
    let data = repo.put_blob_bytes(Bytes::from(noise(tag, 10_000))).await?;
    let res = repo.put_blob_bytes(Bytes::from(format!("resource of {tag}\n").repeat(200))).await?;
    let thumb = repo.put_blob_bytes(Bytes::from(noise(tag + 1000, 700))).await?;
    Ok(ItemEntry {
        id: id.into(),
        title: title.into(),
        item_type: "PDF".into(),
        owner: "ann".into(),
        folder: None,
        modified: 1_700_000_000_000,
        size: 10_000,
        item_json,
        data: Some(DataEntry { kind: DataKind::File, file_name: Some(format!("{title}.pdf")), blob: data }),
        resources: vec![ResourceEntry { path: "img/legend.txt".into(), blob: res }],
        thumbnail: Some(FileEntry { name: "thumb.png".into(), blob: thumb }),
        metadata: None,
        related: vec![],
        sharing: Sharing { access: "org".into(), groups: vec!["g1".into()] },
        service: None,
        notes: vec![],
        included_as: None,
        service_not_fetched: None,
    })
}

/// A manifest with `items` stored items (tags `base..base+items`), one user and one group.
pub async fn stored_manifest(
    repo: &Repository,
    name: &str,
    time_ms: i64,
    base: u64,
    items: u64,
) -> anyhow::Result<Manifest> {
    let mut m = Manifest::new(name, "identity-1", "org-1", "https://acme.maps.arcgis.com", time_ms);
    m.org.portal_self = Some(repo.put_blob_json(&serde_json::json!({"id": "org-1", "name": "Acme"})).await?);
    for i in base..base + items {
        m.items.push(stored_item(repo, &format!("item{i:04}"), &format!("Map {i}"), i).await?);
    }
    let profile: BlobRef = repo.put_blob_json(&serde_json::json!({"username": "ann", "role": "org_admin"})).await?;
    m.users.push(UserEntry {
        username: "ann".into(),
        full_name: "Ann Admin".into(),
        role: "org_admin".into(),
        role_id: None,
        license_type: Some("creatorUT".into()),
        groups: vec!["g1".into()],
        folders: vec![],
        profile,
        thumbnail: None,
    });
    let settings = repo.put_blob_json(&serde_json::json!({"id": "g1", "title": "Field crews"})).await?;
    m.groups.push(GroupEntry {
        id: "g1".into(),
        title: "Field crews".into(),
        owner: "ann".into(),
        admins: vec!["ann".into()],
        members: vec!["ann".into()],
        settings,
        thumbnail: None,
        content: vec!["item0000".into()],
    });
    Ok(m)
}

/// Every file under `dir` (recursively).
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}
