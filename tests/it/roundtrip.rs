//! Generated files holding every V4 and V4-2007 record type round-trip exactly, in both
//! byte orders, and trailing-field and extra-byte rules behave as the spec says.

use yieldlake::stdf::catalog::every_record_type;
use yieldlake::stdf::types::{Cursor, Writer};
use yieldlake::stdf::writer::encode_all;
use yieldlake::stdf::*;

use crate::common::fingerprint;

fn decode_all(bytes: Vec<u8>) -> (ByteOrder, Vec<String>, Vec<u8>) {
    let mut r = StdfReader::from_bytes("generated", bytes.clone()).unwrap();
    let order = r.byte_order();
    let mut v = Vec::new();
    while let Some(raw) = r.next_record().unwrap() {
        let rec = raw.decode(order);
        assert!(rec.extra().is_empty() || rec.record_type() == RecordType::Unknown, "{} left {} bytes", rec.code(), rec.extra().len());
        v.push(fingerprint(&rec));
    }
    (order, v, bytes)
}

#[test]
fn every_record_type_round_trips_in_both_byte_orders() {
    let recs = every_record_type();
    // The catalogue really covers every type this crate knows.
    for t in RecordType::ALL {
        assert!(recs.iter().any(|r| r.record_type() == *t), "catalog lacks {t}");
    }
    let want: Vec<String> = recs.iter().map(|r| fingerprint(r).replace("cpu_type=2", "cpu_type=X")).collect();
    let mut per_order = Vec::new();
    for order in [ByteOrder::Little, ByteOrder::Big] {
        let bytes = encode_all(&recs, order).unwrap();
        let (got_order, got, bytes) = decode_all(bytes);
        assert_eq!(got_order, order);
        let got: Vec<String> = got.iter().map(|s| s.replace("cpu_type=1", "cpu_type=X").replace("cpu_type=2", "cpu_type=X")).collect();
        assert_eq!(got, want, "{order:?}");
        // decode -> encode gives the same bytes again
        let mut r = StdfReader::from_bytes("g", bytes.clone()).unwrap();
        let mut w = StdfWriter::new(Vec::new(), order);
        while let Some(raw) = r.next_record().unwrap() {
            w.write(&raw.decode(order)).unwrap();
        }
        assert_eq!(w.into_inner(), bytes);
        per_order.push(bytes);
    }
    assert_ne!(per_order[0], per_order[1]);
    assert_eq!(per_order[0].len(), per_order[1].len());
}

#[test]
fn trailing_fields_may_be_omitted() {
    // A PRR that stops after HARD_BIN, an FTR cut after its counts: absent, not errors.
    let mut w = Writer::new(ByteOrder::Little);
    Prr { head_num: Some(1), site_num: Some(2), part_flg: Some(8), num_test: Some(3), hard_bin: Some(5), ..Default::default() }
        .encode(&mut w);
    assert_eq!(w.buf.len(), 7);
    let p = Prr::decode(&w.buf, ByteOrder::Little);
    assert_eq!(p.hard_bin, Some(5));
    assert_eq!(p.soft_bin, None);
    assert_eq!(p.soft_bin(), None);
    assert_eq!(p.x(), None);
    assert_eq!(p.pass_fail(), PassFail::Fail);
    assert!(p.extra.is_empty());

    // An FTR that stops after its pin counts (RTN_ICNT and PGM_ICNT both 0): FAIL_PIN and
    // every field after it are absent, and it re-encodes to its bytes.
    let mut w = Writer::new(ByteOrder::Big);
    Ftr {
        test_num: Some(7),
        head_num: Some(1),
        site_num: Some(3),
        test_flg: Some(0x80),
        opt_flag: Some(0xff),
        cycl_cnt: Some(1),
        rel_vadr: Some(2),
        rept_cnt: Some(3),
        num_fail: Some(4),
        xfail_ad: Some(-5),
        yfail_ad: Some(6),
        vect_off: Some(-7),
        rtn_icnt: Some(0),
        pgm_icnt: Some(0),
        ..Default::default()
    }
    .encode(&mut w);
    // TEST_NUM 4 bytes; HEAD, SITE, TEST_FLG, OPT_FLAG 4; six 4-byte fields; VECT_OFF and the counts 6.
    assert_eq!(w.buf.len(), 38);
    let f = Ftr::decode(&w.buf, ByteOrder::Big);
    assert_eq!((f.test_num, f.site_num, f.test_flg, f.xfail_ad, f.vect_off), (Some(7), Some(3), Some(0x80), Some(-5), Some(-7)));
    assert_eq!((f.rtn_icnt, f.pgm_icnt), (Some(0), Some(0)));
    // Zero-length arrays take no bytes: present and empty, whether written or not.
    assert_eq!([f.rtn_indx.as_ref().map(|a| a.len()), f.pgm_indx.as_ref().map(|a| a.len())], [Some(0), Some(0)]);
    assert!(f.fail_pin.is_none() && f.vect_nam.is_none() && f.test_txt.is_none() && f.rslt_txt.is_none());
    assert!(f.patg_num.is_none() && f.spin_map.is_none());
    assert!(f.extra.is_empty());
    let mut again = Writer::new(ByteOrder::Big);
    f.encode(&mut again);
    assert_eq!(again.buf, w.buf);
}

#[test]
fn longer_rec_len_keeps_extra_bytes_and_framing() {
    // PIR with two surplus bytes, followed by a PRR: the PRR still starts at the right place.
    let mut bytes = vec![2, 0, 0, 10, 2, 4];
    bytes.extend_from_slice(&[4, 0, 5, 10, 1, 1, 0xAA, 0xBB]);
    bytes.extend_from_slice(&[3, 0, 5, 20, 1, 1, 0]);
    let mut r = StdfReader::from_bytes("x", bytes).unwrap();
    r.next_record().unwrap();
    let pir = r.next_record().unwrap().unwrap().decode(ByteOrder::Little);
    assert_eq!(pir.extra(), &[0xAA, 0xBB]);
    let raw = r.next_record().unwrap().unwrap();
    assert_eq!((raw.typ, raw.sub, raw.offset), (5, 20, 14));
    let Record::Prr(p) = raw.decode(ByteOrder::Little) else { panic!() };
    assert_eq!(p.part_flg, Some(0));
    assert_eq!(p.num_test, None);
}

#[test]
fn unknown_and_reserved_records_are_kept_raw() {
    let mut bytes = vec![2, 0, 0, 10, 2, 4];
    bytes.extend_from_slice(&[3, 0, 180, 77, 9, 8, 7]);
    let mut r = StdfReader::from_bytes("x", bytes.clone()).unwrap();
    r.next_record().unwrap();
    let rec = r.next_record().unwrap().unwrap().decode(ByteOrder::Little);
    assert_eq!(rec, Record::Unknown(Unknown { typ: 180, sub: 77, body: &[9, 8, 7] }));
    assert_eq!(
        encode_all(&[Record::Far(Far { cpu_type: Some(2), stdf_ver: Some(4), extra: &[] }), rec], ByteOrder::Little).unwrap(),
        bytes
    );
}

#[test]
fn missing_value_conventions_are_absent() {
    let p = Prr { soft_bin: Some(65535), x_coord: Some(-32768), y_coord: Some(7), ..Default::default() };
    assert_eq!((p.soft_bin(), p.x(), p.y()), (None, None, Some(7)));
    assert_eq!(yieldlake::stdf::records::count(Some(4294967295)), None);
    assert_eq!(yieldlake::stdf::records::count(Some(12)), Some(12));
}

#[test]
fn latin1_strings_decode() {
    let c = Cn(std::borrow::Cow::Borrowed(&[b'T', 0xE9, b'm', b'p'][..]));
    assert_eq!(c.to_str(), "Tému".replace('u', "p"));
    let u = Cn::from("Témp");
    assert_eq!(u.to_str(), "Témp");
}

#[test]
fn vur_layouts_are_both_recognised() {
    // Single-name layout.
    let single = [7u8, b'V', b'4', b'-', b'2', b'0', b'0', b'7'];
    let v = Vur::decode(&single, ByteOrder::Little);
    assert_eq!((v.names.len(), v.counted), (1, false));
    assert_eq!(v.names[0].to_str(), "V4-2007");
    // Counted layout.
    let counted = [2u8, 2, b'V', b'4', 3, b'X', b'Y', b'Z'];
    let v = Vur::decode(&counted, ByteOrder::Little);
    assert!(v.counted);
    assert_eq!(v.names.iter().map(|n| n.to_str().into_owned()).collect::<Vec<_>>(), ["V4", "XYZ"]);
    let mut w = Writer::new(ByteOrder::Little);
    v.encode(&mut w);
    assert_eq!(w.buf, counted);
}

#[test]
fn cursor_never_reads_past_the_body() {
    let mut c = Cursor::new(&[1, 2, 3], ByteOrder::Big);
    assert_eq!(c.u2(), Some(0x0102));
    assert_eq!(c.u2(), None);
    assert_eq!(c.take(usize::MAX), None);
    assert_eq!(c.u1(), Some(3));
}
