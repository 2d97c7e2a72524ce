//! The generator: every file decodes cleanly, its own summary records agree with its
//! PRRs, and its ground-truth sidecar agrees with the records.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde_json::Value;
use yieldlake::generate::{GenOptions, Profile, generate};
use yieldlake::stdf::summary::summarize;
use yieldlake::stdf::*;

fn opts(out: &Path, profile: Profile, order: ByteOrder, c: Compression) -> GenOptions {
    GenOptions {
        profile,
        out: out.to_path_buf(),
        lots: 1,
        wafers: 2,
        seed: 11,
        scale: 0.15,
        order,
        compression: c,
        sites: None,
        tests: None,
        history: false,
        qual_stresses: 5,
    }
}

/// One part as the records describe it: its touch, results and PRR.
#[derive(Debug, Clone)]
struct Part {
    site: u8,
    flags: u8,
    hard: u16,
    soft: u16,
    x: Option<i16>,
    y: Option<i16>,
    part_id: String,
    part_txt: String,
    ptr: Vec<(u32, f32)>,
}

struct FileView {
    parts: Vec<Part>,
    hbr: Vec<(u8, u16, u32)>,
    sbr: Vec<(u8, u16, u32)>,
    pcr: Vec<(u8, u32, u32, u32)>,
    wrr: Vec<(u32, u32, u32)>,
    tsr: BTreeMap<u32, u32>,
    ptr_first: HashMap<u32, Ptr<'static>>,
    mir: Option<Mir<'static>>,
    mrr: bool,
}

fn view(path: &Path) -> FileView {
    let mut r = StdfReader::open(path).unwrap();
    let order = r.byte_order();
    let mut open: HashMap<u8, Part> = HashMap::new();
    let mut v = FileView {
        parts: vec![],
        hbr: vec![],
        sbr: vec![],
        pcr: vec![],
        wrr: vec![],
        tsr: BTreeMap::new(),
        ptr_first: HashMap::new(),
        mir: None,
        mrr: false,
    };
    while let Some(raw) = r.next_record().unwrap() {
        match raw.decode(order) {
            Record::Pir(p) => {
                let site = p.site_num.unwrap();
                assert!(
                    open.insert(
                        site,
                        Part {
                            site,
                            flags: 0,
                            hard: 0,
                            soft: 0,
                            x: None,
                            y: None,
                            part_id: String::new(),
                            part_txt: String::new(),
                            ptr: vec![]
                        }
                    )
                    .is_none()
                );
            }
            Record::Ptr(p) => {
                let part = open.get_mut(&p.site_num.unwrap()).expect("PTR outside a part");
                part.ptr.push((p.test_num.unwrap(), p.result.unwrap()));
                v.ptr_first.entry(p.test_num.unwrap()).or_insert_with(|| owned_ptr(&p));
            }
            Record::Prr(p) => {
                let mut part = open.remove(&p.site_num.unwrap()).expect("PRR without PIR");
                part.flags = p.part_flg.unwrap();
                part.hard = p.hard_bin.unwrap();
                part.soft = p.soft_bin.unwrap();
                part.x = p.x();
                part.y = p.y();
                part.part_id = p.part_id.as_ref().unwrap().to_str().into_owned();
                part.part_txt = p.part_txt.as_ref().unwrap().to_str().into_owned();
                v.parts.push(part);
            }
            Record::Hbr(h) => v.hbr.push((h.site_num.unwrap(), h.hbin_num.unwrap(), h.hbin_cnt.unwrap())),
            Record::Sbr(h) => v.sbr.push((h.site_num.unwrap(), h.sbin_num.unwrap(), h.sbin_cnt.unwrap())),
            Record::Pcr(p) => v.pcr.push((p.site_num.unwrap(), p.part_cnt.unwrap(), p.rtst_cnt.unwrap(), p.good_cnt.unwrap())),
            Record::Wrr(w) => v.wrr.push((w.part_cnt.unwrap(), w.rtst_cnt.unwrap(), w.good_cnt.unwrap())),
            Record::Tsr(t) => {
                v.tsr.insert(t.test_num.unwrap(), t.exec_cnt.unwrap());
            }
            Record::Mir(m) => {
                v.mir = Some(Mir {
                    lot_id: m.lot_id.map(|c| c.into_owned()),
                    start_t: m.start_t,
                    tst_temp: m.tst_temp.map(|c| c.into_owned()),
                    ..Default::default()
                })
            }
            Record::Mrr(_) => v.mrr = true,
            _ => {}
        }
    }
    assert!(open.is_empty(), "parts left open");
    v
}

fn owned_ptr(p: &Ptr<'_>) -> Ptr<'static> {
    Ptr {
        test_num: p.test_num,
        res_scal: p.res_scal,
        lo_limit: p.lo_limit,
        hi_limit: p.hi_limit,
        units: p.units.clone().map(|c| c.into_owned()),
        test_txt: p.test_txt.clone().map(|c| c.into_owned()),
        ..Default::default()
    }
}

fn pass(p: &Part) -> bool {
    p.flags & 0x18 == 0
}

/// HBR/SBR/PCR/WRR/TSR agree with the PRRs and PTRs.
fn check_summaries(name: &str, v: &FileView) {
    let mut hb: BTreeMap<(u8, u16), u32> = BTreeMap::new();
    let mut sb: BTreeMap<(u8, u16), u32> = BTreeMap::new();
    let mut pcr: BTreeMap<u8, (u32, u32, u32)> = BTreeMap::new();
    for p in &v.parts {
        for s in [p.site, 255] {
            *hb.entry((s, p.hard)).or_default() += 1;
            *sb.entry((s, p.soft)).or_default() += 1;
            let e = pcr.entry(s).or_default();
            e.0 += 1;
            e.1 += (p.flags & 0x03 != 0) as u32;
            e.2 += pass(p) as u32;
        }
    }
    let got_hb: BTreeMap<(u8, u16), u32> = v.hbr.iter().map(|&(s, b, n)| ((s, b), n)).collect();
    let got_sb: BTreeMap<(u8, u16), u32> = v.sbr.iter().map(|&(s, b, n)| ((s, b), n)).collect();
    assert_eq!(got_hb, hb, "{name}: HBR");
    assert_eq!(got_sb, sb, "{name}: SBR");
    let got_pcr: BTreeMap<u8, (u32, u32, u32)> = v.pcr.iter().map(|&(s, a, b, c)| (s, (a, b, c))).collect();
    assert_eq!(got_pcr, pcr, "{name}: PCR");
    if let Some(&(parts, rt, good)) = v.wrr.first() {
        assert_eq!((parts, rt, good), pcr[&255], "{name}: WRR");
    }
    let mut exec: BTreeMap<u32, u32> = BTreeMap::new();
    for p in &v.parts {
        for (t, _) in &p.ptr {
            *exec.entry(*t).or_default() += 1;
        }
    }
    for (t, n) in exec {
        assert_eq!(v.tsr.get(&t), Some(&n), "{name}: TSR exec count of test {t}");
    }
    assert!(v.mir.is_some() && v.mrr, "{name}: MIR/MRR");
}

fn truth(p: &Path) -> Value {
    let name = p.file_name().unwrap().to_string_lossy();
    let stem = name.split(".stdf").next().unwrap();
    serde_json::from_slice(&std::fs::read(p.with_file_name(format!("{stem}.truth.json"))).unwrap()).unwrap()
}

fn median_and_robust_sigma(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let q = |p: f64| {
        let h = (v.len() - 1) as f64 * p;
        let (lo, hi) = (h.floor() as usize, h.ceil() as usize);
        v[lo] + (v[hi] - v[lo]) * (h - lo as f64)
    };
    (q(0.5), (q(0.75) - q(0.25)) / 1.35)
}

fn check_wafer(path: &Path, v: &FileView) {
    let t = truth(path);
    let tr = &t["truth"];
    // Final touch per die decides (later PRRs supersede earlier ones).
    let mut last: HashMap<(i16, i16), bool> = HashMap::new();
    let mut first: HashMap<(i16, i16), &Part> = HashMap::new();
    for p in &v.parts {
        let k = (p.x.unwrap(), p.y.unwrap());
        last.insert(k, pass(p));
        first.entry(k).or_insert(p);
    }
    assert_eq!(last.len() as u64, tr["dies"].as_u64().unwrap());
    let final_pass = last.values().filter(|&&b| b).count() as u64;
    assert_eq!(final_pass, tr["dies_final_pass"].as_u64().unwrap());
    assert!((final_pass as f64 / last.len() as f64 - tr["true_yield"].as_f64().unwrap()).abs() < 1e-12);
    assert_eq!(v.parts.len() as u64, tr["prr_records"].as_u64().unwrap());
    for (sig, bin) in [("edge_ring", 5), ("centre_cluster", 3), ("scratch", 4), ("random_fail", 2)] {
        for xy in tr[sig].as_array().unwrap() {
            let k = (xy[0].as_i64().unwrap() as i16, xy[1].as_i64().unwrap() as i16);
            assert_eq!(first[&k].hard, bin, "{sig} die {k:?}");
        }
    }
    for r in tr["reprobed"].as_array().unwrap() {
        let k = (r[0].as_i64().unwrap() as i16, r[1].as_i64().unwrap() as i16);
        assert_eq!(last[&k], r[2].as_i64().unwrap() == 1, "re-probe result of {k:?}");
        assert_eq!(v.parts.iter().filter(|p| (p.x.unwrap(), p.y.unwrap()) == k).count(), 2);
    }
    // Outliers: at the recorded die and test, inside the limits, 5-13 robust sigma out
    // (robust sigma recomputed here from the first-touch population).
    let outs = tr["outliers"].as_array().unwrap();
    assert!(outs.len() >= 3, "too few outliers: {}", outs.len());
    for o in outs {
        let k = (o["x"].as_i64().unwrap() as i16, o["y"].as_i64().unwrap() as i16);
        let tn = o["test_num"].as_u64().unwrap() as u32;
        let val = first[&k].ptr.iter().find(|(n, _)| *n == tn).unwrap().1;
        assert_eq!(val, o["value"].as_f64().unwrap() as f32);
        let pop: Vec<f64> = first.values().filter_map(|p| p.ptr.iter().find(|(n, _)| *n == tn).map(|x| x.1 as f64)).collect();
        let (med, rs) = median_and_robust_sigma(pop);
        let z = (val as f64 - med) / rs;
        assert!((5.0..13.5).contains(&z.abs()), "outlier {k:?} test {tn}: {z:.2} robust sigma");
        let p = &v.ptr_first[&tn];
        assert!(val >= p.lo_limit.unwrap() && val <= p.hi_limit.unwrap(), "outlier outside spec");
        assert!(pass(first[&k]), "an outlier die must pass");
    }
    // The offset site is shifted on the offset test by about 3 sigma.
    let site = tr["offset_site"].as_u64().unwrap() as u8;
    let tn = tr["offset_test_num"].as_u64().unwrap() as u32;
    let vals = |on: bool| -> Vec<f64> {
        first.values().filter(|p| (p.site == site) == on).filter_map(|p| p.ptr.iter().find(|(n, _)| *n == tn).map(|x| x.1 as f64)).collect()
    };
    let (m_on, _) = median_and_robust_sigma(vals(true));
    let (m_off, rs) = median_and_robust_sigma(vals(false));
    let shift = (m_on - m_off) / rs;
    assert!((2.0..4.0).contains(&shift), "site {site} shift {shift:.2} sigma");
}

#[test]
fn every_profile_decodes_and_agrees_with_itself_and_its_truth() {
    let dir = tempfile::tempdir().unwrap();
    let mut all = Vec::new();
    for (i, (order, c)) in
        [(ByteOrder::Little, Compression::None), (ByteOrder::Big, Compression::Gzip), (ByteOrder::Big, Compression::Zstd)]
            .into_iter()
            .enumerate()
    {
        let out = dir.path().join(format!("v{i}"));
        let profiles = if i == 0 { vec![Profile::All] } else { vec![Profile::AutoIcWs, Profile::V42007] };
        for p in profiles {
            let rep = generate(&opts(&out, p, order, c), |_| {}).unwrap();
            all.extend(rep.files.into_iter().map(|f| (f.path, order, c)));
        }
    }
    assert!(all.len() >= 28, "{}", all.len());
    let mut kinds = BTreeMap::new();
    for (path, order, c) in &all {
        let name = path.display().to_string();
        let s = summarize(StdfReader::open(path).unwrap(), |_| {});
        assert!(s.error.is_none() && s.problems.is_empty(), "{name}: {:?} {:?}", s.error, s.problems);
        assert_eq!(s.byte_order, order.as_str());
        assert_eq!(s.compression, c.as_str());
        let v = view(path);
        check_summaries(&name, &v);
        let t = truth(path);
        let profile = t["profile"].as_str().unwrap().to_string();
        *kinds.entry(profile.clone()).or_insert(0) += 1;
        match profile.as_str() {
            "auto-ic-ws" => {
                check_wafer(path, &v);
                assert_eq!(s.stage.as_str(), "wafer_sort");
            }
            "v4-2007" => {
                assert_eq!(s.version, "V4-2007");
                for code in ["VUR", "PSR", "NMR", "CNR", "SSR", "CDR", "STR"] {
                    assert!(s.records.contains_key(code), "{name} lacks {code}");
                }
                let tr = &t["truth"];
                let fp = v.parts.iter().fold(HashMap::new(), |mut m, p| {
                    m.insert((p.x, p.y), pass(p));
                    m
                });
                assert_eq!(fp.values().filter(|&&b| b).count() as u64, tr["dies_final_pass"].as_u64().unwrap());
            }
            "auto-ic-ft" => check_ft(path, &v, &t),
            "power-mosfet" => check_mosfet(&v, &t),
            "qual-readpoints" => check_qual(&v, &t),
            other => panic!("unknown profile {other}"),
        }
    }
    assert_eq!(kinds.len(), 5, "{kinds:?}");
    // Final-test parts trace to dies that passed wafer sort, per the WS truth.
    let ws_dir = dir.path().join("v0/auto-ic-ws");
    let mut ws_pass: HashMap<(String, i16, i16), bool> = HashMap::new();
    for e in std::fs::read_dir(&ws_dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "stdf") {
            for part in view(&p).parts {
                let wafer = truth(&p)["truth"]["wafer_id"].as_str().unwrap().to_string();
                ws_pass.insert((wafer, part.x.unwrap(), part.y.unwrap()), pass(&part));
            }
        }
    }
    let ft = dir.path().join("v0/auto-ic-ft/YL11-01_FT_ROOM.stdf");
    for p in view(&ft).parts {
        let f: Vec<&str> = p.part_txt.split(':').collect();
        assert_eq!(f.len(), 4, "{}", p.part_txt);
        let k = (f[1].to_string(), f[2].parse().unwrap(), f[3].parse().unwrap());
        assert_eq!(ws_pass.get(&k), Some(&true), "part {} traces to {k:?}, which did not pass WS", p.part_id);
    }
}

fn check_ft(path: &Path, v: &FileView, t: &Value) {
    let tr = &t["truth"]["insertion"];
    let mut last: HashMap<&str, bool> = HashMap::new();
    for p in &v.parts {
        last.insert(&p.part_id, pass(p));
    }
    assert_eq!(last.len() as u64, tr["parts"].as_u64().unwrap(), "{}", path.display());
    assert_eq!(last.values().filter(|&&b| b).count() as u64, tr["final_pass"].as_u64().unwrap());
    let temp = v.mir.as_ref().unwrap().tst_temp.as_ref().unwrap().to_str().parse::<i64>().unwrap();
    assert_eq!(temp, tr["temperature_c"].as_i64().unwrap());
    for tr in t["truth"]["trace"].as_array().unwrap() {
        let serial = tr["serial"].as_str().unwrap();
        let part = v.parts.iter().find(|p| p.part_id == serial).unwrap();
        assert_eq!(part.part_txt, format!("{}:{}:{}:{}", tr["lot"].as_str().unwrap(), tr["wafer_id"].as_str().unwrap(), tr["x"], tr["y"]));
    }
}

fn check_mosfet(v: &FileView, t: &Value) {
    let tr = &t["truth"];
    assert_eq!(v.parts.len() as u64, tr["parts"].as_u64().unwrap());
    assert_eq!(v.parts.iter().filter(|p| pass(p)).count() as u64, tr["final_pass"].as_u64().unwrap());
    for f in tr["failures"].as_array().unwrap() {
        let p = v.parts.iter().find(|p| p.part_id == f[0].as_str().unwrap()).unwrap();
        assert_eq!(p.hard as u64, f[1].as_u64().unwrap());
    }
    let by_name: HashMap<String, &Ptr> = v.ptr_first.values().map(|p| (p.test_txt.as_ref().unwrap().to_str().into_owned(), p)).collect();
    let rds = by_name["RDS_ON_10A"];
    assert_eq!((rds.units.as_ref().unwrap().to_str().as_ref(), rds.res_scal), ("Ohm", Some(3)));
    let idss = by_name["IDSS_80PCT_BV"];
    assert_eq!((idss.units.as_ref().unwrap().to_str().as_ref(), idss.res_scal), ("A", Some(9)));
    assert_eq!(by_name["BVDSS"].units.as_ref().unwrap().to_str(), "V");
}

fn check_qual(v: &FileView, t: &Value) {
    let rp = t["truth"]["readpoint"].as_u64().unwrap();
    let st = &t["truth"]["stress"];
    let tn = st["param_test_num"].as_u64().unwrap() as u32;
    let (lo, hi) = (st["lo_limit"].as_f64().unwrap(), st["hi_limit"].as_f64().unwrap());
    let rps: Vec<u64> = st["readpoints"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap()).collect();
    let ri = rps.iter().position(|&x| x == rp).unwrap();
    for pt in st["parts"].as_array().unwrap() {
        let p = v.parts.iter().find(|p| p.part_id == pt["serial"].as_str().unwrap()).unwrap();
        let dead = pt["hard_fail_readpoint"].as_u64().is_some_and(|h| rp >= h);
        assert_eq!(p.hard == 9, dead, "hard failure of {}", p.part_id);
        if dead {
            continue;
        }
        let val = p.ptr.iter().find(|(n, _)| *n == tn).unwrap().1 as f64;
        let want = pt["t0_value"].as_f64().unwrap() + pt["drift"][ri].as_f64().unwrap();
        let tol = 5.0 * st["noise_sd"].as_f64().unwrap() + 1e-6 * want.abs();
        assert!((val - want).abs() <= tol, "{} at {rp}: measured {val}, truth {want}", p.part_id);
        if pt["parametric_failer"].as_bool().unwrap() && ri == rps.len() - 1 {
            assert!(val < lo || val > hi, "parametric failer {} still inside limits", p.part_id);
            assert_ne!(p.hard, 1);
        }
    }
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let d = tempfile::tempdir().unwrap();
    let run = |sub: &str, seed: u64| -> Vec<(PathBuf, Vec<u8>)> {
        let mut o = opts(&d.path().join(sub), Profile::AutoIcWs, ByteOrder::Little, Compression::Bzip2);
        o.seed = seed;
        o.wafers = 1;
        let r = generate(&o, |_| {}).unwrap();
        r.files.iter().map(|f| (f.path.file_name().unwrap().into(), std::fs::read(&f.path).unwrap())).collect()
    };
    let a = run("a", 5);
    let b = run("b", 5);
    let c = run("c", 6);
    assert_eq!(a, b);
    assert_ne!(a[0].1, c[0].1);
}

/// `sample-data/` is exactly what its committed command produces.
#[test]
fn sample_data_regenerates_byte_for_byte() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let cmd = std::fs::read_to_string(root.join("sample-data/REGENERATE")).unwrap();
    let line = cmd.lines().find(|l| l.trim_start().starts_with("yieldlake generate")).expect("a `yieldlake generate` line");
    let args: Vec<&str> = line.split_whitespace().skip(1).collect();
    let out = tempfile::tempdir().unwrap();
    let mut argv: Vec<String> = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if *a == "--out" {
            it.next();
            argv.push("--out".into());
            argv.push(out.path().display().to_string());
        } else {
            argv.push(a.to_string());
        }
    }
    let st = assert_cmd::Command::cargo_bin("yieldlake").unwrap().args(&argv).arg("--quiet").output().unwrap();
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    let list = |d: &Path| -> BTreeMap<String, Vec<u8>> {
        walk(d).into_iter().map(|p| (p.strip_prefix(d).unwrap().display().to_string(), std::fs::read(&p).unwrap())).collect()
    };
    let mut committed = list(&root.join("sample-data"));
    committed.retain(|k, _| k.contains(".stdf") || k.ends_with(".truth.json"));
    let fresh = list(out.path());
    assert!(!fresh.is_empty());
    assert_eq!(committed.keys().collect::<Vec<_>>(), fresh.keys().collect::<Vec<_>>());
    for (k, v) in &fresh {
        assert!(committed[k] == *v, "sample-data/{k} differs from a fresh regeneration");
    }
    let total: usize = committed.values().map(|v| v.len()).sum();
    assert!(total < 5 << 20, "sample-data is {total} bytes");
}

fn walk(d: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(d).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() { v.extend(walk(&p)) } else { v.push(p) }
    }
    v
}
