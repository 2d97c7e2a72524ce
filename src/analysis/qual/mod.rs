//! Qualification evaluation: readpoint readings of serialised parts in (Arrow), and per
//! stress the units tested, failed and missing, each failure with its tests, drift against
//! each part's own t0, the plan's gaps against its standard profile, defect-rate bounds,
//! FIT and MTTF at use conditions, mission-profile equivalence, an interval-censored
//! Weibull fit, and a verdict with its reasons.

pub mod plan;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Float64Array, RecordBatch, StringArray, UInt32Array};
use arrow::datatypes::{DataType, Field, Float64Type, Schema, SchemaRef, UInt32Type};
use arrow::error::ArrowError;
use serde::Serialize;

pub use plan::{DriftRule, Model, Plan, PlanError, PlanErrors, Profile, ProfileStress, Unit};

use super::reliability::{self, FailureRate, Obs, WeibullFit};
use super::stats::quantile_type7;

/// The readings `evaluate` takes: one row per part, readpoint and test (a part without
/// results has one row with no test).
pub fn readings_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("stress", DataType::Utf8, false),
        Field::new("readpoint", DataType::Float64, false),
        Field::new("lot_id", DataType::Utf8, false),
        Field::new("serial", DataType::Utf8, false),
        Field::new("passed", DataType::Boolean, true),
        Field::new("test_num", DataType::UInt32, true),
        Field::new("test_name", DataType::Utf8, true),
        Field::new("value", DataType::Float64, true),
        Field::new("lo_limit", DataType::Float64, true),
        Field::new("hi_limit", DataType::Float64, true),
        // The file (or CSV line) the reading came from, for messages.
        Field::new("source", DataType::Utf8, false),
    ]))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Fail,
    /// Nothing failed beyond the accept number, but the evidence falls short of the plan or
    /// the profile (a gap, missing units, readpoints without data).
    Incomplete,
}

impl Verdict {
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::Incomplete => "INCOMPLETE",
        }
    }
}

/// A shortfall of the plan or its data against the profile.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Gap {
    /// The stress (or requirement) concerned.
    pub stress: String,
    /// missing_stress, too_few_lots, short_sample, short_duration, low_temperature,
    /// short_for_mission.
    pub kind: String,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ReadpointRow {
    pub lot_id: String,
    pub readpoint: f64,
    /// Units measured at the readpoint.
    pub tested: u32,
    /// Units first seen failed at this readpoint.
    pub failed: u32,
    /// Units measured at t0, not failed earlier, and absent here.
    pub missing: u32,
    pub cum_failed: u32,
    /// No unit of the lot was measured at this readpoint.
    pub pending: bool,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct FailTest {
    pub test_num: Option<u32>,
    pub test_name: String,
    pub value: Option<f64>,
    pub lo_limit: Option<f64>,
    pub hi_limit: Option<f64>,
    pub t0_value: Option<f64>,
    /// outside_limits, or the drift rule that was broken.
    pub why: String,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Failure {
    pub lot_id: String,
    pub serial: String,
    /// The first readpoint at which it is seen failed.
    pub readpoint: f64,
    /// The readpoint before (the interval it failed in is (last_good, readpoint]).
    pub last_good: f64,
    /// electrical (outside the test limits), drift, or both.
    pub kind: String,
    pub tests: Vec<FailTest>,
    pub source: String,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct DefectRate {
    pub cl: f64,
    pub upper: f64,
    /// zero-failure LTPD, or Clopper-Pearson with failures.
    pub method: String,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Acceleration {
    pub model: Model,
    pub af: f64,
    pub ea_ev: Option<f64>,
    pub exponent: Option<f64>,
    /// Each input and where it came from.
    pub assumptions: Vec<String>,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct DriftStat {
    pub test_name: String,
    pub test_num: Option<u32>,
    pub readpoint: f64,
    pub rule: DriftRule,
    pub limit: f64,
    pub n: usize,
    /// Of the rule's measure: relative change, absolute change, or ratio.
    pub mean: f64,
    pub sd: f64,
    pub min: f64,
    pub median: f64,
    pub max: f64,
    pub flagged: usize,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct StressResult {
    pub name: String,
    pub unit: Unit,
    pub readpoints: Vec<f64>,
    pub conditions: plan::Conditions,
    /// The profile's entry, when the profile names this stress.
    pub cite: Option<String>,
    pub accept: u32,
    pub rows: Vec<ReadpointRow>,
    /// Units measured at t0, over all lots.
    pub units: u32,
    /// Units that failed or were measured at the last readpoint with data.
    pub completed: u32,
    pub failed: u32,
    pub missing: u32,
    pub failures: Vec<Failure>,
    pub defect_rate: Vec<DefectRate>,
    pub acceleration: Option<Acceleration>,
    /// At each confidence; per device-hour for hour stresses, per device-cycle for cycles.
    pub fit: Vec<FailureRate>,
    /// The test duration the mission profile needs, when the plan has one.
    pub mission_duration: Option<f64>,
    pub weibull: Option<WeibullFit>,
    /// Each unit's life as the Weibull fit saw it: failures in (last good, first failed
    /// readpoint], survivors censored at their last readpoint.
    pub observations: Vec<Obs>,
    pub drift: Vec<DriftStat>,
    pub gaps: Vec<Gap>,
    pub notes: Vec<String>,
    pub verdict: Verdict,
    pub reasons: Vec<String>,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ProfileInfo {
    pub id: String,
    pub name: String,
    pub source: String,
    pub verified: bool,
    pub note: String,
}

/// A qualification's evaluation: everything the CLI prints, the JSON carries and the
/// report draws.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Evaluation {
    pub id: String,
    pub product: String,
    pub package: String,
    pub device_class: plan::DeviceClass,
    pub grade: Option<u8>,
    pub profile: ProfileInfo,
    pub lots: Vec<String>,
    pub confidence: Vec<f64>,
    pub stresses: Vec<StressResult>,
    /// Gaps of the whole plan (missing stresses) and of each stress.
    pub gaps: Vec<Gap>,
    pub notes: Vec<String>,
    pub verdict: Verdict,
    pub reasons: Vec<String>,
    /// Per part, parameter and readpoint (the `qual_drift` table).
    #[serde(skip)]
    pub drift_rows: Vec<DriftRow>,
}

#[derive(Debug, Clone)]
pub struct DriftRow {
    pub stress: String,
    pub lot_id: String,
    pub serial: String,
    pub test_num: Option<u32>,
    pub test_name: String,
    pub readpoint: f64,
    pub unit: Unit,
    pub t0_value: f64,
    pub value: f64,
    pub rule: DriftRule,
    pub limit: f64,
    pub flagged: bool,
}

impl DriftRow {
    pub fn delta(&self) -> f64 {
        self.value - self.t0_value
    }
    pub fn relative(&self) -> Option<f64> {
        (self.t0_value != 0.0).then(|| (self.value - self.t0_value) / self.t0_value.abs())
    }
    pub fn ratio(&self) -> Option<f64> {
        (self.t0_value != 0.0).then(|| self.value / self.t0_value)
    }
}

/// A drift criterion resolved for one stress.
#[derive(Debug, Clone)]
struct Criterion {
    test: String,
    rule: DriftRule,
    limit: f64,
    floor: f64,
}

impl Criterion {
    fn matches(&self, num: Option<u32>, name: &str) -> bool {
        self.test == name || num.is_some_and(|n| self.test.parse::<u32>().ok() == Some(n))
    }
    /// The rule's measure and whether it is outside the rule.
    fn judge(&self, v0: f64, v: f64) -> (f64, bool) {
        match self.rule {
            DriftRule::Relative => {
                let m = if v0 == 0.0 { f64::INFINITY * (v - v0).signum() } else { (v - v0) / v0.abs() };
                (m, (v - v0).abs() > self.limit * v0.abs())
            }
            DriftRule::Absolute => (v - v0, (v - v0).abs() > self.limit),
            DriftRule::Ratio => {
                let (a, b) = (v.abs().max(self.floor), v0.abs().max(self.floor));
                (a / b, a > self.limit * b)
            }
        }
    }
    fn why(&self) -> String {
        match self.rule {
            DriftRule::Relative => format!("drift beyond ±{} % of t0", self.limit * 100.0),
            DriftRule::Absolute => format!("drift beyond ±{} of t0", self.limit),
            DriftRule::Ratio => format!("above {}× t0 (floor {})", self.limit, self.floor),
        }
    }
}

fn criteria(plan: &Plan, profile: &Profile, stress: &str) -> Vec<Criterion> {
    let moisture = profile.drift.moisture_stresses.iter().any(|m| m.eq_ignore_ascii_case(stress));
    plan.drift
        .iter()
        .filter(|d| d.stresses.is_empty() || d.stresses.iter().any(|s| s.eq_ignore_ascii_case(stress)))
        .map(|d| {
            let rule = d.rule.unwrap_or(if d.leakage { DriftRule::Ratio } else { DriftRule::Relative });
            let default = match rule {
                DriftRule::Ratio if moisture => profile.drift.leakage_ratio_moisture,
                DriftRule::Ratio => profile.drift.leakage_ratio,
                _ => profile.drift.relative,
            };
            Criterion {
                test: d.test.clone(),
                rule,
                limit: d.limit.unwrap_or(default),
                floor: d.floor.unwrap_or(if rule == DriftRule::Ratio { profile.drift.leakage_floor } else { 0.0 }),
            }
        })
        .collect()
}

/// One test reading: number, name, value, low and high limit.
type TestReading = (Option<u32>, String, f64, Option<f64>, Option<f64>);

/// One part's measurement at one readpoint.
#[derive(Default, Clone)]
struct Reading {
    passed: Option<bool>,
    source: String,
    tests: Vec<TestReading>,
}

/// (lot, serial).
type PartKey = (String, String);
/// A stress's parts, each with its reading at each readpoint (None: not measured).
type StressReadings = BTreeMap<PartKey, Vec<Option<Reading>>>;
/// Per (criterion, readpoint): test number, name, the rule's measures, and how many flagged.
type DriftAcc = BTreeMap<(usize, usize), (Option<u32>, String, Vec<f64>, usize)>;

/// Readings grouped by stress, then part, then readpoint index.
/// Data at readpoints the plan does not list is left out, with a note.
fn group(
    plan: &Plan,
    readings: &[RecordBatch],
    errs: &mut Vec<PlanError>,
    notes: &mut Vec<String>,
    plan_file: &str,
) -> Result<Vec<StressReadings>, ArrowError> {
    let mut out: Vec<StressReadings> = vec![BTreeMap::new(); plan.stresses.len()];
    let idx: BTreeMap<String, usize> = plan.stresses.iter().enumerate().map(|(i, s)| (s.name.to_ascii_uppercase(), i)).collect();
    let mut unplanned: BTreeSet<(String, String)> = BTreeSet::new();
    for b in readings {
        let col = |n: &str| b.column_by_name(n).ok_or_else(|| ArrowError::SchemaError(format!("readings lack column {n}")));
        let stress = col("stress")?.as_string::<i32>();
        let rp = col("readpoint")?.as_primitive::<Float64Type>();
        let lot = col("lot_id")?.as_string::<i32>();
        let serial = col("serial")?.as_string::<i32>();
        let passed = col("passed")?.as_boolean();
        let tnum = col("test_num")?.as_primitive::<UInt32Type>();
        let tname = col("test_name")?.as_string::<i32>();
        let value = col("value")?.as_primitive::<Float64Type>();
        let lo = col("lo_limit")?.as_primitive::<Float64Type>();
        let hi = col("hi_limit")?.as_primitive::<Float64Type>();
        let source = col("source")?.as_string::<i32>();
        for i in 0..b.num_rows() {
            let Some(&si) = idx.get(&stress.value(i).to_ascii_uppercase()) else { continue };
            let s = &plan.stresses[si];
            let Some(k) = s.readpoints.iter().position(|&r| (r - rp.value(i)).abs() < 1e-9) else {
                unplanned.insert((s.name.clone(), format!("{} ({})", rp.value(i), source.value(i))));
                continue;
            };
            if !plan.lots.iter().any(|l| l == lot.value(i)) {
                continue;
            }
            let slots =
                out[si].entry((lot.value(i).to_string(), serial.value(i).to_string())).or_insert_with(|| vec![None; s.readpoints.len()]);
            let r = slots[k].get_or_insert_with(|| Reading {
                passed: passed.is_valid(i).then(|| passed.value(i)),
                source: source.value(i).to_string(),
                tests: Vec::new(),
            });
            if r.source != source.value(i) {
                errs.push(PlanError {
                    file: plan_file.into(),
                    line: None,
                    message: format!(
                        "stress {}: serial {} of lot {} is measured twice at readpoint {} ({} and {})",
                        s.name,
                        serial.value(i),
                        lot.value(i),
                        rp.value(i),
                        r.source,
                        source.value(i)
                    ),
                });
                continue;
            }
            if tname.is_valid(i) && value.is_valid(i) {
                let opt = |a: &arrow::array::PrimitiveArray<Float64Type>| a.is_valid(i).then(|| a.value(i));
                r.tests.push((tnum.is_valid(i).then(|| tnum.value(i)), tname.value(i).to_string(), value.value(i), opt(lo), opt(hi)));
            }
        }
    }
    for (s, what) in unplanned {
        notes.push(format!("stress {s}: data at readpoint {what} left out: not a readpoint of the plan"));
    }
    Ok(out)
}

/// The acceleration factor of a stress at use conditions `u` (the plan's, or one mission
/// phase's), or why there is none.
fn acceleration(plan: &Plan, u: &plan::UseConditions, ps: Option<&ProfileStress>, s: &plan::StressPlan) -> Result<Acceleration, String> {
    let model = s.model.or(ps.map(|p| p.model)).unwrap_or(Model::None);
    let mut assumptions = Vec::new();
    let pick = |plan_v: Option<f64>, prof_v: Option<f64>, default: f64, what: &str, assumptions: &mut Vec<String>| {
        let (v, from) = match (plan_v, prof_v) {
            (Some(v), _) => (v, "the plan"),
            (None, Some(v)) => (v, "the profile"),
            (None, None) => (default, "the default"),
        };
        assumptions.push(format!("{what} {v} (from {from})"));
        v
    };
    let need = |v: Option<f64>, what: &str| v.ok_or_else(|| format!("no {what}: FIT and mission equivalence need it"));
    let grade = plan.grade;
    let stress_t = s.conditions.temperature_c.or(ps.and_then(|p| p.required_temperature(grade)));
    let stress_rh = s.conditions.rh_pct.or(ps.and_then(|p| p.rh_pct));
    let stress_dt = s.conditions.delta_t_c.or(ps.and_then(|p| match grade {
        Some(g) => p.delta_t_by_grade.get(g as usize).copied(),
        None => None,
    }));
    match model {
        Model::None => Err("no acceleration model for this stress".into()),
        Model::Arrhenius => {
            let ea = pick(s.ea_ev, ps.and_then(|p| p.ea_ev), 0.7, "Ea eV", &mut assumptions);
            let (tu, ts) = (
                need(u.temperature_c, "use temperature ([use] temperature_c)")?,
                need(stress_t, "stress temperature (conditions.temperature_c)")?,
            );
            assumptions.push(format!("use {tu} °C, stress {ts} °C"));
            Ok(Acceleration { model, af: reliability::arrhenius_af(ea, tu, ts), ea_ev: Some(ea), exponent: None, assumptions })
        }
        Model::Peck => {
            let ea = pick(s.ea_ev, ps.and_then(|p| p.ea_ev), 0.8, "Ea eV", &mut assumptions);
            let n = pick(s.exponent, ps.and_then(|p| p.exponent), 3.0, "Peck exponent", &mut assumptions);
            let tu = need(u.temperature_c, "use temperature ([use] temperature_c)")?;
            let rhu = need(u.rh_pct, "use humidity ([use] rh_pct)")?;
            let ts = need(stress_t, "stress temperature (conditions.temperature_c)")?;
            let rhs = need(stress_rh, "stress humidity (conditions.rh_pct)")?;
            assumptions.push(format!("use {tu} °C / {rhu} % RH, stress {ts} °C / {rhs} % RH"));
            Ok(Acceleration { model, af: reliability::peck_af(ea, tu, rhu, ts, rhs, n), ea_ev: Some(ea), exponent: Some(n), assumptions })
        }
        Model::CoffinManson => {
            let m = pick(s.exponent, ps.and_then(|p| p.exponent), 4.0, "Coffin-Manson exponent", &mut assumptions);
            let du = need(u.delta_t_c, "use temperature swing ([use] delta_t_c)")?;
            let dt = need(stress_dt, "stress temperature swing (conditions.delta_t_c)")?;
            assumptions.push(format!("use ΔT {du} °C, stress ΔT {dt} °C"));
            Ok(Acceleration { model, af: reliability::coffin_manson_af(dt, du, m), ea_ev: None, exponent: Some(m), assumptions })
        }
    }
}

/// The test duration a mission profile needs: the sum over its phases of use / AF.
fn mission_duration(plan: &Plan, ps: Option<&ProfileStress>, s: &plan::StressPlan) -> Option<f64> {
    if plan.mission.is_empty() {
        return None;
    }
    let mut total = 0.0;
    let mut any = false;
    for ph in &plan.mission {
        let u = plan::UseConditions { temperature_c: ph.temperature_c, rh_pct: ph.rh_pct, delta_t_c: ph.delta_t_c };
        let Ok(a) = acceleration(plan, &u, ps, s) else { continue };
        let amount = match a.model {
            Model::CoffinManson => ph.cycles,
            _ => ph.hours,
        };
        if let Some(x) = amount {
            total += x / a.af;
            any = true;
        }
    }
    any.then_some(total)
}

/// Evaluates a plan against its profile on the readings. `plan_text` and `plan_file`
/// let messages name lines. Data errors (a listed serial missing at t0, a serial seen
/// later but never at t0, a part measured twice at a readpoint) are returned together.
pub fn evaluate(
    plan: &Plan,
    plan_text: &str,
    plan_file: &str,
    profile: &Profile,
    readings: &[RecordBatch],
) -> Result<Evaluation, PlanErrors> {
    let loc = plan::Locator::new(plan_text);
    let mut errs = Vec::new();
    let mut notes = Vec::new();
    let grouped = group(plan, readings, &mut errs, &mut notes, plan_file)
        .map_err(|e| PlanErrors(vec![PlanError { file: plan_file.into(), line: None, message: e.to_string() }]))?;
    let mut stresses = Vec::new();
    let mut all_gaps = Vec::new();
    let mut drift_rows = Vec::new();
    if !profile.verified {
        notes.push(format!(
            "profile {}: {}",
            profile.name,
            if profile.note.is_empty() { "numbers not checked against the primary text" } else { &profile.note }
        ));
    }
    if let (Some(g), false) = (plan.grade, profile.grades.is_empty()) {
        if !profile.grades.contains(&g) {
            errs.push(PlanError {
                file: plan_file.into(),
                line: loc.top("grade"),
                message: format!("grade {g} is not a grade of {} ({:?})", profile.name, profile.grades),
            });
        }
    } else if plan.grade.is_none() && !profile.grades.is_empty() {
        notes.push(format!("no grade given: {}'s per-grade durations and temperatures are not checked", profile.name));
    }
    // Missing stresses: each required requirement of the profile the plan does not satisfy.
    let applies = |p: &ProfileStress| {
        p.only_for.is_empty() || plan.device_type.as_ref().is_some_and(|t| p.only_for.iter().any(|o| o.eq_ignore_ascii_case(t)))
    };
    let mut seen_req: Vec<BTreeSet<String>> = Vec::new();
    for p in &profile.stress {
        let group: BTreeSet<String> =
            std::iter::once(p.name.to_ascii_uppercase()).chain(p.alternatives.iter().map(|a| a.to_ascii_uppercase())).collect();
        if seen_req.contains(&group) {
            continue;
        }
        seen_req.push(group.clone());
        let present = plan.stresses.iter().any(|s| p.satisfied_by(&s.name));
        if present {
            continue;
        }
        let names = group.iter().cloned().collect::<Vec<_>>().join(" or ");
        if p.required && applies(p) {
            all_gaps.push(Gap {
                stress: names.clone(),
                kind: "missing_stress".into(),
                detail: format!("{names} is required by {} ({}) and not in the plan", profile.name, p.cite),
            });
        } else if p.required && plan.device_type.is_none() {
            notes.push(format!("{names} is required for {} devices ({}); the plan gives no device_type", p.only_for.join("/"), p.cite));
        } else if !p.condition.is_empty() {
            notes.push(format!("{names} not in the plan; required for {} ({})", p.condition, p.cite));
        }
    }
    for (si, s) in plan.stresses.iter().enumerate() {
        let ps = profile.stress.iter().find(|p| p.matches(&s.name));
        let crit = criteria(plan, profile, &s.name);
        let parts = &grouped[si];
        let nrp = s.readpoints.len();
        let mut gaps = Vec::new();
        let mut snotes = Vec::new();
        if ps.is_none() {
            snotes.push(format!("{} is not a stress of {}: judged without its requirements", s.name, profile.name));
        }
        let samples: BTreeMap<&String, BTreeSet<String>> =
            s.samples.iter().map(|(lot, l)| (lot, l.iter().flat_map(|x| plan::expand_serials(x).unwrap_or_default()).collect())).collect();
        for (lot, serials) in &samples {
            for ser in serials {
                if parts.get(&((*lot).clone(), ser.clone())).is_none_or(|r| r[0].is_none()) {
                    errs.push(PlanError {
                        file: plan_file.into(),
                        line: loc.find(&format!("{ser:?}")).or(loc.key("stress", si, "samples")),
                        message: format!("stress {}: serial {ser} of lot {lot} is in the sample list but was not measured at t0", s.name),
                    });
                }
            }
        }
        let mut rows = Vec::new();
        let mut failures = Vec::new();
        let mut observations = Vec::new();
        let (mut units, mut missing_total, mut completed) = (0u32, 0u32, 0u32);
        let mut drift_acc: DriftAcc = BTreeMap::new();
        for lot in &plan.lots {
            let lot_parts: Vec<(&PartKey, &Vec<Option<Reading>>)> =
                parts.range((lot.clone(), String::new())..).take_while(|(k, _)| &k.0 == lot).collect();
            let has_rp: Vec<bool> = (0..nrp).map(|k| lot_parts.iter().any(|(_, r)| r[k].is_some())).collect();
            let last_rp = has_rp.iter().rposition(|&h| h);
            let (mut tested, mut failed, mut missing) = (vec![0u32; nrp], vec![0u32; nrp], vec![0u32; nrp]);
            if let Some(list) = samples.get(lot) {
                for ((_, ser), r) in &lot_parts {
                    if !list.contains(ser) {
                        snotes.push(format!(
                            "serial {ser} of lot {lot} is not in the plan's sample list ({})",
                            r.iter().flatten().next().map(|x| x.source.as_str()).unwrap_or("")
                        ));
                    }
                }
            }
            for ((_, ser), r) in &lot_parts {
                let Some(t0) = &r[0] else {
                    let first = r.iter().position(|x| x.is_some()).unwrap_or(0);
                    errs.push(PlanError {
                        file: plan_file.into(),
                        line: loc.key("stress", si, "readpoints"),
                        message: format!(
                            "stress {}: serial {ser} of lot {lot} is measured at readpoint {} ({}) but not at t0, so its drift cannot be judged",
                            s.name,
                            s.readpoints[first],
                            r[first].as_ref().map(|x| x.source.as_str()).unwrap_or("")
                        ),
                    });
                    continue;
                };
                units += 1;
                tested[0] += 1;
                let mut fail_at: Option<usize> = None;
                let mut last_seen = 0usize;
                for k in 1..nrp {
                    let Some(rd) = &r[k] else {
                        if has_rp[k] && fail_at.is_none() {
                            missing[k] += 1;
                        }
                        continue;
                    };
                    tested[k] += 1;
                    let mut tests = Vec::new();
                    let electrical = rd.passed == Some(false);
                    if electrical {
                        for (num, name, v, lo, hi) in &rd.tests {
                            if lo.is_some_and(|l| *v < l) || hi.is_some_and(|h| *v > h) {
                                let v0 = t0.tests.iter().find(|t| t.1 == *name).map(|t| t.2);
                                tests.push(FailTest {
                                    test_num: *num,
                                    test_name: name.clone(),
                                    value: Some(*v),
                                    lo_limit: *lo,
                                    hi_limit: *hi,
                                    t0_value: v0,
                                    why: "outside_limits".into(),
                                });
                            }
                        }
                        if tests.is_empty() {
                            tests.push(FailTest {
                                test_num: None,
                                test_name: String::new(),
                                value: None,
                                lo_limit: None,
                                hi_limit: None,
                                t0_value: None,
                                why: "the part's PRR says fail; no test is outside its limits".into(),
                            });
                        }
                    }
                    let mut drifted = false;
                    for (ci, c) in crit.iter().enumerate() {
                        let Some((num, name, v, _, _)) = rd.tests.iter().find(|t| c.matches(t.0, &t.1)) else { continue };
                        let Some(v0) = t0.tests.iter().find(|t| t.1 == *name).map(|t| t.2) else { continue };
                        let (m, flagged) = c.judge(v0, *v);
                        drift_rows.push(DriftRow {
                            stress: s.name.clone(),
                            lot_id: lot.clone(),
                            serial: ser.clone(),
                            test_num: *num,
                            test_name: name.clone(),
                            readpoint: s.readpoints[k],
                            unit: s.unit,
                            t0_value: v0,
                            value: *v,
                            rule: c.rule,
                            limit: c.limit,
                            flagged,
                        });
                        let e = drift_acc.entry((ci, k)).or_insert_with(|| (*num, name.clone(), Vec::new(), 0));
                        if m.is_finite() {
                            e.2.push(m);
                        }
                        e.3 += flagged as usize;
                        if flagged {
                            drifted = true;
                            tests.push(FailTest {
                                test_num: *num,
                                test_name: name.clone(),
                                value: Some(*v),
                                lo_limit: None,
                                hi_limit: None,
                                t0_value: Some(v0),
                                why: c.why(),
                            });
                        }
                    }
                    if fail_at.is_none() && (electrical || drifted) {
                        fail_at = Some(k);
                        failed[k] += 1;
                        failures.push(Failure {
                            lot_id: lot.clone(),
                            serial: ser.clone(),
                            readpoint: s.readpoints[k],
                            last_good: s.readpoints[last_seen],
                            kind: match (electrical, drifted) {
                                (true, true) => "electrical+drift",
                                (true, false) => "electrical",
                                _ => "drift",
                            }
                            .into(),
                            tests,
                            source: rd.source.clone(),
                        });
                    }
                    if fail_at.is_none() {
                        last_seen = k;
                    }
                }
                match fail_at {
                    Some(k) => {
                        observations.push(Obs::interval(s.readpoints[last_seen], s.readpoints[k]));
                        completed += 1;
                    }
                    None => {
                        observations.push(Obs::censored(s.readpoints[last_seen]));
                        completed += (Some(last_seen) == last_rp) as u32;
                    }
                }
            }
            let mut cum = 0;
            for k in 0..nrp {
                cum += failed[k];
                missing_total += missing[k];
                rows.push(ReadpointRow {
                    lot_id: lot.clone(),
                    readpoint: s.readpoints[k],
                    tested: tested[k],
                    failed: failed[k],
                    missing: missing[k],
                    cum_failed: cum,
                    pending: !has_rp[k],
                });
            }
            // Gaps of this lot's sample.
            if let Some(p) = ps
                && tested[0] < p.units
            {
                gaps.push(Gap {
                    stress: s.name.clone(),
                    kind: "short_sample".into(),
                    detail: format!("lot {lot}: {} units at t0, {} requires {} ({})", tested[0], profile.name, p.units, p.cite),
                });
            }
        }
        // Gaps of the plan against the profile.
        let last = s.readpoints.last().copied().unwrap_or(0.0);
        if let Some(p) = ps {
            if (plan.lots.len() as u32) < p.lots {
                gaps.push(Gap {
                    stress: s.name.clone(),
                    kind: "too_few_lots".into(),
                    detail: format!("{} lots, {} requires {} ({})", plan.lots.len(), profile.name, p.lots, p.cite),
                });
            }
            if s.sample_size < p.units {
                gaps.push(Gap {
                    stress: s.name.clone(),
                    kind: "short_sample".into(),
                    detail: format!("plan sample size {} per lot, {} requires {} ({})", s.sample_size, profile.name, p.units, p.cite),
                });
            }
            if p.unit != s.unit {
                gaps.push(Gap {
                    stress: s.name.clone(),
                    kind: "short_duration".into(),
                    detail: format!("readpoints in {}, {} counts {} ({})", s.unit.label(), profile.name, p.unit.label(), p.cite),
                });
            } else if let Some(d) = p.required_duration(plan.grade, &s.conditions)
                && last < d
            {
                gaps.push(Gap {
                    stress: s.name.clone(),
                    kind: "short_duration".into(),
                    detail: format!("last readpoint {last} {}, {} requires {d} ({})", s.unit.label(), profile.name, p.cite),
                });
            }
            if let Some(t) = p.required_temperature(plan.grade) {
                match s.conditions.temperature_c {
                    Some(c) if c < t => gaps.push(Gap {
                        stress: s.name.clone(),
                        kind: "low_temperature".into(),
                        detail: format!("{c} °C, {} requires {t} °C ({})", profile.name, p.cite),
                    }),
                    None => snotes.push(format!("no stress temperature in the plan; {} requires {t} °C ({})", profile.name, p.cite)),
                    _ => {}
                }
            }
        }
        let mission = mission_duration(plan, ps, s);
        if let Some(m) = mission
            && last < m
        {
            gaps.push(Gap {
                stress: s.name.clone(),
                kind: "short_for_mission".into(),
                detail: format!("last readpoint {last} {}, the mission profile needs {:.0}", s.unit.label(), m),
            });
        }
        let nfail = failures.len() as u32;
        let accept = ps.map(|p| p.accept).unwrap_or(0);
        let defect_rate: Vec<DefectRate> = plan
            .confidence
            .iter()
            .filter_map(|&cl| {
                reliability::clopper_pearson(completed as u64, nfail as u64, cl, false).ok().map(|(_, u)| DefectRate {
                    cl,
                    upper: u,
                    method: if nfail == 0 { "zero-failure LTPD".into() } else { "Clopper-Pearson".into() },
                })
            })
            .collect();
        let acc = acceleration(plan, &plan.use_conditions, ps, s);
        let mut fit = Vec::new();
        match &acc {
            Ok(a) => {
                let dh = reliability::device_hours(&observations);
                for &cl in &plan.confidence {
                    match reliability::chi2_failure_rate(dh, nfail as u64, a.af, cl) {
                        Ok(f) => fit.push(f),
                        Err(e) => snotes.push(format!("FIT at {cl}: {e}")),
                    }
                }
                if s.unit == Unit::Cycles {
                    snotes.push(
                        "failure rates of a cycling stress are per device-cycle at use conditions (FIT: per 1e9 device-cycles)".into(),
                    );
                }
            }
            Err(e) => snotes.push(format!("FIT and MTTF not computed: {e}")),
        }
        let weibull = if nfail == 0 {
            snotes.push("no failures: no Weibull fit (the defect-rate bound and FIT carry the evidence)".into());
            None
        } else {
            match reliability::weibull_fit(&observations, 0.9) {
                Ok(w) => Some(w),
                Err(e) => {
                    snotes.push(format!("Weibull not fitted: {e}"));
                    None
                }
            }
        };
        let drift: Vec<DriftStat> = drift_acc
            .into_iter()
            .map(|((ci, k), (num, name, mut v, flagged))| {
                v.sort_by(f64::total_cmp);
                let n = v.len();
                let mean = v.iter().sum::<f64>() / n.max(1) as f64;
                let sd = if n > 1 { (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt() } else { 0.0 };
                DriftStat {
                    test_name: name,
                    test_num: num,
                    readpoint: s.readpoints[k],
                    rule: crit[ci].rule,
                    limit: crit[ci].limit,
                    n,
                    mean,
                    sd,
                    min: v.first().copied().unwrap_or(f64::NAN),
                    median: quantile_type7(&v, 0.5).unwrap_or(f64::NAN),
                    max: v.last().copied().unwrap_or(f64::NAN),
                    flagged,
                }
            })
            .collect();
        let mut reasons = Vec::new();
        if nfail > accept {
            reasons.push(format!("{} failures in {} units > accept number {accept}", nfail, units));
        }
        for g in &gaps {
            reasons.push(format!("{}: {}", g.kind, g.detail));
        }
        if missing_total > 0 {
            reasons.push(format!("{missing_total} units missing at a readpoint (measured at t0, absent later)"));
        }
        let pending: Vec<String> = rows.iter().filter(|r| r.pending).map(|r| format!("{} at {}", r.lot_id, r.readpoint)).collect();
        if !pending.is_empty() {
            reasons.push(format!("no data yet: {}", pending.join(", ")));
        }
        let verdict = if nfail > accept {
            Verdict::Fail
        } else if reasons.is_empty() {
            Verdict::Pass
        } else {
            Verdict::Incomplete
        };
        all_gaps.extend(gaps.iter().cloned());
        stresses.push(StressResult {
            name: s.name.clone(),
            unit: s.unit,
            readpoints: s.readpoints.clone(),
            conditions: s.conditions.clone(),
            cite: ps.map(|p| p.cite.clone()),
            accept,
            rows,
            units,
            completed,
            failed: nfail,
            missing: missing_total,
            failures,
            defect_rate,
            acceleration: acc.ok(),
            fit,
            mission_duration: mission,
            weibull,
            observations,
            drift,
            gaps,
            notes: snotes,
            verdict,
            reasons,
        });
    }
    if !errs.is_empty() {
        return Err(PlanErrors(errs));
    }
    let mut reasons = Vec::new();
    for g in all_gaps.iter().filter(|g| g.kind == "missing_stress") {
        reasons.push(format!("missing stress: {}", g.detail));
    }
    for s in &stresses {
        if s.verdict != Verdict::Pass {
            reasons.push(format!("{} {}: {}", s.name, s.verdict.label(), s.reasons.join("; ")));
        }
    }
    let verdict = if stresses.iter().any(|s| s.verdict == Verdict::Fail) {
        Verdict::Fail
    } else if reasons.is_empty() {
        Verdict::Pass
    } else {
        Verdict::Incomplete
    };
    Ok(Evaluation {
        id: plan.id.clone(),
        product: plan.product.clone(),
        package: plan.package.clone(),
        device_class: plan.device_class,
        grade: plan.grade,
        profile: ProfileInfo {
            id: profile.id.clone(),
            name: profile.name.clone(),
            source: profile.source.clone(),
            verified: profile.verified,
            note: profile.note.clone(),
        },
        lots: plan.lots.clone(),
        confidence: plan.confidence.clone(),
        stresses,
        gaps: all_gaps,
        notes,
        verdict,
        reasons,
        drift_rows,
    })
}

/// The `qual_results` table: one row per stress, lot and readpoint.
pub fn results_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("qual_id", DataType::Utf8, false),
        Field::new("product", DataType::Utf8, false),
        Field::new("profile", DataType::Utf8, false),
        Field::new("stress", DataType::Utf8, false),
        Field::new("unit", DataType::Utf8, false),
        Field::new("lot_id", DataType::Utf8, false),
        Field::new("readpoint", DataType::Float64, false),
        Field::new("tested", DataType::UInt32, false),
        Field::new("failed", DataType::UInt32, false),
        Field::new("missing", DataType::UInt32, false),
        Field::new("cum_failed", DataType::UInt32, false),
        Field::new("stress_verdict", DataType::Utf8, false),
        Field::new("qual_verdict", DataType::Utf8, false),
    ]))
}

/// The `qual_drift` table: one row per part, judged parameter and readpoint after t0.
pub fn drift_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("qual_id", DataType::Utf8, false),
        Field::new("product", DataType::Utf8, false),
        Field::new("stress", DataType::Utf8, false),
        Field::new("lot_id", DataType::Utf8, false),
        Field::new("serial", DataType::Utf8, false),
        Field::new("test_num", DataType::UInt32, true),
        Field::new("test_name", DataType::Utf8, false),
        Field::new("readpoint", DataType::Float64, false),
        Field::new("unit", DataType::Utf8, false),
        Field::new("t0_value", DataType::Float64, false),
        Field::new("value", DataType::Float64, false),
        Field::new("delta", DataType::Float64, false),
        Field::new("relative", DataType::Float64, true),
        Field::new("ratio", DataType::Float64, true),
        Field::new("rule", DataType::Utf8, false),
        Field::new("limit", DataType::Float64, false),
        Field::new("flagged", DataType::Boolean, false),
    ]))
}

fn strings<I: IntoIterator<Item = S>, S: AsRef<str>>(v: I) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(v))
}

pub fn results_table(e: &Evaluation) -> Result<RecordBatch, ArrowError> {
    let rows: Vec<(&StressResult, &ReadpointRow)> = e.stresses.iter().flat_map(|s| s.rows.iter().map(move |r| (s, r))).collect();
    let n = rows.len();
    let rep = |v: &str| strings(std::iter::repeat_n(v, n));
    RecordBatch::try_new(
        results_schema(),
        vec![
            rep(&e.id),
            rep(&e.product),
            rep(&e.profile.id),
            strings(rows.iter().map(|(s, _)| s.name.as_str())),
            strings(rows.iter().map(|(s, _)| s.unit.label())),
            strings(rows.iter().map(|(_, r)| r.lot_id.as_str())),
            Arc::new(Float64Array::from_iter_values(rows.iter().map(|(_, r)| r.readpoint))),
            Arc::new(UInt32Array::from_iter_values(rows.iter().map(|(_, r)| r.tested))),
            Arc::new(UInt32Array::from_iter_values(rows.iter().map(|(_, r)| r.failed))),
            Arc::new(UInt32Array::from_iter_values(rows.iter().map(|(_, r)| r.missing))),
            Arc::new(UInt32Array::from_iter_values(rows.iter().map(|(_, r)| r.cum_failed))),
            strings(rows.iter().map(|(s, _)| s.verdict.label())),
            rep(e.verdict.label()),
        ],
    )
}

pub fn drift_table(e: &Evaluation) -> Result<RecordBatch, ArrowError> {
    let d = &e.drift_rows;
    let n = d.len();
    let rep = |v: &str| strings(std::iter::repeat_n(v, n));
    let rule = |r: DriftRule| match r {
        DriftRule::Relative => "relative",
        DriftRule::Absolute => "absolute",
        DriftRule::Ratio => "ratio",
    };
    RecordBatch::try_new(
        drift_schema(),
        vec![
            rep(&e.id),
            rep(&e.product),
            strings(d.iter().map(|r| r.stress.as_str())),
            strings(d.iter().map(|r| r.lot_id.as_str())),
            strings(d.iter().map(|r| r.serial.as_str())),
            Arc::new(d.iter().map(|r| r.test_num).collect::<UInt32Array>()),
            strings(d.iter().map(|r| r.test_name.as_str())),
            Arc::new(Float64Array::from_iter_values(d.iter().map(|r| r.readpoint))),
            strings(d.iter().map(|r| r.unit.label())),
            Arc::new(Float64Array::from_iter_values(d.iter().map(|r| r.t0_value))),
            Arc::new(Float64Array::from_iter_values(d.iter().map(|r| r.value))),
            Arc::new(Float64Array::from_iter_values(d.iter().map(|r| r.delta()))),
            Arc::new(d.iter().map(|r| r.relative()).collect::<Float64Array>()),
            Arc::new(d.iter().map(|r| r.ratio()).collect::<Float64Array>()),
            strings(d.iter().map(|r| rule(r.rule))),
            Arc::new(Float64Array::from_iter_values(d.iter().map(|r| r.limit))),
            Arc::new(BooleanArray::from(d.iter().map(|r| r.flagged).collect::<Vec<_>>())),
        ],
    )
}
