//! Storing and reading blobs.

use std::sync::atomic::Ordering;

use bytes::{Bytes, BytesMut};
use futures::stream::BoxStream;
use futures::{Stream, StreamExt, TryStreamExt};
use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload, WriteMultipart};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::io::{ReaderStream, StreamReader, SyncIoBridge};

use crate::storage::StorageError;

use super::blob::{self, BlobId, BlobRef, Encoding, HEADER_LEN, SAMPLE_LEN, ZSTD_LEVEL};
use super::error::{RepoError, RepoResult};
use super::staging::StagedFile;
use super::Repository;

/// Decoded blob content, in chunks; the last item is an error if the content does not match
/// its id.
pub type BlobStream = BoxStream<'static, RepoResult<Bytes>>;

/// Streamed content up to this size is handled in memory and written in one request with
/// create-only semantics; larger content is staged and uploaded in parts.
pub(crate) const IN_MEMORY_MAX: usize = 1024 * 1024;
/// Content from this size on is hashed and encoded off the async threads.
const ENCODE_OFF_THREAD: usize = 128 * 1024;
/// Part size of multipart uploads (Azure blocks). Memory per upload is about three parts.
const PART_SIZE: usize = 5 * 1024 * 1024;
const READ_CHUNK: usize = 1024 * 1024;

pub(crate) fn blob_path(id: &BlobId) -> String {
    format!("data/{}/{}", &id.as_str()[..2], id.as_str())
}

impl Repository {
    /// Whether the blob is stored.
    pub async fn has_blob(&self, id: &BlobId) -> RepoResult<bool> {
        let rel = blob_path(id);
        match self.store().head(&self.path(&rel)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(StorageError::from_store("check", &rel, e).into()),
        }
    }

    /// Stores `content` unless a blob with its id is already there; compresses when it pays.
    pub async fn put_blob_bytes(&self, content: Bytes) -> RepoResult<BlobRef> {
        let size = content.len() as u64;
        let (id, stored) = if content.len() >= ENCODE_OFF_THREAD {
            let c = content.clone();
            tokio::task::spawn_blocking(move || {
                let id = BlobId::of(&c);
                (id, blob::encode(&c).0)
            })
            .await
            .map_err(|e| RepoError::InvalidInput(format!("encoding stopped: {e}")))?
        } else {
            (BlobId::of(&content), blob::encode(&content).0)
        };
        let blob = BlobRef { id, size };
        if self.has_blob(&blob.id).await? {
            self.count_existing(size);
            return Ok(blob);
        }
        self.put_encoded(&blob, Bytes::from(stored)).await?;
        Ok(blob)
    }

    /// Stores a value as JSON.
    pub async fn put_blob_json<T: Serialize + ?Sized>(&self, value: &T) -> RepoResult<BlobRef> {
        let body = serde_json::to_vec(value).map_err(|e| RepoError::InvalidInput(format!("not serializable: {e}")))?;
        self.put_blob_bytes(Bytes::from(body)).await
    }

    /// Stores the content of a stream with bounded memory. Content up to [`IN_MEMORY_MAX`] is
    /// gathered, hashed and encoded in memory (no staging file, no staging slot: most item files
    /// are that small, and a slot per small file made downloads queue behind each other). Larger
    /// content spills to a staging file while hashed; if the id is new the file is compressed
    /// (when a sample says it pays) and uploaded in parts. The staging file is removed whatever
    /// happens. An error of the stream aborts and stores nothing.
    pub async fn put_blob_stream<S, E>(&self, stream: S) -> RepoResult<BlobRef>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let mut stream = std::pin::pin!(stream);
        let mut head = BytesMut::new();
        while head.len() <= IN_MEMORY_MAX {
            match stream.next().await {
                None => return self.put_blob_bytes(head.freeze()).await,
                Some(chunk) => head.extend_from_slice(&chunk.map_err(|e| RepoError::Source(e.into()))?),
            }
        }
        let staging = &self.inner.staging;
        let _slot = staging.slot().await;
        let raw = staging.new_file("part").await?;
        let mut file = tokio::fs::File::create(&raw.path).await.map_err(|e| RepoError::io(&raw.path, e))?;
        let mut hasher = Sha256::new();
        let head = head.freeze();
        let mut size = head.len() as u64;
        hasher.update(&head);
        let sample = head.slice(..head.len().min(SAMPLE_LEN));
        file.write_all(&head).await.map_err(|e| RepoError::io(&raw.path, e))?;
        drop(head);
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| RepoError::Source(e.into()))?;
            hasher.update(&chunk);
            size += chunk.len() as u64;
            file.write_all(&chunk).await.map_err(|e| RepoError::io(&raw.path, e))?;
        }
        file.flush().await.map_err(|e| RepoError::io(&raw.path, e))?;
        drop(file);
        let blob = BlobRef { id: BlobId::from_digest(&hasher.finalize()), size };
        if self.has_blob(&blob.id).await? {
            self.count_existing(size);
            return Ok(blob);
        }
        let sample_pays = zstd::bulk::compress(&sample, ZSTD_LEVEL).is_ok_and(|c| blob::pays(sample.len(), c.len()));
        let compressed =
            if sample_pays { Some(compress_file(&raw, staging.new_file("zst").await?).await?) } else { None };
        let (upload, encoding) = match &compressed {
            Some(z) if blob::pays(size as usize, file_len(&z.path).await? as usize) => (z, Encoding::Zstd),
            _ => (&raw, Encoding::Raw),
        };
        self.put_file(&blob, upload, encoding).await?;
        Ok(blob)
    }

    /// Reads a whole blob and checks its hash.
    pub async fn get_blob(&self, id: &BlobId) -> RepoResult<Bytes> {
        let stored = self.get_stored(id).await?.bytes().await.map_err(|e| self.read_error(id, e))?;
        let id2 = id.clone();
        let content = if stored.len() > 1024 * 1024 {
            tokio::task::spawn_blocking(move || blob::decode(&id2, &stored))
                .await
                .map_err(|e| RepoError::InvalidInput(format!("decoding stopped: {e}")))??
        } else {
            blob::decode(id, &stored)?
        };
        Ok(Bytes::from(content))
    }

    /// Streams a blob's decoded content; the hash is checked as it passes and a mismatch ends
    /// the stream with [`RepoError::CorruptBlob`].
    pub async fn get_blob_stream(&self, id: &BlobId) -> RepoResult<BlobStream> {
        let got = self.get_stored(id).await?;
        let rel = blob_path(id);
        let body = got.into_stream().map_err(move |e| std::io::Error::other(StorageError::from_store("read", &rel, e)));
        let mut reader = StreamReader::new(body);
        let mut head = [0u8; HEADER_LEN];
        let corrupt = |reason: String| RepoError::CorruptBlob { id: id.clone(), reason };
        reader.read_exact(&mut head).await.map_err(|e| corrupt(format!("no header: {e}")))?;
        let encoding = blob::parse_header(&head).map_err(corrupt)?;
        let decoded: BoxStream<'static, std::io::Result<Bytes>> = match encoding {
            Encoding::Raw => ReaderStream::with_capacity(reader, 256 * 1024).boxed(),
            Encoding::Zstd => {
                let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(4);
                let bridge = SyncIoBridge::new(reader);
                tokio::task::spawn_blocking(move || {
                    use std::io::Read;
                    let mut decoder = match zstd::stream::read::Decoder::new(bridge) {
                        Ok(d) => d,
                        Err(e) => {
                            let _ = tx.blocking_send(Err(e));
                            return;
                        }
                    };
                    let mut buf = vec![0u8; 256 * 1024];
                    loop {
                        match decoder.read(&mut buf) {
                            Ok(0) => return,
                            Ok(n) => {
                                if tx.blocking_send(Ok(Bytes::copy_from_slice(&buf[..n]))).is_err() {
                                    return; // the reader went away
                                }
                            }
                            Err(e) => {
                                let _ = tx.blocking_send(Err(e));
                                return;
                            }
                        }
                    }
                });
                tokio_stream_from(rx)
            }
        };
        Ok(hash_checked(id.clone(), decoded))
    }

    async fn get_stored(&self, id: &BlobId) -> RepoResult<object_store::GetResult> {
        let rel = blob_path(id);
        match self.store().get(&self.path(&rel)).await {
            Ok(g) => Ok(g),
            Err(object_store::Error::NotFound { .. }) => Err(RepoError::MissingBlob { id: id.clone() }),
            Err(e) => Err(StorageError::from_store("read", &rel, e).into()),
        }
    }

    fn read_error(&self, id: &BlobId, e: object_store::Error) -> RepoError {
        match e {
            object_store::Error::NotFound { .. } => RepoError::MissingBlob { id: id.clone() },
            e => StorageError::from_store("read", &blob_path(id), e).into(),
        }
    }

    /// Writes an encoded blob with create-only semantics; an existing one is left as it is.
    async fn put_encoded(&self, blob: &BlobRef, stored: Bytes) -> RepoResult<()> {
        let rel = blob_path(&blob.id);
        let stored_len = stored.len() as u64;
        let opts = PutOptions { mode: PutMode::Create, ..Default::default() };
        match self.store().put_opts(&self.path(&rel), PutPayload::from_bytes(stored), opts).await {
            Ok(_) => {
                self.count_new(blob.size, stored_len);
                Ok(())
            }
            Err(object_store::Error::AlreadyExists { .. }) => {
                self.count_existing(blob.size);
                Ok(())
            }
            Err(e) => Err(StorageError::from_store("write", &rel, e).into()),
        }
    }

    /// Uploads a staged file (header first) in parts. Multipart uploads cannot be create-only;
    /// a concurrent writer of the same id writes the same content, so the last commit wins
    /// harmlessly, and each commit is atomic (rename / block list).
    async fn put_file(&self, blob: &BlobRef, file: &StagedFile, encoding: Encoding) -> RepoResult<()> {
        let rel = blob_path(&blob.id);
        let upload = self
            .store()
            .put_multipart(&self.path(&rel))
            .await
            .map_err(|e| StorageError::from_store("write", &rel, e))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
        writer.write(&blob::header(encoding));
        let mut f = tokio::fs::File::open(&file.path).await.map_err(|e| RepoError::io(&file.path, e))?;
        let mut buf = vec![0u8; READ_CHUNK];
        let mut stored = HEADER_LEN as u64;
        loop {
            let n = match f.read(&mut buf).await {
                Ok(n) => n,
                Err(e) => {
                    let _ = writer.abort().await;
                    return Err(RepoError::io(&file.path, e));
                }
            };
            if n == 0 {
                break;
            }
            stored += n as u64;
            if let Err(e) = writer.wait_for_capacity(1).await {
                return Err(StorageError::from_store("write", &rel, e).into());
            }
            writer.write(&buf[..n]);
        }
        writer.finish().await.map_err(|e| StorageError::from_store("write", &rel, e))?;
        self.count_new(blob.size, stored);
        Ok(())
    }

    fn count_new(&self, size: u64, stored: u64) {
        let c = &self.inner.counters;
        c.blobs_new.fetch_add(1, Ordering::Relaxed);
        c.bytes_new.fetch_add(size, Ordering::Relaxed);
        c.bytes_stored.fetch_add(stored, Ordering::Relaxed);
    }

    fn count_existing(&self, size: u64) {
        let c = &self.inner.counters;
        c.blobs_existing.fetch_add(1, Ordering::Relaxed);
        c.bytes_existing.fetch_add(size, Ordering::Relaxed);
    }
}

async fn file_len(path: &std::path::Path) -> RepoResult<u64> {
    Ok(tokio::fs::metadata(path).await.map_err(|e| RepoError::io(path, e))?.len())
}

async fn compress_file(raw: &StagedFile, out: StagedFile) -> RepoResult<StagedFile> {
    let (from, to) = (raw.path.clone(), out.path.clone());
    tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        let input = std::io::BufReader::new(std::fs::File::open(&from)?);
        let output = std::io::BufWriter::new(std::fs::File::create(&to)?);
        zstd::stream::copy_encode(input, output, ZSTD_LEVEL)
    })
    .await
    .map_err(|e| RepoError::InvalidInput(format!("compression stopped: {e}")))?
    .map_err(|e| RepoError::io(&out.path, e))?;
    Ok(out)
}

fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<std::io::Result<Bytes>>,
) -> BoxStream<'static, std::io::Result<Bytes>> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx)).boxed()
}

/// Passes chunks through, hashing them; at the end compares with `id`.
fn hash_checked(id: BlobId, inner: BoxStream<'static, std::io::Result<Bytes>>) -> BlobStream {
    let state = (inner, Sha256::new(), id, false);
    futures::stream::unfold(state, |(mut inner, mut hasher, id, done)| async move {
        if done {
            return None;
        }
        match inner.next().await {
            Some(Ok(chunk)) => {
                hasher.update(&chunk);
                Some((Ok(chunk), (inner, hasher, id, false)))
            }
            Some(Err(e)) => {
                // A storage failure inside the stream is not corruption; keep its meaning.
                let err = match e.into_inner() {
                    Some(inner_err) => match inner_err.downcast::<StorageError>() {
                        Ok(se) => RepoError::Storage(*se),
                        Err(other) => {
                            RepoError::CorruptBlob { id: id.clone(), reason: format!("cannot decode: {other}") }
                        }
                    },
                    None => RepoError::CorruptBlob { id: id.clone(), reason: "cannot decode".into() },
                };
                Some((Err(err), (inner, hasher, id, true)))
            }
            None => {
                let got = BlobId::from_digest(&hasher.clone().finalize());
                if got == id {
                    None
                } else {
                    let err = RepoError::CorruptBlob { id: id.clone(), reason: format!("content hashes to {got}") };
                    Some((Err(err), (inner, hasher, id, true)))
                }
            }
        }
    })
    .boxed()
}
