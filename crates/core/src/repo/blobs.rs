//! Storing and reading blobs.

use std::sync::atomic::Ordering;

use bytes::{Bytes, BytesMut};
use futures::stream::BoxStream;
use futures::{Stream, StreamExt, TryStreamExt};
use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload, WriteMultipart};
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::io::{ReaderStream, StreamReader, SyncIoBridge};

use crate::storage::StorageError;

use super::blob::{self, BlobId, BlobRef, Encoding, HEADER_LEN, SAMPLE_LEN, ZSTD_LEVEL};
use super::crypto::{blob_aad, Crypto, IdHasher};
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
        self.put_chunks(vec![content]).await
    }

    /// Stores in-memory content given as chunks (as a download delivered it; never copied into
    /// one buffer unless compression pays). Hashing and compressing happen off the async
    /// threads from [`ENCODE_OFF_THREAD`] bytes on.
    async fn put_chunks(&self, chunks: Vec<Bytes>) -> RepoResult<BlobRef> {
        let size: usize = chunks.iter().map(Bytes::len).sum();
        let (hasher, crypto) = (self.id_hasher(), self.inner.crypto.clone());
        let (id, payload) = if size >= ENCODE_OFF_THREAD {
            tokio::task::spawn_blocking(move || encode_payload(crypto.as_deref(), hasher, chunks, size))
                .await
                .map_err(|e| RepoError::InvalidInput(format!("encoding stopped: {e}")))?
        } else {
            encode_payload(crypto.as_deref(), hasher, chunks, size)
        };
        let blob = BlobRef { id, size: size as u64 };
        // No existence check first: the create-only write below reports an existing blob itself,
        // and a full backup's blobs are nearly all new (one request per blob, not two, on Azure).
        self.put_encoded(&blob, payload).await?;
        Ok(blob)
    }

    /// Stores a value as JSON.
    pub async fn put_blob_json<T: Serialize + ?Sized>(&self, value: &T) -> RepoResult<BlobRef> {
        let body = serde_json::to_vec(value).map_err(not_serializable)?;
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
        let mut chunks: Vec<Bytes> = Vec::new();
        let mut gathered = 0usize;
        while gathered <= IN_MEMORY_MAX {
            match stream.next().await {
                None => return self.put_chunks(chunks).await,
                Some(chunk) => {
                    let chunk = chunk.map_err(|e| RepoError::Source(e.into()))?;
                    gathered += chunk.len();
                    chunks.push(chunk);
                }
            }
        }
        let sample = prefix(&chunks, SAMPLE_LEN);
        let staging = &self.inner.staging;
        let _slot = staging.slot().await;
        let raw = staging.new_file("part").await?;
        let mut file = tokio::fs::File::create(&raw.path).await.map_err(|e| RepoError::io(&raw.path, e))?;
        let mut hasher = self.id_hasher();
        let mut size = 0u64;
        for chunk in chunks {
            hasher.update(&chunk);
            size += chunk.len() as u64;
            file.write_all(&chunk).await.map_err(|e| RepoError::io(&raw.path, e))?;
        }
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| RepoError::Source(e.into()))?;
            hasher.update(&chunk);
            size += chunk.len() as u64;
            file.write_all(&chunk).await.map_err(|e| RepoError::io(&raw.path, e))?;
        }
        file.flush().await.map_err(|e| RepoError::io(&raw.path, e))?;
        drop(file);
        let blob = BlobRef { id: hasher.finalize(), size };
        if self.has_blob(&blob.id).await? {
            self.count_existing(size);
            return Ok(blob);
        }
        self.store_staged(&blob, &raw, &sample).await?;
        Ok(blob)
    }

    /// Stores a value as its compact JSON text without ever holding that text whole: a first
    /// pass only hashes and counts. A text up to [`IN_MEMORY_MAX`] is then encoded in memory;
    /// a larger one is written to a staging file and stored like a large download. Meant for
    /// the snapshot manifest, whose text grows with the organization (about 1 KB per item) and
    /// otherwise existed three times at the job's end (value, text, compressed text). The blob
    /// is the same as [`Repository::put_blob_json`] would store.
    pub async fn put_blob_serialized<T: Serialize + ?Sized>(&self, value: &T) -> RepoResult<BlobRef> {
        let mut probe = HashingWriter { hasher: self.id_hasher(), size: 0, sample: Vec::new(), out: std::io::sink() };
        serde_json::to_writer(&mut probe, value).map_err(not_serializable)?;
        if probe.size <= IN_MEMORY_MAX as u64 {
            return self.put_blob_json(value).await;
        }
        let blob = BlobRef { id: probe.hasher.finalize(), size: probe.size };
        if self.has_blob(&blob.id).await? {
            self.count_existing(blob.size);
            return Ok(blob);
        }
        let staging = &self.inner.staging;
        let _slot = staging.slot().await;
        let raw = staging.new_file("part").await?;
        // Written on this thread because the value is only borrowed: a sequential write into the
        // page cache, tens of milliseconds for a 100,000-item manifest, once per backup.
        let sample = write_json_file(&raw.path, value, &blob, self.id_hasher())?;
        self.store_staged(&blob, &raw, &sample).await?;
        Ok(blob)
    }

    /// Uploads a staged file holding `blob`'s content, compressed when `sample` (its start)
    /// says compression pays and the whole file confirms it.
    pub(super) async fn store_staged(&self, blob: &BlobRef, raw: &StagedFile, sample: &[u8]) -> RepoResult<()> {
        let staging = &self.inner.staging;
        let sample = &sample[..sample.len().min(SAMPLE_LEN)];
        let sample_pays = blob::sample_pays(sample);
        let compressed =
            if sample_pays { Some(compress_file(raw, staging.new_file("zst").await?).await?) } else { None };
        let (upload, encoding) = match &compressed {
            Some(z) if blob::pays(blob.size as usize, file_len(&z.path).await? as usize) => (z, Encoding::Zstd),
            _ => (raw, Encoding::Raw),
        };
        self.put_file(blob, upload, encoding).await
    }

    /// Reads a whole blob and checks it: no more than its recorded size is decoded (so a zstd
    /// bomb or a stored object longer than recorded fails as [`RepoError::CorruptBlob`] without
    /// filling the memory), and the content must hash to its id.
    pub async fn get_blob(&self, blob: &BlobRef) -> RepoResult<Bytes> {
        let got = self.get_stored(&blob.id).await?;
        blob::check_stored_len(blob, got.meta.size, self.is_encrypted())?;
        let stored = got.bytes().await.map_err(|e| self.read_error(&blob.id, e))?;
        let content = if stored.len() > 1024 * 1024 {
            let (blob, crypto) = (blob.clone(), self.inner.crypto.clone());
            tokio::task::spawn_blocking(move || blob::decode_in(crypto.as_deref(), &blob, &stored))
                .await
                .map_err(|e| RepoError::InvalidInput(format!("decoding stopped: {e}")))??
        } else {
            blob::decode_in(self.crypto(), blob, &stored)?
        };
        Ok(Bytes::from(content))
    }

    /// Streams a blob's decoded content. The stream ends with [`RepoError::CorruptBlob`] as
    /// soon as the content runs past its recorded size (a zstd bomb stops there), or at the end
    /// when it does not hash to its id.
    pub async fn get_blob_stream(&self, blob: &BlobRef) -> RepoResult<BlobStream> {
        let id = &blob.id;
        let got = self.get_stored(id).await?;
        let stored_len = got.meta.size;
        blob::check_stored_len(blob, stored_len, self.is_encrypted())?;
        let rel = blob_path(id);
        let body: BoxStream<'static, std::io::Result<Bytes>> = got
            .into_stream()
            .map_err(move |e| std::io::Error::other(StorageError::from_store("read", &rel, e)))
            .boxed();
        let corrupt = |reason: String| RepoError::CorruptBlob { id: id.clone(), reason };
        let (reader, encoding) = match &self.inner.crypto {
            None => {
                let mut reader = StreamReader::new(body);
                let mut head = [0u8; HEADER_LEN];
                reader.read_exact(&mut head).await.map_err(|e| corrupt(format!("no header: {e}")))?;
                (reader, blob::parse_header(&head).map_err(corrupt)?)
            }
            Some(crypto) => {
                let opened = opened_stream(crypto.clone(), blob_aad(id), stored_len, body).map_err(corrupt)?;
                let mut reader = StreamReader::new(opened);
                let mut first = [0u8; 1];
                reader.read_exact(&mut first).await.map_err(|e| corrupt(format!("cannot open: {e}")))?;
                let encoding =
                    Encoding::from_byte(first[0]).ok_or_else(|| corrupt(format!("unknown encoding {}", first[0])))?;
                (reader, encoding)
            }
        };
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
        Ok(hash_checked(blob.clone(), self.id_hasher(), decoded))
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

    /// Writes an encoded blob (header and body) with create-only semantics; an existing one is
    /// left as it is.
    async fn put_encoded(&self, blob: &BlobRef, stored: PutPayload) -> RepoResult<()> {
        let rel = blob_path(&blob.id);
        let stored_len = stored.content_length() as u64;
        let opts = PutOptions { mode: PutMode::Create, ..Default::default() };
        match self.store().put_opts(&self.path(&rel), stored, opts).await {
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
        let mut sealer = self.crypto().map(|c| c.sealer(blob_aad(&blob.id)));
        let mut sealed = Vec::new();
        let mut stored = match &mut sealer {
            Some(s) => {
                s.push(&[encoding.byte()], &mut sealed);
                writer.write(&sealed);
                sealed.len() as u64
            }
            None => {
                writer.write(&blob::header(encoding));
                HEADER_LEN as u64
            }
        };
        let mut f = tokio::fs::File::open(&file.path).await.map_err(|e| RepoError::io(&file.path, e))?;
        let mut buf = vec![0u8; READ_CHUNK];
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
            if let Err(e) = writer.wait_for_capacity(1).await {
                return Err(StorageError::from_store("write", &rel, e).into());
            }
            match &mut sealer {
                Some(s) => {
                    sealed.clear();
                    s.push(&buf[..n], &mut sealed);
                    writer.write(&sealed);
                    stored += sealed.len() as u64;
                }
                None => {
                    writer.write(&buf[..n]);
                    stored += n as u64;
                }
            }
        }
        if let Some(s) = sealer {
            sealed.clear();
            s.finish(&mut sealed);
            writer.write(&sealed);
            stored += sealed.len() as u64;
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

    pub(super) fn count_existing(&self, size: u64) {
        let c = &self.inner.counters;
        c.blobs_existing.fetch_add(1, Ordering::Relaxed);
        c.bytes_existing.fetch_add(size, Ordering::Relaxed);
    }
}

const RAW_HEADER: [u8; HEADER_LEN] = blob::header(Encoding::Raw);
const ZSTD_HEADER: [u8; HEADER_LEN] = blob::header(Encoding::Zstd);

/// The first `n` bytes of the chunks (fewer if they hold fewer); no copy when the first chunk
/// holds them.
fn prefix(chunks: &[Bytes], n: usize) -> Bytes {
    match chunks.first() {
        None => Bytes::new(),
        Some(first) if first.len() >= n => first.slice(..n),
        Some(_) => {
            let mut out = BytesMut::with_capacity(n);
            for c in chunks {
                let take = (n - out.len()).min(c.len());
                out.extend_from_slice(&c[..take]);
                if out.len() == n {
                    break;
                }
            }
            out.freeze()
        }
    }
}

/// The chunks as one buffer; no copy when there is a single chunk.
fn concat(chunks: &[Bytes]) -> Bytes {
    match chunks {
        [] => Bytes::new(),
        [one] => one.clone(),
        many => {
            let mut all = BytesMut::with_capacity(many.iter().map(Bytes::len).sum());
            for c in many {
                all.extend_from_slice(c);
            }
            all.freeze()
        }
    }
}

/// The id of content given as chunks, and the object to store: header and content,
/// compressed when it pays, sealed in an encrypted repository.
fn encode_payload(crypto: Option<&Crypto>, hasher: IdHasher, chunks: Vec<Bytes>, size: usize) -> (BlobId, PutPayload) {
    let (id, compressed) = encode_chunks(&chunks, size, hasher);
    let payload = match (crypto, compressed) {
        (Some(c), Some(z)) => PutPayload::from(c.seal(blob_aad(&id), Encoding::Zstd, &[&z])),
        (Some(c), None) => {
            let parts: Vec<&[u8]> = chunks.iter().map(|c| c.as_ref()).collect();
            PutPayload::from(c.seal(blob_aad(&id), Encoding::Raw, &parts))
        }
        (None, Some(z)) => [Bytes::from_static(&ZSTD_HEADER), Bytes::from(z)].into_iter().collect(),
        (None, None) => std::iter::once(Bytes::from_static(&RAW_HEADER)).chain(chunks).collect(),
    };
    (id, payload)
}

/// The id of content given as chunks of `size` bytes in all, and its compressed form when
/// compression pays (judged on a sample first, so incompressible content is not copied).
fn encode_chunks(chunks: &[Bytes], size: usize, mut hasher: IdHasher) -> (BlobId, Option<Vec<u8>>) {
    for c in chunks {
        hasher.update(c);
    }
    let id = hasher.finalize();
    let worth_trying = if size < blob::MIN_COMPRESS {
        false
    } else if size <= SAMPLE_LEN {
        true
    } else {
        blob::sample_pays(&prefix(chunks, SAMPLE_LEN))
    };
    let compressed = worth_trying
        .then(|| concat(chunks))
        .and_then(|all| blob::compress(&all).ok().filter(|c| blob::pays(all.len(), c.len())));
    (id, compressed)
}

fn not_serializable(e: serde_json::Error) -> RepoError {
    RepoError::InvalidInput(format!("not serializable: {e}"))
}

/// A writer that hashes and counts what passes through to `out` and keeps its first
/// [`SAMPLE_LEN`] bytes.
struct HashingWriter<W> {
    hasher: IdHasher,
    size: u64,
    sample: Vec<u8>,
    out: W,
}

impl<W: std::io::Write> std::io::Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.out.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        let keep = (SAMPLE_LEN - self.sample.len().min(SAMPLE_LEN)).min(n);
        self.sample.extend_from_slice(&buf[..keep]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// Writes `value`'s JSON to a new file at `path`; returns its first [`SAMPLE_LEN`] bytes. Fails
/// if the text is not `expected` (a value must serialize the same way twice).
fn write_json_file<T: Serialize + ?Sized>(
    path: &std::path::Path,
    value: &T,
    expected: &BlobRef,
    hasher: IdHasher,
) -> RepoResult<Vec<u8>> {
    let file = std::fs::File::create(path).map_err(|e| RepoError::io(path, e))?;
    let out = std::io::BufWriter::with_capacity(256 * 1024, file);
    let mut w = HashingWriter { hasher, size: 0, sample: Vec::new(), out };
    serde_json::to_writer(&mut w, value).map_err(|e| RepoError::io(path, std::io::Error::from(e)))?;
    std::io::Write::flush(&mut w).map_err(|e| RepoError::io(path, e))?;
    let got = BlobRef { id: w.hasher.finalize(), size: w.size };
    if &got != expected {
        return Err(RepoError::InvalidInput("the value serialized differently on the second pass".into()));
    }
    Ok(w.sample)
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

/// The plaintext of a sealed object streamed from storage: segments are opened as they
/// arrive (each authenticated before any of it is handed on); a segment that does not
/// authenticate, or an object cut short, ends the stream with an error.
fn opened_stream(
    crypto: std::sync::Arc<Crypto>,
    aad: Vec<u8>,
    stored_len: u64,
    body: BoxStream<'static, std::io::Result<Bytes>>,
) -> Result<BoxStream<'static, std::io::Result<Bytes>>, String> {
    let opener = crypto.opener(aad, stored_len)?;
    let invalid = |e: String| std::io::Error::new(std::io::ErrorKind::InvalidData, e);
    Ok(futures::stream::unfold((body, Some(opener)), move |(mut body, opener)| async move {
        let mut opener = opener?;
        loop {
            let mut out = Vec::new();
            match body.next().await {
                Some(Ok(piece)) => match opener.push(&piece, &mut out) {
                    Err(e) => return Some((Err(invalid(e)), (body, None))),
                    Ok(()) if out.is_empty() => continue,
                    Ok(()) => return Some((Ok(Bytes::from(out)), (body, Some(opener)))),
                },
                Some(Err(e)) => return Some((Err(e), (body, None))),
                None => {
                    let last = opener.finish(&mut out).map(|()| Bytes::from(out)).map_err(invalid);
                    return Some((last, (body, None)));
                }
            }
        }
    })
    .boxed())
}

fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<std::io::Result<Bytes>>,
) -> BoxStream<'static, std::io::Result<Bytes>> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx)).boxed()
}

/// Passes chunks through, hashing and counting them: content past `blob.size` ends the stream
/// with an error at once; at the end the hash is compared with the id.
fn hash_checked(blob: BlobRef, hasher: IdHasher, inner: BoxStream<'static, std::io::Result<Bytes>>) -> BlobStream {
    let state = (inner, hasher, blob, 0u64, false);
    futures::stream::unfold(state, |(mut inner, mut hasher, blob, seen, done)| async move {
        if done {
            return None;
        }
        let id = &blob.id;
        match inner.next().await {
            Some(Ok(chunk)) => {
                let seen = seen + chunk.len() as u64;
                if seen > blob.size {
                    let err = blob::too_long(&blob);
                    return Some((Err(err), (inner, hasher, blob, seen, true)));
                }
                hasher.update(&chunk);
                Some((Ok(chunk), (inner, hasher, blob, seen, false)))
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
                Some((Err(err), (inner, hasher, blob, seen, true)))
            }
            None => {
                let got = hasher.clone().finalize();
                if &got == id {
                    None
                } else {
                    let err = RepoError::CorruptBlob { id: id.clone(), reason: format!("content hashes to {got}") };
                    Some((Err(err), (inner, hasher, blob, seen, true)))
                }
            }
        }
    })
    .boxed()
}

#[cfg(test)]
mod bounds_tests;

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::storage::StorageTarget;

    /// A new local repository in a temporary folder (kept while the folder lives).
    pub(in crate::repo) async fn local_repo() -> (tempfile::TempDir, Repository) {
        let dir = tempfile::tempdir().expect("temp dir");
        let target = StorageTarget::Local { path: dir.path().join("repo") };
        let repo = Repository::open_for_backup(&target, super::super::InitPolicy::IfEmpty).await.expect("repository");
        (dir, repo)
    }

    async fn stored_encoding(repo: &Repository, id: &BlobId) -> u8 {
        let stored = repo.store().get(&repo.path(&blob_path(id))).await.expect("stored object");
        stored.bytes().await.expect("read")[HEADER_LEN - 1]
    }

    /// Deterministic bytes: text from a small alphabet (compressible) or noise (not).
    fn content(len: usize, text: bool) -> Vec<u8> {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                if text {
                    b"abcdef "[(x % 7) as usize]
                } else {
                    (x >> 24) as u8
                }
            })
            .collect()
    }

    #[tokio::test]
    async fn chunked_content_stores_as_one_and_compresses_only_when_it_pays() {
        let (_dir, repo) = local_repo().await;
        for (len, text, want) in [(200_000, true, 1u8), (200_000, false, 0u8), (40_000, true, 1u8), (300, false, 0u8)] {
            let body = content(len, text);
            let chunks: Vec<Result<Bytes, std::io::Error>> =
                body.chunks(7_000).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
            let blob = repo.put_blob_stream(futures::stream::iter(chunks)).await.expect("stored");
            assert_eq!(blob.id, BlobId::of(&body), "the id of chunked content is the hash of the whole ({len} B)");
            assert_eq!(blob.size, len as u64, "the size is the whole content's");
            assert_eq!(
                stored_encoding(&repo, &blob.id).await,
                want,
                "encoding of {len} B of {}: zstd only where it pays",
                if text { "text" } else { "noise" }
            );
            assert_eq!(repo.get_blob(&blob).await.expect("read back"), body, "content reads back unchanged");
            let again = repo.put_blob_bytes(Bytes::from(body)).await.expect("stored again");
            assert_eq!(again, blob, "the same content in one piece is the same blob");
        }
        let stats = repo.write_stats();
        assert_eq!((stats.blobs_new, stats.blobs_existing), (4, 4), "a second write of a blob counts as existing");
    }

    #[tokio::test]
    async fn serialized_values_are_the_blobs_their_json_text_makes() {
        let (_dir, repo) = local_repo().await;
        let small = serde_json::json!({"name": "small", "n": 1});
        // Over IN_MEMORY_MAX as text, so it goes through a staging file.
        let large: Vec<serde_json::Value> = (0..30_000)
            .map(|i| serde_json::json!({"id": format!("item-{i:06}"), "title": "a title that repeats", "size": i}))
            .collect();
        let large_text = serde_json::to_vec(&large).expect("json");
        assert!(large_text.len() > IN_MEMORY_MAX, "the large value must exceed the in-memory limit");
        for (value, text) in [
            (&serde_json::json!(small), serde_json::to_vec(&small).expect("json")),
            (&serde_json::json!(large), large_text),
        ] {
            let blob = repo.put_blob_serialized(value).await.expect("stored");
            assert_eq!(blob.id, BlobId::of(&text), "the blob id is the hash of the compact JSON text");
            assert_eq!(repo.get_blob(&blob).await.expect("read back"), text, "the stored text is the JSON text");
        }
        let again = repo.put_blob_serialized(&large).await.expect("stored again");
        assert_eq!(
            again.id,
            BlobId::of(&serde_json::to_vec(&large).expect("json")),
            "writing it again is the same blob"
        );
        assert_eq!(stored_encoding(&repo, &again.id).await, 1, "a repetitive manifest-like text is compressed");
    }
}
