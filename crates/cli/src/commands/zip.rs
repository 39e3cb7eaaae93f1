//! `orgvault export-zip` and `orgvault import-zip`: a snapshot as one standard .zip, and back.

use std::path::{Path, PathBuf};

use clap::Args;

use super::snapshots::DestArgs;

#[derive(Debug, Args)]
pub struct ExportZipArgs {
    #[command(flatten)]
    pub dest: DestArgs,

    /// The snapshot (id, unique prefix or "latest").
    #[arg(long, value_name = "ID")]
    pub snapshot: String,

    /// The .zip file to write.
    #[arg(long, value_name = "FILE.zip")]
    pub out: PathBuf,

    /// Encrypt every entry of the zip (AES-256) with the password in this environment
    /// variable. Without it the zip is plain, even from an encrypted repository.
    #[arg(long, value_name = "VAR")]
    pub zip_password_env: Option<String>,
}

#[derive(Debug, Args)]
pub struct ImportZipArgs {
    #[command(flatten)]
    pub dest: DestArgs,

    /// A .zip written by `export-zip`.
    #[arg(value_name = "FILE.zip")]
    pub zip: PathBuf,

    /// Create the repository even though the destination is not empty (as `backup --init`).
    #[arg(long)]
    pub init: bool,

    /// Create a new repository unencrypted (as `backup --no-encrypt`).
    #[arg(long)]
    pub no_encrypt: bool,

    /// The zip's entries are AES-encrypted with the password in this environment variable.
    #[arg(long, value_name = "VAR")]
    pub zip_password_env: Option<String>,
}

fn zip_password(var: Option<&str>) -> anyhow::Result<Option<arcgis::Secret>> {
    var.map(|v| {
        let p = std::env::var(v).map_err(|_| anyhow::anyhow!("--zip-password-env {v}: the variable is not set"))?;
        anyhow::ensure!(!p.is_empty(), "--zip-password-env {v}: the variable is empty");
        Ok(arcgis::Secret::new(p))
    })
    .transpose()
}

pub async fn export(data_dir: &Path, args: ExportZipArgs) -> anyhow::Result<()> {
    let repo = args.dest.open(data_dir).await?;
    let id = repo.find_snapshot(&args.snapshot).await?;
    let password = zip_password(args.zip_password_env.as_deref())?;
    if repo.is_encrypted() && password.is_none() {
        eprintln!(
            "warning: the repository is encrypted but this zip will NOT be: anyone who can read {} reads the organization's data. Use --zip-password-env VAR for an AES-encrypted zip.",
            args.out.display()
        );
    }
    let report = repo.export_zip_with(&id, &args.out, password.as_ref()).await?;
    println!("{}: {} files, {} bytes", report.path.display(), report.files, report.bytes);
    Ok(())
}

pub async fn import(data_dir: &Path, args: ImportZipArgs) -> anyhow::Result<()> {
    let password = zip_password(args.zip_password_env.as_deref())?;
    let repo = args.dest.open_for_backup(data_dir, args.init, args.no_encrypt).await?;
    let id = repo.import_zip_with(&args.zip, password.as_ref()).await?;
    println!("{}", id.as_str());
    Ok(())
}
