//! One failure, one code, whichever job meets it: the portal's refusals reach the UI with the same
//! `ErrorCode` from a scan (or a backup) of the source and from a restore into the target.

use orgvault_core::{scan, ErrorCode, NoProgress, SystemClock};
use tokio_util::sync::CancellationToken;

use crate::restore_support::{fixture, options, sim_config, Fixture};
use crate::support::{connect, db_with_identity};

/// Disables org `index`'s administrator: its tokens are refused (498) and signing in again fails.
fn disable_admin(f: &Fixture, index: usize) {
    let username = f.sim.orgs[index].admin.username.clone();
    let mut universe = f.sim.state.universe.write().unwrap_or_else(|e| e.into_inner());
    let org = universe.org_by_url_key_mut(&f.url_key(index)).expect("org");
    org.users.get_mut(&username).expect("the admin is a user of its org").disabled = true;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_disabled_midway_gets_the_same_code_from_a_scan_and_a_restore() -> anyhow::Result<()> {
    let f = fixture(sim_config()).await?;
    let b = f.sim.orgs[1].clone();
    let scanner = connect(&b.portal_url, &b.admin).await?;
    let (db, identity) = db_with_identity(&b.portal_url, &b.admin.username).await?;
    disable_admin(&f, 1);

    let scanned = scan(&db, &scanner, &identity, &NoProgress, CancellationToken::new(), &SystemClock)
        .await
        .expect_err("a disabled account cannot scan");
    let restored = f.plan(&options()).await.expect_err("a disabled account cannot be restored into");
    assert_eq!(
        restored.code(),
        scanned.code(),
        "the UI must say the same thing about one refusal whichever job met it: restore {restored}; scan {scanned}"
    );
    assert_eq!(
        restored.code(),
        ErrorCode::SignIn,
        "a refused token whose renewal is refused is a sign-in failure the user can fix: {restored}"
    );
    assert!(!restored.is_retryable(), "trying again will not help until the account is fixed");
    Ok(())
}
