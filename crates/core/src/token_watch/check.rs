//! One sign-in as a saved identity, read as a [`Finding`].

use super::Finding;
use crate::clock::Clock;
use crate::identity::{Identity, IdentitySecrets, SignIn, SignInSecret};
use crate::mail::format_time;
use crate::service::{Service, ServiceError};
use crate::ErrorCode;

/// Signs in as `identity` through [`Service::connect`] and says what that found: the finding,
/// words about it, and when the credentials stop working (an OAuth refresh token's expiry).
pub(super) async fn sign_in(
    service: &Service,
    identity: &Identity,
    clock: &dyn Clock,
    interval_ms: i64,
) -> (Finding, Option<String>, Option<i64>) {
    let oauth = matches!(identity.spec.sign_in, SignIn::Oauth { .. });
    // Read before signing in: a successful sign-in may replace it with an exchanged one.
    let (token_before, expiry_before) = refresh_token(service, identity).unzip();
    let mut connected = service.connect(identity).await;
    if oauth && connected.is_err() {
        // Another process (the app and the service, a job) may have exchanged the refresh
        // token while this one used it; the old one is then refused. Sign in once more with
        // the one now saved before calling it revoked.
        let (token_now, _) = refresh_token(service, identity).unzip();
        if token_now.is_some() && token_now != token_before {
            connected = service.connect(identity).await;
        }
    }
    match connected {
        Ok(_portal) => {
            let expires = if oauth { refresh_token(service, identity).and_then(|(_, at)| at) } else { None };
            let now = clock.now_ms();
            match expires {
                Some(at) if at <= now + interval_ms => (
                    Finding::TokenExpiring,
                    Some(format!(
                        "the saved sign-in expires at {} and the portal did not renew it for longer",
                        format_time(at)
                    )),
                    Some(at),
                ),
                _ => (Finding::Ok, None, expires),
            }
        }
        Err(e) => {
            let finding = classify(&e, oauth, expiry_before.flatten(), clock.now_ms());
            let expires = if finding == Finding::NeedsBrowserSignIn { expiry_before.flatten() } else { None };
            (finding, Some(e.to_string()), expires)
        }
    }
}

/// What a failed sign-in means for the person who looks after the identity.
pub(super) fn classify(e: &ServiceError, oauth: bool, refresh_expiry: Option<i64>, now_ms: i64) -> Finding {
    if let ServiceError::NoSecret { .. } = e {
        return if oauth { Finding::NeedsBrowserSignIn } else { Finding::PasswordRejected };
    }
    match e.code() {
        ErrorCode::NotAdmin => Finding::NotAdmin,
        ErrorCode::SignIn | ErrorCode::AuthExpired if oauth => {
            if refresh_expiry.is_some_and(|at| at <= now_ms) {
                Finding::NeedsBrowserSignIn
            } else {
                Finding::TokenRevoked
            }
        }
        ErrorCode::SignIn => Finding::PasswordRejected,
        ErrorCode::AuthExpired => Finding::TokenRevoked,
        // Network, TLS, throttling, a portal that answers oddly: nothing about the credentials
        // is known; the next check tries again.
        _ => Finding::Unreachable,
    }
}

/// The saved refresh token of an OAuth identity and its expiry (`None` when not known).
fn refresh_token(service: &Service, identity: &Identity) -> Option<(arcgis::Secret, Option<i64>)> {
    match IdentitySecrets::load(service.secrets().as_ref(), identity) {
        Ok(Some(IdentitySecrets { sign_in: SignInSecret::OAuth(o), .. })) => {
            Some((arcgis::Secret::new(o.refresh_token), o.refresh_token_expires_at))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn core(e: arcgis::Error) -> ServiceError {
        ServiceError::from(e)
    }

    #[test]
    fn failures_read_as_what_a_person_must_do() {
        let refused = || core(arcgis::Error::SignIn { message: "refused".into() });
        assert_eq!(classify(&refused(), false, None, 0), Finding::PasswordRejected, "a built-in login refused");
        assert_eq!(
            classify(&refused(), true, Some(10_000), 5_000),
            Finding::TokenRevoked,
            "an OAuth sign-in refused before its expiry was revoked"
        );
        assert_eq!(
            classify(&refused(), true, Some(1_000), 5_000),
            Finding::NeedsBrowserSignIn,
            "an OAuth sign-in refused after its expiry must be signed in again in the browser"
        );
        let not_admin =
            core(arcgis::Error::NotAdmin { username: "a".into(), role: "org_user".into(), missing: vec![] });
        assert_eq!(classify(&not_admin, false, None, 0), Finding::NotAdmin);
        let down = core(arcgis::Error::Connect { host: "h".into(), detail: "refused".into() });
        assert_eq!(classify(&down, true, None, 0), Finding::Unreachable, "a network failure is not a warning");
        let none = ServiceError::NoSecret { identity: "x".into(), what: "sign-in", fix: "save it" };
        assert_eq!(classify(&none, true, None, 0), Finding::NeedsBrowserSignIn, "no saved OAuth sign-in");
    }
}
