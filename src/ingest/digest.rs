//! A file's sha256, computed by the read that ingests it.
//!
//! Hashing before ingesting reads a new file twice, and the hash pass ran alone on one
//! core ahead of everything else: an eighth of a file's ingest time. [`HashingRead`]
//! hashes the bytes as the reader thread pulls them; [`StreamHash::finish`] adds whatever
//! the reader left unread (a compressed stream's trailer, the rest after an error).

use std::fs::File;
use std::io::{self, Read, Seek};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use sha2::{Digest as _, Sha256};

/// Lowercase hex of a digest.
pub fn hex(b: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 2);
    for &x in b {
        s.push(HEX[(x >> 4) as usize] as char);
        s.push(HEX[(x & 15) as usize] as char);
    }
    s
}

/// sha256 and size of a whole file, in one pass.
pub fn sha256_file(path: &std::path::Path) -> io::Result<(String, u64)> {
    let (mut h, mut n) = (Sha256::new(), 0);
    hash_rest(&mut File::open(path)?, &mut h, &mut n)?;
    Ok((hex(&h.finalize()), n))
}

/// Feeds the rest of `f` into `h`, counting its bytes in `n`.
fn hash_rest(f: &mut File, h: &mut Sha256, n: &mut u64) -> io::Result<()> {
    // Small enough to stay in L2 between the copy from the page cache and the digest.
    let mut buf = vec![0u8; 1 << 17];
    loop {
        let k = f.read(&mut buf)?;
        if k == 0 {
            return Ok(());
        }
        h.update(&buf[..k]);
        *n += k as u64;
    }
}

/// The running hash of one file's bytes, in read order from its start.
pub struct StreamHash {
    path: PathBuf,
    state: Mutex<(Sha256, u64)>,
    done: OnceLock<Result<(String, u64), String>>,
}

impl std::fmt::Debug for StreamHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StreamHash({})", self.path.display())
    }
}

impl StreamHash {
    /// Opens `path` for reading through the hash.
    pub fn open(path: &std::path::Path) -> io::Result<(Arc<StreamHash>, HashingRead)> {
        let file = File::open(path)?;
        let hash = Arc::new(StreamHash { path: path.to_path_buf(), state: Mutex::new((Sha256::new(), 0)), done: OnceLock::new() });
        Ok((hash.clone(), HashingRead { inner: file, hash }))
    }

    /// The digest and size of the whole file: what was read so far, plus the rest read
    /// now. Computed once; later calls return the same answer.
    pub fn finish(&self) -> io::Result<(String, u64)> {
        self.done
            .get_or_init(|| {
                // A snapshot: a decompressor thread that outlives the ingest may still be
                // reading through the shared state.
                let (mut h, mut n) = self.state.lock().map(|s| s.clone()).map_err(|_| "hash state poisoned".to_string())?;
                let rest = move || -> io::Result<(String, u64)> {
                    let mut f = File::open(&self.path)?;
                    f.seek(io::SeekFrom::Start(n))?;
                    hash_rest(&mut f, &mut h, &mut n)?;
                    Ok((hex(&h.finalize()), n))
                };
                rest().map_err(|e| format!("{}: {e}", self.path.display()))
            })
            .clone()
            .map_err(io::Error::other)
    }
}

/// A file reader that feeds every byte it returns into a [`StreamHash`].
pub struct HashingRead {
    inner: File,
    hash: Arc<StreamHash>,
}

impl Read for HashingRead {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let k = self.inner.read(buf)?;
        let mut s = self.hash.state.lock().map_err(|_| io::Error::other("hash state poisoned"))?;
        s.0.update(&buf[..k]);
        s.1 += k as u64;
        Ok(k)
    }
}

/// A file's sha256: known before the ingest, or computed by it.
#[derive(Debug, Clone)]
pub enum FileDigest {
    Known(String),
    Reading(Arc<StreamHash>),
}

impl FileDigest {
    pub fn sha256(&self) -> io::Result<String> {
        match self {
            FileDigest::Known(s) => Ok(s.clone()),
            FileDigest::Reading(h) => h.finish().map(|(s, _)| s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partial_read_still_hashes_the_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let bytes: Vec<u8> = (0..1_000_003u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
        std::fs::write(&p, &bytes).unwrap();
        let (whole, n) = sha256_file(&p).unwrap();
        assert_eq!(n, bytes.len() as u64);
        assert_eq!(whole, hex(&Sha256::digest(&bytes)));
        for stop in [0usize, 1, 65536, 999_999, bytes.len()] {
            let (h, mut r) = StreamHash::open(&p).unwrap();
            let mut got = vec![0u8; stop];
            r.read_exact(&mut got).unwrap();
            assert_eq!(got, bytes[..stop]);
            assert_eq!(h.finish().unwrap(), (whole.clone(), bytes.len() as u64), "stopped at {stop}");
            // Reads after finish do not change the answer.
            let _ = r.read(&mut [0u8; 10]).unwrap();
            assert_eq!(h.finish().unwrap().0, whole);
        }
    }
}
