//! The password of an encrypted repository: from `ORGVAULT_REPOSITORY_PASSWORD`, or asked for
//! at the terminal; never an argument (it would show in the process list and shell history).

use std::io::IsTerminal;

use anyhow::Context;
use arcgis::Secret;
use orgvault_core::repo::{RepoKey, Repository};

pub const PASSWORD_ENV: &str = "ORGVAULT_REPOSITORY_PASSWORD";
/// The password of the source repository of `copy`, when it differs from the destination's
/// (`ORGVAULT_REPOSITORY_PASSWORD`, which is also the source's when this is unset).
pub const FROM_PASSWORD_ENV: &str = "ORGVAULT_FROM_REPOSITORY_PASSWORD";
/// The new password of `key add` and `key passwd`.
pub const NEW_PASSWORD_ENV: &str = "ORGVAULT_NEW_REPOSITORY_PASSWORD";

fn from_env_or_prompt(var: &str, prompt: &str, confirm: bool) -> anyhow::Result<Secret> {
    if let Ok(p) = std::env::var(var) {
        anyhow::ensure!(!p.is_empty(), "{var} is set but empty");
        return Ok(Secret::new(p));
    }
    anyhow::ensure!(
        std::io::stdin().is_terminal(),
        "the repository is encrypted: set {var} (no terminal to ask for the password)"
    );
    let p = rpassword::prompt_password(prompt).context("cannot read the password")?;
    anyhow::ensure!(!p.is_empty(), "the password is empty");
    if confirm {
        let again = rpassword::prompt_password("Repeat it: ").context("cannot read the password")?;
        anyhow::ensure!(again == p, "the two passwords differ");
    }
    Ok(Secret::new(p))
}

/// The password of an existing encrypted repository.
pub fn existing() -> anyhow::Result<RepoKey> {
    Ok(RepoKey::Password(from_env_or_prompt(PASSWORD_ENV, "Repository password: ", false)?))
}

/// The password of the encrypted repository `copy` reads from.
pub fn existing_source() -> anyhow::Result<RepoKey> {
    let var = if std::env::var_os(FROM_PASSWORD_ENV).is_some() { FROM_PASSWORD_ENV } else { PASSWORD_ENV };
    Ok(RepoKey::Password(from_env_or_prompt(var, "Source repository password: ", false)?))
}

/// The password of a repository about to be created (asked twice at a terminal).
pub fn for_new_repository() -> anyhow::Result<RepoKey> {
    Ok(RepoKey::Password(new_repository_password()?))
}

/// The password chosen for a repository about to be created.
pub fn new_repository_password() -> anyhow::Result<Secret> {
    from_env_or_prompt(PASSWORD_ENV, "New repository password: ", true)
}

/// A new password for `key add` / `key passwd`.
pub fn new_key() -> anyhow::Result<Secret> {
    from_env_or_prompt(NEW_PASSWORD_ENV, "New password: ", true)
}

/// Prints the recovery key of a repository this command just created, once, on stderr.
pub fn show_recovery_key(repo: &Repository) {
    if let Some(key) = repo.recovery_key() {
        print_recovery_key(&repo.target().describe(), &key);
    }
}

/// Prints a new repository's recovery key with what it is for.
pub fn print_recovery_key(location: &str, key: &Secret) {
    {
        eprintln!(
            "\nCreated an encrypted repository for {}.\n\nRecovery key (shown once; keep it somewhere safe, apart from the password):\n\n    {}\n\nIt opens the repository when the password is lost (give it as the password).\nWithout the password or this key the backups cannot be read by anyone, OrgVault included.\n",
            location,
            key.expose()
        );
    }
}
