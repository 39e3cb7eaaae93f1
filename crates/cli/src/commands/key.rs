//! `orgvault key list|add|remove|passwd --to DEST`: the key objects of an encrypted repository.
//! The repository is opened with ORGVAULT_REPOSITORY_PASSWORD (or a prompt); a new password
//! comes from ORGVAULT_NEW_REPOSITORY_PASSWORD (or a prompt, twice). Never an argument.

use std::path::Path;

use clap::{Args, Subcommand};
use serde_json::json;

use super::snapshots::{rfc3339, DestArgs};
use crate::output::print_json;

#[derive(Debug, Args)]
pub struct KeyArgs {
    #[command(subcommand)]
    pub command: KeyCommand,
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// The key objects: id, kind (password or recovery), when and where made, the one in use.
    List {
        #[command(flatten)]
        dest: DestArgs,
        /// Print one JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Adds a password (ORGVAULT_NEW_REPOSITORY_PASSWORD or asked for).
    Add {
        #[command(flatten)]
        dest: DestArgs,
    },
    /// Removes a key object by id (a unique prefix of at least 4 hex digits). Never the last
    /// one, nor the one the repository was opened with.
    Remove {
        #[command(flatten)]
        dest: DestArgs,
        #[arg(value_name = "KEY_ID")]
        id: String,
    },
    /// Changes the password the repository was opened with: the new key is written and read
    /// back before the old one is removed.
    Passwd {
        #[command(flatten)]
        dest: DestArgs,
    },
}

pub async fn run(data_dir: &Path, args: KeyArgs) -> anyhow::Result<()> {
    match args.command {
        KeyCommand::List { dest, json } => {
            let repo = dest.open(data_dir).await?;
            let keys = repo.keys().await?;
            if json {
                return print_json(&serde_json::to_value(&keys)?);
            }
            for k in keys {
                println!(
                    "{}  {:<8}  {}  {}{}",
                    &k.id[..12],
                    format!("{:?}", k.kind).to_lowercase(),
                    rfc3339(k.created_ms),
                    k.host,
                    if k.current { "  (in use)" } else { "" }
                );
            }
        }
        KeyCommand::Add { dest } => {
            let repo = dest.open(data_dir).await?;
            let added = repo.add_key(&super::repo_password::new_key()?).await?;
            println!("added key {}", &added.id[..12]);
        }
        KeyCommand::Remove { dest, id } => {
            let repo = dest.open(data_dir).await?;
            let removed = repo.remove_key(&id).await?;
            println!("removed key {}", &removed.id[..12]);
        }
        KeyCommand::Passwd { dest } => {
            let repo = dest.open(data_dir).await?;
            let changed = repo.change_password(&super::repo_password::new_key()?).await?;
            print_json(&json!({"key": changed.id}))?;
        }
    }
    Ok(())
}
