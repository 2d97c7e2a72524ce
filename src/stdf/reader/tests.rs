//! Chunked framing against one-record-at-a-time reading.

use super::*;
use crate::stdf::writer::StdfWriter;

/// (index, offset, typ, sub, body hash) of every record, then the error's text if any.
type Seen = (Vec<(u64, u64, u8, u8, u64)>, Option<String>);

fn h(b: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut s = std::collections::hash_map::DefaultHasher::new();
    b.hash(&mut s);
    s.finish()
}

fn by_records(mut r: StdfReader) -> Seen {
    let mut out = Vec::new();
    loop {
        match r.next_record() {
            Ok(Some(x)) => out.push((x.index, x.offset, x.typ, x.sub, h(x.body))),
            Ok(None) => return (out, None),
            Err(e) => return (out, Some(e.to_string())),
        }
    }
}

fn by_chunks(mut r: StdfReader) -> Seen {
    let mut out = Vec::new();
    let mut c = Chunk::new();
    loop {
        match r.read_chunk(&mut c) {
            Ok(()) if c.recs.is_empty() => return (out, None),
            Ok(()) => {
                for (i, x) in c.recs.iter().enumerate() {
                    out.push((c.index(i), c.offset(x), x.typ, x.sub, h(c.body(x))));
                }
            }
            Err(e) => return (out, Some(e.to_string())),
        }
    }
}

/// A FAR then ~3 MB of records of every size class, so that records cross chunk
/// and stream-buffer boundaries, including bodies of 0 and 65535 bytes.
fn stream(order: ByteOrder) -> Vec<u8> {
    let mut w = StdfWriter::new(Vec::new(), order);
    let far = Record::Far(crate::stdf::records::Far { cpu_type: None, stdf_ver: Some(4), extra: &[] });
    w.write(&far).unwrap();
    let mut x = 0x9e37_79b9_u32;
    let mut body = Vec::new();
    while w.bytes_written() < 3 << 20 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let len = match x % 7 {
            0 => 0,
            1 => 65535,
            2 => 40000 + (x >> 8) as usize % 25535,
            _ => (x >> 8) as usize % 300,
        };
        body.clear();
        body.extend((0..len).map(|i| (i as u32 ^ x) as u8));
        w.write_body(15, 10 + (x % 3) as u8, &body).unwrap();
    }
    w.into_inner()
}

/// Fails with an I/O error after `at` bytes.
struct FailAt(io::Cursor<Vec<u8>>, usize);
impl Read for FailAt {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let pos = self.0.position() as usize;
        if pos >= self.1 {
            return Err(io::Error::other("disk went away"));
        }
        let n = buf.len().min(self.1 - pos);
        self.0.read(&mut buf[..n])
    }
}

#[test]
fn chunks_frame_exactly_what_single_records_do() {
    for order in [ByteOrder::Little, ByteOrder::Big] {
        let full = stream(order);
        let total = by_records(StdfReader::from_bytes("x", full.clone()).unwrap()).0.len();
        assert!(total > 100, "{total}");
        // Whole, cut inside a header, cut inside a body, cut on a chunk boundary.
        for cut in [full.len(), full.len() - 2, full.len() - 70_000, Chunk::TARGET, Chunk::TARGET + 1, 1 << 18, 9] {
            let data = full[..cut].to_vec();
            let expect = by_records(StdfReader::from_bytes("x", data.clone()).unwrap());
            if cut == full.len() {
                assert!(expect.1.is_none(), "{:?}", expect.1);
            } else if cut == full.len() - 2 || cut == 9 {
                assert!(expect.1.as_deref().is_some_and(|e| e.contains("record #")), "{:?}", expect.1);
            }
            let mapped = by_chunks(StdfReader::from_bytes("x", data.clone()).unwrap());
            assert_eq!(mapped, expect, "slice input, cut at {cut}");
            let read = |d: Vec<u8>| StdfReader::from_read("x".into(), Box::new(io::Cursor::new(d)), None).unwrap();
            assert_eq!(by_records(read(data.clone())), expect, "stream input, cut at {cut}");
            assert_eq!(by_chunks(read(data.clone())), expect, "stream input, cut at {cut}");
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            io::Write::write_all(&mut gz, &data).unwrap();
            let gz = gz.finish().unwrap();
            let gz_expect = by_records(StdfReader::from_bytes("x", gz.clone()).unwrap());
            assert_eq!(gz_expect.0, expect.0, "gzip input, cut at {cut}");
            assert_eq!(by_chunks(StdfReader::from_bytes("x", gz).unwrap()), gz_expect, "gzip input, cut at {cut}");
        }
        // A read error mid-stream: the records before it, then the error, on both paths.
        for at in [100_000, Chunk::TARGET + 5, 2 * Chunk::TARGET - 3] {
            let failing = || StdfReader::from_read("x".into(), Box::new(FailAt(io::Cursor::new(full.clone()), at)), None).unwrap();
            let expect = by_records(failing());
            assert!(expect.1.as_deref().is_some_and(|e| e.contains("disk went away")), "{:?}", expect.1);
            assert_eq!(by_chunks(failing()), expect, "read error at {at}");
        }
    }
}
