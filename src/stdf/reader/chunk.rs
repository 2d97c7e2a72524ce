//! Runs of whole records framed in place, handed from the reading thread to the
//! assembly thread.

use super::*;

/// A run of whole records in one buffer: a unit of hand-over between the reading thread
/// and the assembly thread. Buffers are recycled, so they are sized once.
pub struct Chunk {
    pub(super) data: Vec<u8>,
    pub(super) filled: usize,
    /// The records in stream order.
    pub recs: Vec<ChunkRec>,
    pub(super) first_index: u64,
    pub(super) base_offset: u64,
}

/// One framed record of a [`Chunk`]: its body is `start..start + len` of the chunk.
#[derive(Debug, Clone, Copy)]
pub struct ChunkRec {
    pub start: u32,
    pub len: u16,
    pub typ: u8,
    pub sub: u8,
}

impl Chunk {
    /// Bytes read per chunk: large enough to make the hand-over cheap, small enough for
    /// the cache.
    pub(super) const TARGET: usize = 1 << 20;

    pub fn new() -> Chunk {
        // Room for a carried partial record (header plus the largest body) and a full read.
        Chunk { data: vec![0; Self::TARGET + 4 + 65535], filled: 0, recs: Vec::with_capacity(1 << 14), first_index: 0, base_offset: 0 }
    }
    #[inline]
    pub fn body(&self, r: &ChunkRec) -> &[u8] {
        &self.data[r.start as usize..r.start as usize + r.len as usize]
    }
    /// Zero-based index in the file of record `i` of this chunk.
    #[inline]
    pub fn index(&self, i: usize) -> u64 {
        self.first_index + i as u64
    }
    /// Stream offset of the header of record `r`.
    #[inline]
    pub fn offset(&self, r: &ChunkRec) -> u64 {
        self.base_offset + r.start as u64 - 4
    }
}

impl Default for Chunk {
    fn default() -> Self {
        Self::new()
    }
}

/// Frames the whole records at the start of `s`: (records, bytes they span).
#[inline]
pub(super) fn frame(s: &[u8], order: ByteOrder, recs: &mut Vec<ChunkRec>) -> (usize, usize) {
    let mut pos = 0;
    let mut n = 0;
    while s.len() - pos >= 4 {
        let h = [s[pos], s[pos + 1], s[pos + 2], s[pos + 3]];
        let len = match order {
            ByteOrder::Little => u16::from_le_bytes([h[0], h[1]]),
            ByteOrder::Big => u16::from_be_bytes([h[0], h[1]]),
        };
        let next = pos + 4 + len as usize;
        if next > s.len() {
            break;
        }
        recs.push(ChunkRec { start: (pos + 4) as u32, len, typ: h[2], sub: h[3] });
        pos = next;
        n += 1;
    }
    (n, pos)
}
