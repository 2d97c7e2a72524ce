//! The first-PTR default rule and test identity.

use yieldlake::stdf::*;

fn ptr<'a>(num: u32, name: &'a str, result: f32) -> Ptr<'a> {
    Ptr {
        test_num: Some(num),
        head_num: Some(1),
        site_num: Some(1),
        test_flg: Some(0),
        parm_flg: Some(0),
        result: Some(result),
        test_txt: Some(Cn::from(name)),
        ..Default::default()
    }
}

#[test]
fn first_ptr_limits_carry_forward() {
    let mut r = TestResolver::new();
    let mut first = ptr(5, "VDD", 1.0);
    first.alarm_id = Some(Cn::from(""));
    first.opt_flag = Some(0x02);
    first.res_scal = Some(-3);
    first.llm_scal = Some(-3);
    first.hlm_scal = Some(-3);
    first.lo_limit = Some(0.5);
    first.hi_limit = Some(1.5);
    first.units = Some(Cn::from("V"));
    first.lo_spec = Some(0.0);
    first.hi_spec = Some(2.0);
    let (k1, l1) = r.ptr(&first);
    assert_eq!((l1.lo_limit, l1.hi_limit, l1.res_scal), (Some(0.5), Some(1.5), Some(-3)));
    // A later PTR that stops after RESULT: everything comes from the first.
    let (k2, l2) = r.ptr(&Ptr { test_txt: None, ..ptr(5, "", 1.1) });
    assert_eq!(k1, k2);
    assert_eq!(l2, l1);
    // A later PTR with OPT_FLAG bits 4/5 (limits invalid, use default) and junk limits.
    let mut p3 = ptr(5, "VDD", 1.2);
    p3.alarm_id = Some(Cn::from(""));
    p3.opt_flag = Some(0x02 | 0x10 | 0x20);
    p3.lo_limit = Some(-99.0);
    p3.hi_limit = Some(99.0);
    let (_, l3) = r.ptr(&p3);
    assert_eq!((l3.lo_limit, l3.hi_limit), (Some(0.5), Some(1.5)));
    // OPT_FLAG bits 6/7: this test has no limits at all.
    let mut p4 = p3.clone();
    p4.opt_flag = Some(0x02 | 0x40 | 0x80);
    let (_, l4) = r.ptr(&p4);
    assert_eq!((l4.lo_limit, l4.hi_limit), (None, None));
    assert_eq!(r.test(k1).units.as_deref(), Some("V"));
}

#[test]
fn first_ptr_without_limits_then_later_with() {
    let mut r = TestResolver::new();
    let mut a = ptr(9, "T", 1.0);
    a.alarm_id = Some(Cn::from(""));
    a.opt_flag = Some(0x02 | 0x10 | 0x20);
    let (_, la) = r.ptr(&a);
    assert_eq!(la.lo_limit, None);
    let mut b = a.clone();
    b.opt_flag = Some(0x02);
    b.lo_limit = Some(1.0);
    b.hi_limit = Some(2.0);
    let (_, lb) = r.ptr(&b);
    assert_eq!((lb.lo_limit, lb.hi_limit), (Some(1.0), Some(2.0)));
    let (_, lc) = r.ptr(&Ptr { test_txt: None, ..ptr(9, "", 1.0) });
    assert_eq!((lc.lo_limit, lc.hi_limit), (Some(1.0), Some(2.0)));
}

#[test]
fn test_identity_uses_name_and_joins_unnamed() {
    let mut r = TestResolver::new();
    // Advantest: TEST_NUM 0 for distinct tests.
    let (a, _) = r.ptr(&ptr(0, "leak_a", 1.0));
    let (b, _) = r.ptr(&ptr(0, "leak_b", 1.0));
    assert_ne!(a, b);
    assert_eq!(r.ptr(&ptr(0, "leak_a", 2.0)).0, a);
    // ETS: only the first PTR names the test.
    let (c, _) = r.ptr(&ptr(7, "IDD", 1.0));
    assert_eq!(r.ptr(&Ptr { test_txt: None, ..ptr(7, "", 1.0) }).0, c);
    assert_eq!(r.ptr(&ptr(7, "", 1.0)).0, c);
    assert_eq!(r.tests().len(), 3);
}

/// On the real 93000 file with 623 tests all numbered 0, every distinct name is a test.
#[test]
fn corpus_advantest_test_num_zero_tests_stay_apart() {
    let Some(dir) = crate::common::corpus_dir() else {
        return;
    };
    let path = dir.join("itestinc__stdf2xls/PLL_TX_LOT_Engg_STEP_1.00_SN_5592_25c_2017_Dec_20_17h38m30s.stdf");
    let mut rd = StdfReader::open(&path).unwrap();
    let order = rd.byte_order();
    let mut res = TestResolver::new();
    let mut names = std::collections::HashSet::new();
    let mut ptrs = 0;
    while let Some(raw) = rd.next_record().unwrap() {
        if let Record::Ptr(p) = raw.decode(order) {
            ptrs += 1;
            assert_eq!(p.test_num, Some(0));
            names.insert(p.test_txt.clone().unwrap().to_str().into_owned());
            res.ptr(&p);
        }
    }
    assert_eq!(ptrs, 623);
    assert!(names.len() > 100, "only {} names", names.len());
    assert_eq!(res.tests().len(), names.len());
}

/// Test identity stays exact past the per-number fast list (`NAMES_PER_NUM`): a hostile
/// file with many names under one TEST_NUM gets one key per name, in any order, and a
/// nameless PTR still joins the number's first test.
#[test]
fn many_names_under_one_number_keep_their_own_keys() {
    let mut r = TestResolver::new();
    let names: Vec<String> = (0..40).map(|i| format!("T{i}")).collect();
    let first: Vec<u32> = names.iter().map(|n| r.ptr(&ptr(7, n, 0.0)).0).collect();
    let mut distinct = first.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), names.len());
    // Again, backwards and interleaved with another number and kind.
    for (i, n) in names.iter().enumerate().rev() {
        assert_eq!(r.ptr(&ptr(7, n, 1.0)).0, first[i], "{n}");
        let other = r.ptr(&ptr(8, n, 1.0)).0;
        assert!(!first.contains(&other));
    }
    assert_eq!(r.ptr(&Ptr { test_txt: None, ..ptr(7, "", 1.0) }).0, first[0]);
    assert_eq!(r.tests().len(), 80);
}

mod cached {
    use proptest::prelude::*;
    use yieldlake::stdf::types::Writer;
    use yieldlake::stdf::*;

    /// One PTR of a generated stream: few numbers and names (so tests share numbers and
    /// cache slots), OPT_FLAG values that switch limits between own, default and none,
    /// bodies cut short or padded with extra bytes.
    #[derive(Debug, Clone)]
    struct Spec {
        num: u32,
        name: usize,
        opt: Option<u8>,
        lo: Option<f32>,
        hi: Option<f32>,
        scal: Option<i8>,
        units: usize,
        head: u8,
        site: u8,
        flg: u8,
        result: f32,
        cut: Option<usize>,
        extra: Vec<u8>,
    }

    fn spec() -> impl Strategy<Value = Spec> {
        (
            (0u32..6, 0usize..3, prop::sample::select(vec![None, Some(0x02), Some(0x32), Some(0xc2), Some(0xce), Some(0)])),
            (prop::option::of(prop::sample::select(vec![0.5f32, 1.0])), prop::option::of(prop::sample::select(vec![2.0f32, 3.0]))),
            (prop::option::of(-3i8..1), 0usize..4, 1u8..3, 0u8..4, any::<u8>(), -10.0f32..10.0),
            (prop::option::of(0usize..60), prop::collection::vec(any::<u8>(), 0..3)),
        )
            .prop_map(|((num, name, opt), (lo, hi), (scal, units, head, site, flg, result), (cut, extra))| Spec {
                num,
                name,
                opt,
                lo,
                hi,
                scal,
                units,
                head,
                site,
                flg,
                result,
                cut,
                extra,
            })
    }

    fn body(s: &Spec, order: ByteOrder) -> Vec<u8> {
        let names = ["", "IDD", "VOH"];
        // The last is longer than the cache keeps: such PTRs are resolved uncached and
        // may set defaults behind cached entries' backs.
        let long = "x".repeat(300);
        let units = ["", "A", "V", long.as_str()];
        let p = Ptr {
            test_num: Some(s.num),
            head_num: Some(s.head),
            site_num: Some(s.site),
            test_flg: Some(s.flg),
            parm_flg: Some(0),
            result: Some(s.result),
            test_txt: Some(Cn::from(names[s.name])),
            alarm_id: s.opt.map(|_| Cn::from("")),
            opt_flag: s.opt,
            res_scal: s.scal.filter(|_| s.opt.is_some()),
            lo_limit: s.lo.filter(|_| s.opt.is_some()),
            hi_limit: s.hi.filter(|_| s.opt.is_some()),
            units: s.opt.map(|_| Cn::from(units[s.units])),
            ..Default::default()
        };
        let mut w = Writer::new(order);
        Record::Ptr(p).encode_body(&mut w);
        let mut b = w.buf;
        if let Some(c) = s.cut {
            b.truncate(c);
        }
        b.extend_from_slice(&s.extra);
        b
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: crate::hostile::cases(), failure_persistence: None, ..ProptestConfig::default() })]

        /// The cached path answers exactly what decoding every PTR in full answers: the
        /// same fields, key and limits per record, and the same tests at the end.
        #[test]
        fn cached_ptr_resolution_matches_full_decoding(specs in prop::collection::vec(spec(), 1..200), big in any::<bool>()) {
            let order = if big { ByteOrder::Big } else { ByteOrder::Little };
            let (mut cached, mut full) = (TestResolver::new(), TestResolver::new());
            for s in &specs {
                let b = body(s, order);
                let got = cached.ptr_body(&b, order);
                let want = full.ptr_resolved(&Ptr::decode(&b, order));
                // Debug text: NaN (from bytes cut into a float) compares equal to itself.
                prop_assert_eq!(format!("{got:?}"), format!("{want:?}"), "{:?}", s);
            }
            prop_assert_eq!(format!("{:?}", cached.tests()), format!("{:?}", full.tests()));
        }
    }
}
