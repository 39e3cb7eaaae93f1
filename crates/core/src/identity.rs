//! Identities: an organization the user connects to, how they sign in and where its backups go.
//!
//! Invariant: an identity record holds no secret. Passwords, tokens, refresh tokens and storage
//! connection strings live in the vault ([`crate::vault`]), keyed by the identity id; this table
//! only says which kind of secret to look for. Custom request headers are secrets too (they
//! often carry a gateway key): the table keeps only their names, the values are in the vault
//! ([`IdentitySecrets::custom_headers`]); [`move_header_values_to_vault`] moves the values an
//! older version stored in the table.
//!
//! A portal URL is `https://`, or `http://` on this machine (loopback); a plain `http://` portal
//! elsewhere needs [`TlsOptions::allow_insecure_http`], because the password, tokens and header
//! values would travel readable.
//!
//! [`verify`] signs in with an identity's secrets, refuses a non-administrator and checks the
//! storage ("Save and verify"); [`credentials`] loads and saves those secrets and derives the
//! token state the UI shows.

mod credentials;
mod headers;
mod verify;

pub use credentials::{
    credential_state, save_refresh_token, IdentitySecrets, OAuthSecret, SignInSecret, StorageSecret, TokenState,
    EXPIRING_WITHIN_MS,
};
pub use headers::{load_header_values, move_header_values_to_vault, parse_header_names, save_header_values};
pub use verify::{
    check_storage, portal_config, verify, verify_sign_in, SignedIn, StorageCheck, VerifiedIdentity, VerifyError,
    VerifyOptions,
};

use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::clock::Clock;
use crate::db::Db;
use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum PortalKind {
    Online,
    Enterprise,
}

/// How the identity signs in; the matching secret is in the vault, never here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignIn {
    /// A built-in account (generateToken).
    Builtin { username: String },
    /// OAuth2 with a registered App ID; `username` is learnt at the first sign-in.
    Oauth { client_id: String, username: Option<String> },
}

impl SignIn {
    pub fn username(&self) -> Option<&str> {
        match self {
            SignIn::Builtin { username } => Some(username),
            SignIn::Oauth { username, .. } => username.as_deref(),
        }
    }
}

/// Where backups of this identity are written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Storage {
    Local {
        path: String,
    },
    /// The account's connection string is a secret kept in the vault.
    Azure {
        container: String,
        cache_dir: String,
    },
    /// A bucket of S3 or an S3-compatible service: `url` is `s3://bucket[/prefix][?region=..&
    /// endpoint=..&path_style=..]` (no secret in it); the secret access key is kept in the vault.
    S3 {
        url: String,
        access_key_id: String,
        cache_dir: String,
    },
}

/// Transport options: TLS for portals behind a private CA or a self-signed certificate, and the
/// opt-in to plain http.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsOptions {
    pub extra_ca_pem_path: Option<String>,
    pub allow_invalid_certs: bool,
    /// The user accepted a plain `http://` portal that is not on this machine (its password,
    /// tokens and header values travel readable). Loopback portals need no opt-in.
    #[serde(default)]
    pub allow_insecure_http: bool,
}

/// What the user fills in; `Identities::create` adds the id and times.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentitySpec {
    pub name: String,
    pub portal_url: String,
    pub kind: PortalKind,
    pub sign_in: SignIn,
    pub storage: Storage,
    /// Names of the extra request headers sent to the organization; their values are secrets,
    /// kept in the vault ([`IdentitySecrets::custom_headers`]).
    pub custom_headers: Vec<String>,
    pub tls: TlsOptions,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub id: String,
    #[serde(flatten)]
    pub spec: IdentitySpec,
    pub created_ms: i64,
    pub updated_ms: i64,
}

/// CRUD on the `identities` table.
pub struct Identities<'a> {
    db: &'a Db,
    clock: &'a dyn Clock,
}

/// Checks what the user entered before anything is sent anywhere: a name, an `https://` portal
/// URL (or `http://` on loopback, or with [`TlsOptions::allow_insecure_http`]), a storage.
pub fn validate(spec: &IdentitySpec) -> Result<()> {
    if spec.name.trim().is_empty() {
        return Err(Error::InvalidInput("an identity needs a name".into()));
    }
    let url = url::Url::parse(spec.portal_url.trim())
        .map_err(|e| Error::InvalidInput(format!("portal URL {:?} is not a URL: {e}", spec.portal_url)))?;
    arcgis::check_portal_url(&url, spec.tls.allow_insecure_http).map_err(|e| match e {
        arcgis::Error::Config { message } => Error::InvalidInput(message),
        other => Error::from(other),
    })?;
    if let Some(name) = spec.custom_headers.iter().find(|n| n.trim().is_empty() || n.contains(':')) {
        return Err(Error::InvalidInput(format!("{name:?} is not a header name")));
    }
    match &spec.storage {
        Storage::Local { path } if path.trim().is_empty() => {
            Err(Error::InvalidInput("a local storage needs a folder".into()))
        }
        Storage::Azure { container, .. } if container.trim().is_empty() => {
            Err(Error::InvalidInput("an Azure storage needs a container".into()))
        }
        Storage::S3 { url, access_key_id, cache_dir } => {
            crate::storage::S3Address::parse(url.trim())
                .map_err(|e| Error::InvalidInput(format!("the S3 address {url:?}: {e}")))?;
            if access_key_id.trim().is_empty() {
                return Err(Error::InvalidInput("an S3 storage needs an access key ID".into()));
            }
            if cache_dir.trim().is_empty() {
                return Err(Error::InvalidInput("an S3 storage needs a local cache folder for its uploads".into()));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn json<T: Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| Error::Corrupt(e.to_string()))
}

impl<'a> Identities<'a> {
    pub fn new(db: &'a Db, clock: &'a dyn Clock) -> Self {
        Self { db, clock }
    }

    pub async fn create(&self, spec: IdentitySpec) -> Result<Identity> {
        validate(&spec)?;
        let now = self.clock.now_ms();
        let id = uuid::Uuid::new_v4().simple().to_string();
        let columns = SpecColumns::of(&spec)?;
        let insert = sqlx::query("INSERT INTO identities (id, name, portal_url, kind, sign_in, storage, custom_headers, tls_ca_pem_path, tls_allow_invalid_certs, allow_insecure_http, created_ms, updated_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
            .bind(&id);
        columns.bind(insert).bind(now).bind(now).execute(self.db.pool()).await?;
        Ok(Identity { id, spec, created_ms: now, updated_ms: now })
    }

    pub async fn get(&self, id: &str) -> Result<Identity> {
        let row = sqlx::query("SELECT * FROM identities WHERE id = ?")
            .bind(id)
            .fetch_optional(self.db.pool())
            .await?
            .ok_or_else(|| Error::NotFound { what: "identity", id: id.to_owned() })?;
        from_row(&row)
    }

    /// Every identity, by name.
    pub async fn list(&self) -> Result<Vec<Identity>> {
        let rows =
            sqlx::query("SELECT * FROM identities ORDER BY name COLLATE NOCASE, id").fetch_all(self.db.pool()).await?;
        rows.iter().map(from_row).collect()
    }

    pub async fn update(&self, id: &str, spec: IdentitySpec) -> Result<Identity> {
        validate(&spec)?;
        let now = self.clock.now_ms();
        let columns = SpecColumns::of(&spec)?;
        let update = sqlx::query("UPDATE identities SET name = ?, portal_url = ?, kind = ?, sign_in = ?, storage = ?, custom_headers = ?, tls_ca_pem_path = ?, tls_allow_invalid_certs = ?, allow_insecure_http = ?, updated_ms = ? WHERE id = ?");
        let done = columns.bind(update).bind(now).bind(id).execute(self.db.pool()).await?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound { what: "identity", id: id.to_owned() });
        }
        self.get(id).await
    }

    /// The identity whose id is `name_or_id`, else the one whose name matches it (ignoring case).
    /// Two identities of that name make the name ambiguous: the error asks for the id.
    pub async fn find(&self, name_or_id: &str) -> Result<Identity> {
        let wanted = name_or_id.trim();
        let all = self.list().await?;
        if let Some(found) = all.iter().find(|i| i.id == wanted) {
            return Ok(found.clone());
        }
        let mut named = all.into_iter().filter(|i| i.spec.name.trim().eq_ignore_ascii_case(wanted));
        match (named.next(), named.next()) {
            (Some(one), None) => Ok(one),
            (Some(a), Some(b)) => Err(Error::InvalidInput(format!(
                "more than one identity is named {wanted:?} ({} and {}); give the id instead",
                a.id, b.id
            ))),
            _ => Err(Error::NotFound { what: "identity", id: wanted.to_owned() }),
        }
    }

    /// Deletes the identity and its scan catalogs; its job history stays (without the link).
    pub async fn delete(&self, id: &str) -> Result<()> {
        let done = sqlx::query("DELETE FROM identities WHERE id = ?").bind(id).execute(self.db.pool()).await?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound { what: "identity", id: id.to_owned() });
        }
        Ok(())
    }
}

type SqliteQuery<'q> = sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>;

/// The spec as the columns store it, bound in one place for INSERT and UPDATE (both list the
/// columns in this order: name, portal_url, kind, sign_in, storage, custom_headers (names only),
/// tls_ca_pem_path, tls_allow_invalid_certs, allow_insecure_http).
struct SpecColumns<'a> {
    spec: &'a IdentitySpec,
    sign_in: String,
    storage: String,
    custom_headers: String,
}

impl<'a> SpecColumns<'a> {
    fn of(spec: &'a IdentitySpec) -> Result<Self> {
        Ok(SpecColumns {
            spec,
            sign_in: json(&spec.sign_in)?,
            storage: json(&spec.storage)?,
            custom_headers: json(&spec.custom_headers)?,
        })
    }

    fn bind<'q>(&'q self, query: SqliteQuery<'q>) -> SqliteQuery<'q> {
        query
            .bind(&self.spec.name)
            .bind(&self.spec.portal_url)
            .bind(kind_text(self.spec.kind))
            .bind(&self.sign_in)
            .bind(&self.storage)
            .bind(&self.custom_headers)
            .bind(self.spec.tls.extra_ca_pem_path.as_deref())
            .bind(self.spec.tls.allow_invalid_certs)
            .bind(self.spec.tls.allow_insecure_http)
    }
}

fn kind_text(kind: PortalKind) -> &'static str {
    match kind {
        PortalKind::Online => "online",
        PortalKind::Enterprise => "enterprise",
    }
}

fn from_row(r: &sqlx::sqlite::SqliteRow) -> Result<Identity> {
    fn decode<T: serde::de::DeserializeOwned>(r: &sqlx::sqlite::SqliteRow, col: &str) -> Result<T> {
        serde_json::from_str(r.get::<&str, _>(col)).map_err(|e| Error::Corrupt(format!("identities.{col}: {e}")))
    }
    let kind = match r.get::<&str, _>("kind") {
        "online" => PortalKind::Online,
        "enterprise" => PortalKind::Enterprise,
        other => return Err(Error::Corrupt(format!("identities.kind {other:?}"))),
    };
    let sign_in = decode(r, "sign_in")?;
    let storage = decode(r, "storage")?;
    let custom_headers = parse_header_names(r.get::<&str, _>("custom_headers"))
        .map_err(|e| Error::Corrupt(format!("identities.custom_headers: {e}")))?;
    Ok(Identity {
        id: r.get("id"),
        spec: IdentitySpec {
            name: r.get("name"),
            portal_url: r.get("portal_url"),
            kind,
            sign_in,
            storage,
            custom_headers,
            tls: TlsOptions {
                extra_ca_pem_path: r.get("tls_ca_pem_path"),
                allow_invalid_certs: r.get("tls_allow_invalid_certs"),
                allow_insecure_http: r.get("allow_insecure_http"),
            },
        },
        created_ms: r.get("created_ms"),
        updated_ms: r.get("updated_ms"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    pub(crate) fn spec(name: &str) -> IdentitySpec {
        IdentitySpec {
            name: name.into(),
            portal_url: "https://acme.maps.arcgis.com".into(),
            kind: PortalKind::Online,
            sign_in: SignIn::Builtin { username: "admin".into() },
            storage: Storage::Azure { container: "backups".into(), cache_dir: "/tmp/cache".into() },
            custom_headers: vec!["X-Route".into()],
            tls: TlsOptions {
                extra_ca_pem_path: Some("/etc/ca.pem".into()),
                allow_invalid_certs: true,
                allow_insecure_http: false,
            },
        }
    }

    #[tokio::test]
    async fn identities_round_trip_update_and_delete() {
        let db = Db::open_in_memory().await.expect("db");
        let clock = ManualClock::new(10);
        let ids = Identities::new(&db, &clock);
        let created = ids.create(spec("Acme")).await.expect("create");
        assert_eq!(ids.get(&created.id).await.expect("get"), created, "what is stored is what was given");
        clock.set(20);
        let mut changed = spec("Acme prod");
        changed.sign_in = SignIn::Oauth { client_id: "abc".into(), username: None };
        changed.storage = Storage::Local { path: "/backups".into() };
        let updated = ids.update(&created.id, changed.clone()).await.expect("update");
        assert_eq!((updated.created_ms, updated.updated_ms), (10, 20), "update keeps created and moves updated");
        assert_eq!(updated.spec, changed, "every field is updated");
        assert_eq!(ids.list().await.expect("list").len(), 1, "update does not add a row");
        ids.delete(&created.id).await.expect("delete");
        assert_eq!(
            ids.get(&created.id).await.expect_err("gone").code(),
            crate::ErrorCode::NotFound,
            "a deleted identity is not found"
        );
    }

    #[tokio::test]
    async fn invalid_identities_are_refused() {
        let db = Db::open_in_memory().await.expect("db");
        let clock = ManualClock::new(0);
        let ids = Identities::new(&db, &clock);
        let mut bad = spec("x");
        bad.portal_url = "ftp://acme".into();
        assert_eq!(
            ids.create(bad).await.expect_err("ftp").code(),
            crate::ErrorCode::InvalidInput,
            "only http(s) portals"
        );
        let mut bad = spec(" ");
        bad.portal_url = "https://ok".into();
        assert_eq!(
            ids.create(bad).await.expect_err("no name").code(),
            crate::ErrorCode::InvalidInput,
            "a name is required"
        );
        assert!(ids.list().await.expect("list").is_empty(), "nothing refused is stored");
    }

    #[tokio::test]
    async fn a_remote_plain_http_portal_needs_the_opt_in() {
        let db = Db::open_in_memory().await.expect("db");
        let clock = ManualClock::new(0);
        let ids = Identities::new(&db, &clock);
        let mut remote = spec("remote");
        remote.portal_url = "http://gis.example.com/portal".into();
        let err = ids.create(remote.clone()).await.expect_err("remote http without the opt-in");
        assert_eq!(err.code(), crate::ErrorCode::InvalidInput, "a remote http portal is refused: {err}");
        assert!(err.to_string().contains("http"), "the message names the plain http: {err}");
        for url in ["file:///etc/passwd", "javascript:alert(1)"] {
            let mut bad = spec("bad");
            bad.portal_url = url.into();
            assert_eq!(
                ids.create(bad).await.expect_err(url).code(),
                crate::ErrorCode::InvalidInput,
                "{url} is no portal"
            );
        }
        remote.tls.allow_insecure_http = true;
        let saved = ids.create(remote).await.expect("with the opt-in it is accepted");
        assert!(ids.get(&saved.id).await.expect("get").spec.tls.allow_insecure_http, "the opt-in is kept");
        for url in ["http://127.0.0.1:8080/arcgis", "http://localhost/portal", "http://[::1]:9/"] {
            let mut local = spec("local");
            local.portal_url = url.into();
            ids.create(local).await.unwrap_or_else(|e| panic!("{url} is on this machine: {e}"));
        }
    }
}
