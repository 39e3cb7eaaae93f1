//! Who may scan: a non-administrator is refused up front, clearly, and the refusal is recorded.

use orgvault_core::jobs::{JobFilter, JobState, Jobs};
use orgvault_core::{scan, Catalog, NoProgress, SystemClock};
use portal_sim::SimConfig;
use tokio_util::sync::CancellationToken;

use crate::support::{connect, db_with_identity, start_sim};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_admin_is_refused_with_a_clear_message() -> anyhow::Result<()> {
    let sim = start_sim(SimConfig { orgs: 1, items: 30, users: 8, groups: 3, ..SimConfig::default() }).await?;
    let org = sim.orgs[0].clone();
    let portal = connect(&org.portal_url, &org.user).await?;
    let (db, identity) = db_with_identity(&org.portal_url, &org.user.username).await?;
    let before = portal.requests_made();
    let err = scan(&db, &portal, &identity, &NoProgress, CancellationToken::new(), &SystemClock)
        .await
        .expect_err("a plain user cannot scan");
    assert_eq!(err.code(), orgvault_core::ErrorCode::NotAdmin, "the UI branches on not_admin, got {err:?}");
    let message = err.to_string();
    assert!(
        message.contains(&org.user.username) && message.contains("not an administrator"),
        "the message names the account and the reason: {message}"
    );
    assert!(!err.is_retryable(), "trying again will not help");
    assert_eq!(portal.requests_made(), before, "the refusal costs no request: portals/self was read at sign-in");

    let jobs = Jobs::new(&db, &SystemClock).list(&JobFilter::default()).await?;
    assert_eq!(jobs.len(), 1, "the refused scan is in the history");
    assert_eq!(jobs[0].state, JobState::Failed, "as failed");
    assert_eq!(jobs[0].error.as_deref(), Some(message.as_str()), "with the same message");
    assert!(Catalog::new(&db).scans(&identity).await?.is_empty(), "no catalog is opened for a refused scan");
    Ok(())
}
