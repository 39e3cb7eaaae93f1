//! How an item's content goes up with `addItem` or `update` ([`ItemContent::attach`]), and files
//! sent from a stream (a restore's files, packages and exports), never held whole: one that fits
//! a single request is read up to its announced size; a larger one goes up part by part
//! (`addPart`, then `commit`), each part read from the stream just before it is sent. At most
//! one part (and the chunk that overflowed it) is in memory at a time. A large file already in
//! memory takes the same way, as one chunk.

use std::pin::Pin;

use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};

use super::{ItemContent, SINGLE_UPLOAD_LIMIT, UPLOAD_PART_SIZE};
use crate::error::{Error, Result};
use crate::http::FilePart;
use crate::portal::Portal;

/// The bytes of a file to send, in chunks of any size.
pub type FileBody = Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>;

/// A file sent from a stream.
pub struct StreamedFile {
    pub file_name: String,
    pub content_type: String,
    /// Its exact length, known beforehand (a restore takes it from the snapshot's manifest): it
    /// decides single or multipart upload, and a stream of another length is refused.
    pub size: u64,
    pub body: FileBody,
}

impl std::fmt::Debug for StreamedFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamedFile").field("file_name", &self.file_name).field("size", &self.size).finish()
    }
}

/// Cuts a stream of chunks into parts of `part_size` bytes (the last may be shorter), reading
/// only as far as the part being made.
pub struct PartSplitter {
    body: FileBody,
    part_size: usize,
    /// What the last chunk held beyond the part it completed.
    carry: Bytes,
    done: bool,
    /// Bytes still expected, when the caller knows the total: a part's buffer is sized to it.
    expected: Option<u64>,
}

impl PartSplitter {
    pub fn new(body: FileBody, part_size: usize) -> Self {
        PartSplitter { body, part_size: part_size.max(1), carry: Bytes::new(), done: false, expected: None }
    }

    /// Sizes each part's buffer to what is left of `total` bytes (a small file takes a small
    /// buffer, never a whole part's).
    pub fn expecting(mut self, total: u64) -> Self {
        self.expected = Some(total);
        self
    }

    /// The next part, `None` at the end of the stream.
    pub async fn next_part(&mut self) -> std::io::Result<Option<Bytes>> {
        let mut part = BytesMut::new();
        loop {
            if !self.carry.is_empty() {
                let room = self.part_size - part.len();
                let take = self.carry.split_to(room.min(self.carry.len()));
                if part.is_empty() && take.len() == self.part_size {
                    return Ok(Some(self.hand_out(take))); // a whole part inside one chunk: no copy
                }
                if part.capacity() == 0 {
                    let left = self.expected.map_or(self.part_size as u64, |e| e.max(take.len() as u64));
                    part.reserve(left.min(self.part_size as u64) as usize);
                }
                part.extend_from_slice(&take);
            }
            if part.len() == self.part_size {
                return Ok(Some(self.hand_out(part.freeze())));
            }
            if self.done {
                return Ok((!part.is_empty()).then(|| self.hand_out(part.freeze())));
            }
            match self.body.next().await {
                Some(chunk) => self.carry = chunk?,
                None => self.done = true,
            }
        }
    }
}

impl PartSplitter {
    fn hand_out(&mut self, part: Bytes) -> Bytes {
        if let Some(e) = self.expected.as_mut() {
            *e = e.saturating_sub(part.len() as u64);
        }
        part
    }
}

fn read_error(file: &str, e: std::io::Error) -> Error {
    Error::Source { what: file.to_owned(), detail: e.to_string() }
}

impl StreamedFile {
    /// A file already in memory, as a stream of one chunk.
    fn from_part(f: FilePart) -> StreamedFile {
        let size = f.bytes.len() as u64;
        let body: FileBody = Box::pin(futures::stream::once(futures::future::ready(Ok(f.bytes))));
        StreamedFile { file_name: f.file_name, content_type: f.content_type, size, body }
    }

    /// Reads a file of at most [`SINGLE_UPLOAD_LIMIT`] bytes (its announced size) into one part.
    async fn read_whole(self) -> Result<FilePart> {
        let StreamedFile { file_name, content_type, size, body } = self;
        let mut parts = PartSplitter::new(body, SINGLE_UPLOAD_LIMIT).expecting(size);
        let bytes = parts.next_part().await.map_err(|e| read_error(&file_name, e))?.unwrap_or_default();
        let more = parts.next_part().await.map_err(|e| read_error(&file_name, e))?;
        if bytes.len() as u64 != size || more.is_some() {
            return Err(Error::Source {
                what: file_name,
                detail: format!("it holds more or fewer bytes than the {size} announced"),
            });
        }
        Ok(FilePart { field: "file".into(), file_name, content_type, bytes })
    }
}

impl ItemContent {
    /// Puts this content into an `addItem` or `update` request (its form fields and file
    /// parts). A file larger than [`SINGLE_UPLOAD_LIMIT`] is not sent with it: the request asks
    /// for a multipart upload and the file is handed back, for [`Portal::upload_parts`] once the
    /// request has succeeded.
    pub(super) async fn attach(
        self,
        params: &mut Vec<(String, String)>,
        files: &mut Vec<FilePart>,
    ) -> Result<Option<StreamedFile>> {
        let content = match self {
            ItemContent::File(f) if f.bytes.len() > SINGLE_UPLOAD_LIMIT => {
                ItemContent::Streamed(StreamedFile::from_part(f))
            }
            ItemContent::Streamed(f) if f.size <= SINGLE_UPLOAD_LIMIT as u64 => {
                ItemContent::File(f.read_whole().await?)
            }
            other => other,
        };
        Ok(match content {
            ItemContent::None => None,
            ItemContent::Text(t) => {
                params.push(("text".into(), t));
                None
            }
            ItemContent::File(mut f) => {
                f.field = "file".into();
                files.push(f);
                None
            }
            ItemContent::Streamed(f) => {
                params.push(("multipart".into(), "true".into()));
                params.push(("filename".into(), f.file_name.clone()));
                Some(f)
            }
        })
    }
}

impl Portal {
    /// Sends a file in parts to item `id` (after an `addItem` or `update` with
    /// `multipart=true`), then commits it. Each part is idempotent (same number, same bytes).
    pub(super) async fn upload_parts(&self, owner: &str, id: &str, file: StreamedFile) -> Result<()> {
        let StreamedFile { file_name, size, body, .. } = file;
        let mut parts = PartSplitter::new(body, UPLOAD_PART_SIZE).expecting(size);
        let (mut n, mut sent) = (0usize, 0u64);
        while let Some(bytes) = parts.next_part().await.map_err(|e| read_error(&file_name, e))? {
            n += 1;
            sent += bytes.len() as u64;
            let part = FilePart {
                field: "file".into(),
                file_name: format!("part{n}"),
                content_type: "application/octet-stream".into(),
                bytes,
            };
            let url = self.user_content_url(owner, None, &["items", id, "addPart"])?;
            self.post_multipart(url, vec![("partNum".into(), n.to_string())], vec![part], true).await?;
        }
        if sent != size {
            return Err(Error::Source {
                what: file_name,
                detail: format!("it held {sent} bytes, not the {size} announced"),
            });
        }
        let url = self.user_content_url(owner, None, &["items", id, "commit"])?;
        self.post_form(url.as_str(), &[], true).await?;
        self.wait_until_processed(owner, id).await
    }

    /// Polls `items/<id>/status` until the portal has processed a committed upload. `commit`
    /// is asynchronous on ArcGIS: the item is "processing" for a while, and publishing it or
    /// reading its data before it is "completed" would use a partial file (Esri, "Commit";
    /// Esri's Python client polls the same way in `_process_item_status`).
    async fn wait_until_processed(&self, owner: &str, id: &str) -> Result<()> {
        let url = self.user_content_url(owner, None, &["items", id, "status"])?;
        let deadline = tokio::time::Instant::now() + COMMIT_PROCESSING_LIMIT;
        let mut n = 0u32;
        loop {
            let v = self.json_at(url.clone(), &[]).await?;
            match v.get("status").and_then(serde_json::Value::as_str).unwrap_or("").to_ascii_lowercase().as_str() {
                "completed" | "" => return Ok(()),
                "failed" => {
                    return Err(Error::Api {
                        code: 500,
                        message: format!(
                            "the portal failed to process the uploaded file of item {id}: {}",
                            crate::hosted::status_message(v.get("statusMessage").unwrap_or(&serde_json::Value::Null))
                        ),
                        message_code: None,
                        details: Vec::new(),
                    })
                }
                _ => {}
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::Timeout {
                    url: crate::http::display_url(&url),
                    what: format!(
                        "the uploaded file was still being processed after {} s",
                        COMMIT_PROCESSING_LIMIT.as_secs()
                    ),
                });
            }
            tokio::time::sleep(commit_poll_delay(n)).await;
            n += 1;
        }
    }
}

/// How long a committed upload may stay "processing" before the upload counts as failed.
const COMMIT_PROCESSING_LIMIT: std::time::Duration = std::time::Duration::from_secs(30 * 60);

/// The wait before status poll `n`: quick at first, then up to 5 s.
fn commit_poll_delay(n: u32) -> std::time::Duration {
    std::time::Duration::from_millis(100u64.saturating_mul(1 << n.min(6))).min(std::time::Duration::from_secs(5))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// A stream of `chunks` that counts the bytes it has handed out.
    fn counted(chunks: Vec<Vec<u8>>, pulled: Arc<AtomicUsize>) -> FileBody {
        Box::pin(futures::stream::iter(chunks).map(move |c| {
            pulled.fetch_add(c.len(), Ordering::SeqCst);
            Ok(Bytes::from(c))
        }))
    }

    #[tokio::test]
    async fn parts_are_cut_at_the_part_size_reading_no_further_than_one_chunk_ahead() {
        let part = 1000;
        for sizes in [vec![1usize; 2500], vec![999, 2, 3000, 17, 1], vec![4321], vec![1000, 1000], vec![]] {
            let mut want = Vec::new();
            let chunks: Vec<Vec<u8>> = sizes
                .iter()
                .enumerate()
                .map(|(i, n)| {
                    let c: Vec<u8> = (0..*n).map(|j| (i * 31 + j) as u8).collect();
                    want.extend_from_slice(&c);
                    c
                })
                .collect();
            let largest = sizes.iter().copied().max().unwrap_or(0);
            let pulled = Arc::new(AtomicUsize::new(0));
            let total = want.len() as u64;
            let mut s = PartSplitter::new(counted(chunks, pulled.clone()), part).expecting(total);
            let (mut got, mut handed) = (Vec::new(), 0usize);
            while let Some(p) = s.next_part().await.expect("no read error") {
                handed += p.len();
                assert!(p.len() <= part, "no part is larger than the part size: {}", p.len());
                let ahead = pulled.load(Ordering::SeqCst) - handed;
                assert!(
                    ahead < largest.max(1),
                    "the splitter holds at most what one chunk brought beyond the part ({ahead} bytes ahead, {sizes:?})"
                );
                got.push(p);
            }
            let lens: Vec<usize> = got.iter().map(Bytes::len).collect();
            let full = want.len() / part;
            assert!(
                lens[..full.min(lens.len())].iter().all(|l| *l == part),
                "every part but the last is full: {lens:?}"
            );
            assert_eq!(lens.len(), want.len().div_ceil(part), "as many parts as the size needs: {lens:?}");
            assert_eq!(got.concat(), want, "the parts put together are the file");
        }
    }

    #[tokio::test]
    async fn a_read_error_ends_the_parts_with_the_error() {
        let body: FileBody = Box::pin(futures::stream::iter(vec![
            Ok(Bytes::from_static(b"abc")),
            Err(std::io::Error::other("disk gone")),
        ]));
        let mut s = PartSplitter::new(body, 10);
        let err = s.next_part().await.expect_err("the error comes through");
        assert!(err.to_string().contains("disk gone"), "{err}");
    }
}
