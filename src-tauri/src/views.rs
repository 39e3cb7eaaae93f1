//! The shapes the UI sees: every command argument and answer, exported to TypeScript by
//! tauri-specta. They mirror the engine's types in the UI's words (an `IdentityView` has a token
//! state, not a sign-in record) and never carry a secret outward: passwords and connection
//! strings only travel inward, in `IdentityInput` and `StorageInput`.

use orgvault_core::identity::{Identity, PortalKind, SignIn, Storage};
use orgvault_core::jobs::{Job, JobItem, JobKind, JobState, Outcome, SubjectKind, Trigger};
use serde::{Deserialize, Serialize};
use specta::Type;

/// A job id: a row of the job history, or (negative) a verify run, which lives in memory only.
pub type JobId = i64;

#[derive(Debug, Clone, Serialize, Deserialize, Type)]
pub struct AppInfo {
    // The version and the commit built from, as `orgvault --version` prints them:
    // `0.1.0 (commit 1a2b3c4)` (orgvault_build_info::VERSION_LINE).
    pub version: String,
    pub data_dir: String,
    pub demo_running: bool,
    /// Where secrets are kept: "OS keyring", "key file <path>", or why only in memory.
    pub vault: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Type)]
#[serde(rename_all = "snake_case")]
pub enum SignInKind {
    Builtin,
    Oauth,
}

/// Whether the app holds a working sign-in for the identity. The client renews tokens by
/// itself while a session lives, so `valid` lasts as long as the app runs; `none` means not
/// signed in since the app started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Type)]
#[serde(rename_all = "snake_case")]
pub enum TokenState {
    Valid,
    Expiring,
    Expired,
    None,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StorageView {
    Local { path: String },
    Azure { container: String, cache_dir: String },
    S3 { url: String, access_key_id: String, cache_dir: String },
}

#[derive(Debug, Clone, Serialize, Deserialize, Type)]
pub struct IdentityView {
    pub id: String,
    pub name: String,
    pub portal_url: String,
    pub kind: PortalKind,
    pub sign_in: SignInKind,
    pub username: String,
    pub storage: StorageView,
    pub token: TokenState,
    /// Whether the user accepted a plain `http://` portal that is not on this machine.
    pub allow_insecure_http: bool,
    /// Names of the identity's own request headers (their values stay in the vault).
    pub header_names: Vec<String>,
}

impl IdentityView {
    pub fn new(identity: &Identity, token: TokenState) -> Self {
        let spec = &identity.spec;
        Self {
            id: identity.id.clone(),
            name: spec.name.clone(),
            portal_url: spec.portal_url.clone(),
            kind: spec.kind,
            sign_in: match spec.sign_in {
                SignIn::Builtin { .. } => SignInKind::Builtin,
                SignIn::Oauth { .. } => SignInKind::Oauth,
            },
            username: spec.sign_in.username().unwrap_or_default().to_owned(),
            storage: match &spec.storage {
                Storage::Local { path } => StorageView::Local { path: path.clone() },
                Storage::Azure { container, cache_dir } => {
                    StorageView::Azure { container: container.clone(), cache_dir: cache_dir.clone() }
                }
                Storage::S3 { url, access_key_id, cache_dir } => StorageView::S3 {
                    url: url.clone(),
                    access_key_id: access_key_id.clone(),
                    cache_dir: cache_dir.clone(),
                },
            },
            token,
            allow_insecure_http: spec.tls.allow_insecure_http,
            header_names: spec.custom_headers.clone(),
        }
    }
}

/// Where backups go, as entered. The connection string is a secret: it goes to the vault.
#[derive(Clone, Serialize, Deserialize, Type)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StorageInput {
    Local {
        path: String,
    },
    Azure {
        connection_string: String,
        container: String,
        cache_dir: String,
    },
    /// `url` is `s3://bucket[/prefix][?region=..&endpoint=..&path_style=..]`; the secret access key
    /// goes to the vault.
    S3 {
        url: String,
        access_key_id: String,
        secret_access_key: String,
        cache_dir: String,
    },
}

impl std::fmt::Debug for StorageInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StorageInput::Local { path } => f.debug_struct("Local").field("path", path).finish(),
            StorageInput::Azure { container, cache_dir, .. } => f
                .debug_struct("Azure")
                .field("connection_string", &"***")
                .field("container", container)
                .field("cache_dir", cache_dir)
                .finish(),
            StorageInput::S3 { url, access_key_id, cache_dir, .. } => f
                .debug_struct("S3")
                .field("url", url)
                .field("access_key_id", access_key_id)
                .field("secret_access_key", &"***")
                .field("cache_dir", cache_dir)
                .finish(),
        }
    }
}

/// An identity as entered in "Save and verify". `id` is set when editing; a `None` password
/// when editing keeps the stored one, but only while the portal URL and username stay the same
/// (a changed URL needs the password again).
#[derive(Clone, Serialize, Deserialize, Type)]
pub struct IdentityInput {
    pub id: Option<String>,
    pub name: String,
    pub portal_url: String,
    pub sign_in: SignInKind,
    pub username: String,
    pub password: Option<String>,
    pub app_id: Option<String>,
    pub storage: StorageInput,
    /// The user accepts a plain `http://` portal that is not on this machine.
    pub allow_insecure_http: bool,
    /// A new identity's repository is created encrypted with this password (kept in the
    /// vault); `None` leaves the repository as it is or, when missing, to be created plain.
    pub repository_password: Option<String>,
}

/// What "Save and verify" answers: the identity, and the recovery key of a repository it just
/// created encrypted (shown once by the form; OrgVault keeps no copy).
#[derive(Clone, Serialize, Type)]
pub struct IdentitySaved {
    pub identity: IdentityView,
    pub recovery_key: Option<String>,
}

impl std::fmt::Debug for IdentitySaved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentitySaved")
            .field("identity", &self.identity)
            .field("recovery_key", &self.recovery_key.as_ref().map(|_| "***"))
            .finish()
    }
}

impl std::fmt::Debug for IdentityInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityInput")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("portal_url", &self.portal_url)
            .field("sign_in", &self.sign_in)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("app_id", &self.app_id)
            .field("storage", &self.storage)
            .field("allow_insecure_http", &self.allow_insecure_http)
            .field("repository_password", &self.repository_password.as_ref().map(|_| "***"))
            .finish()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, Type)]
pub struct SelectionInput {
    pub everything: bool,
    pub item_ids: Vec<String>,
    pub usernames: Vec<String>,
    pub group_ids: Vec<String>,
}

impl SelectionInput {
    pub fn to_selection(&self) -> orgvault_core::Selection {
        if self.everything {
            return orgvault_core::Selection::Everything;
        }
        // Exact: each element is chosen on its own in the app, so a selected user must not bring
        // back items the user left out; the tally shown is what gets backed up.
        orgvault_core::Selection::Exact {
            items: self.item_ids.clone(),
            users: self.usernames.clone(),
            groups: self.group_ids.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct Tally {
    pub items: u64,
    pub users: u64,
    pub groups: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, Type)]
pub struct SnapshotView {
    pub id: String,
    pub name: String,
    pub time_ms: i64,
    pub items: u64,
    pub users: u64,
    pub groups: u64,
    pub bytes: u64,
    pub verified: Option<bool>,
    /// Taken by an identity not saved here (imported from a zip, or its identity was removed).
    pub other_identity: bool,
}

/// What a prune deletes (or would delete) and keeps.
#[derive(Debug, Clone, Default, Serialize, Deserialize, Type)]
pub struct PruneView {
    pub blobs_removed: u64,
    pub bytes_removed: u64,
    pub blobs_kept: u64,
    pub bytes_kept: u64,
}

impl From<&orgvault_core::repo::PruneReport> for PruneView {
    fn from(r: &orgvault_core::repo::PruneReport) -> Self {
        PruneView {
            blobs_removed: r.blobs_removed,
            bytes_removed: r.bytes_removed,
            blobs_kept: r.blobs_kept,
            bytes_kept: r.bytes_kept,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, Type)]
pub struct SnapshotEntry {
    pub kind: SubjectKind,
    pub id: String,
    pub title: String,
    #[serde(rename = "type")]
    pub item_type: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Type)]
#[serde(rename_all = "snake_case")]
pub enum JobKindView {
    Scan,
    Backup,
    Restore,
    Verify,
    Retention,
    Copy,
    Postprocess,
}

impl From<JobKind> for JobKindView {
    fn from(k: JobKind) -> Self {
        match k {
            JobKind::Scan => Self::Scan,
            JobKind::Backup => Self::Backup,
            JobKind::Restore => Self::Restore,
            JobKind::Verify => Self::Verify,
            JobKind::Retention => Self::Retention,
            JobKind::Copy => Self::Copy,
            JobKind::Postprocess => Self::Postprocess,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Type)]
#[serde(rename_all = "snake_case")]
pub enum JobStateView {
    Queued,
    Running,
    Succeeded,
    Partial,
    Failed,
    Cancelled,
}

impl From<JobState> for JobStateView {
    fn from(s: JobState) -> Self {
        match s {
            JobState::Queued => Self::Queued,
            JobState::Running => Self::Running,
            JobState::Succeeded => Self::Succeeded,
            JobState::Partial => Self::Partial,
            JobState::Failed => Self::Failed,
            JobState::Cancelled => Self::Cancelled,
        }
    }
}

impl JobStateView {
    pub fn to_core(self) -> JobState {
        match self {
            Self::Queued => JobState::Queued,
            Self::Running => JobState::Running,
            Self::Succeeded => JobState::Succeeded,
            Self::Partial => JobState::Partial,
            Self::Failed => JobState::Failed,
            Self::Cancelled => JobState::Cancelled,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, Type)]
pub struct JobFilterInput {
    pub kind: Option<JobKindView>,
    pub state: Option<JobStateView>,
    pub identity_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Type)]
pub struct JobView {
    pub id: JobId,
    pub kind: JobKindView,
    pub state: JobStateView,
    pub name: String,
    pub identity_id: Option<String>,
    pub started_ms: Option<i64>,
    pub ended_ms: Option<i64>,
    pub summary: String,
    /// What started it: a person, or a schedule (by id).
    pub trigger: Trigger,
    /// Its latest e-mailed result in words ("e-mailed to ...", or why the send failed).
    pub mail: Option<String>,
}

impl From<&Job> for JobView {
    fn from(j: &Job) -> Self {
        Self {
            id: j.id,
            kind: j.kind.into(),
            state: j.state.into(),
            name: j.name.clone(),
            identity_id: j.identity_id.clone(),
            started_ms: j.started_ms.or(Some(j.created_ms)),
            ended_ms: j.finished_ms,
            summary: j.summary(),
            trigger: j.trigger,
            mail: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Type)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeView {
    Ok,
    Skipped,
    Failed,
}

#[derive(Debug, Clone, Serialize, Deserialize, Type)]
pub struct JobItemView {
    pub kind: SubjectKind,
    pub id: String,
    pub title: String,
    pub outcome: OutcomeView,
    pub reason: Option<String>,
    /// When done another way than planned (e.g. a service exported by replica), how: the
    /// outcome is then still `ok`.
    pub fallback: Option<String>,
}

/// The engine's outcome in the UI's three words plus the fallback flag.
pub fn outcome_view(o: Outcome) -> (OutcomeView, bool) {
    match o {
        Outcome::Ok => (OutcomeView::Ok, false),
        Outcome::Fallback => (OutcomeView::Ok, true),
        Outcome::Skipped => (OutcomeView::Skipped, false),
        Outcome::Failed => (OutcomeView::Failed, false),
    }
}

impl From<&JobItem> for JobItemView {
    fn from(i: &JobItem) -> Self {
        let (outcome, fallback) = outcome_view(i.outcome.outcome);
        Self {
            kind: i.outcome.kind,
            id: i.outcome.id.clone(),
            title: i.outcome.title.clone(),
            outcome,
            reason: i.outcome.reason.clone(),
            fallback: if fallback {
                Some(i.outcome.reason.clone().unwrap_or_else(|| "another method".into()))
            } else {
                None
            },
        }
    }
}

/// User settings. Header values are secrets (a header often carries a gateway key): they are
/// kept in the vault and never sent back to the UI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct Settings {
    pub log_level: String,
    pub headers: Vec<HeaderSetting>,
    pub data_dir: String,
    /// Days of log files kept before they are removed.
    pub log_keep_days: u32,
    /// OrgVault starts at login, hidden in the tray (tauri-plugin-autostart; the OS keeps it).
    pub start_at_login: bool,
}

/// One custom request header in Settings. The value is write-only: `get_settings` answers
/// `None`; `save_settings` keeps the saved value when it gets `None` (or an empty one).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Type)]
pub struct HeaderSetting {
    pub name: String,
    pub value: Option<String>,
}

impl std::fmt::Debug for HeaderSetting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeaderSetting")
            .field("name", &self.name)
            .field("value", &self.value.as_ref().map(|_| "***"))
            .finish()
    }
}
