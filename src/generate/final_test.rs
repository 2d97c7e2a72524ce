//! `auto-ic-ft` (three temperature insertions of packaged parts traced to their die) and
//! `power-mosfet` (SiC MOSFET discretes at final test).

use std::io;
use std::path::Path;

use serde::Serialize;

use super::out::*;
use super::rng::Rng;
use super::wafer::{geometry, plan_wafer, ws_tests};
use super::{GenOptions, Generated};
use crate::stdf::records::*;

/// A packaged part and the die it came from. The trace is written into PRR.PART_TXT as
/// `LOT:WAFER_ID:X:Y` (see the README), and PART_ID holds the serial number.
#[derive(Serialize, Clone, Debug)]
pub struct Trace {
    pub serial: String,
    pub lot: String,
    pub wafer_id: String,
    pub x: i16,
    pub y: i16,
}

#[derive(Serialize, Clone, Debug)]
pub struct InsertionTruth {
    pub insertion: String,
    pub temperature_c: i32,
    pub parts: u32,
    pub prr_records: u32,
    pub retests: u32,
    /// Parts whose last touch passed.
    pub final_pass: u32,
    pub true_yield: f64,
    /// Serials that failed their first touch, and whether their retest passed.
    pub failed_first: Vec<String>,
    pub retest_passed: Vec<String>,
}

pub fn ft_hard_bins() -> BinNames {
    [(1, ("PASS", true)), (2, ("PARAM", false)), (6, ("CONTINUITY", false))].into_iter().collect()
}
pub fn ft_soft_bins() -> BinNames {
    [(1, ("PASS", true)), (22, ("PARAM_FT", false)), (61, ("OPEN_SHORT", false))].into_iter().collect()
}

pub const INSERTIONS: [(&str, i32, f64); 3] = [("COLD", -40, 0.010), ("ROOM", 25, 0.006), ("HOT", 125, 0.020)];

/// Parts for final test: dies that passed wafer sort, in wafer order.
pub fn ft_parts(o: &GenOptions, lot_id: &str) -> Vec<Trace> {
    let sites = o.sites.unwrap_or(8);
    let tests = ws_tests(o.tests.unwrap_or(40));
    let diameter = if o.dies_per_wafer() > 2500 { 300.0 } else { 200.0 };
    let g = geometry(diameter, o.dies_per_wafer(), sites);
    let want = ((400.0 * o.scale).round() as usize).max(8);
    let mut parts = Vec::new();
    'w: for w in 0..o.wafers {
        let mut rng = Rng::for_stream(o.seed, &format!("ws-plan-{lot_id}"), w as u64);
        let (dies, _, _) = plan_wafer(&mut rng, &g, &tests, None);
        for d in dies.iter().filter(|d| d.final_pass()) {
            parts.push(Trace {
                serial: format!("{lot_id}-{:06}", parts.len() + 1),
                lot: lot_id.to_string(),
                wafer_id: format!("{lot_id}-W{:02}", w + 1),
                x: d.x,
                y: d.y,
            });
            if parts.len() >= want {
                break 'w;
            }
        }
    }
    parts
}

/// Temperature dependence of each test's mean: leakage doubles every 10 C, IDDQ every
/// 20 C, voltages drift by a small coefficient.
fn at_temp(t: &TestDef, temp: i32) -> TestDef {
    let dt = (temp - 25) as f64;
    let mut t = t.clone();
    if t.name.starts_with("ILEAK") {
        t.mean *= 2f64.powf(dt / 10.0);
        t.sd *= 2f64.powf(dt / 10.0);
    } else if t.name.starts_with("IDDQ") {
        t.mean *= 2f64.powf(dt / 20.0);
        t.sd *= 2f64.powf(dt / 20.0);
    } else if t.units == "V" {
        t.mean *= 1.0 - 1e-4 * dt;
    }
    // Limits stay wide enough (the WS limits scaled like the mean) for 16 sigma.
    t.lo = (t.mean - 16.0 * t.sd) as f32;
    t.hi = (t.mean + 16.0 * t.sd) as f32;
    t
}

pub fn write_ft_lot(o: &GenOptions, lot: u32, lot_id: &str, dir: &Path) -> io::Result<Vec<(Generated, InsertionTruth)>> {
    let parts = ft_parts(o, lot_id);
    let base_tests = ws_tests(o.tests.unwrap_or(40).min(30));
    let sites: u8 = 4;
    let mut files = Vec::new();
    for (ins_no, &(ins, temp, p_fail)) in INSERTIONS.iter().enumerate() {
        let tests: Vec<TestDef> = base_tests.iter().map(|t| at_temp(t, temp)).collect();
        let mut rng = Rng::for_stream(o.seed, &format!("ft-{lot_id}-{ins}"), 0);
        let fails: Vec<bool> = parts.iter().map(|_| rng.chance(p_fail)).collect();
        let retest_pass: Vec<bool> = parts.iter().map(|_| rng.chance(0.5)).collect();
        let t0 = super::BASE_TIME + 20 * 86_400 + lot * 86_400 + ins_no as u32 * 10_000;
        let stem = format!("{lot_id}_FT_{ins}");
        let mut out = Out::create(dir, &stem, o.order, o.compression)?;
        let temp_s = temp.to_string();
        let test_cod = format!("FT{}", ins_no + 1);
        write_header(
            &mut out,
            &MirSpec {
                t: t0,
                lot: lot_id,
                sublot: "",
                part_typ: "YL-AMS2400-Q",
                node: "ft-handler-2",
                tester: "93000",
                job: "AMS2400_FT",
                test_cod: &test_cod,
                temp: &temp_s,
                flow: ins,
                mode: b'P',
                rtst: b' ',
                user_txt: "",
                pkg: "QFN32",
            },
        )?;
        write_sdr(&mut out, 1, sites, "handler-MT9510")?;
        let mut tally = Tally::default();
        let mut first_seen = vec![false; tests.len()];
        let order: Vec<usize> = (0..parts.len()).collect();
        let retests: Vec<usize> = (0..parts.len()).filter(|&i| fails[i]).collect();
        let mut failed_first = Vec::new();
        let mut retest_passed = Vec::new();
        let mut final_pass = 0;
        for (pass_no, list) in [(0, &order), (1, &retests)] {
            let retest = pass_no == 1;
            for chunk in list.chunks(sites as usize) {
                for k in 0..chunk.len() {
                    out.rec(Record::Pir(Pir { head_num: Some(1), site_num: Some(k as u8 + 1), extra: &[] }))?;
                }
                let fail_now: Vec<bool> = chunk.iter().map(|&i| if retest { !retest_pass[i] } else { fails[i] }).collect();
                let fail_test: Vec<usize> = chunk.iter().map(|&i| (i * 7 + ins_no) % tests.len()).collect();
                for (ti, t) in tests.iter().enumerate() {
                    for (k, _) in chunk.iter().enumerate() {
                        let v = if fail_now[k] && fail_test[k] == ti {
                            (t.hi as f64 + (t.hi - t.lo) as f64 * rng.range(0.05, 0.5)) as f32
                        } else {
                            let v = t.mean + t.sd * rng.normal();
                            if t.name.starts_with("TRIM") { v.round() as f32 } else { v as f32 }
                        };
                        write_ptr(&mut out, t, !first_seen[ti], 1, k as u8 + 1, v)?;
                        first_seen[ti] = true;
                        tally.result(t.num, v, v < t.lo || v > t.hi);
                    }
                }
                for (k, &i) in chunk.iter().enumerate() {
                    let pass = !fail_now[k];
                    let (hb, sb) = if pass { (1, 1) } else { (2, 22) };
                    // A retest supersedes the earlier touch of the same PART_ID (bit 0).
                    let flags = if pass { 0 } else { 0x08 } | if retest { 0x01 } else { 0 };
                    let p = &parts[i];
                    if !retest && !pass {
                        failed_first.push(p.serial.clone());
                    }
                    if retest && pass {
                        retest_passed.push(p.serial.clone());
                    }
                    if pass {
                        final_pass += 1;
                    }
                    let txt = format!("{}:{}:{}:{}", p.lot, p.wafer_id, p.x, p.y);
                    write_prr(
                        &mut out,
                        1,
                        k as u8 + 1,
                        flags,
                        tests.len() as u16,
                        hb,
                        sb,
                        None,
                        900 + rng.below(200) as u32,
                        p.serial.clone(),
                        txt,
                    )?;
                    tally.part(k as u8 + 1, hb, sb, pass, retest);
                }
            }
        }
        let tsr: Vec<(u32, &str, u8)> = tests.iter().map(|t| (t.num, t.name.as_str(), b'P')).collect();
        tally.write_summaries(&mut out, 1, &tsr, &ft_hard_bins(), &ft_soft_bins())?;
        write_mrr(&mut out, t0 + 5_000)?;
        let (prr, rt, _) = tally.totals();
        let (path, bytes, records) = out.finish()?;
        let truth = InsertionTruth {
            insertion: ins.to_string(),
            temperature_c: temp,
            parts: parts.len() as u32,
            prr_records: prr,
            retests: rt,
            final_pass,
            true_yield: final_pass as f64 / parts.len().max(1) as f64,
            failed_first,
            retest_passed,
        };
        files.push((Generated { path, bytes, records, truth_path: None }, truth));
    }
    Ok(files)
}

// ---- power MOSFET ----

/// SiC MOSFET final-test parameters, in base units with RES_SCAL for display
/// (3 = milli, 9 = nano).
pub fn mosfet_tests() -> Vec<TestDef> {
    let t = |num, name: &str, units, scal, lo: f64, hi: f64, mean, sd| TestDef {
        num,
        name: name.into(),
        units,
        res_scal: scal,
        lo: lo as f32,
        hi: hi as f32,
        mean,
        sd,
    };
    vec![
        t(100, "VGS_TH", "V", 0, 2.0, 3.6, 2.8, 0.08),
        t(110, "RDS_ON_10A", "Ohm", 3, 0.0, 22e-3, 16.0e-3, 0.35e-3),
        t(111, "RDS_ON_20A", "Ohm", 3, 0.0, 26e-3, 18.5e-3, 0.40e-3),
        t(120, "IDSS_80PCT_BV", "A", 9, -20e-9, 100e-9, 5e-9, 1.2e-9),
        t(130, "IGSS_POS", "A", 9, -100e-9, 100e-9, 2e-9, 1.5e-9),
        t(131, "IGSS_NEG", "A", 9, -100e-9, 100e-9, -2e-9, 1.5e-9),
        t(140, "BVDSS", "V", 0, 1200.0, 1600.0, 1380.0, 12.0),
        t(150, "VSD", "V", 0, 2.5, 5.0, 3.8, 0.06),
    ]
}

pub fn mosfet_hard_bins() -> BinNames {
    [
        (1, ("PASS", true)),
        (2, ("VTH", false)),
        (3, ("RDSON", false)),
        (4, ("LEAKAGE", false)),
        (5, ("BVDSS", false)),
        (6, ("UIS", false)),
        (7, ("VSD", false)),
    ]
    .into_iter()
    .collect()
}

#[derive(Serialize, Clone, Debug)]
pub struct MosfetTruth {
    pub parts: u32,
    pub final_pass: u32,
    pub true_yield: f64,
    /// Failing serials with their hard bin.
    pub failures: Vec<(String, u16)>,
}

/// Which test index a failure category forces out of limits, and its hard bin.
const MOSFET_FAILS: [(usize, u16, f64); 6] =
    [(0, 2, 0.005), (1, 3, 0.010), (3, 4, 0.012), (6, 5, 0.005), (usize::MAX, 6, 0.003), (7, 7, 0.002)];

pub fn write_mosfet_lot(o: &GenOptions, lot: u32, lot_id: &str, dir: &Path) -> io::Result<(Generated, MosfetTruth)> {
    let tests = mosfet_tests();
    let n = ((1000.0 * o.scale).round() as usize).max(4);
    let sites: u8 = 2;
    let mut rng = Rng::for_stream(o.seed, &format!("mosfet-{lot_id}"), 0);
    let t0 = super::BASE_TIME + 40 * 86_400 + lot * 86_400;
    let stem = format!("{lot_id}_FT_MOSFET");
    let mut out = Out::create(dir, &stem, o.order, o.compression)?;
    write_header(
        &mut out,
        &MirSpec {
            t: t0,
            lot: lot_id,
            sublot: "",
            part_typ: "YL-SIC1200-16",
            node: "pwr-tester-1",
            tester: "Power-Tech PT-3000",
            job: "SIC1200_FT",
            test_cod: "FT",
            temp: "25",
            flow: "FT",
            mode: b'P',
            rtst: b' ',
            user_txt: "",
            pkg: "TO-247-4",
        },
    )?;
    write_sdr(&mut out, 1, sites, "handler-TO247")?;
    let mut tally = Tally::default();
    let mut first_seen = vec![false; tests.len()];
    let mut failures = Vec::new();
    let mut final_pass = 0;
    for start in (0..n).step_by(sites as usize) {
        let chunk: Vec<usize> = (start..(start + sites as usize).min(n)).collect();
        for k in 0..chunk.len() {
            out.rec(Record::Pir(Pir { head_num: Some(1), site_num: Some(k as u8 + 1), extra: &[] }))?;
        }
        let fail: Vec<Option<(usize, u16)>> = chunk
            .iter()
            .map(|_| {
                let u = rng.f64();
                let mut acc = 0.0;
                for &(ti, bin, p) in &MOSFET_FAILS {
                    acc += p;
                    if u < acc {
                        return Some((ti, bin));
                    }
                }
                None
            })
            .collect();
        for (ti, t) in tests.iter().enumerate() {
            for (k, f) in fail.iter().enumerate().take(chunk.len()) {
                let v = match *f {
                    Some((fi, _)) if fi == ti => {
                        if ti == 6 || ti == 0 {
                            (t.lo as f64 - (t.hi - t.lo) as f64 * rng.range(0.02, 0.2)) as f32
                        } else {
                            (t.hi as f64 + (t.hi - t.lo) as f64 * rng.range(0.05, 0.5)) as f32
                        }
                    }
                    _ => (t.mean + t.sd * rng.normal()) as f32,
                };
                write_ptr(&mut out, t, !first_seen[ti], 1, k as u8 + 1, v)?;
                first_seen[ti] = true;
                tally.result(t.num, v, v < t.lo || v > t.hi);
            }
        }
        for (k, f) in fail.iter().enumerate().take(chunk.len()) {
            let uis_fail = matches!(f, Some((usize::MAX, _)));
            out.rec(Record::Ftr(Ftr {
                test_num: Some(200),
                head_num: Some(1),
                site_num: Some(k as u8 + 1),
                test_flg: Some(if uis_fail { 0x80 } else { 0 }),
                opt_flag: Some(0x3f),
                cycl_cnt: Some(0),
                rel_vadr: Some(0),
                rept_cnt: Some(0),
                num_fail: Some(0),
                xfail_ad: Some(0),
                yfail_ad: Some(0),
                vect_off: Some(0),
                rtn_icnt: Some(0),
                pgm_icnt: Some(0),
                rtn_indx: Some(Vec::<u16>::new().into()),
                rtn_stat: Some(crate::stdf::types::Nibbles::Owned(vec![])),
                pgm_indx: Some(Vec::<u16>::new().into()),
                pgm_stat: Some(crate::stdf::types::Nibbles::Owned(vec![])),
                fail_pin: Some(Default::default()),
                vect_nam: cn(""),
                time_set: cn(""),
                op_code: cn(""),
                test_txt: cn("UIS_AVALANCHE_PASS"),
                alarm_id: cn(""),
                prog_txt: cn("EAS 1.2J"),
                rslt_txt: cn(if uis_fail { "FAIL" } else { "PASS" }),
                patg_num: Some(255),
                spin_map: Some(Default::default()),
                extra: &[],
            }))?;
            tally.result(200, uis_fail as u8 as f32, uis_fail);
        }
        for (k, &i) in chunk.iter().enumerate() {
            let serial = format!("{lot_id}-M{:06}", i + 1);
            let (hb, sb, pass) = match fail[k] {
                Some((_, bin)) => (bin, bin * 10 + 1, false),
                None => (1, 1, true),
            };
            if pass {
                final_pass += 1;
            } else {
                failures.push((serial.clone(), hb));
            }
            write_prr(
                &mut out,
                1,
                k as u8 + 1,
                if pass { 0 } else { 0x08 },
                tests.len() as u16 + 1,
                hb,
                sb,
                None,
                450,
                serial,
                String::new(),
            )?;
            tally.part(k as u8 + 1, hb, sb, pass, false);
        }
    }
    let mut tsr: Vec<(u32, &str, u8)> = tests.iter().map(|t| (t.num, t.name.as_str(), b'P')).collect();
    tsr.push((200, "UIS_AVALANCHE_PASS", b'F'));
    let hb = mosfet_hard_bins();
    let sb: BinNames = hb.iter().map(|(&b, &(nm, p))| (if b == 1 { 1 } else { b * 10 + 1 }, (nm, p))).collect();
    tally.write_summaries(&mut out, 1, &tsr, &hb, &sb)?;
    write_mrr(&mut out, t0 + 7_200)?;
    let (path, bytes, records) = out.finish()?;
    Ok((
        Generated { path, bytes, records, truth_path: None },
        MosfetTruth { parts: n as u32, final_pass, true_yield: final_pass as f64 / n as f64, failures },
    ))
}
