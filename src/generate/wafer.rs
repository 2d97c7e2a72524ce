//! `auto-ic-ws` (and `v4-2007`): wafer sort of an automotive mixed-signal IC, with known
//! spatial defect signatures, injected PAT outliers and end-of-wafer re-probes.

use std::borrow::Cow;
use std::io;

use serde::Serialize;

use super::out::*;
use super::rng::Rng;
use super::{GenOptions, Generated};
use crate::stdf::records::*;
use crate::stdf::types::{C1, Dn, Nibbles, Sn, StrArray, UfArray};

/// Why a die failed its first touch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailMode {
    /// Edge-ring leakage (hard bin 5).
    EdgeRing,
    /// Centre cluster, high IDDQ (hard bin 3).
    CentreCluster,
    /// Scratch line, functional failure (hard bin 4).
    Scratch,
    /// A random parametric failure (hard bin 2).
    Random,
}

impl FailMode {
    pub fn bins(self) -> (u16, u16) {
        match self {
            FailMode::Random => (2, 21),
            FailMode::CentreCluster => (3, 31),
            FailMode::Scratch => (4, 41),
            FailMode::EdgeRing => (5, 51),
        }
    }
}

pub fn hard_bins() -> BinNames {
    [(1, ("PASS", true)), (2, ("PARAM", false)), (3, ("IDDQ", false)), (4, ("FUNCTIONAL", false)), (5, ("LEAKAGE", false))]
        .into_iter()
        .collect()
}
pub fn soft_bins() -> BinNames {
    [
        (1, ("PASS", true)),
        (21, ("PARAM_RANDOM", false)),
        (31, ("IDDQ_HIGH", false)),
        (41, ("FUNC_SCAN", false)),
        (51, ("ILEAK_HIGH", false)),
    ]
    .into_iter()
    .collect()
}

/// A lot made abnormal on purpose, for SYL/SBL (AEC-Q002).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LotAnomaly {
    /// Random parametric fails (hard bin 2) at 25 % instead of 1.5 %.
    LowYield,
    /// 8 % of otherwise good dies fail IDDQ (hard bin 3) at random positions.
    ExcessBin,
}

/// One die of a planned wafer.
#[derive(Clone, Debug)]
pub struct DiePlan {
    pub x: i16,
    pub y: i16,
    pub site: u8,
    pub fail: Option<FailMode>,
    /// Index into the test list of the test that fails (for parametric modes).
    pub fail_test: usize,
    /// Injected outlier: (test index, signed robust-sigma distance).
    pub outlier: Option<(usize, f64)>,
    /// Re-probed at the end of the wafer; `Some(true)` if the re-probe passed.
    pub retest: Option<bool>,
}

impl DiePlan {
    pub fn final_pass(&self) -> bool {
        self.fail.is_none() || self.retest == Some(true)
    }
}

/// Die grid and probe order of one wafer.
pub struct Geometry {
    pub diameter_mm: f64,
    pub die_w: f64,
    pub die_h: f64,
    pub usable_r: f64,
    /// Touchdowns in probe order: (site, x, y) for the dies under the probe card.
    pub touchdowns: Vec<Vec<(u8, i16, i16)>>,
}

pub const EDGE_EXCLUSION_MM: f64 = 3.0;

pub fn geometry(diameter_mm: f64, target_dies: u32, sites: u8) -> Geometry {
    let usable_r = diameter_mm / 2.0 - EDGE_EXCLUSION_MM;
    let die_area = std::f64::consts::PI * usable_r * usable_r / (target_dies as f64 * 1.08);
    let die_w = (die_area * 1.15).sqrt();
    let die_h = die_area / die_w;
    let on = |i: i32, j: i32| {
        let (cx, cy) = (i as f64 * die_w, j as f64 * die_h);
        [(-0.5, -0.5), (0.5, -0.5), (-0.5, 0.5), (0.5, 0.5)].iter().all(|(a, b)| (cx + a * die_w).hypot(cy + b * die_h) <= usable_r)
    };
    let (cols, rows) = match sites {
        1 => (1, 1),
        2 => (2, 1),
        4 => (2, 2),
        8 => (4, 2),
        _ => (4, 4),
    };
    let ni = (usable_r / die_w).ceil() as i32 + 1;
    let nj = (usable_r / die_h).ceil() as i32 + 1;
    let mut touchdowns = Vec::new();
    let mut row = 0;
    let mut by = nj;
    while by >= -nj {
        let xs: Vec<i32> = (-ni..=ni).step_by(cols as usize).collect();
        let xs: Vec<i32> = if row % 2 == 0 { xs } else { xs.into_iter().rev().collect() };
        for bx in xs {
            let mut td = Vec::new();
            for k in 0..(cols * rows) {
                let (i, j) = (bx + (k % cols), by - (k / cols));
                if on(i, j) {
                    td.push(((k + 1) as u8, i as i16, j as i16));
                }
            }
            if !td.is_empty() {
                touchdowns.push(td);
            }
        }
        by -= rows;
        row += 1;
    }
    Geometry { diameter_mm, die_w, die_h, usable_r, touchdowns }
}

/// The parametric tests of the product. Limits sit 16 sigma from the mean, so that a
/// 6-12 sigma outlier is inside the specification (as AEC-Q001 PAT assumes).
pub fn ws_tests(n: u32) -> Vec<TestDef> {
    const T: &[(&str, &str, i8, f64, f64)] = &[
        ("IDDQ", "A", 6, 2.0e-6, 0.15e-6),
        ("ILEAK", "A", 9, 1.0e-9, 0.25e-9),
        ("VOH", "V", 0, 1.75, 0.008),
        ("VOL", "V", 0, 0.12, 0.006),
        ("VOS_AMP", "V", 3, 0.0, 0.4e-3),
        ("VREF", "V", 0, 1.2, 0.002),
        ("IDD_ACT", "A", 3, 12.0e-3, 0.3e-3),
        ("FOSC", "Hz", -6, 32.0e6, 0.12e6),
        ("TRIM_CODE", "", 0, 32.0, 2.0),
        ("RPULL", "Ohm", -3, 50.0e3, 0.9e3),
    ];
    (0..n.max(1))
        .map(|i| {
            let (name, units, scal, mean, sd) = T[i as usize % T.len()];
            let k = i as usize / T.len();
            TestDef {
                num: 1000 + i * 10,
                name: if k == 0 && i < T.len() as u32 { format!("{name}_0") } else { format!("{name}_{k}") },
                units,
                res_scal: scal,
                lo: (mean - 16.0 * sd) as f32,
                hi: (mean + 16.0 * sd) as f32,
                mean,
                sd,
            }
        })
        .collect()
}

/// The test that one site shifts systematically (always the first VOS_AMP test).
pub const SITE_OFFSET_TEST: usize = 4;
pub const SITE_OFFSET_SIGMA: f64 = 3.0;

#[derive(Serialize, Clone, Debug)]
pub struct Outlier {
    pub x: i16,
    pub y: i16,
    pub test_num: u32,
    pub test_name: String,
    /// Signed distance from the population mean in (robust) sigma; the population is
    /// normal, so robust sigma (IQR/1.35) estimates the same sigma.
    pub sigma: f64,
    pub value: f32,
}

#[derive(Serialize, Clone, Debug)]
pub struct WaferTruth {
    pub wafer_id: String,
    pub dies: u32,
    pub dies_final_pass: u32,
    /// dies_final_pass / dies.
    pub true_yield: f64,
    pub prr_records: u32,
    pub retests: u32,
    pub first_pass: u32,
    /// Dies failing on first touch, by signature: [x, y].
    pub edge_ring: Vec<[i16; 2]>,
    pub centre_cluster: Vec<[i16; 2]>,
    pub scratch: Vec<[i16; 2]>,
    pub random_fail: Vec<[i16; 2]>,
    /// Centre (die coordinates) and radius (dies) of the cluster, if present.
    pub cluster_centre: Option<[f64; 3]>,
    /// Scratch segment end points in die coordinates, if present.
    pub scratch_line: Option<[f64; 4]>,
    /// Re-probed dies and whether the re-probe passed: [x, y, passed 0/1].
    pub reprobed: Vec<[i16; 3]>,
    pub outliers: Vec<Outlier>,
    pub offset_site: u8,
    pub offset_test_num: u32,
    pub offset_sigma: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lot_anomaly: Option<LotAnomaly>,
}

/// Decides every die's fate. Values are drawn later, while writing, from another stream.
pub fn plan_wafer(
    rng: &mut Rng,
    g: &Geometry,
    tests: &[TestDef],
    anomaly: Option<LotAnomaly>,
) -> (Vec<DiePlan>, Option<[f64; 3]>, Option<[f64; 4]>) {
    let ring = g.usable_r - 1.2 * g.die_w.max(g.die_h);
    let p_edge = rng.range(0.3, 0.7);
    let cluster = rng.chance(0.7).then(|| {
        let a = rng.range(0.0, std::f64::consts::TAU);
        let r = rng.range(0.0, 0.35 * g.usable_r);
        [r * a.cos() / g.die_w, r * a.sin() / g.die_h, rng.range(1.5, 3.0)]
    });
    let scratch = rng.chance(0.5).then(|| {
        let a = rng.range(0.0, std::f64::consts::PI);
        let len = 0.6 * g.usable_r;
        let (cx, cy) = (rng.range(-0.3, 0.3) * g.usable_r, rng.range(-0.3, 0.3) * g.usable_r);
        [(cx - len * a.cos()) / g.die_w, (cy - len * a.sin()) / g.die_h, (cx + len * a.cos()) / g.die_w, (cy + len * a.sin()) / g.die_h]
    });
    let leak_tests: Vec<usize> = (0..tests.len()).filter(|&i| tests[i].name.starts_with("ILEAK")).collect();
    let mut dies = Vec::new();
    for td in &g.touchdowns {
        for &(site, x, y) in td {
            let (fx, fy) = (x as f64, y as f64);
            let r_mm = (fx * g.die_w).hypot(fy * g.die_h);
            let in_cluster = cluster.is_some_and(|[cx, cy, rad]| (fx - cx).hypot(fy - cy) <= rad);
            let in_scratch = scratch.is_some_and(|[x0, y0, x1, y1]| seg_dist(fx, fy, x0, y0, x1, y1) <= 0.6);
            let fail = if r_mm > ring && rng.chance(p_edge) {
                Some(FailMode::EdgeRing)
            } else if in_cluster && rng.chance(0.85) {
                Some(FailMode::CentreCluster)
            } else if in_scratch && rng.chance(0.9) {
                Some(FailMode::Scratch)
            } else if anomaly == Some(LotAnomaly::ExcessBin) && rng.chance(0.08) {
                Some(FailMode::CentreCluster)
            } else if rng.chance(if anomaly == Some(LotAnomaly::LowYield) { 0.25 } else { 0.015 }) {
                Some(FailMode::Random)
            } else {
                None
            };
            let fail_test = match fail {
                Some(FailMode::EdgeRing) => *rng.pick(&leak_tests),
                Some(FailMode::CentreCluster) => 0,
                Some(FailMode::Random) => {
                    let mut t = rng.below(tests.len() as u64) as usize;
                    if t == SITE_OFFSET_TEST {
                        t = 0;
                    }
                    t
                }
                _ => 0,
            };
            dies.push(DiePlan { x, y, site, fail, fail_test, outlier: None, retest: None });
        }
    }
    // Outliers on dies that otherwise pass: 6-12 sigma, inside the 16-sigma limits.
    let n_out = 4 + rng.below(5) as usize;
    let mut placed = 0;
    let mut guard = 0;
    while placed < n_out.min(dies.len() / 4) && guard < 10_000 {
        guard += 1;
        let k = rng.below(dies.len() as u64) as usize;
        if dies[k].fail.is_some() || dies[k].outlier.is_some() {
            continue;
        }
        let mut t = rng.below(tests.len() as u64) as usize;
        if t == SITE_OFFSET_TEST || tests[t].name.starts_with("TRIM") {
            t = 0;
        }
        let sign = if rng.chance(0.5) { 1.0 } else { -1.0 };
        dies[k].outlier = Some((t, sign * rng.range(6.0, 12.0)));
        placed += 1;
    }
    // End-of-wafer re-probes of edge and random fails; marginal contacts pass on retest.
    for d in &mut dies {
        d.retest = match d.fail {
            Some(FailMode::EdgeRing) if rng.chance(0.5) => Some(rng.chance(0.4)),
            Some(FailMode::Random) if rng.chance(0.5) => Some(rng.chance(0.5)),
            _ => None,
        };
    }
    (dies, cluster, scratch)
}

fn seg_dist(px: f64, py: f64, x0: f64, y0: f64, x1: f64, y1: f64) -> f64 {
    let (dx, dy) = (x1 - x0, y1 - y0);
    let t = (((px - x0) * dx + (py - y0) * dy) / (dx * dx + dy * dy)).clamp(0.0, 1.0);
    (px - x0 - t * dx).hypot(py - y0 - t * dy)
}

/// Chooses the value of test `ti` for a die on one touch.
fn value(rng: &mut Rng, t: &TestDef, ti: usize, d: &DiePlan, fails_now: bool, offset_site: u8) -> f32 {
    if fails_now && ti == d.fail_test && d.fail != Some(FailMode::Scratch) {
        // Beyond the high limit by 5-50 % of the limit span.
        return (t.hi as f64 + (t.hi - t.lo) as f64 * rng.range(0.05, 0.5)) as f32;
    }
    if let Some((oi, s)) = d.outlier
        && oi == ti
    {
        return (t.mean + s * t.sd) as f32;
    }
    let mut v = t.mean + t.sd * rng.normal();
    if ti == SITE_OFFSET_TEST && d.site == offset_site {
        v += SITE_OFFSET_SIGMA * t.sd;
    }
    if t.name.starts_with("TRIM") {
        v = v.round();
    }
    v as f32
}

pub struct WaferJob<'a> {
    pub opts: &'a GenOptions,
    pub lot_id: &'a str,
    pub lot: u32,
    pub wafer: u32,
    pub v2007: bool,
}

pub fn pins(n: u16) -> Vec<(u16, String)> {
    (1..=n).map(|i| (i, format!("P{i}"))).collect()
}

/// Writes one wafer file and returns its truth.
pub fn write_wafer(job: &WaferJob<'_>, dir: &std::path::Path) -> io::Result<(Generated, WaferTruth)> {
    let o = job.opts;
    let sites = o.sites.unwrap_or(8);
    let tests = ws_tests(o.tests.unwrap_or(40));
    let diameter = if o.dies_per_wafer() > 2500 { 300.0 } else { 200.0 };
    let g = geometry(diameter, o.dies_per_wafer(), sites);
    let mut plan_rng = Rng::for_stream(o.seed, &format!("ws-plan-{}", job.lot_id), job.wafer as u64);
    let (dies, cluster, scratch) = plan_wafer(&mut plan_rng, &g, &tests, o.lot_anomaly(job.lot));
    let offset_site = 1 + Rng::for_stream(o.seed, &format!("ws-site-{}", job.lot_id), 0).below(sites as u64) as u8;
    let mut vr = Rng::for_stream(o.seed, &format!("ws-values-{}", job.lot_id), job.wafer as u64);
    let wafer_id = format!("{}-W{:02}", job.lot_id, job.wafer + 1);
    let t0 = super::BASE_TIME + job.lot * 86_400 + job.wafer * 3_600;
    let stem = format!("{}_WS1_W{:02}", job.lot_id, job.wafer + 1);
    let mut out = Out::create(dir, &stem, o.order, o.compression)?;
    out.rec(Record::Far(Far { cpu_type: Some(o.order.cpu_type()), stdf_ver: Some(4), extra: &[] }))?;
    if job.v2007 {
        out.rec(Record::Vur(Vur { names: vec![crate::stdf::Cn::from("V4-2007")], counted: false, extra: &[] }))?;
    }
    write_mir(
        &mut out,
        &MirSpec {
            t: t0,
            lot: job.lot_id,
            sublot: &wafer_id,
            part_typ: "YL-AMS2400",
            node: "probe-03",
            tester: "93000",
            job: "AMS2400_WS1",
            test_cod: "WS1",
            temp: "25",
            flow: "WS1",
            mode: b'P',
            rtst: b' ',
            user_txt: "",
            pkg: "",
        },
    )?;
    write_sdr(&mut out, 1, sites, "prober-TEL")?;
    let pin_list = pins(4);
    for (i, name) in &pin_list {
        out.rec(Record::Pmr(Pmr {
            pmr_indx: Some(*i),
            chan_typ: Some(0),
            chan_nam: cs(format!("CH{i}")),
            phy_nam: cs(name.clone()),
            log_nam: cs(format!("DOUT{i}")),
            head_num: Some(1),
            site_num: Some(1),
            extra: &[],
        }))?;
    }
    if job.v2007 {
        write_scan_setup(&mut out)?;
    }
    out.rec(Record::Wcr(Wcr {
        wafr_siz: Some(g.diameter_mm as f32),
        die_ht: Some(g.die_h as f32),
        die_wid: Some(g.die_w as f32),
        wf_units: Some(3),
        wf_flat: Some(C1(b'D')),
        center_x: Some(0),
        center_y: Some(0),
        pos_x: Some(C1(b'R')),
        pos_y: Some(C1(b'U')),
        extra: &[],
    }))?;
    out.rec(Record::Wir(Wir { head_num: Some(1), site_grp: Some(255), start_t: Some(t0), wafer_id: cs(wafer_id.clone()), extra: &[] }))?;

    let mut tally = Tally::default();
    let mut first_seen = vec![false; tests.len()];
    let mut mpr_first = true;
    let mut ftr_first = true;
    let mut part_no = 0u32;
    let mut truth_outliers = Vec::new();
    let by_pos: std::collections::HashMap<(i16, i16), usize> = dies.iter().enumerate().map(|(i, d)| ((d.x, d.y), i)).collect();
    // First pass: the touchdowns; then re-probes, grouped into touchdowns of `sites`.
    let first: Vec<Vec<usize>> = g.touchdowns.iter().map(|td| td.iter().map(|&(_, x, y)| by_pos[&(x, y)]).collect()).collect();
    let re: Vec<usize> = dies.iter().enumerate().filter(|(_, d)| d.retest.is_some()).map(|(i, _)| i).collect();
    let re_tds: Vec<Vec<usize>> = re.chunks(sites as usize).map(|c| c.to_vec()).collect();
    let mut first_pass = 0u32;
    for (pass_no, tds) in [(0, &first), (1, &re_tds)] {
        for td in tds.iter() {
            let retest = pass_no == 1;
            // On a re-probe, dies take the next free sites of the card.
            let site_of = |k: usize, di: usize| if retest { k as u8 + 1 } else { dies[di].site };
            for (k, &di) in td.iter().enumerate() {
                out.rec(Record::Pir(Pir { head_num: Some(1), site_num: Some(site_of(k, di)), extra: &[] }))?;
            }
            let mut fails = vec![0u16; td.len()];
            for (ti, t) in tests.iter().enumerate() {
                for (k, &di) in td.iter().enumerate() {
                    let d = &dies[di];
                    let fails_now = d.fail.is_some() && !(retest && d.retest == Some(true));
                    let mut dd = d.clone();
                    dd.site = site_of(k, di);
                    let v = value(&mut vr, t, ti, &dd, fails_now, offset_site);
                    let fail = v < t.lo || v > t.hi;
                    fails[k] += fail as u16;
                    write_ptr(&mut out, t, !first_seen[ti], 1, dd.site, v)?;
                    first_seen[ti] = true;
                    tally.result(t.num, v, fail);
                    if !retest
                        && let Some((oi, s)) = d.outlier
                        && oi == ti
                    {
                        truth_outliers.push(Outlier { x: d.x, y: d.y, test_num: t.num, test_name: t.name.clone(), sigma: s, value: v });
                    }
                }
            }
            for (k, &di) in td.iter().enumerate() {
                let site = site_of(k, di);
                let vals: Vec<f32> = (0..4).map(|p| (1.75 + 0.008 * vr.normal() + 0.002 * p as f64) as f32).collect();
                out.rec(Record::Mpr(Mpr {
                    test_num: Some(5000),
                    head_num: Some(1),
                    site_num: Some(site),
                    test_flg: Some(0),
                    parm_flg: Some(0),
                    rtn_icnt: Some(4),
                    rslt_cnt: Some(4),
                    rtn_stat: Some(Nibbles::Owned(vec![0; 4])),
                    rtn_rslt: Some(vals.clone().into()),
                    test_txt: cn("VOH_BUS"),
                    alarm_id: if mpr_first { cn("") } else { None },
                    opt_flag: mpr_first.then_some(0x02 | 0x04 | 0x08),
                    res_scal: mpr_first.then_some(0),
                    llm_scal: mpr_first.then_some(0),
                    hlm_scal: mpr_first.then_some(0),
                    lo_limit: mpr_first.then_some(1.6),
                    hi_limit: mpr_first.then_some(1.9),
                    start_in: mpr_first.then_some(0.0),
                    incr_in: mpr_first.then_some(0.0),
                    rtn_indx: mpr_first.then(|| vec![1u16, 2, 3, 4].into()),
                    units: if mpr_first { cn("V") } else { None },
                    ..Default::default()
                }))?;
                mpr_first = false;
                for v in &vals {
                    tally.result(5000, *v, false);
                }
            }
            for (fi, fname) in ["FUNC_SCAN", "FUNC_MBIST"].iter().enumerate() {
                for (k, &di) in td.iter().enumerate() {
                    let d = &dies[di];
                    let fails_now = d.fail == Some(FailMode::Scratch) && fi == 0;
                    if fails_now {
                        fails[k] += 1;
                    }
                    let site = site_of(k, di);
                    out.rec(Record::Ftr(ftr(6000 + fi as u32, site, fname, fails_now, ftr_first)))?;
                    tally.result(6000 + fi as u32, if fails_now { 1.0 } else { 0.0 }, fails_now);
                    if job.v2007 && fi == 0 {
                        out.rec(Record::Str(scan_str(site, fails_now, d.x as u64)))?;
                    }
                }
                ftr_first = false;
            }
            for (k, &di) in td.iter().enumerate() {
                let d = &dies[di];
                let site = site_of(k, di);
                let pass = if retest { d.retest == Some(true) } else { d.fail.is_none() };
                debug_assert_eq!(pass, fails[k] == 0);
                let (hb, sb) = if pass { (1, 1) } else { d.fail.unwrap().bins() };
                // Re-probes set PART_FLG bit 1: they supersede the earlier touch of this X/Y.
                let flags = if pass { 0 } else { 0x08 } | if retest { 0x02 } else { 0 };
                part_no += 1;
                first_pass += (!retest && pass) as u32;
                let test_t = 180 + vr.below(60) as u32;
                write_prr(
                    &mut out,
                    1,
                    site,
                    flags,
                    tests.len() as u16 + 3,
                    hb,
                    sb,
                    Some((d.x, d.y)),
                    test_t,
                    part_no.to_string(),
                    String::new(),
                )?;
                tally.part(site, hb, sb, pass, retest);
            }
        }
    }
    let (parts, rtst, good) = tally.totals();
    out.rec(Record::Wrr(Wrr {
        head_num: Some(1),
        site_grp: Some(255),
        finish_t: Some(t0 + 3_000),
        part_cnt: Some(parts),
        rtst_cnt: Some(rtst),
        abrt_cnt: Some(0),
        good_cnt: Some(good),
        func_cnt: Some(u32::MAX),
        wafer_id: cs(wafer_id.clone()),
        fabwf_id: cs(format!("F{}", wafer_id)),
        frame_id: cn(""),
        mask_id: cn("MSK-A1"),
        usr_desc: cn(""),
        exc_desc: cn(""),
        extra: &[],
    }))?;
    let mut tsr_tests: Vec<(u32, &str, u8)> = tests.iter().map(|t| (t.num, t.name.as_str(), b'P')).collect();
    tsr_tests.push((5000, "VOH_BUS", b'M'));
    tsr_tests.push((6000, "FUNC_SCAN", b'F'));
    tsr_tests.push((6001, "FUNC_MBIST", b'F'));
    tally.write_summaries(&mut out, 1, &tsr_tests, &hard_bins(), &soft_bins())?;
    write_mrr(&mut out, t0 + 3_100)?;
    let (path, bytes, records) = out.finish()?;

    let xy = |m: FailMode| -> Vec<[i16; 2]> { dies.iter().filter(|d| d.fail == Some(m)).map(|d| [d.x, d.y]).collect() };
    let final_pass = dies.iter().filter(|d| d.final_pass()).count() as u32;
    let truth = WaferTruth {
        wafer_id,
        dies: dies.len() as u32,
        dies_final_pass: final_pass,
        true_yield: final_pass as f64 / dies.len().max(1) as f64,
        prr_records: parts,
        retests: rtst,
        first_pass,
        edge_ring: xy(FailMode::EdgeRing),
        centre_cluster: xy(FailMode::CentreCluster),
        scratch: xy(FailMode::Scratch),
        random_fail: xy(FailMode::Random),
        cluster_centre: cluster,
        scratch_line: scratch,
        reprobed: dies.iter().filter_map(|d| d.retest.map(|p| [d.x, d.y, p as i16])).collect(),
        outliers: truth_outliers,
        offset_site,
        offset_test_num: tests[SITE_OFFSET_TEST.min(tests.len() - 1)].num,
        offset_sigma: SITE_OFFSET_SIGMA,
        lot_anomaly: o.lot_anomaly(job.lot),
    };
    Ok((Generated { path, bytes, records, truth_path: None }, truth))
}

fn ftr(num: u32, site: u8, name: &str, fail: bool, first: bool) -> Ftr<'static> {
    Ftr {
        test_num: Some(num),
        head_num: Some(1),
        site_num: Some(site),
        test_flg: Some(if fail { 0x80 } else { 0 }),
        // Bits 0-5 set: CYCL_CNT..VECT_OFF are not given; NUM_FAIL is (bit 3 clear).
        opt_flag: Some(0x37),
        cycl_cnt: Some(0),
        rel_vadr: Some(0),
        rept_cnt: Some(0),
        num_fail: Some(if fail { 2 } else { 0 }),
        xfail_ad: Some(0),
        yfail_ad: Some(0),
        vect_off: Some(0),
        rtn_icnt: Some(0),
        pgm_icnt: Some(0),
        rtn_indx: Some(Vec::<u16>::new().into()),
        rtn_stat: Some(Nibbles::Owned(vec![])),
        pgm_indx: Some(Vec::<u16>::new().into()),
        pgm_stat: Some(Nibbles::Owned(vec![])),
        fail_pin: Some(if fail { Dn::from_bits(&[1, 3], 4) } else { Dn::from_bits(&[], 4) }),
        vect_nam: Some(crate::stdf::Cn::from(if fail { "scan_chain_07" } else { "" }.to_string())),
        time_set: Some(crate::stdf::Cn::from(String::new())),
        op_code: Some(crate::stdf::Cn::from(String::new())),
        test_txt: Some(crate::stdf::Cn::from(name.to_string())),
        alarm_id: Some(crate::stdf::Cn::from(String::new())),
        prog_txt: Some(crate::stdf::Cn::from(if first { "pattern set v3" } else { "" }.to_string())),
        rslt_txt: Some(crate::stdf::Cn::from(String::new())),
        patg_num: Some(255),
        spin_map: Some(Dn::default()),
        extra: &[],
    }
}

/// V4-2007 scan set-up records: PSR, NMR, SSR, CDR, CNR.
fn write_scan_setup(out: &mut Out) -> io::Result<()> {
    let s = |v: &[&str]| StrArray(v.iter().map(|x| crate::stdf::Cn::from(x.to_string())).collect());
    out.rec(Record::Psr(Psr {
        cont_flg: Some(0),
        psr_indx: Some(1),
        psr_nam: cn("stuck-at"),
        opt_flg: Some(0),
        totp_cnt: Some(2),
        locp_cnt: Some(2),
        pat_bgn: Some(vec![0u64, 40_000].into()),
        pat_end: Some(vec![39_999u64, 90_000].into()),
        pat_file: Some(s(&["sa_1.stil", "sa_2.stil"])),
        pat_lbl: Some(s(&["P1", "P2"])),
        file_uid: Some(s(&["a1f3", "b772"])),
        atpg_dsc: Some(s(&["atpg 2026.1", "atpg 2026.1"])),
        src_id: Some(s(&["pe1", "pe2"])),
        extra: &[],
    }))?;
    out.rec(Record::Nmr(Nmr {
        cont_flg: Some(0),
        totm_cnt: Some(2),
        locm_cnt: Some(2),
        pmr_indx: Some(vec![1u16, 2].into()),
        atpg_nam: Some(s(&["scan_in0", "scan_out0"])),
        extra: &[],
    }))?;
    out.rec(Record::Ssr(Ssr { ssr_nam: cn("core_scan"), chn_cnt: Some(1), chn_list: Some(vec![7u16].into()), extra: &[] }))?;
    out.rec(Record::Cdr(Cdr {
        cont_flg: Some(0),
        cdr_indx: Some(7),
        chn_nam: cn("chain7"),
        chn_len: Some(1024),
        sin_pin: Some(1),
        sout_pin: Some(2),
        mstr_cnt: Some(1),
        m_clks: Some(vec![3u16].into()),
        slav_cnt: Some(0),
        s_clks: Some(Vec::<u16>::new().into()),
        inv_val: Some(0),
        lst_cnt: Some(2),
        cell_lst: Some(StrArray(vec![Sn::from("u_core/ff0".to_string()), Sn::from("u_core/ff1".to_string())])),
        extra: &[],
    }))?;
    out.rec(Record::Cnr(Cnr { chn_num: Some(7), bit_pos: Some(17), cell_nam: Some(Sn::from("u_core/u_alu/ff17".to_string())), extra: &[] }))
}

/// One STR per part: failing scan cells on scratch dies.
fn scan_str(site: u8, fail: bool, salt: u64) -> Str<'static> {
    let n = if fail { 2 } else { 0 };
    Str {
        cont_flg: Some(0),
        test_num: Some(6100),
        head_num: Some(1),
        site_num: Some(site),
        psr_ref: Some(1),
        test_flg: Some(if fail { 0x80 } else { 0 }),
        log_typ: Some(crate::stdf::Cn::from("ATPG".to_string())),
        test_txt: Some(crate::stdf::Cn::from("SCAN_SA".to_string())),
        alarm_id: Some(crate::stdf::Cn::default()),
        prog_txt: Some(crate::stdf::Cn::default()),
        rslt_txt: Some(crate::stdf::Cn::default()),
        z_val: Some(0),
        fmu_flg: Some(0),
        mask_map: Some(Dn::default()),
        fal_map: Some(Dn::default()),
        cyc_cnt: Some(90_000),
        totf_cnt: Some(n as u32),
        totl_cnt: Some(n as u32),
        cyc_base: Some(0),
        bit_base: Some(0),
        cond_cnt: Some(1),
        lim_cnt: Some(0),
        cyc_size: Some(4),
        pmr_size: Some(2),
        chn_size: Some(2),
        pat_size: Some(1),
        bit_size: Some(2),
        u1_size: Some(0),
        u2_size: Some(0),
        u3_size: Some(0),
        utx_size: Some(0),
        cap_bgn: Some(0),
        lim_indx: Some(Vec::<u16>::new().into()),
        lim_spec: Some(Vec::<u32>::new().into()),
        cond_lst: Some(StrArray(vec![crate::stdf::Cn::from("VDD=0.90".to_string())])),
        ofst_cnt: Some(n),
        cyc_ofst: Some(UfArray((0..n as u64).map(|i| 1000 + 17 * i + salt % 7).collect())),
        pmr_cnt: Some(n),
        pmr_indx: Some(UfArray(vec![2; n as usize])),
        chn_cnt: Some(n),
        chn_num: Some(UfArray(vec![7; n as usize])),
        exp_cnt: Some(n),
        exp_data: Some(vec![1u8; n as usize].into()),
        cap_cnt: Some(n),
        cap_data: Some(vec![0u8; n as usize].into()),
        new_cnt: Some(0),
        new_data: Some(Vec::<u8>::new().into()),
        pat_cnt: Some(n),
        pat_num: Some(UfArray(vec![1; n as usize])),
        bpos_cnt: Some(n),
        bit_pos: Some(UfArray((0..n as u64).map(|i| 17 + i).collect())),
        usr1_cnt: Some(0),
        usr1: Some(UfArray(vec![])),
        usr2_cnt: Some(0),
        usr2: Some(UfArray(vec![])),
        usr3_cnt: Some(0),
        usr3: Some(UfArray(vec![])),
        txt_cnt: Some(0),
        user_txt: Some(crate::stdf::types::FixedStrArray(Vec::<Cow<'static, [u8]>>::new())),
        extra: &[],
    }
}
