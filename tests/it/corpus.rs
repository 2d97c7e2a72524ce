//! Every corpus file decodes, and its counts equal `expected.json` (counted independently
//! by a plain record walk); every file round-trips through the encoder.

use std::collections::BTreeMap;

use serde_json::Value;
use yieldlake::stdf::summary::summarize;
use yieldlake::stdf::{ByteOrder, Record, StdfReader, StdfWriter};

use crate::common::{corpus_files, fingerprint, plain_bytes, read_all_records};

fn num_map(v: &Value) -> BTreeMap<String, u64> {
    v.as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_u64().unwrap())).collect()
}

#[test]
fn corpus_counts_match_expected_json() {
    let Some(files) = corpus_files() else { return };
    let mut checked = 0;
    for (name, path, exp) in files {
        let s = summarize(StdfReader::open(&path).unwrap_or_else(|e| panic!("{e}")), |_| {});
        assert!(s.error.is_none(), "{name}: {:?}", s.error);
        let ctx = |what: &str| format!("{name}: {what}");
        assert_eq!(s.cpu_type.map(u64::from), exp["cpu_type"].as_u64(), "{}", ctx("cpu_type"));
        assert_eq!(s.records, num_map(&exp["records"]), "{}", ctx("record counts"));
        for k in ["parts", "parts_pass", "parts_fail", "parts_no_pf", "ptr_test_nums"] {
            let got = match k {
                "parts" => s.parts,
                "parts_pass" => s.parts_pass,
                "parts_fail" => s.parts_fail,
                "parts_no_pf" => s.parts_no_pf,
                _ => s.ptr_test_nums,
            };
            assert_eq!(Some(got), exp[k].as_u64(), "{}", ctx(k));
        }
        let hb: BTreeMap<String, u64> = s.hard_bins.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        assert_eq!(hb, num_map(&exp["hard_bins"]), "{}", ctx("hard bins"));
        let sb: BTreeMap<String, u64> = s.soft_bins.clone().into_iter().collect();
        assert_eq!(sb, num_map(&exp["soft_bins"]), "{}", ctx("soft bins"));
        match exp["lot_id"].as_str() {
            Some(lot) => assert_eq!(s.mir.lot_id.as_deref(), Some(lot), "{}", ctx("lot_id")),
            None => assert_eq!(s.mir.lot_id, None, "{}", ctx("lot_id")),
        }
        if let Some(w) = exp.get("wafers") {
            let got: BTreeMap<String, u64> = s.wafers.iter().cloned().collect();
            assert_eq!(got, num_map(w), "{}", ctx("wafers"));
            assert_eq!(Some(s.dies_tested), exp["dies_tested"].as_u64(), "{}", ctx("dies_tested"));
            assert_eq!(Some(s.dies_final_pass), exp["dies_final_pass"].as_u64(), "{}", ctx("dies_final_pass"));
        } else {
            assert!(s.wafers.is_empty(), "{}", ctx("no WIR expected"));
        }
        checked += 1;
    }
    eprintln!("checked {checked} corpus files against expected.json");
}

fn reencode(order: ByteOrder, recs: &[(u8, u8, Vec<u8>)], out_order: ByteOrder) -> Vec<u8> {
    let mut w = StdfWriter::new(Vec::new(), out_order);
    for (t, s, b) in recs {
        w.write(&Record::decode(*t, *s, b, order)).unwrap();
    }
    w.into_inner()
}

#[test]
fn corpus_round_trips_exactly_in_both_byte_orders() {
    let Some(files) = corpus_files() else { return };
    for (name, path, _) in files {
        let (order, recs) = read_all_records(&path);
        // Same order: decode and re-encode every record, and the bytes are the file's own
        // (decompressed independently of our reader).
        let same = reencode(order, &recs, order);
        let disk = plain_bytes(&path);
        if let Some(at) = same.iter().zip(&disk).position(|(a, b)| a != b) {
            panic!("{name}: re-encoding in the file's own byte order changed byte {at}");
        }
        assert_eq!(same.len(), disk.len(), "{name}: re-encoded length differs from the file's");
        // The other byte order: every field value survives.
        let other = if order == ByteOrder::Little { ByteOrder::Big } else { ByteOrder::Little };
        let flipped = reencode(order, &recs, other);
        let mut r3 = StdfReader::from_bytes(&name, flipped).unwrap();
        assert_eq!(r3.byte_order(), other);
        for (i, (t, s, b)) in recs.iter().enumerate() {
            let raw = r3.next_record().unwrap().expect("record count changed");
            let a = Record::decode(*t, *s, b, order);
            let mut fa = fingerprint(&a);
            let mut fb = fingerprint(&raw.decode(other));
            if matches!(a, Record::Far(_)) {
                // CPU_TYPE legitimately follows the new byte order.
                fa = fa.replace("cpu_type=1", "cpu_type=X").replace("cpu_type=2", "cpu_type=X");
                fb = fb.replace("cpu_type=1", "cpu_type=X").replace("cpu_type=2", "cpu_type=X");
            }
            assert_eq!(fa, fb, "{name} record {i} in the other byte order");
        }
    }
}

#[test]
fn compressed_copies_equal_the_plain_stream() {
    let Some(files) = corpus_files() else { return };
    let dir = crate::common::corpus_dir().unwrap();
    let bz = read_all_records(&dir.join("noonchen__rust-stdf/lot3.stdf.bz2"));
    let zip = read_all_records(&dir.join("noonchen__rust-stdf/lot3.zip"));
    assert_eq!(bz.1.len(), zip.1.len());
    assert!(bz.1 == zip.1, "bzip2 and zip copies of lot3 differ");
    // Recompress lot2 as zstd and as raw bytes through stdin-like streaming: same records.
    let (order, recs) = read_all_records(&dir.join("noonchen__rust-stdf/lot2.stdf.gz"));
    let plain = reencode(order, &recs, order);
    let z = zstd::encode_all(&plain[..], 3).unwrap();
    let mut r = StdfReader::from_bytes("lot2.zst", z).unwrap();
    assert_eq!(r.compression(), yieldlake::stdf::Compression::Zstd);
    let mut n = 0;
    while let Some(raw) = r.next_record().unwrap() {
        assert_eq!(raw.body, &recs[n].2[..]);
        n += 1;
    }
    assert_eq!(n, recs.len());
    let mut r = StdfReader::from_read("pipe".into(), Box::new(std::io::Cursor::new(plain)), None).unwrap();
    let mut m = 0;
    while r.next_record().unwrap().is_some() {
        m += 1;
    }
    assert_eq!(m, recs.len());
    let _ = files;
}
