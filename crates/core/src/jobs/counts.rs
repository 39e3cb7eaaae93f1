//! What a job counted, typed by the job's kind.
//!
//! Each kind of job ends with its own tallies: a scan counts what the catalog holds, a backup
//! what it saved and how many bytes it added (its [`BackupSummary`]), a restore what it created,
//! updated and skipped (its [`RestoreSummary`]), a verify what it checked, a retention what it
//! forgot and removed. [`JobCounts`] is one variant
//! per kind; the history, the CLI, the app's job list and the e-mailed result all read it.
//!
//! Stored form: the `jobs.counts` column holds the variant's fields as a JSON object, without a
//! tag (the row's `kind` column says which variant it is). That is the shape rows had when the
//! counts were free-form, so rows written by earlier versions read back unchanged; a field an old
//! row lacks reads as zero (or none), and an empty object (a job that ended before it counted
//! anything) reads as [`JobCounts::None`].

use serde::{Deserialize, Serialize};

use super::JobKind;
use crate::backup::BackupSummary;
use crate::catalog::CatalogCounts;
use crate::restore::RestoreSummary;

/// Tallies of a scan: the rows of the catalog it wrote, and what reading them took.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ScanCounts {
    #[serde(flatten)]
    pub catalog: CatalogCounts,
    /// HTTP requests sent, retries included.
    pub requests: u64,
    /// What a backup of everything would download, as far as the portal tells sizes.
    pub estimated_bytes: u64,
}

/// Tallies of a verify of one or more snapshots.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct VerifyCounts {
    pub snapshots: u64,
    pub blobs_checked: u64,
    pub bytes_checked: u64,
    /// Damaged parts found (missing or corrupt blobs, unreadable records).
    pub problems: u64,
}

/// Tallies of a retention run: the forget (when a policy was given) and the prune (when asked).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RetentionCounts {
    pub kept: Option<u64>,
    pub forgotten: Option<u64>,
    pub blobs_removed: Option<u64>,
    pub bytes_removed: Option<u64>,
}

/// Tallies of a copy: snapshots copied (or found already there) and the blobs sent or skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CopyCounts {
    pub snapshots: u64,
    /// Of `snapshots`, those the destination already had.
    pub already_there: u64,
    pub blobs_copied: u64,
    pub bytes_copied: u64,
    /// Blobs the destination already had, not transferred.
    pub blobs_present: u64,
}

/// Tallies of a post-processing run: the items it looked at, changed, left alone and failed on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PostprocessCounts {
    pub items: u64,
    pub changed: u64,
    /// URLs changed, over all items.
    pub urls: u64,
    pub skipped: u64,
    pub failed: u64,
}

/// What a job counted; the variant matches the job's kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum JobCounts {
    Scan(ScanCounts),
    Backup(BackupSummary),
    Restore(RestoreSummary),
    Verify(VerifyCounts),
    Retention(RetentionCounts),
    Copy(CopyCounts),
    Postprocess(PostprocessCounts),
    /// The job ended before it counted anything (refused, failed early, cancelled while queued).
    #[default]
    None,
}

impl JobCounts {
    /// The text stored in `jobs.counts`: the variant's fields, untagged.
    pub fn to_stored(&self) -> String {
        let fields = match self {
            JobCounts::Scan(c) => serde_json::to_value(c),
            JobCounts::Backup(c) => serde_json::to_value(c),
            JobCounts::Restore(c) => serde_json::to_value(c),
            JobCounts::Verify(c) => serde_json::to_value(c),
            JobCounts::Retention(c) => serde_json::to_value(c),
            JobCounts::Copy(c) => serde_json::to_value(c),
            JobCounts::Postprocess(c) => serde_json::to_value(c),
            JobCounts::None => return "{}".to_owned(),
        };
        fields.map(|v| v.to_string()).unwrap_or_else(|_| "{}".to_owned())
    }

    /// Reads the stored text of a job of `kind`. Text that is not an object with at least one
    /// field (an empty object, `null`, damage) reads as [`JobCounts::None`]; it never fails, so
    /// one odd row cannot hide the history.
    pub fn from_stored(kind: JobKind, text: &str) -> JobCounts {
        let value: serde_json::Value = match serde_json::from_str(text) {
            Ok(v @ serde_json::Value::Object(_)) if v.as_object().is_some_and(|o| !o.is_empty()) => v,
            _ => return JobCounts::None,
        };
        fn read<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> Option<T> {
            serde_json::from_value(v).ok()
        }
        let counts = match kind {
            JobKind::Scan => read(value).map(JobCounts::Scan),
            JobKind::Backup => read(value).map(JobCounts::Backup),
            JobKind::Restore => read(value).map(JobCounts::Restore),
            JobKind::Verify => read(value).map(JobCounts::Verify),
            JobKind::Retention => read(value).map(JobCounts::Retention),
            JobKind::Copy => read(value).map(JobCounts::Copy),
            JobKind::Postprocess => read(value).map(JobCounts::Postprocess),
        };
        counts.unwrap_or(JobCounts::None)
    }

    /// The snapshot a backup wrote.
    pub fn snapshot(&self) -> Option<&str> {
        match self {
            JobCounts::Backup(c) => c.snapshot.as_ref().map(|s| s.as_str()),
            _ => None,
        }
    }

    /// The headline tallies as (word, number) pairs, in the order a person reads them: what the
    /// job handled first, then what went wrong. Zero problems and absent retention parts are left
    /// out; the job list's one-line summary and the e-mailed result are made from this.
    pub fn tallies(&self) -> Vec<(&'static str, u64)> {
        let mut out = Vec::new();
        match self {
            JobCounts::Scan(c) => {
                let c = &c.catalog;
                out.extend([("items", c.items), ("users", c.users), ("groups", c.groups)]);
                if c.problems > 0 {
                    out.push(("problems", c.problems));
                }
            }
            JobCounts::Backup(c) => {
                out.extend([("items", c.items), ("users", c.users), ("groups", c.groups)]);
                if c.reused > 0 {
                    out.push(("reused", c.reused));
                }
                if c.fallbacks > 0 {
                    out.push(("fallbacks", c.fallbacks));
                }
                if c.failed > 0 {
                    out.push(("failed", c.failed));
                }
            }
            JobCounts::Restore(c) => {
                out.extend([("created", c.created), ("updated", c.updated), ("skipped", c.skipped)]);
                if c.failed > 0 {
                    out.push(("failed", c.failed));
                }
            }
            JobCounts::Verify(c) => {
                out.extend([("snapshots", c.snapshots), ("blobs checked", c.blobs_checked)]);
                out.push(("problems", c.problems));
            }
            JobCounts::Retention(c) => {
                for (word, n) in [("kept", c.kept), ("forgotten", c.forgotten), ("blobs removed", c.blobs_removed)] {
                    if let Some(n) = n {
                        out.push((word, n));
                    }
                }
            }
            JobCounts::Copy(c) => {
                out.extend([("snapshots", c.snapshots), ("blobs copied", c.blobs_copied)]);
                if c.blobs_present > 0 {
                    out.push(("blobs present", c.blobs_present));
                }
            }
            JobCounts::Postprocess(c) => {
                out.extend([("items changed", c.changed), ("URLs changed", c.urls)]);
                if c.skipped > 0 {
                    out.push(("skipped", c.skipped));
                }
                if c.failed > 0 {
                    out.push(("failed", c.failed));
                }
            }
            JobCounts::None => {}
        }
        out
    }

    /// The tallies on one line: "12 items, 1 user, 0 groups".
    pub fn line(&self) -> String {
        self.tallies().iter().map(|&(word, n)| counted(n, word)).collect::<Vec<_>>().join(", ")
    }
}

/// "3 items", "1 item", "1 blob checked": the tally's noun in the singular for one.
fn counted(n: u64, word: &str) -> String {
    let (noun, rest) = word.split_once(' ').map_or((word, ""), |(noun, rest)| (noun, rest));
    let noun = if n == 1 { noun.strip_suffix('s').unwrap_or(noun) } else { noun };
    let sep = if rest.is_empty() { "" } else { " " };
    format!("{n} {noun}{sep}{rest}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_form_is_untagged_and_reads_back_by_kind() {
        let counts = JobCounts::Scan(ScanCounts {
            catalog: CatalogCounts { items: 3, users: 1, ..CatalogCounts::default() },
            requests: 9,
            estimated_bytes: 10,
        });
        let text = counts.to_stored();
        assert!(!text.contains("\"kind\""), "the row's kind column carries the variant: {text}");
        assert!(text.contains("\"items\":3"), "the catalog's counts are stored flat, as before: {text}");
        assert_eq!(JobCounts::from_stored(JobKind::Scan, &text), counts);
    }

    #[test]
    fn rows_of_earlier_versions_read_back() {
        // A backup row as written when counts were free-form: the whole summary, job and state
        // included.
        let old = r#"{"job_id":7,"state":"succeeded","snapshot":"s1","name":"n","items":2,"users":1,
            "groups":0,"failed":0,"fallbacks":0,"reused":1,"data_downloads":1,"bytes_downloaded":5,
            "bytes_new":5,"bytes_total":9,"requests":12}"#;
        let snapshot = "5f2b9c0d4e8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c";
        let old = old.replace("\"s1\"", &format!("{snapshot:?}"));
        let backup = JobCounts::from_stored(JobKind::Backup, &old);
        let JobCounts::Backup(c) = &backup else { panic!("a backup: {backup:?}") };
        assert_eq!((backup.snapshot(), c.items, c.bytes_total), (Some(snapshot), 2, 9));
        // A retention row with nulls, and an empty object.
        let JobCounts::Retention(r) =
            JobCounts::from_stored(JobKind::Retention, r#"{"kept":2,"forgotten":1,"blobs_removed":null}"#)
        else {
            panic!("a retention")
        };
        assert_eq!((r.kept, r.forgotten, r.blobs_removed), (Some(2), Some(1), None));
        assert_eq!(JobCounts::from_stored(JobKind::Scan, "{}"), JobCounts::None);
        assert_eq!(JobCounts::from_stored(JobKind::Scan, "null"), JobCounts::None);
        assert_eq!(JobCounts::from_stored(JobKind::Verify, "not json"), JobCounts::None);
    }

    #[test]
    fn tallies_name_what_the_kind_did() {
        let catalog = CatalogCounts { items: 5, users: 2, groups: 1, ..CatalogCounts::default() };
        let scan = JobCounts::Scan(ScanCounts { catalog, ..ScanCounts::default() });
        assert_eq!(scan.tallies(), vec![("items", 5), ("users", 2), ("groups", 1)]);
        let restore = JobCounts::from_stored(
            JobKind::Restore,
            r#"{"job_id":1,"state":"partial","created":4,"updated":0,"skipped":0,"failed":1,"requests":3,"elapsed_ms":5}"#,
        );
        assert_eq!(restore.tallies(), vec![("created", 4), ("updated", 0), ("skipped", 0), ("failed", 1)]);
        assert!(JobCounts::None.tallies().is_empty());
        assert_eq!(scan.line(), "5 items, 2 users, 1 group");
        let verify = JobCounts::Verify(VerifyCounts { snapshots: 1, blobs_checked: 1, ..VerifyCounts::default() });
        assert_eq!(verify.line(), "1 snapshot, 1 blob checked, 0 problems");
        assert_eq!(restore.line(), "4 created, 0 updated, 0 skipped, 1 failed");
    }
}
