//! Verification: re-read blobs, check their hashes, report problems by item.

use std::collections::BTreeMap;

use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::progress::Progress;

use super::blob::{BlobId, BlobRef};
use super::error::{RepoError, RepoResult};
use super::manifest::Owner;
use super::snapshot::SnapshotId;
use super::Repository;

const VERIFY_CONCURRENCY: usize = 8;

/// Who uses a blob, and as which part.
type Use<'a> = (&'a Owner, &'a str);
/// A blob re-read, and what is wrong with it, if anything.
type Checked<'a> = (&'a BlobRef, Option<BlobProblem>);

/// What is wrong with a blob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum BlobProblem {
    Missing,
    Corrupt {
        reason: String,
    },
    /// The blob decodes and hashes right, but its size differs from the manifest's.
    WrongSize {
        expected: u64,
        found: u64,
    },
}

/// One damaged part of one item, user, group or the organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyProblem {
    pub owner: Owner,
    /// Which part: "data", "thumbnail", "resources/img/a.png", "item.json", ...
    pub part: String,
    pub blob: BlobId,
    #[serde(flatten)]
    pub problem: BlobProblem,
}

/// The outcome of [`Repository::verify`]. The snapshot is intact when `problems` is empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyReport {
    pub snapshot: SnapshotId,
    /// Distinct blobs the snapshot references (the manifest included).
    pub blobs_total: u64,
    /// Distinct blobs re-read and hashed.
    pub blobs_checked: u64,
    /// Content bytes re-read.
    pub bytes_checked: u64,
    pub problems: Vec<VerifyProblem>,
}

impl VerifyReport {
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

impl Repository {
    /// Re-reads every distinct blob of a snapshot (or, with `sample` in (0, 1], about that
    /// fraction of them, chosen afresh on each run) and checks hash and size. A damaged blob is
    /// reported once for every item part that uses it. An unreadable manifest is an error
    /// ([`RepoError::CorruptSnapshot`]), as nothing can then be attributed.
    pub async fn verify(
        &self,
        id: &SnapshotId,
        sample: Option<f64>,
        progress: &dyn Progress,
    ) -> RepoResult<VerifyReport> {
        if let Some(f) = sample {
            if !(f > 0.0 && f <= 1.0) {
                return Err(RepoError::InvalidInput(format!("sample must be in (0, 1], not {f}")));
            }
        }
        let manifest = self.manifest(id).await?;
        let uses = manifest.blob_uses();
        let mut by_blob: BTreeMap<&BlobId, (&BlobRef, Vec<Use<'_>>)> = BTreeMap::new();
        for u in &uses {
            by_blob.entry(&u.blob.id).or_insert_with(|| (u.blob, Vec::new())).1.push((&u.owner, u.part.as_str()));
        }
        let blobs_total = by_blob.len() as u64 + 1;
        let seed = self.now_ms().to_le_bytes();
        let chosen: Vec<&BlobRef> = by_blob
            .values()
            .map(|(b, _)| *b)
            .filter(|b| sample.is_none_or(|f| f >= 1.0 || sampled(&seed, &b.id, f)))
            .collect();
        progress.phase("verify", Some(chosen.iter().map(|b| b.size).sum()));
        let results: Vec<Checked<'_>> = futures::stream::iter(chosen)
            .map(|b| async move {
                let problem = self.check_blob(b, progress).await?;
                Ok::<_, RepoError>((b, problem))
            })
            .buffer_unordered(VERIFY_CONCURRENCY)
            // Boxed, so that a verify future is provably `Send` (front ends spawn it).
            .boxed()
            .try_collect()
            .await?;
        let mut problems = Vec::new();
        let mut bytes_checked = 0;
        for (b, problem) in &results {
            bytes_checked += b.size;
            let Some(problem) = problem else { continue };
            for (owner, part) in &by_blob[&b.id].1 {
                problems.push(VerifyProblem {
                    owner: (*owner).clone(),
                    part: (*part).to_owned(),
                    blob: b.id.clone(),
                    problem: problem.clone(),
                });
            }
        }
        problems.sort_by(|a, b| (&a.owner.id, &a.part).cmp(&(&b.owner.id, &b.part)));
        Ok(VerifyReport {
            snapshot: id.clone(),
            blobs_total,
            // The manifest was read and checked to get here.
            blobs_checked: results.len() as u64 + 1,
            bytes_checked,
            problems,
        })
    }

    /// Streams one blob through the hash check. Storage failures other than "not found" are
    /// errors of the whole verify: they say nothing about the blob.
    async fn check_blob(&self, b: &BlobRef, progress: &dyn Progress) -> RepoResult<Option<BlobProblem>> {
        let mut stream = match self.get_blob_stream(b).await {
            Ok(s) => s,
            Err(RepoError::MissingBlob { .. }) => return Ok(Some(BlobProblem::Missing)),
            Err(RepoError::CorruptBlob { reason, .. }) => return Ok(Some(BlobProblem::Corrupt { reason })),
            Err(e) => return Err(e),
        };
        let mut found = 0u64;
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(c) => {
                    found += c.len() as u64;
                    progress.advance(c.len() as u64);
                }
                Err(RepoError::CorruptBlob { reason, .. }) => return Ok(Some(BlobProblem::Corrupt { reason })),
                Err(e) => return Err(e),
            }
        }
        if found != b.size {
            return Ok(Some(BlobProblem::WrongSize { expected: b.size, found }));
        }
        Ok(None)
    }
}

/// Deterministic for a given seed and blob: whether the blob falls in the sample.
fn sampled(seed: &[u8], id: &BlobId, fraction: f64) -> bool {
    let mut h = Sha256::new();
    h.update(seed);
    h.update(id.as_str().as_bytes());
    let d = h.finalize();
    let x = u64::from_le_bytes(d[..8].try_into().expect("8 bytes"));
    (x as f64 / u64::MAX as f64) < fraction
}
