//! The support bundle: a zip of the recent logs and the configuration, for a bug report.
//!
//! Invariant: no secret leaves in it. Passwords and connection strings are not in the
//! configuration at all (they live in the vault); every value the vault holds is also scrubbed
//! from the log lines, as are token-, password- and key-shaped text and SAS signatures; custom
//! header values are replaced, as a header may carry an API key.

use std::io::Write;
use std::path::{Path, PathBuf};

use orgvault_core::identity::Identity;
use serde_json::json;

use crate::error::{UiError, UiResult};
use crate::settings::StoredSettings;

/// Log files kept in a bundle: the newest few days.
const LOG_FILES: usize = 3;
const HIDDEN: &str = "***";

fn log_files(data_dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(data_dir.join("logs"))
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_file()).collect())
        .unwrap_or_default();
    // Daily files end in the date, so the name orders them by day.
    files.sort();
    let skip = files.len().saturating_sub(LOG_FILES);
    files.split_off(skip)
}

/// Lines of the newest log files, oldest first.
pub fn recent_log_lines(data_dir: &Path) -> Vec<String> {
    log_files(data_dir)
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .flat_map(|t| t.lines().map(str::to_owned).collect::<Vec<_>>())
        .collect()
}

/// Hides every known secret, then anything shaped like one.
pub fn scrub(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_owned();
    // Longest first, so a secret containing another is hidden whole.
    let mut secrets: Vec<&String> = secrets.iter().filter(|s| s.len() >= 4).collect();
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    for s in secrets {
        out = out.replace(s.as_str(), HIDDEN);
    }
    let shaped = hide_key_values(&out);
    orgvault_core::storage::redact(&shaped)
}

/// `token=...`, `password=...`, `refresh_token=...`, `client_secret=...` in URLs and key-values.
fn hide_key_values(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    const KEYS: &[&str] =
        &["token=", "password=", "refresh_token=", "client_secret=", "\"token\":\"", "\"password\":\""];
    'outer: while !rest.is_empty() {
        let lower = rest.to_ascii_lowercase();
        let found = KEYS.iter().filter_map(|k| lower.find(k).map(|i| (i, k.len()))).min();
        match found {
            Some((i, len)) => {
                out.push_str(&rest[..i + len]);
                out.push_str(HIDDEN);
                let after = &rest[i + len..];
                let end =
                    after.find(|c: char| c == '&' || c == '"' || c == ';' || c.is_whitespace()).unwrap_or(after.len());
                rest = &after[end..];
                continue 'outer;
            }
            None => {
                out.push_str(rest);
                break;
            }
        }
    }
    out
}

/// The configuration as a support engineer needs it: header names, never values (those are
/// in the vault, and not in these records at all).
fn config_json(settings: &StoredSettings, identities: &[Identity]) -> serde_json::Value {
    let hide = |h: &[String]| h.iter().map(|n| json!([n, HIDDEN])).collect::<Vec<_>>();
    json!({
        "app_version": orgvault_build_info::VERSION_LINE,
        "os": std::env::consts::OS,
        "settings": { "log_level": settings.log_level, "headers": hide(&settings.headers) },
        "identities": identities.iter().map(|i| json!({
            "id": i.id, "name": i.spec.name, "portal_url": i.spec.portal_url, "kind": i.spec.kind,
            "sign_in": i.spec.sign_in, "storage": i.spec.storage, "custom_headers": hide(&i.spec.custom_headers),
            "tls": i.spec.tls,
        })).collect::<Vec<_>>(),
    })
}

/// Where a bundle asked for as `requested` goes: an empty field means a new file in the data
/// folder (`orgvault-support-<stamp>.zip`, as the screen says); anything else must be a full path
/// to a file that does not exist yet (OrgVault never overwrites a file it did not make).
pub fn bundle_path(requested: &str, data_dir: &Path, stamp: &str) -> UiResult<PathBuf> {
    let requested = requested.trim();
    if requested.is_empty() {
        return Ok(data_dir.join(format!("orgvault-support-{stamp}.zip")));
    }
    let out = PathBuf::from(requested);
    if !out.is_absolute() {
        return Err(UiError::invalid(format!(
            "{requested} is not a full path: choose where to save the zip, or leave the field empty for the data folder"
        )));
    }
    if out.exists() {
        return Err(UiError::invalid(format!(
            "{} already exists; OrgVault does not overwrite it. Choose another name.",
            out.display()
        )));
    }
    Ok(out)
}

/// Writes the bundle to `out` (through a `.partial` file made new; neither may exist before).
/// The partial file this call made is removed whatever happens, so a failed export never blocks
/// the next one.
pub fn write_bundle(
    out: &Path,
    data_dir: &Path,
    settings: &StoredSettings,
    identities: &[Identity],
    secrets: &[String],
) -> UiResult<()> {
    let fail = |e: &dyn std::fmt::Display| UiError::io(format!("cannot write {}: {e}", out.display()));
    if out.exists() {
        return Err(UiError::invalid(format!("{} already exists; OrgVault does not overwrite it", out.display())));
    }
    let partial = out.with_extension("zip.partial");
    let file = std::fs::File::create_new(&partial).map_err(|e| fail(&e))?;
    // From here on the partial file is ours: removed on every way out but success.
    let written = write_zip(file, data_dir, settings, identities, secrets)
        .map_err(|e| fail(&e))
        .and_then(|()| publish(&partial, out).map_err(|e| fail(&e)));
    let _ = std::fs::remove_file(&partial);
    written
}

fn write_zip(
    file: std::fs::File,
    data_dir: &Path,
    settings: &StoredSettings,
    identities: &[Identity],
    secrets: &[String],
) -> Result<(), Box<dyn std::error::Error>> {
    let mut zip = zip::ZipWriter::new(file);
    let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let config = serde_json::to_string_pretty(&config_json(settings, identities))?;
    zip.start_file("config.json", opts)?;
    zip.write_all(scrub(&config, secrets).as_bytes())?;
    for path in log_files(data_dir) {
        let Ok(text) = std::fs::read_to_string(&path) else { continue };
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        zip.start_file(format!("logs/{name}"), opts)?;
        zip.write_all(scrub(&text, secrets).as_bytes())?;
    }
    zip.finish()?.sync_all()?;
    Ok(())
}

/// Puts the finished `partial` at `out` without replacing anything there: a hard link (never a
/// rename, which would replace a file made at `out` meanwhile), or where the file system has no
/// hard links (FAT, exFAT, some network shares) a copy into a file made new.
fn publish(partial: &Path, out: &Path) -> std::io::Result<()> {
    match std::fs::hard_link(partial, out) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(e),
        Err(_) => {
            let mut target = std::fs::File::create_new(out)?;
            let copied = std::io::copy(&mut std::fs::File::open(partial)?, &mut target).and_then(|_| target.sync_all());
            if copied.is_err() {
                drop(target);
                let _ = std::fs::remove_file(out);
            }
            copied
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn a_known_secret_never_reaches_the_bundle() {
        let dir = tempfile::tempdir().expect("tempdir");
        let logs = dir.path().join("logs");
        std::fs::create_dir_all(&logs).expect("logs");
        let password = "Sup3r-Secret-Pa55";
        std::fs::write(
            logs.join("orgvault-desktop.log.2026-01-02"),
            format!("INFO sign-in failed for ann with {password}\nDEBUG GET /sharing/rest/portals/self?f=json&token=abcDEF123.xyz\nINFO job_id=4 scan started\n"),
        )
        .expect("log");
        let settings = StoredSettings {
            log_level: "info".into(),
            headers: vec!["X-Api-Key".into()],
            told_about_tray: false,
            log_keep_days: 30,
        };
        std::fs::write(logs.join("orgvault-desktop.log.2026-01-03"), "DEBUG a request carried key-value-777 (a bug)\n")
            .expect("log");
        let out = dir.path().join("bundle.zip");
        write_bundle(&out, dir.path(), &settings, &[], &[password.to_owned(), "key-value-777".to_owned()])
            .expect("bundle");

        let mut zip = zip::ZipArchive::new(std::fs::File::open(&out).expect("open")).expect("zip");
        let mut all = String::new();
        for i in 0..zip.len() {
            zip.by_index(i).expect("entry").read_to_string(&mut all).expect("read");
        }
        assert!(!all.contains(password), "the stored password must be scrubbed from the logs");
        assert!(!all.contains("abcDEF123"), "a token in a URL must be scrubbed");
        assert!(!all.contains("key-value-777"), "a custom header's value must not be in the config");
        assert!(all.contains("X-Api-Key"), "the header's name stays, it helps support");
        assert!(all.contains("job_id=4 scan started"), "ordinary log lines are kept");
        assert!(!dir.path().join("bundle.zip.partial").exists(), "no partial file is left behind");
    }

    #[test]
    fn an_empty_path_is_a_new_file_in_the_data_folder_and_nothing_is_overwritten() {
        let dir = tempfile::tempdir().expect("tempdir");
        let settings =
            StoredSettings { log_level: "info".into(), headers: vec![], told_about_tray: false, log_keep_days: 30 };
        let out = bundle_path("  ", dir.path(), "20261205-221500").expect("an empty field is the data folder");
        assert_eq!(out, dir.path().join("orgvault-support-20261205-221500.zip"));
        write_bundle(&out, dir.path(), &settings, &[], &[]).expect("written into the data folder");
        assert!(out.is_file(), "the zip is there");

        let taken = bundle_path(&out.display().to_string(), dir.path(), "x");
        assert!(
            matches!(&taken, Err(e) if e.message.contains("already exists")),
            "an existing file is refused by name: {taken:?}"
        );
        let before = std::fs::read(&out).expect("read");
        assert!(write_bundle(&out, dir.path(), &settings, &[], &[]).is_err(), "and never overwritten");
        assert_eq!(std::fs::read(&out).expect("read"), before, "the existing file is untouched");
        // Publishing never replaces a file that appeared at the target meanwhile.
        let partial = dir.path().join("p.zip.partial");
        std::fs::write(&partial, "new").expect("partial");
        let theirs = dir.path().join("theirs.zip");
        std::fs::write(&theirs, "someone else's").expect("theirs");
        assert!(publish(&partial, &theirs).is_err(), "an existing target is an error");
        assert_eq!(std::fs::read(&theirs).expect("read"), b"someone else's", "and stays as it was");
        let relative = bundle_path("support.zip", dir.path(), "x");
        assert!(
            matches!(&relative, Err(e) if e.message.contains("full path")),
            "a relative path is refused: {relative:?}"
        );
    }
}
