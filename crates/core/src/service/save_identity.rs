//! "Save and verify": adding or editing an identity, for every front end.

use std::sync::Arc;

use arcgis::Secret;

use super::{sign_in_in_browser, BrowserSignIn, Service, ServiceError};
use crate::clock::{Clock, SystemClock};
use crate::identity::{
    validate, verify, Identity, IdentitySecrets, IdentitySpec, OAuthSecret, SignIn, SignInSecret, StorageSecret,
    TokenState, VerifiedIdentity, VerifyOptions,
};
use crate::vault::remove_identity_secrets;
use crate::Error;

/// An identity as a front end's form or command line gives it.
#[derive(Debug, Clone)]
pub struct IdentityDraft {
    /// The identity being edited; `None` adds a new one.
    pub id: Option<String>,
    /// What the user entered. `kind` (and an OAuth account's username) are corrected from the
    /// portal's answer; `custom_headers` ends up as the names of the headers kept (below).
    pub spec: IdentitySpec,
    /// A built-in account's password. Empty or `None` on an edit keeps the saved one, but only
    /// while the portal URL and the account stay the same.
    pub password: Option<Secret>,
    /// The storage's secret: an Azure storage's connection string, an S3 storage's secret
    /// access key. Empty or `None` keeps the saved one (while the storage kind stays the same).
    pub storage_secret: Option<Secret>,
    /// The identity's own request headers with their values. `None` keeps the saved ones on an
    /// edit, but only while the portal URL stays the same (a gateway key is not sent to a host
    /// it was not entered for).
    pub header_values: Option<Vec<(String, Secret)>>,
}

/// A saved identity and what its verification found (who signed in, the storage check).
#[derive(Debug, Clone)]
pub struct SavedIdentity {
    pub identity: Identity,
    pub verified: VerifiedIdentity,
}

impl Service {
    /// What can be checked before anything is sent: the spec is valid ([`validate`]) and no
    /// other identity than `id` has its name (ignoring case and surrounding blanks).
    pub async fn check_draft(&self, id: Option<&str>, spec: &IdentitySpec) -> Result<(), ServiceError> {
        validate(spec)?;
        let name = spec.name.trim();
        let all = self.identities().list().await?;
        if all.iter().any(|i| Some(i.id.as_str()) != id && i.spec.name.trim().eq_ignore_ascii_case(name)) {
            return Err(Error::InvalidInput(format!(
                "an identity named {name:?} exists already; pick another name or remove it first"
            ))
            .into());
        }
        Ok(())
    }

    /// Checks the draft (a name no other identity has, a usable URL, a storage), signs in with
    /// its secrets plus the Settings headers, refuses a non-administrator, checks the storage,
    /// and only then writes the identity and its secrets. When the vault write fails the row is
    /// put back as it was, so no identity is left that could not sign in.
    ///
    /// An OAuth identity signs in through `browser` unless it is being edited with the same App
    /// ID and portal and its saved refresh token still works; a saved token the portal refuses
    /// sends the user to the browser again rather than failing. Without a `browser`, an OAuth
    /// identity that needs one is refused.
    pub async fn save_identity(
        &self,
        draft: IdentityDraft,
        browser: Option<&BrowserSignIn>,
    ) -> Result<SavedIdentity, ServiceError> {
        let IdentityDraft { id, mut spec, password, storage_secret, header_values } = draft;
        spec.name = spec.name.trim().to_owned();
        spec.portal_url = spec.portal_url.trim().to_owned();
        // Nothing leaves for the portal, and no browser opens on it, before its URL is accepted.
        self.check_draft(id.as_deref(), &spec).await?;
        let existing = match &id {
            Some(id) => Some(self.identities().get(id).await?),
            None => None,
        };
        let stored = match &existing {
            Some(old) => IdentitySecrets::load(self.secrets.as_ref(), old)?,
            None => None,
        };
        let own_headers = match (header_values, &existing) {
            (Some(given), _) => given,
            (None, Some(old)) => IdentitySecrets::headers_for_edit(stored.as_ref(), old, &spec),
            (None, None) => Vec::new(),
        };
        spec.custom_headers = own_headers.iter().map(|(n, _)| n.clone()).collect();
        validate(&spec)?;
        let storage_secret = match storage_secret.filter(|c| !c.expose().trim().is_empty()) {
            Some(given) => StorageSecret::for_storage(&spec.storage, given),
            None => stored.as_ref().and_then(|s| s.storage_secret.clone()).filter(|s| s.fits(&spec.storage)),
        };
        let mut sent_headers = own_headers.clone();
        sent_headers.extend(super::settings_header_values(self.secrets.as_ref())?);
        let check = |sign_in: SignInSecret| {
            let secrets = IdentitySecrets {
                sign_in,
                storage_secret: storage_secret.clone(),
                custom_headers: sent_headers.clone(),
            };
            let spec = &spec;
            async move {
                let verified = verify(spec, &secrets, &VerifyOptions::default(), Arc::new(arcgis::SystemClock)).await?;
                Ok::<_, ServiceError>((secrets.sign_in, verified))
            }
        };
        let (sign_in, verified) = match &spec.sign_in {
            SignIn::Builtin { .. } => {
                let kept =
                    existing.as_ref().and_then(|old| IdentitySecrets::password_for_edit(stored.as_ref(), old, &spec));
                let secret = match (password.filter(|p| !p.expose().is_empty()), kept) {
                    (Some(p), _) | (None, Some(p)) => p,
                    (None, None) if existing.is_some() => {
                        return Err(Error::InvalidInput(
                            "the organization URL or account changed: enter the account's password again".into(),
                        )
                        .into())
                    }
                    (None, None) => return Err(Error::InvalidInput("enter the account's password".into()).into()),
                };
                check(SignInSecret::Password(secret)).await?
            }
            SignIn::Oauth { client_id, .. } => {
                if client_id.trim().is_empty() {
                    return Err(Error::InvalidInput(
                        "enter the App ID registered for OrgVault in the organization".into(),
                    )
                    .into());
                }
                let mut signed_in = None;
                if let Some(secret) = reusable_oauth(existing.as_ref(), stored.as_ref(), &spec, SystemClock.now_ms()) {
                    match check(SignInSecret::OAuth(secret)).await {
                        Ok(done) => signed_in = Some(done),
                        Err(e) if matches!(e.code(), crate::ErrorCode::SignIn | crate::ErrorCode::AuthExpired) => {
                            tracing::info!("the saved OAuth sign-in was refused; signing in through the browser")
                        }
                        Err(e) => return Err(e),
                    }
                }
                match signed_in {
                    Some(done) => done,
                    None => {
                        let browser = browser.ok_or_else(|| {
                            Error::InvalidInput("an OAuth identity signs in through a web browser: use the app".into())
                        })?;
                        // The token exchange trusts what the identity's sign-ins trust (a private CA).
                        let tls = arcgis::TlsOptions {
                            extra_ca_pem: match &spec.tls.extra_ca_pem_path {
                                Some(path) => Some(std::fs::read_to_string(path).map_err(|e| {
                                    Error::InvalidInput(format!("the CA certificate file {path} cannot be read ({e})"))
                                })?),
                                None => None,
                            },
                            accept_invalid_certs: spec.tls.allow_invalid_certs,
                        };
                        let oauth =
                            sign_in_in_browser(browser, &spec.portal_url, client_id, tls, spec.tls.allow_insecure_http)
                                .await?;
                        check(SignInSecret::OAuth(oauth)).await?
                    }
                }
            }
        };
        // Verifying may have exchanged the refresh token; the portal may already refuse the old one.
        let sign_in = match (sign_in, verified.signed_in.refresh_token.clone()) {
            (SignInSecret::OAuth(_), Some(renewed)) => SignInSecret::OAuth(renewed),
            (kept, _) => kept,
        };
        spec.kind = verified.signed_in.kind;
        if let SignIn::Oauth { username, .. } = &mut spec.sign_in {
            // Learnt from the portal: whoever approved in the browser.
            *username = Some(verified.signed_in.username.clone()).filter(|u| !u.is_empty());
        }
        let secrets = IdentitySecrets { sign_in, storage_secret, custom_headers: own_headers };
        let identity = self.write(existing.as_ref(), stored.as_ref(), spec, &secrets).await?;
        tracing::info!(identity = %identity.id, "identity saved and verified");
        Ok(SavedIdentity { identity, verified })
    }

    /// Writes the row, then the secrets; when the secrets cannot be written the row goes back
    /// to what it was (removed when new), with the secrets it had.
    async fn write(
        &self,
        existing: Option<&Identity>,
        stored: Option<&IdentitySecrets>,
        spec: IdentitySpec,
        secrets: &IdentitySecrets,
    ) -> Result<Identity, ServiceError> {
        let identities = self.identities();
        let saved = match existing {
            Some(old) => identities.update(&old.id, spec).await?,
            None => identities.create(spec).await?,
        };
        let Err(e) = secrets.save(self.secrets.as_ref(), &saved.id) else { return Ok(saved) };
        tracing::error!(identity = %saved.id, "the identity's secrets could not be saved; undoing the save: {e}");
        let undone = match existing {
            None => {
                let _ = remove_identity_secrets(self.secrets.as_ref(), &saved.id);
                identities.delete(&saved.id).await
            }
            Some(old) => {
                if let Some(before) = stored {
                    if let Err(e) = before.save(self.secrets.as_ref(), &old.id) {
                        tracing::error!(identity = %old.id, "the earlier secrets could not be put back: {e}");
                    }
                }
                identities.update(&old.id, old.spec.clone()).await.map(|_| ())
            }
        };
        if let Err(u) = undone {
            tracing::error!(identity = %saved.id, "the identity could not be put back as it was: {u}");
        }
        Err(e.into())
    }
}

/// The saved OAuth sign-in of the identity being edited, when it was issued for the same App ID
/// and portal and has not expired.
fn reusable_oauth(
    existing: Option<&Identity>,
    stored: Option<&IdentitySecrets>,
    spec: &IdentitySpec,
    now_ms: i64,
) -> Option<OAuthSecret> {
    let old = existing?;
    let same_app = matches!((&old.spec.sign_in, &spec.sign_in),
        (SignIn::Oauth { client_id: a, .. }, SignIn::Oauth { client_id: b, .. }) if a == b);
    if !same_app || old.spec.portal_url != spec.portal_url {
        return None;
    }
    match stored.map(|s| &s.sign_in) {
        Some(SignInSecret::OAuth(o)) if TokenState::at(o.refresh_token_expires_at, now_ms) != TokenState::Expired => {
            Some(o.clone())
        }
        _ => None,
    }
}
