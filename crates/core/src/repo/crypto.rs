//! Encryption of repository format 2 (docs/backup-format.md, "Encryption (format 2)").
//!
//! Every object of an encrypted repository (blobs, manifests, snapshot records, lock records) is
//! sealed with XChaCha20-Poly1305 under the repository's master key, in segments of
//! [`SEGMENT`] plaintext bytes so that large blobs stream in bounded memory:
//!
//! ```text
//! "OVB" 0x02 | nonce prefix (19 random bytes) | segment 0 | segment 1 | ... | last segment
//! segment i = XChaCha20-Poly1305(key, nonce = prefix || u32 BE i || last ? 1 : 0, aad, plaintext_i) (+16-byte tag)
//! ```
//!
//! The plaintext is one byte of encoding (`0` raw, `1` zstd) followed by the body. The counter in
//! the nonce stops segments being reordered, the last flag stops truncation at a segment
//! boundary, and the associated data names the object's kind (and a blob's id), so an object
//! cannot be passed off as another kind. Blob ids are keyed: HMAC-SHA-256 of the content under
//! the master key's id key, so equal content still de-duplicates while ids reveal nothing.

use chacha20poly1305::aead::{Aead, AeadInPlace, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::blob::{BlobId, Encoding};

type HmacSha256 = Hmac<Sha256>;

/// Plaintext bytes per sealed segment.
pub(crate) const SEGMENT: usize = 64 * 1024;
/// Poly1305 tag per segment.
pub(crate) const TAG: usize = 16;
const NONCE_PREFIX: usize = 19;
/// `OVB`, version 2, the nonce prefix.
pub(crate) const SEALED_HEADER_LEN: usize = 4 + NONCE_PREFIX;
pub(crate) const SEALED_VERSION: u8 = 2;

/// Associated data of the objects that are not blobs.
pub(crate) const AAD_SNAPSHOT: &[u8] = b"orgvault snapshot";
pub(crate) const AAD_LOCK: &[u8] = b"orgvault lock";

/// The associated data of a blob: its id, so a blob copied to another id's name fails to open.
pub(crate) fn blob_aad(id: &BlobId) -> Vec<u8> {
    format!("orgvault blob {id}").into_bytes()
}

/// The repository's secret keys: one for the AEAD, one for blob ids. Zeroed when dropped.
#[derive(Clone)]
pub(crate) struct MasterKey {
    pub encrypt: Zeroizing<[u8; 32]>,
    pub mac: Zeroizing<[u8; 32]>,
}

impl MasterKey {
    /// A new random master key (at repository creation).
    pub fn generate() -> MasterKey {
        let mut encrypt = Zeroizing::new([0u8; 32]);
        let mut mac = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(encrypt.as_mut());
        rand::rngs::OsRng.fill_bytes(mac.as_mut());
        MasterKey { encrypt, mac }
    }
}

/// The ciphers of an unlocked repository. Cheap to share (behind an `Arc`).
pub(crate) struct Crypto {
    cipher: XChaCha20Poly1305,
    mac: HmacSha256,
    pub master: MasterKey,
}

impl Crypto {
    pub fn new(master: MasterKey) -> Crypto {
        let cipher = XChaCha20Poly1305::new(master.encrypt.as_ref().into());
        let mac = <HmacSha256 as Mac>::new_from_slice(master.mac.as_ref()).expect("HMAC takes any key length");
        Crypto { cipher, mac, master }
    }

    fn nonce(prefix: &[u8; NONCE_PREFIX], counter: u32, last: bool) -> XNonce {
        let mut n = [0u8; 24];
        n[..NONCE_PREFIX].copy_from_slice(prefix);
        n[NONCE_PREFIX..NONCE_PREFIX + 4].copy_from_slice(&counter.to_be_bytes());
        n[23] = u8::from(last);
        XNonce::from(n)
    }

    /// A sealer for one object; its header comes first in the output.
    pub fn sealer(&self, aad: Vec<u8>) -> Sealer<'_> {
        let mut prefix = [0u8; NONCE_PREFIX];
        rand::rngs::OsRng.fill_bytes(&mut prefix);
        Sealer { crypto: self, aad, prefix, counter: 0, pending: Vec::new(), started: false }
    }

    /// Seals a whole in-memory object: `encoding` byte and `body`.
    pub fn seal(&self, aad: Vec<u8>, encoding: Encoding, body: &[&[u8]]) -> Vec<u8> {
        let len: usize = body.iter().map(|b| b.len()).sum::<usize>() + 1;
        let mut out = Vec::with_capacity(sealed_len(len as u64) as usize);
        let mut s = self.sealer(aad);
        s.push(&[encoding.byte()], &mut out);
        for b in body {
            s.push(b, &mut out);
        }
        s.finish(&mut out);
        out
    }

    /// Opens a whole sealed object: its encoding and body.
    pub fn open(&self, aad: Vec<u8>, stored: &[u8]) -> Result<(Encoding, Vec<u8>), String> {
        let mut opener = self.opener(aad, stored.len() as u64)?;
        let mut out = Vec::with_capacity(stored.len());
        opener.push(stored, &mut out)?;
        opener.finish(&mut out)?;
        split_encoding(out)
    }

    /// An opener for an object of `stored_len` bytes (header included). The header is read
    /// from the first pushed bytes.
    pub fn opener(&self, aad: Vec<u8>, stored_len: u64) -> Result<Opener, String> {
        let body = stored_len.checked_sub(SEALED_HEADER_LEN as u64).ok_or("shorter than its header")?;
        let seg = (SEGMENT + TAG) as u64;
        let segments = body.div_ceil(seg);
        let last = body - (segments.saturating_sub(1)) * seg;
        if segments == 0 || last <= TAG as u64 {
            return Err("its encrypted segments are cut short".into());
        }
        if segments > u64::from(u32::MAX) {
            return Err("it has more segments than the format allows".into());
        }
        Ok(Opener {
            cipher: self.cipher.clone(),
            aad,
            prefix: None,
            head: Vec::new(),
            counter: 0,
            segments,
            pending: Vec::new(),
        })
    }

    /// The keyed id hasher of this repository.
    pub fn id_hasher(&self) -> IdHasher {
        IdHasher::Keyed(Box::new(self.mac.clone()))
    }
}

/// The first plaintext byte is the encoding.
pub(crate) fn split_encoding(mut plain: Vec<u8>) -> Result<(Encoding, Vec<u8>), String> {
    let Some(&first) = plain.first() else { return Err("no encoding byte".into()) };
    let enc = Encoding::from_byte(first).ok_or_else(|| format!("unknown encoding {first}"))?;
    plain.remove(0);
    Ok((enc, plain))
}

/// Stored length of a sealed object whose plaintext (encoding byte included) is `plain` bytes.
pub(crate) fn sealed_len(plain: u64) -> u64 {
    let segments = plain.div_ceil(SEGMENT as u64).max(1);
    SEALED_HEADER_LEN as u64 + plain + segments * TAG as u64
}

/// Seals a stream of plaintext into segments. A segment is sealed only once a byte past it
/// arrives, so the one left at `finish` is the last and carries the last flag.
pub(crate) struct Sealer<'a> {
    crypto: &'a Crypto,
    aad: Vec<u8>,
    prefix: [u8; NONCE_PREFIX],
    counter: u32,
    pending: Vec<u8>,
    started: bool,
}

impl Sealer<'_> {
    fn header(&mut self, out: &mut Vec<u8>) {
        if !self.started {
            self.started = true;
            out.extend_from_slice(b"OVB");
            out.push(SEALED_VERSION);
            out.extend_from_slice(&self.prefix);
        }
    }

    fn seal_segment(&mut self, plain: &[u8], last: bool, out: &mut Vec<u8>) {
        let nonce = Crypto::nonce(&self.prefix, self.counter, last);
        // Sealed in place at the end of `out`: no buffer per segment, one copy of the plaintext.
        let at = out.len();
        out.extend_from_slice(plain);
        let tag = self
            .crypto
            .cipher
            .encrypt_in_place_detached(&nonce, &self.aad, &mut out[at..])
            .expect("XChaCha20-Poly1305 seals any segment of 64 KiB");
        out.extend_from_slice(&tag);
        self.counter = self.counter.checked_add(1).expect("fewer than 2^32 segments (256 TiB) per object");
    }

    /// Adds plaintext; sealed segments are appended to `out`.
    pub fn push(&mut self, mut data: &[u8], out: &mut Vec<u8>) {
        self.header(out);
        while !data.is_empty() {
            if self.pending.is_empty() && data.len() > SEGMENT {
                let (seg, rest) = data.split_at(SEGMENT);
                self.seal_segment(seg, false, out);
                data = rest;
                continue;
            }
            if self.pending.len() == SEGMENT {
                let seg = std::mem::take(&mut self.pending);
                self.seal_segment(&seg, false, out);
                self.pending = seg;
                self.pending.clear();
            }
            let take = (SEGMENT - self.pending.len()).min(data.len());
            self.pending.extend_from_slice(&data[..take]);
            data = &data[take..];
        }
    }

    /// Seals what is left as the last segment.
    pub fn finish(mut self, out: &mut Vec<u8>) {
        self.header(out);
        let last = std::mem::take(&mut self.pending);
        self.seal_segment(&last, true, out);
    }
}

/// Opens a sealed object streamed in pieces; the stored length says how many segments it has,
/// so a missing or extra segment is caught.
pub(crate) struct Opener {
    cipher: XChaCha20Poly1305,
    aad: Vec<u8>,
    prefix: Option<[u8; NONCE_PREFIX]>,
    head: Vec<u8>,
    counter: u64,
    segments: u64,
    pending: Vec<u8>,
}

impl Opener {
    fn open_segment(&mut self, sealed: &[u8], last: bool, out: &mut Vec<u8>) -> Result<(), String> {
        let prefix = self.prefix.as_ref().ok_or("no header")?;
        let nonce = Crypto::nonce(prefix, self.counter as u32, last);
        let plain = self.cipher.decrypt(&nonce, Payload { msg: sealed, aad: &self.aad }).map_err(|_| {
            format!(
                "segment {} does not authenticate (the object was changed, or written under another key)",
                self.counter
            )
        })?;
        out.extend_from_slice(&plain);
        self.counter += 1;
        Ok(())
    }

    /// Takes the next stored bytes (header first); opened plaintext is appended to `out`.
    pub fn push(&mut self, mut data: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
        if self.prefix.is_none() {
            let take = (SEALED_HEADER_LEN - self.head.len()).min(data.len());
            self.head.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.head.len() < SEALED_HEADER_LEN {
                return Ok(());
            }
            let head = std::mem::take(&mut self.head);
            self.set_header(&head)?;
        }
        let seg = SEGMENT + TAG;
        let mut pending = std::mem::take(&mut self.pending);
        pending.extend_from_slice(data);
        let mut start = 0;
        while self.counter + 1 < self.segments && pending.len() - start >= seg {
            self.open_segment(&pending[start..start + seg], false, out)?;
            start += seg;
        }
        pending.drain(..start);
        self.pending = pending;
        Ok(())
    }

    fn set_header(&mut self, head: &[u8]) -> Result<(), String> {
        if head.len() < SEALED_HEADER_LEN || &head[..3] != b"OVB" {
            return Err("no OrgVault object header".into());
        }
        if head[3] != SEALED_VERSION {
            return Err(format!(
                "object format version {} in an encrypted repository (an unencrypted object was put there)",
                head[3]
            ));
        }
        let mut prefix = [0u8; NONCE_PREFIX];
        prefix.copy_from_slice(&head[4..SEALED_HEADER_LEN]);
        self.prefix = Some(prefix);
        Ok(())
    }

    /// Opens the last segment; fails if the object ended early or ran long.
    pub fn finish(mut self, out: &mut Vec<u8>) -> Result<(), String> {
        if self.prefix.is_none() || self.counter + 1 != self.segments {
            return Err("the object ends before its last segment".into());
        }
        let last = std::mem::take(&mut self.pending);
        self.open_segment(&last, true, out)
    }
}

/// Computes blob ids: SHA-256 in a plain repository, HMAC-SHA-256 under the id key in an
/// encrypted one.
#[derive(Clone)]
pub(crate) enum IdHasher {
    Plain(Sha256),
    Keyed(Box<HmacSha256>),
}

impl IdHasher {
    pub fn plain() -> IdHasher {
        IdHasher::Plain(Sha256::new())
    }

    pub fn update(&mut self, data: &[u8]) {
        match self {
            IdHasher::Plain(h) => Digest::update(h, data),
            IdHasher::Keyed(h) => Mac::update(h.as_mut(), data),
        }
    }

    pub fn finalize(self) -> BlobId {
        match self {
            IdHasher::Plain(h) => BlobId::from_digest(&h.finalize()),
            IdHasher::Keyed(h) => BlobId::from_digest(&h.finalize().into_bytes()),
        }
    }

    /// The id of whole content.
    pub fn id_of(mut self, content: &[u8]) -> BlobId {
        self.update(content);
        self.finalize()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crypto() -> Crypto {
        Crypto::new(MasterKey::generate())
    }

    #[test]
    fn objects_of_every_segment_count_round_trip_and_any_flipped_byte_is_refused() {
        let c = crypto();
        for len in [0usize, 1, SEGMENT - 1, SEGMENT, SEGMENT + 1, 3 * SEGMENT, 3 * SEGMENT + 7] {
            let body: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let sealed = c.seal(b"aad".to_vec(), Encoding::Zstd, &[&body]);
            assert_eq!(sealed.len() as u64, sealed_len(len as u64 + 1), "sealed length formula for {len} bytes");
            let (enc, back) = c.open(b"aad".to_vec(), &sealed).expect("opens");
            assert_eq!((enc, back.as_slice()), (Encoding::Zstd, body.as_slice()), "round trip of {len} bytes");
            // Streamed in odd pieces, the same.
            let mut o = c.opener(b"aad".to_vec(), sealed.len() as u64).expect("opener");
            let mut out = Vec::new();
            for piece in sealed.chunks(7_777) {
                o.push(piece, &mut out).expect("push");
            }
            o.finish(&mut out).expect("finish");
            assert_eq!(&out[1..], body.as_slice(), "streamed round trip of {len} bytes");
            for at in [5, SEALED_HEADER_LEN, sealed.len() / 2, sealed.len() - 1] {
                let mut bad = sealed.clone();
                bad[at] ^= 0x40;
                assert!(c.open(b"aad".to_vec(), &bad).is_err(), "a flipped byte at {at} of {len} must be refused");
            }
            assert!(c.open(b"other".to_vec(), &sealed).is_err(), "another object's associated data must not open it");
        }
    }

    #[test]
    fn a_truncated_or_reordered_object_is_refused() {
        let c = crypto();
        let body = vec![7u8; 3 * SEGMENT];
        let sealed = c.seal(b"a".to_vec(), Encoding::Raw, &[&body]);
        let seg = SEGMENT + TAG;
        let cut = &sealed[..SEALED_HEADER_LEN + 2 * seg];
        assert!(c.open(b"a".to_vec(), cut).is_err(), "dropping the last segment is caught by the last flag");
        let mut swapped = sealed[..SEALED_HEADER_LEN].to_vec();
        swapped.extend_from_slice(&sealed[SEALED_HEADER_LEN + seg..SEALED_HEADER_LEN + 2 * seg]);
        swapped.extend_from_slice(&sealed[SEALED_HEADER_LEN..SEALED_HEADER_LEN + seg]);
        swapped.extend_from_slice(&sealed[SEALED_HEADER_LEN + 2 * seg..]);
        assert!(c.open(b"a".to_vec(), &swapped).is_err(), "swapped segments are caught by the counter");
        let other = crypto();
        assert!(other.open(b"a".to_vec(), &sealed).is_err(), "another repository's key does not open it");
    }

    #[test]
    fn keyed_ids_differ_from_plain_ids_and_between_repositories() {
        let (a, b) = (crypto(), crypto());
        let plain = IdHasher::plain().id_of(b"content");
        assert_eq!(plain, BlobId::of(b"content"), "the plain hasher is SHA-256");
        let ka = a.id_hasher().id_of(b"content");
        assert_eq!(ka, a.id_hasher().id_of(b"content"), "keyed ids are deterministic: dedup still works");
        assert_ne!(ka, plain, "a keyed id is not the content's SHA-256");
        assert_ne!(ka, b.id_hasher().id_of(b"content"), "two repositories give the same content different ids");
    }
}
