//! Deterministic file content: item files, resources, attachments, thumbnails and metadata.
//!
//! Nothing here is stored. Every byte is a pure function of (seed, key, len, offset), so a
//! multi-gigabyte org streams from a few hundred bytes of description, a range of a file can be
//! produced without its start, and two simulators with the same seed serve identical files.

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Bytes produced per step of [`file_bytes`]; also the block size of the generator.
pub const CHUNK: usize = 64 * 1024;

/// FNV-1a: a stable hash (unlike `DefaultHasher`, whose output may change between releases).
pub(crate) fn stable_hash(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in part.iter().chain(std::iter::once(&0xffu8)) {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

/// How a file of a given extension looks: a recognisable header, trailer and body alphabet, so a
/// PDF starts with `%PDF` and a CSV is text, while the content is still seeded noise.
struct Shape {
    prefix: &'static [u8],
    suffix: &'static [u8],
    alphabet: Option<&'static [u8]>,
}

const TEXT: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789 ";
const CSV: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789,,,,\n";
const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

fn shape_of(key: &str) -> Shape {
    let ext = key.rsplit('.').next().unwrap_or("").to_ascii_lowercase();
    let (prefix, suffix, alphabet): (&'static [u8], &'static [u8], Option<&'static [u8]>) = match ext.as_str() {
        "pdf" => (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", b"\n%%EOF\n", None),
        "zip" | "sd" | "docx" | "xlsx" | "sln" | "sd2" => (b"PK\x03\x04\x14\x00\x00\x00\x08\x00", b"", None),
        "jpg" | "jpeg" => (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", b"\xff\xd9", None),
        "png" => (b"\x89PNG\r\n\x1a\n", b"", None),
        "csv" => (b"id,name,category,value\n", b"\n", Some(CSV)),
        "json" => (b"{\"data\":\"", b"\"}", Some(ALNUM)),
        "xml" => (b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><data>", b"</data>", Some(ALNUM)),
        "txt" | "md" | "js" | "css" | "html" => (b"", b"\n", Some(TEXT)),
        _ => (b"", b"", None),
    };
    Shape { prefix, suffix, alphabet }
}

/// Fills `buf` with the bytes at `offset..offset+buf.len()` of the file `(seed, key, len)`.
/// Bytes past `len` are left untouched; callers size `buf` within the file.
pub fn fill_file_bytes(seed: u64, key: &str, len: u64, offset: u64, buf: &mut [u8]) {
    let shape = shape_of(key);
    let framed = len >= (shape.prefix.len() + shape.suffix.len()) as u64;
    let key_hash = stable_hash(&[key.as_bytes()]);
    let end = (offset + buf.len() as u64).min(len);
    let mut pos = offset;
    let mut noise = Vec::new();
    while pos < end {
        let block_no = pos / CHUNK as u64;
        let block_start = block_no * CHUNK as u64;
        let upto = end.min(block_start + CHUNK as u64);
        // Seek within the block's keystream (4 bytes per word) so a small range costs little.
        let first_word = (pos - block_start) / 4;
        let skip = ((pos - block_start) % 4) as usize;
        noise.resize(skip + (upto - pos) as usize, 0);
        let mut rng =
            ChaCha8Rng::seed_from_u64(seed ^ key_hash.rotate_left(17) ^ block_no.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        rng.set_word_pos(u128::from(first_word));
        rng.fill_bytes(&mut noise);
        for p in pos..upto {
            let mut b = noise[skip + (p - pos) as usize];
            if let Some(alpha) = shape.alphabet {
                b = alpha[b as usize % alpha.len()];
            }
            if framed {
                if p < shape.prefix.len() as u64 {
                    b = shape.prefix[p as usize];
                } else if p >= len - shape.suffix.len() as u64 {
                    b = shape.suffix[(p - (len - shape.suffix.len() as u64)) as usize];
                }
            }
            buf[(p - offset) as usize] = b;
        }
        pos = upto;
    }
}

/// The whole file `(seed, key, len)` as chunks of at most [`CHUNK`] bytes, produced lazily so a
/// large file never lives in memory.
pub fn file_bytes(seed: u64, key: String, len: u64) -> impl Iterator<Item = bytes::Bytes> + Send + 'static {
    let mut offset = 0u64;
    std::iter::from_fn(move || {
        if offset >= len {
            return None;
        }
        let n = (len - offset).min(CHUNK as u64) as usize;
        let mut buf = vec![0u8; n];
        fill_file_bytes(seed, &key, len, offset, &mut buf);
        offset += n as u64;
        Some(bytes::Bytes::from(buf))
    })
}

/// The whole file in memory; for small files (resources, attachments) only.
pub fn file_vec(seed: u64, key: &str, len: u64) -> Vec<u8> {
    let mut buf = vec![0u8; len as usize];
    fill_file_bytes(seed, key, len, 0, &mut buf);
    buf
}

fn crc32(data: &[&[u8]]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for part in data {
        for &b in *part {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
            }
        }
    }
    !crc
}

fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    out.extend_from_slice(&crc32(&[kind, data]).to_be_bytes());
}

/// Side of the square thumbnails, in pixels.
const THUMB_SIDE: usize = 24;

/// A valid PNG (RGB, stored deflate) whose colours derive from `(seed, key)`. Its length is the
/// same for every key, [`thumbnail_len`].
pub fn thumbnail_png(seed: u64, key: &str) -> Vec<u8> {
    let h = stable_hash(&[&seed.to_le_bytes(), key.as_bytes()]);
    let (r, g, b) = ((h >> 8) as u8, (h >> 16) as u8, (h >> 24) as u8);
    let mut raw = Vec::with_capacity(THUMB_SIDE * (1 + THUMB_SIDE * 3));
    for y in 0..THUMB_SIDE {
        raw.push(0); // filter: none
        for x in 0..THUMB_SIDE {
            let shade = ((x + y) * 4) as u8;
            raw.extend_from_slice(&[r.wrapping_add(shade), g, b.wrapping_sub(shade)]);
        }
    }
    // zlib stream with one stored (uncompressed) deflate block: valid and simple.
    let mut z = vec![0x78, 0x01, 0x01];
    let n = raw.len() as u16;
    z.extend_from_slice(&n.to_le_bytes());
    z.extend_from_slice(&(!n).to_le_bytes());
    z.extend_from_slice(&raw);
    let (mut a, mut bsum) = (1u32, 0u32);
    for &byte in &raw {
        a = (a + u32::from(byte)) % 65521;
        bsum = (bsum + a) % 65521;
    }
    z.extend_from_slice(&((bsum << 16) | a).to_be_bytes());

    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&(THUMB_SIDE as u32).to_be_bytes());
    ihdr.extend_from_slice(&(THUMB_SIDE as u32).to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit RGB, deflate, no filter method, no interlace
    png_chunk(&mut out, b"IHDR", &ihdr);
    png_chunk(&mut out, b"IDAT", &z);
    png_chunk(&mut out, b"IEND", &[]);
    out
}

/// Length of every [`thumbnail_png`].
pub fn thumbnail_len() -> u64 {
    thumbnail_png(0, "").len() as u64
}

/// ArcGIS-format metadata for an item; a function of `(seed, item_id)` only, so the length the
/// model records stays true even if the item's title later changes.
pub fn metadata_xml(seed: u64, item_id: &str) -> String {
    let h = stable_hash(&[&seed.to_le_bytes(), item_id.as_bytes()]);
    let day = 1 + h % 28;
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<metadata xml:lang=\"en\"><Esri><CreaDate>201905{day:02}</CreaDate>\
<ArcGISFormat>1.0</ArcGISFormat><ArcGISProfile>ItemDescription</ArcGISProfile></Esri><dataIdInfo><idCitation>\
<resTitle>Item {item_id}</resTitle></idCitation><idAbs>Generated description {h:016x}.</idAbs><searchKeys>\
<keyword>simulated</keyword></searchKeys></dataIdInfo><mdFileID>{item_id}</mdFileID></metadata>\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_agree_with_ranges_at_any_offset() {
        let len = (CHUNK as u64) * 2 + 777;
        let whole: Vec<u8> = file_bytes(7, "abc/report.pdf".into(), len).flat_map(|c| c.to_vec()).collect();
        assert_eq!(whole.len() as u64, len, "the stream must yield exactly len bytes");
        assert!(whole.starts_with(b"%PDF-1.7"), "a PDF must start with its magic");
        assert!(whole.ends_with(b"%%EOF\n"), "a PDF must end with its trailer");
        let mut mid = vec![0u8; 5000];
        let off = CHUNK as u64 - 1234;
        fill_file_bytes(7, "abc/report.pdf", len, off, &mut mid);
        assert_eq!(
            &mid[..],
            &whole[off as usize..off as usize + 5000],
            "a range must equal the same bytes of the whole file"
        );
        let other: Vec<u8> = file_bytes(8, "abc/report.pdf".into(), len).flat_map(|c| c.to_vec()).collect();
        assert_ne!(whole, other, "another seed must give other bytes");
    }

    #[test]
    fn csv_is_text() {
        let v = file_vec(1, "x/data.csv", 3000);
        assert!(v.iter().all(|b| b.is_ascii()), "generated CSV must be ASCII text");
        assert!(v.starts_with(b"id,name"), "generated CSV must start with a header row");
    }

    #[test]
    fn thumbnail_is_a_png_with_valid_crcs() {
        let png = thumbnail_png(3, "item");
        assert_eq!(png.len() as u64, thumbnail_len(), "every thumbnail must have the same length");
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
        let mut pos = 8;
        let mut kinds = vec![];
        while pos < png.len() {
            let n = u32::from_be_bytes(png[pos..pos + 4].try_into().expect("4 bytes")) as usize;
            let kind = &png[pos + 4..pos + 8];
            let data = &png[pos + 8..pos + 8 + n];
            let crc = u32::from_be_bytes(png[pos + 8 + n..pos + 12 + n].try_into().expect("4 bytes"));
            assert_eq!(crc, crc32(&[kind, data]), "chunk CRC must be valid");
            kinds.push(String::from_utf8_lossy(kind).to_string());
            pos += 12 + n;
        }
        assert_eq!(kinds, ["IHDR", "IDAT", "IEND"], "a minimal PNG has exactly these chunks");
    }

    #[test]
    fn crc32_matches_the_reference_value() {
        assert_eq!(crc32(&[b"123456789"]), 0xcbf4_3926, "CRC-32/ISO-HDLC check value");
    }
}
