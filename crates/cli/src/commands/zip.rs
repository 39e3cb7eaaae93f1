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
}

pub async fn export(data_dir: &Path, args: ExportZipArgs) -> anyhow::Result<()> {
    let repo = args.dest.open(data_dir).await?;
    let id = repo.find_snapshot(&args.snapshot).await?;
    let report = repo.export_zip(&id, &args.out).await?;
    println!("{}: {} files, {} bytes", report.path.display(), report.files, report.bytes);
    Ok(())
}

pub async fn import(data_dir: &Path, args: ImportZipArgs) -> anyhow::Result<()> {
    let repo = args.dest.open_for_backup(data_dir, args.init).await?;
    let id = repo.import_zip(&args.zip).await?;
    println!("{}", id.as_str());
    Ok(())
}
