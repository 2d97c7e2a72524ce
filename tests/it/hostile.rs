//! Truncated, corrupt and hostile input: errors name the file, the byte offset and the
//! record; nothing panics; memory stays bounded whatever a length field claims.

use proptest::prelude::*;
use yieldlake::stdf::catalog::every_record_type;
use yieldlake::stdf::writer::encode_all;
use yieldlake::stdf::*;

use crate::alloc::peak_during;

/// Decodes everything; every framed record must re-encode to its own bytes.
fn walk(name: &str, bytes: Vec<u8>) -> Result<u64, StdfError> {
    let mut r = StdfReader::from_bytes(name, bytes)?;
    let order = r.byte_order();
    let mut n = 0;
    let mut w = types::Writer::new(order);
    loop {
        match r.next_record() {
            Ok(Some(raw)) => {
                let rec = raw.decode(order);
                w.buf.clear();
                rec.encode_body(&mut w);
                assert_eq!(w.buf, raw.body, "record {} ({}) did not re-encode to its bytes", raw.index, rec.code());
                let mut s = String::new();
                rec.visit(&mut |_, v| {
                    if let Some(v) = v {
                        v.json(&mut s)
                    }
                });
                n += 1;
            }
            Ok(None) => return Ok(n),
            Err(e) => return Err(e),
        }
    }
}

/// Inputs: the uncompressed corpus (first 64 KiB of each, for speed) plus generated
/// files with every record type in both byte orders.
fn seeds() -> Vec<Vec<u8>> {
    let mut v = Vec::new();
    for order in [ByteOrder::Little, ByteOrder::Big] {
        v.push(encode_all(&every_record_type(), order).unwrap());
    }
    if let Some(files) = crate::common::corpus_files() {
        for (_, path, _) in files {
            let (order, recs) = crate::common::read_all_records(&path);
            let mut w = StdfWriter::new(Vec::new(), order);
            for (t, s, b) in &recs {
                w.write_body(*t, *s, b).unwrap();
                if w.bytes_written() > 64 << 10 {
                    break;
                }
            }
            v.push(w.into_inner());
        }
    }
    v
}

pub(crate) fn cases() -> u32 {
    std::env::var("YIELDLAKE_PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000)
}

fn check(name: &str, data: Vec<u8>) {
    let len = data.len();
    let (res, peak) = peak_during(|| walk(name, data));
    // The input itself is owned by the reader; beyond it, only small fixed buffers.
    assert!(peak < len + (2 << 20), "decoding {len} bytes peaked at {peak} bytes");
    if let Err(e) = res {
        let msg = e.to_string();
        assert!(msg.starts_with(name), "error does not name the file: {msg}");
        assert!(msg.contains(&format!("at byte {}", e.offset)), "error lacks the byte offset: {msg}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_truncation_never_panics(seed in any::<prop::sample::Index>(), cut in any::<prop::sample::Index>()) {
        let s = seeds_cached();
        let data = &s[seed.index(s.len())];
        let at = cut.index(data.len() + 1);
        check("truncated.stdf", data[..at].to_vec());
    }

    #[test]
    fn random_mutation_never_panics(
        seed in any::<prop::sample::Index>(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..16),
    ) {
        let s = seeds_cached();
        let mut data = s[seed.index(s.len())].clone();
        for (i, b) in edits {
            let k = i.index(data.len());
            data[k] = b;
        }
        check("mutated.stdf", data);
    }
}

fn seeds_cached() -> &'static Vec<Vec<u8>> {
    static S: std::sync::OnceLock<Vec<Vec<u8>>> = std::sync::OnceLock::new();
    S.get_or_init(seeds)
}

#[test]
fn truncated_file_yields_records_then_a_positioned_error() {
    let bytes = encode_all(&every_record_type(), ByteOrder::Big).unwrap();
    let full = walk("whole", bytes.clone()).unwrap();
    // Cut inside the body of the 6th record.
    let mut r = StdfReader::from_bytes("whole", bytes.clone()).unwrap();
    let mut offs = Vec::new();
    while let Some(raw) = r.next_record().unwrap() {
        offs.push(raw.offset);
    }
    assert_eq!(offs.len() as u64, full);
    let cut = offs[5] as usize + 7;
    let mut r = StdfReader::from_bytes("cut.stdf", bytes[..cut].to_vec()).unwrap();
    let mut n = 0;
    let err = loop {
        match r.next_record() {
            Ok(Some(_)) => n += 1,
            Ok(None) => panic!("truncation not reported"),
            Err(e) => break e,
        }
    };
    assert_eq!(n, 5);
    assert_eq!(err.offset, offs[5]);
    assert_eq!(err.record_index, Some(5));
    let msg = err.to_string();
    assert!(msg.contains("cut.stdf") && msg.contains(&format!("byte {}", offs[5])) && msg.contains("record #5"), "{msg}");
    // After the error the reader is finished, not looping.
    assert!(r.next_record().unwrap().is_none());
    // A cut inside a header.
    let mut r = StdfReader::from_bytes("cut2.stdf", bytes[..offs[3] as usize + 2].to_vec()).unwrap();
    for _ in 0..3 {
        r.next_record().unwrap().unwrap();
    }
    let e = r.next_record().unwrap_err();
    assert!(matches!(e.kind, ErrorKind::TruncatedHeader { have: 2 }), "{e}");
}

#[test]
fn truncated_compressed_file_reports_position() {
    let bytes = encode_all(&every_record_type(), ByteOrder::Little).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &bytes).unwrap();
    let gz = gz.finish().unwrap();
    let mut r = StdfReader::from_bytes("cut.stdf.gz", gz[..gz.len() * 2 / 3].to_vec()).unwrap();
    let e = loop {
        match r.next_record() {
            Ok(Some(_)) => {}
            Ok(None) => panic!("truncation of a gzip stream not reported"),
            Err(e) => break e,
        }
    };
    let msg = e.to_string();
    assert!(msg.contains("cut.stdf.gz") && msg.contains("decompressed"), "{msg}");
}

#[test]
fn v3_and_non_stdf_are_refused_clearly() {
    let v3 = vec![2, 0, 0, 10, 2, 3, 4, 0, 1, 10, 0, 0, 0, 0];
    let e = StdfReader::from_bytes("old.stdf", v3).err().unwrap();
    assert!(matches!(e.kind, ErrorKind::UnsupportedVersion(3)));
    assert!(e.to_string().contains("STDF V3 is not supported"), "{e}");
    for (name, bytes) in [("readme.txt", b"hello world, not stdf".to_vec()), ("empty", vec![]), ("short", vec![2, 0])] {
        let e = StdfReader::from_bytes(name, bytes).err().unwrap();
        assert!(e.is_refusal(), "{name}: {e}");
        assert!(e.to_string().starts_with(name), "{e}");
    }
    // Compressed garbage.
    let e = StdfReader::from_bytes("junk.gz", vec![0x1f, 0x8b, 8, 0, 1, 2, 3]).err().unwrap();
    assert!(e.to_string().contains("junk.gz"), "{e}");
}

#[test]
fn byte_order_contradiction_is_resolved_by_rec_len() {
    // Little-endian REC_LEN but CPU_TYPE 1 (big-endian): the header wins, reported.
    let mut bytes = vec![2, 0, 0, 10, 1, 4];
    bytes.extend_from_slice(&[2, 0, 5, 10, 1, 1]);
    let r = StdfReader::from_bytes("odd", bytes).unwrap();
    assert_eq!(r.byte_order(), ByteOrder::Little);
    assert!(r.problems()[0].contains("CPU_TYPE"), "{:?}", r.problems());
}

#[test]
fn hostile_counts_cannot_inflate_memory() {
    // A PLR claiming 65535 groups, an STR with huge counts and widths, a GDR with 65535
    // fields: in 20-byte bodies.
    let bodies: [(u8, u8, Vec<u8>); 3] = [
        (1, 63, vec![0xff, 0xff, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18]),
        (50, 10, vec![0xff, 0xff, 10, 0xff, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]),
        (15, 30, vec![0xff; 20]),
    ];
    for (t, s, b) in bodies {
        let mut bytes = vec![2, 0, 0, 10, 2, 4];
        bytes.extend_from_slice(&(b.len() as u16).to_le_bytes());
        bytes.push(t);
        bytes.push(s);
        bytes.extend_from_slice(&b);
        let (n, peak) = peak_during(|| walk("hostile", bytes).unwrap());
        assert_eq!(n, 2);
        assert!(peak < 1 << 20, "{t}/{s}: peak {peak} bytes");
    }
}
