//! An identity's secrets as the vault keeps them, and the token state shown to the user.

use arcgis::Secret;
use serde::{Deserialize, Serialize};

use super::headers::{load_header_values, save_header_values};
use super::{Identity, IdentitySpec, SignIn, Storage};
use crate::vault::{SecretKey, SecretStore, VaultError};

/// An OAuth refresh token with what is needed to use and renew it. Kept in the vault as JSON
/// under [`SecretKey::refresh_token`]. `Debug` hides the token.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthSecret {
    pub refresh_token: String,
    /// Epoch ms; `None` when the portal did not say (the client then exchanges it at each start).
    pub refresh_token_expires_at: Option<i64>,
    /// The loopback redirect URI the token was issued for (`exchange_refresh_token` needs it).
    pub redirect_uri: String,
}

impl std::fmt::Debug for OAuthSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthSecret")
            .field("refresh_token", &"***")
            .field("refresh_token_expires_at", &self.refresh_token_expires_at)
            .field("redirect_uri", &self.redirect_uri)
            .finish()
    }
}

/// The secret an identity signs in with, matching its [`SignIn`].
#[derive(Debug, Clone)]
pub enum SignInSecret {
    /// The password of a built-in account.
    Password(Secret),
    /// A refresh token from the OAuth loopback flow.
    OAuth(OAuthSecret),
}

/// The secret of an identity's storage, matching its [`Storage`].
#[derive(Debug, Clone)]
pub enum StorageSecret {
    /// An Azure storage account's connection string.
    AzureConnectionString(Secret),
    /// The secret access key of an S3 storage's access key ID.
    S3SecretAccessKey(Secret),
}

impl StorageSecret {
    /// The secret of `storage`'s kind (`None` for a folder, which has none).
    pub fn for_storage(storage: &Storage, secret: Secret) -> Option<StorageSecret> {
        match storage {
            Storage::Local { .. } => None,
            Storage::Azure { .. } => Some(StorageSecret::AzureConnectionString(secret)),
            Storage::S3 { .. } => Some(StorageSecret::S3SecretAccessKey(secret)),
        }
    }

    pub fn secret(&self) -> &Secret {
        match self {
            StorageSecret::AzureConnectionString(s) | StorageSecret::S3SecretAccessKey(s) => s,
        }
    }

    /// Whether this is the kind of secret `storage` needs.
    pub fn fits(&self, storage: &Storage) -> bool {
        matches!(
            (self, storage),
            (StorageSecret::AzureConnectionString(_), Storage::Azure { .. })
                | (StorageSecret::S3SecretAccessKey(_), Storage::S3 { .. })
        )
    }
}

/// Everything secret about one identity. `Debug` hides every value.
#[derive(Debug, Clone)]
pub struct IdentitySecrets {
    pub sign_in: SignInSecret,
    /// Required when the storage is Azure (its connection string) or S3 (its secret key).
    pub storage_secret: Option<StorageSecret>,
    /// The values of the identity's custom request headers, by name (the catalog keeps only
    /// the names).
    pub custom_headers: Vec<(String, Secret)>,
}

impl IdentitySecrets {
    /// Reads an identity's secrets from the vault. `Ok(None)` when its sign-in secret is missing
    /// (never saved, or removed).
    pub fn load(store: &dyn SecretStore, identity: &Identity) -> Result<Option<IdentitySecrets>, VaultError> {
        let sign_in = match &identity.spec.sign_in {
            SignIn::Builtin { .. } => match store.get(&SecretKey::password(&identity.id))? {
                Some(bytes) => SignInSecret::Password(Secret::new(text(&bytes)?)),
                None => return Ok(None),
            },
            SignIn::Oauth { .. } => match load_oauth(store, &identity.id)? {
                Some(s) => SignInSecret::OAuth(s),
                None => return Ok(None),
            },
        };
        let key = match &identity.spec.storage {
            Storage::Azure { .. } => Some(SecretKey::azure_connection_string(&identity.id)),
            Storage::S3 { .. } => Some(SecretKey::s3_secret_access_key(&identity.id)),
            Storage::Local { .. } => None,
        };
        let storage_secret = match key {
            Some(key) => store.get(&key)?.map(|b| text(&b)).transpose()?,
            None => None,
        }
        .and_then(|s| StorageSecret::for_storage(&identity.spec.storage, Secret::new(s)));
        let custom_headers = load_header_values(store, &SecretKey::custom_headers(&identity.id))?;
        Ok(Some(IdentitySecrets { sign_in, storage_secret, custom_headers }))
    }

    /// Writes these secrets for `identity_id`, removing the kinds it no longer uses (a switch
    /// from password to OAuth, from Azure to a folder), so nothing stale stays in the vault.
    pub fn save(&self, store: &dyn SecretStore, identity_id: &str) -> Result<(), VaultError> {
        match &self.sign_in {
            SignInSecret::Password(p) => {
                store.put(&SecretKey::password(identity_id), p.expose().as_bytes())?;
                store.remove(&SecretKey::refresh_token(identity_id))?;
            }
            SignInSecret::OAuth(o) => {
                save_refresh_token(store, identity_id, o)?;
                store.remove(&SecretKey::password(identity_id))?;
            }
        }
        save_header_values(store, &SecretKey::custom_headers(identity_id), &self.custom_headers)?;
        let (azure, s3) =
            (SecretKey::azure_connection_string(identity_id), SecretKey::s3_secret_access_key(identity_id));
        let (keep, drop) = match &self.storage_secret {
            Some(StorageSecret::AzureConnectionString(c)) => (Some((&azure, c)), vec![&s3]),
            Some(StorageSecret::S3SecretAccessKey(k)) => (Some((&s3, k)), vec![&azure]),
            None => (None, vec![&azure, &s3]),
        };
        if let Some((key, secret)) = keep {
            store.put(key, secret.expose().as_bytes())?;
        }
        drop.into_iter().try_for_each(|key| store.remove(key))
    }

    /// The saved password that an edit of `old` into `new` may keep using: only while the edit
    /// keeps the portal URL and the account. A password is sent only to the portal it was
    /// entered for; a changed URL (or username) needs it again, as an OAuth sign-in does.
    pub fn password_for_edit(stored: Option<&IdentitySecrets>, old: &Identity, new: &IdentitySpec) -> Option<Secret> {
        let same_portal = same_portal_url(&old.spec.portal_url, &new.portal_url);
        let same_account = match (&old.spec.sign_in, &new.sign_in) {
            (SignIn::Builtin { username: a }, SignIn::Builtin { username: b }) => {
                a.trim().eq_ignore_ascii_case(b.trim())
            }
            _ => false,
        };
        match stored.map(|s| &s.sign_in) {
            Some(SignInSecret::Password(p)) if same_portal && same_account => Some(p.clone()),
            _ => None,
        }
    }

    /// The saved header values an edit of `old` into `new` may keep: only while the portal URL
    /// stays the same (a gateway key is not sent to a host it was not entered for).
    pub fn headers_for_edit(
        stored: Option<&IdentitySecrets>,
        old: &Identity,
        new: &IdentitySpec,
    ) -> Vec<(String, Secret)> {
        match stored {
            Some(s) if same_portal_url(&old.spec.portal_url, &new.portal_url) => s.custom_headers.clone(),
            _ => Vec::new(),
        }
    }
}

/// Whether two portal URLs as entered name the same portal (scheme, host, port and path; a
/// trailing slash and the `/sharing/rest` or `/home` suffix do not count).
fn same_portal_url(a: &str, b: &str) -> bool {
    match (arcgis::Url::parse(a.trim()), arcgis::Url::parse(b.trim())) {
        (Ok(a), Ok(b)) => arcgis::portal::normalize_portal_url(&a) == arcgis::portal::normalize_portal_url(&b),
        _ => false,
    }
}

/// Stores a (new) refresh token of an identity, e.g. one the client obtained by exchange.
pub fn save_refresh_token(store: &dyn SecretStore, identity_id: &str, secret: &OAuthSecret) -> Result<(), VaultError> {
    let json = zeroize::Zeroizing::new(
        serde_json::to_vec(secret).map_err(|e| VaultError::Engine(format!("cannot encode the OAuth secret: {e}")))?,
    );
    store.put(&SecretKey::refresh_token(identity_id), &json)
}

fn load_oauth(store: &dyn SecretStore, identity_id: &str) -> Result<Option<OAuthSecret>, VaultError> {
    let Some(bytes) = store.get(&SecretKey::refresh_token(identity_id))? else { return Ok(None) };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|_| VaultError::Engine(format!("the saved OAuth sign-in of identity {identity_id} is unreadable")))
}

fn text(bytes: &[u8]) -> Result<String, VaultError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| VaultError::Engine("a stored secret is not UTF-8 text".into()))
}

/// A refresh token this close to expiry is shown as expiring (Esri's clients exchange it within
/// a day of expiry; so does ours, but only while it runs).
pub const EXPIRING_WITHIN_MS: i64 = 24 * 60 * 60 * 1000;

/// What the UI shows about an identity's sign-in: whether it can still sign in unattended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenState {
    /// Signs in without the user.
    Valid,
    /// Expires within [`EXPIRING_WITHIN_MS`]; sign in again (or run a job) soon.
    Expiring,
    /// Expired: the user must sign in again.
    Expired,
    /// No credential is saved.
    None,
}

impl TokenState {
    /// The state of a credential expiring at `expires_ms` (`None`: it does not expire).
    pub fn at(expires_ms: Option<i64>, now_ms: i64) -> TokenState {
        match expires_ms {
            None => TokenState::Valid,
            Some(at) if at <= now_ms => TokenState::Expired,
            Some(at) if at - now_ms <= EXPIRING_WITHIN_MS => TokenState::Expiring,
            Some(_) => TokenState::Valid,
        }
    }

    /// `"valid"`, `"expiring"`, `"expired"` or `"none"`, as the UI contract spells them.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenState::Valid => "valid",
            TokenState::Expiring => "expiring",
            TokenState::Expired => "expired",
            TokenState::None => "none",
        }
    }
}

/// The token state of a saved identity: a built-in account with a saved password is always
/// valid (the client asks for a fresh token at each run); an OAuth identity is as valid as its
/// refresh token.
pub fn credential_state(store: &dyn SecretStore, identity: &Identity, now_ms: i64) -> Result<TokenState, VaultError> {
    Ok(match &identity.spec.sign_in {
        SignIn::Builtin { .. } => match store.get(&SecretKey::password(&identity.id))? {
            Some(_) => TokenState::Valid,
            None => TokenState::None,
        },
        SignIn::Oauth { .. } => match load_oauth(store, &identity.id)? {
            Some(s) => TokenState::at(s.refresh_token_expires_at, now_ms),
            None => TokenState::None,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{IdentitySpec, PortalKind, TlsOptions};
    use crate::vault::MemoryVault;

    fn identity(sign_in: SignIn, storage: Storage) -> Identity {
        Identity {
            id: "id1".into(),
            spec: IdentitySpec {
                name: "Acme".into(),
                portal_url: "https://acme.maps.arcgis.com".into(),
                kind: PortalKind::Online,
                sign_in,
                storage,
                custom_headers: vec![],
                tls: TlsOptions::default(),
            },
            created_ms: 0,
            updated_ms: 0,
        }
    }

    #[test]
    fn token_state_follows_the_expiry() {
        let now = 1_000_000_000;
        assert_eq!(TokenState::at(None, now), TokenState::Valid, "no expiry means valid");
        assert_eq!(TokenState::at(Some(now - 1), now), TokenState::Expired, "past expiry is expired");
        assert_eq!(TokenState::at(Some(now), now), TokenState::Expired, "expiring now is expired");
        assert_eq!(TokenState::at(Some(now + 60_000), now), TokenState::Expiring, "a minute left is expiring");
        assert_eq!(
            TokenState::at(Some(now + EXPIRING_WITHIN_MS + 1), now),
            TokenState::Valid,
            "more than a day left is valid"
        );
        assert_eq!(TokenState::Expiring.as_str(), "expiring", "the UI contract's spelling");
    }

    #[test]
    fn oauth_secrets_round_trip_and_drive_the_state() {
        let vault = MemoryVault::default();
        let id = identity(
            SignIn::Oauth { client_id: "app".into(), username: None },
            Storage::Azure { container: "backups".into(), cache_dir: "/tmp/c".into() },
        );
        assert_eq!(credential_state(&vault, &id, 0).expect("state"), TokenState::None, "nothing saved yet");
        let oauth = OAuthSecret {
            refresh_token: "rt-secret-value".into(),
            refresh_token_expires_at: Some(10_000),
            redirect_uri: "http://127.0.0.1:5000/cb".into(),
        };
        let secrets = IdentitySecrets {
            sign_in: SignInSecret::OAuth(oauth.clone()),
            storage_secret: Some(StorageSecret::AzureConnectionString(Secret::new("AccountName=a;AccountKey=k"))),
            custom_headers: vec![("X-Gateway-Key".into(), Secret::new("gw-value"))],
        };
        assert!(!format!("{secrets:?}").contains("rt-secret-value"), "Debug hides the refresh token");
        vault.put(&SecretKey::password("id1"), b"old password").expect("put");
        secrets.save(&vault, "id1").expect("save");
        assert!(vault.get(&SecretKey::password("id1")).expect("get").is_none(), "a switch to OAuth drops the password");
        let back = IdentitySecrets::load(&vault, &id).expect("load").expect("present");
        match back.sign_in {
            SignInSecret::OAuth(o) => assert_eq!(o, oauth, "the OAuth secret round-trips"),
            other => panic!("expected OAuth, got {other:?}"),
        }
        assert_eq!(
            back.storage_secret.as_ref().map(|s| s.secret().expose().to_owned()),
            Some("AccountName=a;AccountKey=k".to_owned()),
            "the Azure connection string round-trips"
        );
        assert_eq!(
            back.custom_headers.iter().map(|(n, v)| (n.as_str(), v.expose())).collect::<Vec<_>>(),
            vec![("X-Gateway-Key", "gw-value")],
            "header values round-trip through the vault"
        );
        assert_eq!(credential_state(&vault, &id, 9_000).expect("state"), TokenState::Expiring, "close to expiry");
        assert_eq!(credential_state(&vault, &id, 10_000).expect("state"), TokenState::Expired, "at expiry");
    }

    #[test]
    fn a_builtin_identity_is_valid_while_its_password_is_saved() {
        let vault = MemoryVault::default();
        let id = identity(SignIn::Builtin { username: "admin".into() }, Storage::Local { path: "/b".into() });
        assert!(IdentitySecrets::load(&vault, &id).expect("load").is_none(), "no password saved: no secrets");
        let saved = IdentitySecrets {
            sign_in: SignInSecret::Password(Secret::new("pw")),
            storage_secret: None,
            custom_headers: Vec::new(),
        };
        saved.save(&vault, "id1").expect("save");
        assert_eq!(
            credential_state(&vault, &id, i64::MAX).expect("state"),
            TokenState::Valid,
            "passwords do not expire"
        );
    }

    #[test]
    fn a_changed_portal_url_or_account_does_not_reuse_the_saved_password_or_headers() {
        let old = identity(SignIn::Builtin { username: "admin".into() }, Storage::Local { path: "/b".into() });
        let stored = IdentitySecrets {
            sign_in: SignInSecret::Password(Secret::new("pw")),
            storage_secret: None,
            custom_headers: vec![("X-Key".into(), Secret::new("k"))],
        };
        let mut same = old.spec.clone();
        same.portal_url = "https://acme.maps.arcgis.com/sharing/rest/".into();
        assert!(
            IdentitySecrets::password_for_edit(Some(&stored), &old, &same).is_some(),
            "an edit that keeps the portal keeps the password"
        );
        assert_eq!(IdentitySecrets::headers_for_edit(Some(&stored), &old, &same).len(), 1, "and the headers");
        for (url, user) in [
            ("https://evil.example.com", "admin"),
            ("http://acme.maps.arcgis.com", "admin"),
            ("https://acme.maps.arcgis.com:8443", "admin"),
            ("https://acme.maps.arcgis.com/other", "admin"),
            ("https://acme.maps.arcgis.com", "someone"),
        ] {
            let mut changed = old.spec.clone();
            changed.portal_url = url.into();
            changed.sign_in = SignIn::Builtin { username: user.into() };
            assert!(
                IdentitySecrets::password_for_edit(Some(&stored), &old, &changed).is_none(),
                "{url} as {user}: the saved password must not be sent; it is asked for again"
            );
        }
        let mut moved = old.spec.clone();
        moved.portal_url = "https://evil.example.com".into();
        assert!(IdentitySecrets::headers_for_edit(Some(&stored), &old, &moved).is_empty(), "headers stay home");
    }
}
