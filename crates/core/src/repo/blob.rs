//! Blob identity and the stored encoding.
//!
//! A blob's id is the SHA-256 of its *content* (before compression), so the same bytes always
//! land at the same path whoever writes them. The stored object is a 5-byte header — `OVB`,
//! format version `1`, encoding (`0` raw, `1` zstd) — followed by the content in that encoding.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::crypto::Crypto;
use super::error::RepoError;

pub(crate) const MAGIC: &[u8; 3] = b"OVB";
pub(crate) const HEADER_LEN: usize = 5;
const FORMAT_VERSION: u8 = 1;

/// Content shorter than this is stored raw: a zstd frame would not pay for itself.
pub(crate) const MIN_COMPRESS: usize = 128;
/// Compression must save at least this fraction to be kept.
const MIN_SAVING: f64 = 0.10;
/// The sample compressed to decide whether larger content is worth compressing: enough for
/// zstd to see the data's nature, little enough that incompressible files cost little CPU.
pub(crate) const SAMPLE_LEN: usize = 64 * 1024;
pub(crate) const ZSTD_LEVEL: i32 = 3;

/// The SHA-256 of a blob's content, as 64 lowercase hex digits. Invariant: always valid hex of
/// that length (checked on parse and deserialize).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BlobId(String);

impl BlobId {
    /// The id of `content`.
    pub fn of(content: &[u8]) -> Self {
        BlobId(hex::encode(Sha256::digest(content)))
    }

    pub(crate) fn from_digest(digest: &[u8]) -> Self {
        BlobId(hex::encode(digest))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for BlobId {
    type Err = RepoError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            Ok(BlobId(s.to_owned()))
        } else {
            Err(RepoError::InvalidInput(format!("{s:?} is not a blob id (64 lowercase hex digits)")))
        }
    }
}

impl TryFrom<String> for BlobId {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse().map_err(|e: RepoError| e.to_string())
    }
}

impl From<BlobId> for String {
    fn from(id: BlobId) -> Self {
        id.0
    }
}

impl fmt::Display for BlobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for BlobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlobId({})", &self.0[..12.min(self.0.len())])
    }
}

/// A reference from a manifest to stored content: its id and content size in bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BlobRef {
    pub id: BlobId,
    pub size: u64,
}

/// How a stored blob's content is encoded after the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    Raw,
    Zstd,
}

impl Encoding {
    pub(crate) const fn byte(self) -> u8 {
        match self {
            Encoding::Raw => 0,
            Encoding::Zstd => 1,
        }
    }

    pub(crate) const fn from_byte(b: u8) -> Option<Encoding> {
        match b {
            0 => Some(Encoding::Raw),
            1 => Some(Encoding::Zstd),
            _ => None,
        }
    }
}

pub(crate) const fn header(encoding: Encoding) -> [u8; HEADER_LEN] {
    [MAGIC[0], MAGIC[1], MAGIC[2], FORMAT_VERSION, encoding.byte()]
}

/// Reads the header of a stored object.
pub(crate) fn parse_header(head: &[u8]) -> Result<Encoding, String> {
    if head.len() < HEADER_LEN || &head[..3] != MAGIC {
        return Err("no OrgVault blob header".into());
    }
    if head[3] != FORMAT_VERSION {
        return Err(format!("blob format version {} is not supported", head[3]));
    }
    match head[4] {
        0 => Ok(Encoding::Raw),
        1 => Ok(Encoding::Zstd),
        other => Err(format!("unknown encoding {other}")),
    }
}

/// Whether compressing pays: `compressed` must save at least 10% of `raw`.
pub(crate) fn pays(raw: usize, compressed: usize) -> bool {
    raw >= MIN_COMPRESS && (compressed as f64) <= (raw as f64) * (1.0 - MIN_SAVING)
}

/// zstd contexts kept for reuse: creating one per blob (and zeroing its tables) cost a few
/// percent of a backup's CPU. Bounded so idle contexts (~1-2 MB each) do not pile up.
static COMPRESSORS: std::sync::Mutex<Vec<zstd::bulk::Compressor<'static>>> = std::sync::Mutex::new(Vec::new());
const COMPRESSORS_KEPT: usize = 4;

/// Compresses `content` at [`ZSTD_LEVEL`] with a pooled context.
pub(crate) fn compress(content: &[u8]) -> std::io::Result<Vec<u8>> {
    let pooled = COMPRESSORS.lock().unwrap_or_else(|p| p.into_inner()).pop();
    let mut c = match pooled {
        Some(c) => c,
        None => zstd::bulk::Compressor::new(ZSTD_LEVEL)?,
    };
    let out = c.compress(content);
    let mut pool = COMPRESSORS.lock().unwrap_or_else(|p| p.into_inner());
    if pool.len() < COMPRESSORS_KEPT {
        pool.push(c);
    }
    out
}

/// Whether content starting with `sample` (its first [`SAMPLE_LEN`] bytes, or all of it) is
/// worth compressing: media and archives are not, and compressing them whole only burns CPU.
pub(crate) fn sample_pays(sample: &[u8]) -> bool {
    compress(sample).is_ok_and(|c| pays(sample.len(), c.len()))
}

/// The compressed form of in-memory content, when compression pays (see [`pays`]); `None`
/// means store it raw. (The repository applies the same rule to chunked content.)
#[cfg(test)]
fn compress_if_pays(content: &[u8]) -> Option<Vec<u8>> {
    if content.len() < MIN_COMPRESS {
        return None;
    }
    if content.len() > SAMPLE_LEN && !sample_pays(&content[..SAMPLE_LEN]) {
        return None;
    }
    compress(content).ok().filter(|c| pays(content.len(), c.len()))
}

/// Encodes in-memory content as a stored object (header + content, compressed when it pays).
#[cfg(test)]
pub(crate) fn encode(content: &[u8]) -> (Vec<u8>, Encoding) {
    let (body, encoding) = match compress_if_pays(content) {
        Some(c) => (std::borrow::Cow::Owned(c), Encoding::Zstd),
        None => (std::borrow::Cow::Borrowed(content), Encoding::Raw),
    };
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    out.extend_from_slice(&header(encoding));
    out.extend_from_slice(&body);
    (out, encoding)
}

/// The most a whole-blob read reserves up front; the rest grows with what really decodes, so a
/// size recorded by a hostile manifest cannot make a read allocate by itself.
const RESERVE_MAX: u64 = 16 * 1024 * 1024;

/// Checks the stored object's length against the content size recorded for it, before reading
/// it: no encoding of `size` bytes takes more than the header plus zstd's worst case (a frame of
/// incompressible content grows by at most 1/256 and a few bytes; raw content is exactly `size`).
pub(crate) fn check_stored_len(blob: &BlobRef, stored_len: u64, encrypted: bool) -> Result<(), RepoError> {
    let body_max = blob.size.saturating_add(blob.size / 256).saturating_add(64);
    // Sealed: the encoding byte joins the body, and each segment adds its tag.
    let max = if encrypted {
        super::crypto::sealed_len(body_max.saturating_add(1))
    } else {
        body_max.saturating_add(HEADER_LEN as u64)
    };
    if stored_len > max {
        return Err(RepoError::CorruptBlob {
            id: blob.id.clone(),
            reason: format!(
                "the stored object is {stored_len} bytes, more than any encoding of the {} content bytes recorded for it takes",
                blob.size
            ),
        });
    }
    Ok(())
}

/// The error of content that decodes to more than its recorded size (a decompression bomb or
/// a wrong manifest); reading stops there.
pub(crate) fn too_long(blob: &BlobRef) -> RepoError {
    RepoError::CorruptBlob {
        id: blob.id.clone(),
        reason: format!("its content decodes to more than the {} bytes recorded for it", blob.size),
    }
}

/// Decodes a whole stored object and checks it against `blob`: the content is decoded no
/// further than the size recorded for it (a zstd bomb stops there) and must hash to its id.
#[cfg(test)]
pub(crate) fn decode(blob: &BlobRef, stored: &[u8]) -> Result<Vec<u8>, RepoError> {
    decode_in(None, blob, stored)
}

/// As [`decode`], in a repository that may be encrypted: a sealed object is opened (and
/// authenticated) first, and the content must match its keyed id.
pub(crate) fn decode_in(crypto: Option<&Crypto>, blob: &BlobRef, stored: &[u8]) -> Result<Vec<u8>, RepoError> {
    use std::io::Read;
    let id = &blob.id;
    let corrupt = |reason: String| RepoError::CorruptBlob { id: id.clone(), reason };
    check_stored_len(blob, stored.len() as u64, crypto.is_some())?;
    let opened;
    let (encoding, body) = match crypto {
        None => (parse_header(stored).map_err(corrupt)?, &stored[HEADER_LEN..]),
        Some(c) => {
            let (encoding, body) = c.open(super::crypto::blob_aad(id), stored).map_err(corrupt)?;
            opened = body;
            (encoding, opened.as_slice())
        }
    };
    let content = match encoding {
        Encoding::Raw => body.to_vec(),
        Encoding::Zstd => {
            let decoder =
                zstd::stream::read::Decoder::new(body).map_err(|e| corrupt(format!("cannot decompress: {e}")))?;
            let mut out = Vec::with_capacity(blob.size.min(RESERVE_MAX) as usize);
            decoder
                .take(blob.size.saturating_add(1))
                .read_to_end(&mut out)
                .map_err(|e| corrupt(format!("cannot decompress: {e}")))?;
            if out.len() as u64 > blob.size {
                return Err(too_long(blob));
            }
            out
        }
    };
    let got = match crypto {
        None => BlobId::of(&content),
        Some(c) => c.id_hasher().id_of(&content),
    };
    if &got != id {
        return Err(corrupt(format!("content hashes to {got}")));
    }
    Ok(content)
}

#[cfg(test)]
mod proptests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_decode_round_trip_and_compression_choice() {
        let text = "the same line again\n".repeat(500);
        let (stored, enc) = encode(text.as_bytes());
        assert_eq!(enc, Encoding::Zstd, "repetitive text must be compressed");
        assert!(stored.len() < text.len() / 5, "compression must pay on repetitive text");
        let blob = BlobRef { id: BlobId::of(text.as_bytes()), size: text.len() as u64 };
        assert_eq!(decode(&blob, &stored).expect("decodes"), text.as_bytes(), "round trip");

        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let noise: Vec<u8> = (0..4096)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect();
        let (stored, enc) = encode(&noise);
        assert_eq!(enc, Encoding::Raw, "incompressible content is stored raw");
        assert_eq!(stored.len(), noise.len() + HEADER_LEN, "raw costs only the header");

        let mut bad = stored.clone();
        bad[HEADER_LEN + 7] ^= 1;
        let noise_ref = BlobRef { id: BlobId::of(&noise), size: noise.len() as u64 };
        let err = decode(&noise_ref, &bad).expect_err("a flipped byte must be caught");
        assert!(matches!(err, RepoError::CorruptBlob { .. }), "flipped byte reports corruption, got {err}");
    }

    /// Stored zstd whose content is `len` zero bytes, under a header claiming it holds `claimed`.
    fn bomb(len: usize) -> Vec<u8> {
        let mut stored = header(Encoding::Zstd).to_vec();
        stored.extend(zstd::bulk::compress(&vec![0u8; len], 19).expect("compress"));
        stored
    }

    #[test]
    fn a_zstd_bomb_stops_at_the_recorded_size() {
        let small = vec![0u8; 100_000];
        let claimed = BlobRef { id: BlobId::of(&small), size: small.len() as u64 };
        let stored = bomb(64 * 1024 * 1024);
        assert!(stored.len() < 10_000, "the bomb is small when stored ({} bytes)", stored.len());
        let err = decode(&claimed, &stored).expect_err("content longer than recorded must be refused");
        assert!(
            matches!(&err, RepoError::CorruptBlob { reason, .. } if reason.contains("more than the 100000 bytes recorded")),
            "a zstd bomb is refused at its recorded size, naming it: {err}"
        );
        let exact = bomb(100_000);
        assert_eq!(decode(&claimed, &exact).expect("decodes"), small, "content of the recorded size decodes");
        let huge_claim = BlobRef { id: BlobId::of(&small), size: u64::MAX };
        assert_eq!(
            decode(&huge_claim, &exact).expect("decodes"),
            small,
            "a huge recorded size reserves nothing by itself"
        );
    }

    #[test]
    fn a_stored_object_longer_than_its_content_is_refused_before_decoding() {
        let content = b"short content".to_vec();
        let blob = BlobRef { id: BlobId::of(&content), size: content.len() as u64 };
        let mut stored = header(Encoding::Raw).to_vec();
        stored.extend_from_slice(&content);
        stored.extend_from_slice(&[0u8; 100]);
        let err = decode(&blob, &stored).expect_err("a raw object longer than its recorded content");
        assert!(
            err.to_string().contains("118 bytes, more than any encoding of the 13 content bytes"),
            "names the sizes: {err}"
        );
    }

    #[test]
    fn blob_ids_are_validated() {
        assert!("abc".parse::<BlobId>().is_err(), "short ids are refused");
        assert!("G".repeat(64).parse::<BlobId>().is_err(), "non-hex ids are refused");
        let id = BlobId::of(b"x");
        assert_eq!(id.as_str().parse::<BlobId>().expect("own ids parse"), id, "ids round-trip through text");
        let json = serde_json::to_string(&id).expect("serializes");
        assert!(serde_json::from_str::<BlobId>("\"../../etc/passwd\"").is_err(), "deserialize validates");
        assert_eq!(serde_json::from_str::<BlobId>(&json).expect("deserializes"), id, "json round trip");
    }
}
