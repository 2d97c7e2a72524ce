//! `qual-readpoints`: reliability stress of serialised SiC MOSFETs. The same parts are
//! measured at t0 and after each readpoint; one parameter per stress drifts by a known
//! amount, a few parts drift out of limits, and a few fail hard at a known time.

use std::io;
use std::path::Path;

use serde::Serialize;

use super::final_test::mosfet_tests;
use super::out::*;
use super::rng::Rng;
use super::{GenOptions, Generated};
use crate::stdf::records::*;

pub struct Stress {
    pub name: &'static str,
    pub unit: &'static str,
    pub readpoints: &'static [u32],
    /// Index into `mosfet_tests()` of the parameter this stress moves.
    pub param: usize,
    /// Mean and sd of the per-part drift at the last readpoint (base units).
    pub rate: (f64, f64),
    /// Drift of the part chosen to fail parametrically.
    pub failer_rate: f64,
}

/// The first five are written by default; the rest with `qual_stresses` up to 10.
pub const STRESSES: [Stress; 10] = [
    Stress { name: "HTRB", unit: "h", readpoints: &[0, 168, 500, 1000], param: 3, rate: (1.5e-9, 0.5e-9), failer_rate: 120e-9 },
    Stress { name: "HTGB", unit: "h", readpoints: &[0, 168, 500, 1000], param: 0, rate: (-0.06, 0.02), failer_rate: -1.0 },
    Stress { name: "H3TRB", unit: "h", readpoints: &[0, 168, 500, 1000], param: 4, rate: (1.0e-9, 0.5e-9), failer_rate: 150e-9 },
    Stress { name: "TC", unit: "cycles", readpoints: &[0, 250, 500, 1000], param: 1, rate: (0.4e-3, 0.15e-3), failer_rate: 8e-3 },
    Stress { name: "IOL", unit: "cycles", readpoints: &[0, 5000, 15000], param: 1, rate: (0.3e-3, 0.1e-3), failer_rate: 7e-3 },
    Stress { name: "UHAST", unit: "h", readpoints: &[0, 24, 48, 96], param: 5, rate: (-1.0e-9, 0.5e-9), failer_rate: -150e-9 },
    Stress { name: "HAST", unit: "h", readpoints: &[0, 24, 48, 96], param: 3, rate: (1.0e-9, 0.5e-9), failer_rate: 130e-9 },
    Stress { name: "HTSL", unit: "h", readpoints: &[0, 168, 500, 1000], param: 6, rate: (-3.0, 1.5), failer_rate: -260.0 },
    Stress { name: "PTC", unit: "cycles", readpoints: &[0, 5000, 10000, 15000], param: 2, rate: (0.3e-3, 0.1e-3), failer_rate: 9e-3 },
    Stress { name: "HTFB", unit: "h", readpoints: &[0, 168, 500, 1000], param: 7, rate: (0.02, 0.01), failer_rate: 1.6 },
];

/// Measurement repeatability, as a fraction of the population sd.
pub const NOISE: f64 = 0.1;

#[derive(Serialize, Clone, Debug)]
pub struct PartTruth {
    pub serial: String,
    /// The parameter's true value at t0 (base units).
    pub t0_value: f64,
    /// True drift from t0 at each readpoint (same order as `readpoints`).
    pub drift: Vec<f64>,
    /// Injected to exceed the limit by the last readpoint.
    pub parametric_failer: bool,
    /// First readpoint at which the measured part is outside the limits for the
    /// drifting parameter (drift without noise), if any.
    pub first_parametric_fail_readpoint: Option<u32>,
    /// Time (in the stress unit) of a hard failure, if injected.
    pub hard_fail_time: Option<f64>,
    /// First readpoint at or after the hard failure.
    pub hard_fail_readpoint: Option<u32>,
}

#[derive(Serialize, Clone, Debug)]
pub struct StressTruth {
    pub stress: String,
    pub unit: String,
    pub readpoints: Vec<u32>,
    pub param_test_num: u32,
    pub param_name: String,
    pub lo_limit: f32,
    pub hi_limit: f32,
    /// Measurement noise sd added to every reading (base units).
    pub noise_sd: f64,
    /// Drift shape: drift(t) = drift_at_end * sqrt(t / last readpoint).
    pub drift_shape: String,
    pub parts: Vec<PartTruth>,
}

pub fn write_qual_lot(o: &GenOptions, lot: u32, lot_id: &str, dir: &Path) -> io::Result<Vec<(Generated, StressTruth, u32)>> {
    let tests = mosfet_tests();
    let n = ((77.0 * o.scale).round() as usize).max(3);
    let mut files = Vec::new();
    for (si, st) in STRESSES.iter().take(o.qual_stresses.clamp(1, STRESSES.len())).enumerate() {
        let mut rng = Rng::for_stream(o.seed, &format!("qual-{lot_id}-{}", st.name), 0);
        let t_end = *st.readpoints.last().unwrap() as f64;
        // Per part: true t0 values of every parameter, drift at end, hard-fail time.
        let t0: Vec<Vec<f64>> = (0..n).map(|_| tests.iter().map(|t| t.mean + t.sd * rng.normal()).collect()).collect();
        let failer = rng.below(n as u64) as usize;
        let rates: Vec<f64> = (0..n).map(|i| if i == failer { st.failer_rate } else { st.rate.0 + st.rate.1 * rng.normal() }).collect();
        let n_hard = rng.below(3) as usize;
        let mut hard: Vec<Option<f64>> = vec![None; n];
        for _ in 0..n_hard {
            let i = rng.below(n as u64) as usize;
            if i != failer {
                hard[i] = Some(rng.range(0.02, 1.0) * t_end);
            }
        }
        let pt = &tests[st.param];
        let drift_at = |i: usize, rp: u32| rates[i] * (rp as f64 / t_end).sqrt();
        let parts: Vec<PartTruth> = (0..n)
            .map(|i| PartTruth {
                serial: format!("{lot_id}-{}-{:03}", st.name, i + 1),
                t0_value: t0[i][st.param],
                drift: st.readpoints.iter().map(|&rp| drift_at(i, rp)).collect(),
                parametric_failer: i == failer,
                first_parametric_fail_readpoint: st.readpoints.iter().copied().find(|&rp| {
                    let v = t0[i][st.param] + drift_at(i, rp);
                    v < pt.lo as f64 || v > pt.hi as f64
                }),
                hard_fail_time: hard[i],
                hard_fail_readpoint: hard[i].and_then(|tf| st.readpoints.iter().copied().find(|&rp| rp as f64 >= tf)),
            })
            .collect();
        for (ri, &rp) in st.readpoints.iter().enumerate() {
            let label = format!("{rp:05}{}", if st.unit == "h" { "h" } else { "cyc" });
            let stem = format!("{lot_id}_{}_{label}", st.name);
            let t = super::BASE_TIME + 60 * 86_400 + lot * 86_400 + si as u32 * 7_200 + ri as u32 * 600;
            let mut out = Out::create(dir, &stem, o.order, o.compression)?;
            let user = format!("stress={};readpoint={rp};unit={}", st.name, st.unit);
            let flow = if rp == 0 { "T0".to_string() } else { format!("{rp}{}", st.unit) };
            write_header(
                &mut out,
                &MirSpec {
                    t,
                    lot: lot_id,
                    sublot: st.name,
                    part_typ: "YL-SIC1200-16",
                    node: "rel-lab-ate",
                    tester: "Power-Tech PT-3000",
                    job: "SIC1200_QUAL",
                    test_cod: st.name,
                    temp: "25",
                    flow: &flow,
                    mode: b'Q',
                    rtst: b' ',
                    user_txt: &user,
                    pkg: "TO-247-4",
                },
            )?;
            write_sdr(&mut out, 1, 1, "manual")?;
            let mut tally = Tally::default();
            for (i, p) in parts.iter().enumerate() {
                out.rec(Record::Pir(Pir { head_num: Some(1), site_num: Some(1), extra: &[] }))?;
                let dead = p.hard_fail_time.is_some_and(|tf| rp as f64 >= tf);
                let mut fail = false;
                for (ti, tt) in tests.iter().enumerate() {
                    let mut v = t0[i][ti] + NOISE * tt.sd * rng.normal();
                    if ti == st.param {
                        v += drift_at(i, rp);
                    }
                    if dead {
                        // A shorted die: drain leakage at the compliance limit, no breakdown.
                        match ti {
                            3 => v = 1e-3,
                            6 => v = 0.0,
                            _ => {}
                        }
                    }
                    let v = v as f32;
                    let f = v < tt.lo || v > tt.hi;
                    fail |= f;
                    write_ptr(&mut out, tt, i == 0, 1, 1, v)?;
                    tally.result(tt.num, v, f);
                }
                let (hb, sb) = if dead {
                    (9, 91)
                } else if fail {
                    (8, 81)
                } else {
                    (1, 1)
                };
                write_prr(
                    &mut out,
                    1,
                    1,
                    if hb == 1 { 0 } else { 0x08 },
                    tests.len() as u16,
                    hb,
                    sb,
                    None,
                    600,
                    p.serial.clone(),
                    String::new(),
                )?;
                tally.part(1, hb, sb, hb == 1, false);
            }
            let tsr: Vec<(u32, &str, u8)> = tests.iter().map(|t| (t.num, t.name.as_str(), b'P')).collect();
            let hbn: BinNames = [(1, ("PASS", true)), (8, ("PARAM_DRIFT", false)), (9, ("HARD_FAIL", false))].into_iter().collect();
            let sbn: BinNames = [(1, ("PASS", true)), (81, ("PARAM_DRIFT", false)), (91, ("HARD_FAIL", false))].into_iter().collect();
            tally.write_summaries(&mut out, 1, &tsr, &hbn, &sbn)?;
            write_mrr(&mut out, t + 500)?;
            let (path, bytes, records) = out.finish()?;
            let truth = StressTruth {
                stress: st.name.into(),
                unit: st.unit.into(),
                readpoints: st.readpoints.to_vec(),
                param_test_num: pt.num,
                param_name: pt.name.clone(),
                lo_limit: pt.lo,
                hi_limit: pt.hi,
                noise_sd: NOISE * pt.sd,
                drift_shape: "drift(t) = drift_at_end * sqrt(t / t_end)".into(),
                parts: parts.clone(),
            };
            files.push((Generated { path, bytes, records, truth_path: None }, truth, rp));
        }
    }
    Ok(files)
}

/// One unit of a life test read at readpoints.
#[derive(Serialize, Clone, Debug)]
pub struct LifeTruth {
    pub serial: String,
    /// The true failure time, drawn from Weibull(β, η).
    pub fail_time: f64,
    /// The first readpoint at or after the failure; `None` for a unit still working at
    /// the last readpoint (censored there).
    pub seen_at: Option<u32>,
    /// The readpoint before `seen_at` (0 for a failure seen at the first readpoint).
    pub last_good: u32,
}

/// A life test of `units` parts whose failure times are Weibull(β, η), measured only at
/// `readpoints` (ascending, in hours or cycles): the truth for interval-censored fits.
/// Output depends only on the arguments.
pub fn life_test(seed: u64, units: usize, beta: f64, eta: f64, readpoints: &[u32]) -> Vec<LifeTruth> {
    let mut rng = Rng::for_stream(seed, "life-test", units as u64);
    (0..units)
        .map(|i| {
            // Inverse CDF: t = η (−ln U)^(1/β), U in (0, 1].
            let u = 1.0 - rng.f64();
            let t = eta * (-u.ln()).powf(1.0 / beta);
            let seen_at = readpoints.iter().copied().find(|&rp| rp as f64 >= t);
            let last_good = match seen_at {
                Some(rp) => readpoints.iter().copied().filter(|&r| r < rp).max().unwrap_or(0),
                None => readpoints.last().copied().unwrap_or(0),
            };
            LifeTruth { serial: format!("LIFE-{:04}", i + 1), fail_time: t, seen_at, last_good }
        })
        .collect()
}
