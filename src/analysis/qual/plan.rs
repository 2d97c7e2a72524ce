//! The qualification plan (what was stressed, how, and where its data is) and the
//! standard profile it is judged against (what the standard requires), both TOML. Parsing
//! checks every field a person can get wrong and names the line it is on.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The `format` a plan must declare.
pub const PLAN_FORMAT: &str = "yieldlake-qual-plan/1";
/// The `format` a profile must declare.
pub const PROFILE_FORMAT: &str = "yieldlake-qual-profile/1";

/// The profiles shipped in `profiles/`, built in so that a fresh install has them; a plan
/// may instead name a copied and edited file by path.
pub const BUILTIN_PROFILES: &[(&str, &str)] = &[
    ("aec-q100", include_str!("../../../profiles/aec-q100-rev-h.toml")),
    ("aec-q101", include_str!("../../../profiles/aec-q101-rev-d1.toml")),
    ("aqg324", include_str!("../../../profiles/aqg324.toml")),
    ("aec-q103", include_str!("../../../profiles/aec-q103.toml")),
    ("gr468", include_str!("../../../profiles/gr468.toml")),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum DeviceClass {
    Ic,
    Discrete,
    PowerModule,
    Mems,
    Photonics,
}

/// The unit of a stress's readpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    /// Hours.
    H,
    Cycles,
}

impl Unit {
    pub fn label(self) -> &'static str {
        match self {
            Unit::H => "h",
            Unit::Cycles => "cycles",
        }
    }
}

/// The acceleration model that relates a stress to use conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Model {
    /// Temperature: exp((Ea/k)(1/T_use − 1/T_stress)).
    Arrhenius,
    /// Temperature and humidity (Hallberg-Peck): (RH_t/RH_u)^n · Arrhenius.
    Peck,
    /// Thermal or power cycling: (ΔT_t/ΔT_u)^m.
    CoffinManson,
    /// No acceleration model: no FIT and no mission-profile equivalence.
    None,
}

/// A qualification plan.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// Must be "yieldlake-qual-plan/1".
    pub format: String,
    /// Names this qualification; its results land in the lake under this id.
    pub id: String,
    /// The product (MIR PART_TYP of its files).
    pub product: String,
    pub package: String,
    pub device_class: DeviceClass,
    /// mosfet, igbt, diode, ...: selects the profile's stresses that apply only to some types.
    #[serde(default)]
    pub device_type: Option<String>,
    /// A built-in profile id (aec-q100, aec-q101, aqg324, aec-q103, gr468) or the path of a
    /// profile file, relative to the plan.
    pub profile: String,
    /// The temperature grade, for profiles with grades (AEC-Q100: 0 to 3).
    #[serde(default)]
    pub grade: Option<u8>,
    /// The qualification lots (MIR LOT_ID).
    pub lots: Vec<String>,
    /// Confidence levels of the defect-rate bounds and FIT.
    #[serde(default = "default_confidence")]
    pub confidence: Vec<f64>,
    /// Use conditions for FIT and MTTF.
    #[serde(default, rename = "use")]
    pub use_conditions: UseConditions,
    /// The phases of a use profile, for the mission-profile equivalence (AEC-Q100/Q101
    /// Appendix 7): each stress needs the sum over phases of the phase's use over its
    /// acceleration factor.
    #[serde(default)]
    pub mission: Vec<MissionPhase>,
    #[serde(rename = "stress")]
    pub stresses: Vec<StressPlan>,
    /// The parameters whose drift against t0 is judged.
    #[serde(default)]
    pub drift: Vec<DriftCriterion>,
}

fn default_confidence() -> Vec<f64> {
    vec![0.6, 0.9]
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UseConditions {
    /// Use temperature (junction or ambient, as the stress), °C.
    pub temperature_c: Option<f64>,
    /// Use relative humidity, %.
    pub rh_pct: Option<f64>,
    /// Use temperature swing per cycle, °C.
    pub delta_t_c: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MissionPhase {
    pub name: String,
    /// Hours in this phase over the life (Arrhenius, Peck).
    pub hours: Option<f64>,
    pub temperature_c: Option<f64>,
    pub rh_pct: Option<f64>,
    /// Cycles over the life (Coffin-Manson).
    pub cycles: Option<f64>,
    pub delta_t_c: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StressPlan {
    /// HTOL, HTRB, HTGB, H3TRB, HAST, THB, TC, PTC, IOL, PC, HTSL, ELFR, UIS, ...
    pub name: String,
    pub unit: Unit,
    /// Readpoints in the unit, ascending, starting with 0 (t0).
    pub readpoints: Vec<f64>,
    /// Units per lot.
    pub sample_size: u32,
    #[serde(default)]
    pub conditions: Conditions,
    /// Overrides the profile's acceleration model.
    #[serde(default)]
    pub model: Option<Model>,
    /// Activation energy, eV (Arrhenius, Peck); overrides the profile's.
    #[serde(default)]
    pub ea_ev: Option<f64>,
    /// Peck humidity exponent or Coffin-Manson exponent; overrides the profile's.
    #[serde(default)]
    pub exponent: Option<f64>,
    /// The serialised sample of each lot (PRR PART_ID), by lot id. When given, every
    /// listed serial must be measured at t0, and serials not listed are reported. An entry
    /// "A-001..A-077" stands for, ..., A-077.
    #[serde(default)]
    pub samples: BTreeMap<String, Vec<String>>,
    /// Where the readpoints' data is. Default: the lake files of the plan's lots whose
    /// MIR TEST_COD is the stress name.
    #[serde(default)]
    pub data: DataSource,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Conditions {
    /// Stress temperature (ambient or junction), °C.
    pub temperature_c: Option<f64>,
    /// Bias as a fraction of the rated voltage.
    pub voltage_fraction: Option<f64>,
    /// Relative humidity, %.
    pub rh_pct: Option<f64>,
    /// Temperature swing per cycle, °C.
    pub delta_t_c: Option<f64>,
    /// Minutes on per cycle (IOL, PTC, PC).
    pub cycle_on_min: Option<f64>,
    /// Minutes off per cycle.
    pub cycle_off_min: Option<f64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DataSource {
    /// Select lake files by MIR TEST_COD (default: the stress name). The readpoint comes
    /// from USER_TXT `readpoint=N`, else from a number in FLOW_ID (T0 is 0).
    #[serde(default)]
    pub test_code: Option<String>,
    /// Select lake files explicitly, per readpoint, by file id, file name or source path.
    #[serde(default)]
    pub files: Vec<ReadpointFiles>,
    /// A CSV of measurements instead of lake files (relative to the plan), with the
    /// columns lot,serial,readpoint,test,value and optionally lo,hi,passed.
    #[serde(default)]
    pub csv: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadpointFiles {
    pub readpoint: f64,
    pub files: Vec<String>,
}

/// How a parameter's reading after stress is compared with its own t0 reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DriftRule {
    /// |v − v0| ≤ limit · |v0|.
    Relative,
    /// |v − v0| ≤ limit (base units).
    Absolute,
    /// max(v, floor) ≤ limit · max(v0, floor): leakages.
    Ratio,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DriftCriterion {
    /// Test name or number.
    pub test: String,
    /// A leakage: judged by ratio to t0 (the profile's leakage limits) unless `rule` is given.
    #[serde(default)]
    pub leakage: bool,
    /// Default: ratio for leakages, relative otherwise.
    #[serde(default)]
    pub rule: Option<DriftRule>,
    /// Default: the profile's (20 % relative; 5× leakage, 10× after moisture stresses).
    #[serde(default)]
    pub limit: Option<f64>,
    /// For the ratio rule: readings below this are compared as this (default: the profile's).
    #[serde(default)]
    pub floor: Option<f64>,
    /// Only these stresses (default: all).
    #[serde(default)]
    pub stresses: Vec<String>,
}

/// A standard profile: what a qualification must contain.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub format: String,
    pub id: String,
    pub name: String,
    pub source: String,
    pub device_class: DeviceClass,
    /// Every number was checked against the primary text.
    pub verified: bool,
    /// Said in every report that uses the profile.
    #[serde(default)]
    pub note: String,
    #[serde(default)]
    pub grades: Vec<u8>,
    pub drift: DriftDefaults,
    pub stress: Vec<ProfileStress>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DriftDefaults {
    pub relative: f64,
    pub leakage_ratio: f64,
    pub leakage_ratio_moisture: f64,
    pub leakage_floor: f64,
    pub moisture_stresses: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileStress {
    pub name: String,
    /// Stresses that satisfy the same requirement (e.g. HAST for THB).
    #[serde(default)]
    pub alternatives: Vec<String>,
    pub required: bool,
    /// Required only for these device types (the plan's `device_type`).
    #[serde(default)]
    pub only_for: Vec<String>,
    /// When a non-required stress applies.
    #[serde(default)]
    pub condition: String,
    pub lots: u32,
    pub units: u32,
    pub accept: u32,
    pub unit: Unit,
    #[serde(default)]
    pub duration: Option<f64>,
    #[serde(default)]
    pub duration_by_grade: Vec<f64>,
    #[serde(default)]
    pub temperature_c: Option<f64>,
    #[serde(default)]
    pub temperature_by_grade: Vec<f64>,
    #[serde(default)]
    pub delta_t_by_grade: Vec<f64>,
    #[serde(default)]
    pub rh_pct: Option<f64>,
    /// AEC-Q101 Table 2A: cycles = this / (minutes on + minutes off) for ΔTj ≥ 100 °C, at most `cycles_cap`.
    #[serde(default)]
    pub cycles_per_minute_on_off: Option<f64>,
    #[serde(default)]
    pub cycles_cap: Option<f64>,
    /// The same for ΔTj ≥ 125 °C.
    #[serde(default)]
    pub cycles_per_minute_on_off_125: Option<f64>,
    #[serde(default)]
    pub cycles_cap_125: Option<f64>,
    pub model: Model,
    #[serde(default)]
    pub ea_ev: Option<f64>,
    #[serde(default)]
    pub exponent: Option<f64>,
    /// Where in the standard the numbers come from.
    pub cite: String,
}

impl ProfileStress {
    pub fn matches(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
    }
    pub fn satisfied_by(&self, name: &str) -> bool {
        self.matches(name) || self.alternatives.iter().any(|a| a.eq_ignore_ascii_case(name))
    }
    fn by_grade(v: &[f64], one: Option<f64>, grade: Option<u8>) -> Option<f64> {
        match grade {
            Some(g) if !v.is_empty() => v.get(g as usize).copied(),
            _ => one.or(v.first().copied().filter(|_| v.len() == 1)),
        }
    }
    /// The required duration, for the grade; with on/off minutes for the cycle formula.
    pub fn required_duration(&self, grade: Option<u8>, c: &Conditions) -> Option<f64> {
        if let Some(d) = Self::by_grade(&self.duration_by_grade, self.duration, grade) {
            return Some(d);
        }
        let (num, cap) = if c.delta_t_c.is_some_and(|d| d >= 125.0) && self.cycles_per_minute_on_off_125.is_some() {
            (self.cycles_per_minute_on_off_125, self.cycles_cap_125)
        } else {
            (self.cycles_per_minute_on_off, self.cycles_cap)
        };
        let num = num?;
        let cap = cap.unwrap_or(f64::INFINITY);
        match (c.cycle_on_min, c.cycle_off_min) {
            (Some(on), Some(off)) if on + off > 0.0 => Some((num / (on + off)).min(cap).ceil()),
            _ => Some(cap),
        }
    }
    pub fn required_temperature(&self, grade: Option<u8>) -> Option<f64> {
        Self::by_grade(&self.temperature_by_grade, self.temperature_c, grade)
    }
}

/// A problem in a plan, profile or data file, with where it is.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanError {
    /// The file (the plan, a profile or a CSV).
    pub file: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    pub message: String,
}

impl std::fmt::Display for PlanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(l) => write!(f, "{} line {l}: {}", self.file, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

/// Several problems, all reported at once.
#[derive(Debug, Clone)]
pub struct PlanErrors(pub Vec<PlanError>);

impl std::fmt::Display for PlanErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let v: Vec<String> = self.0.iter().map(|e| e.to_string()).collect();
        f.write_str(&v.join("\n"))
    }
}
impl std::error::Error for PlanErrors {}

/// Finds the lines of keys in a TOML text, so that checks made after parsing can still
/// name a line: the n-th `[[table]]` header, and a key inside it.
pub struct Locator<'a> {
    lines: Vec<&'a str>,
}

impl<'a> Locator<'a> {
    pub fn new(text: &'a str) -> Self {
        Locator { lines: text.lines().collect() }
    }
    fn header(&self, table: &str, index: usize) -> Option<usize> {
        let h = format!("[[{table}]]");
        self.lines.iter().enumerate().filter(|(_, l)| l.trim_start().starts_with(&h)).map(|(i, _)| i).nth(index)
    }
    fn key_from(&self, start: usize, key: &str) -> Option<usize> {
        for (i, l) in self.lines.iter().enumerate().skip(start) {
            let t = l.trim_start();
            if i > start && t.starts_with("[[") {
                return None;
            }
            if let Some(rest) = t.strip_prefix(key)
                && rest.trim_start().starts_with('=')
            {
                return Some(i);
            }
        }
        None
    }
    /// 1-based line of `[[table]]` number `index`.
    pub fn table(&self, table: &str, index: usize) -> Option<usize> {
        self.header(table, index).map(|i| i + 1)
    }
    /// 1-based line of `key` in `[[table]]` number `index` (the header's line if the key is not written).
    pub fn key(&self, table: &str, index: usize, key: &str) -> Option<usize> {
        let h = self.header(table, index)?;
        Some(self.key_from(h, key).unwrap_or(h) + 1)
    }
    /// 1-based line of a top-level key.
    pub fn top(&self, key: &str) -> Option<usize> {
        let end = self.lines.iter().position(|l| l.trim_start().starts_with('[')).unwrap_or(self.lines.len());
        (0..end).find(|&i| self.lines[i].trim_start().strip_prefix(key).is_some_and(|r| r.trim_start().starts_with('='))).map(|i| i + 1)
    }
    /// 1-based line of the first line containing `needle` (a quoted value, e.g. a serial).
    pub fn find(&self, needle: &str) -> Option<usize> {
        self.lines.iter().position(|l| l.contains(needle)).map(|i| i + 1)
    }
}

/// Expands a sample-list entry: a serial, or a range "A-001..A-077" of serials that differ
/// only in a trailing number (kept at its width).
pub fn expand_serials(item: &str) -> Result<Vec<String>, String> {
    let Some((a, b)) = item.split_once("..") else { return Ok(vec![item.to_string()]) };
    let split = |s: &str| {
        let d = s.len() - s.bytes().rev().take_while(|c| c.is_ascii_digit()).count();
        (s[..d].to_string(), s[d..].to_string())
    };
    let ((pa, na), (pb, nb)) = (split(a), split(b));
    let bad = || format!("sample range {item:?} must read PREFIX<number>..PREFIX<number>, first <= last");
    if pa != pb || na.is_empty() || nb.is_empty() {
        return Err(bad());
    }
    let (x, y): (u64, u64) = (na.parse().map_err(|_| bad())?, nb.parse().map_err(|_| bad())?);
    if x > y || y - x > 1_000_000 {
        return Err(bad());
    }
    Ok((x..=y).map(|i| format!("{pa}{i:0w$}", w = na.len())).collect())
}

fn toml_error(file: &str, text: &str, e: toml::de::Error) -> PlanError {
    let line = e.span().map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
    PlanError { file: file.into(), line, message: e.message().to_string() }
}

/// Parses and checks a plan. `file` names it in messages.
pub fn parse_plan(text: &str, file: &str) -> Result<Plan, PlanErrors> {
    let plan: Plan = toml::from_str(text).map_err(|e| PlanErrors(vec![toml_error(file, text, e)]))?;
    let loc = Locator::new(text);
    let mut errs = Vec::new();
    let mut e = |line: Option<usize>, m: String| errs.push(PlanError { file: file.into(), line, message: m });
    if plan.format != PLAN_FORMAT {
        e(loc.top("format"), format!("format is {:?}; this version reads {PLAN_FORMAT:?}", plan.format));
    }
    if plan.id.trim().is_empty() || plan.id.contains(['/', '\\']) {
        e(loc.top("id"), "id must be a non-empty name without slashes (it names the results in the lake)".into());
    }
    if plan.lots.is_empty() {
        e(loc.top("lots"), "lots is empty: name the qualification lots".into());
    }
    for c in &plan.confidence {
        if !(*c > 0.0 && *c < 1.0) {
            e(loc.top("confidence"), format!("confidence {c} must be between 0 and 1"));
        }
    }
    if plan.stresses.is_empty() {
        e(None, "the plan has no [[stress]]".into());
    }
    for (i, s) in plan.stresses.iter().enumerate() {
        let at = |k: &str| loc.key("stress", i, k);
        if plan.stresses[..i].iter().any(|o| o.name.eq_ignore_ascii_case(&s.name)) {
            e(at("name"), format!("stress {} appears twice", s.name));
        }
        if s.readpoints.is_empty() {
            e(at("readpoints"), format!("stress {}: no readpoints", s.name));
        }
        for (k, &r) in s.readpoints.iter().enumerate() {
            if !r.is_finite() || r < 0.0 {
                e(at("readpoints"), format!("stress {}: readpoint {r} is negative", s.name));
            } else if k > 0 && r <= s.readpoints[k - 1] {
                e(at("readpoints"), format!("stress {}: readpoints out of order ({r} after {})", s.name, s.readpoints[k - 1]));
            }
        }
        if s.readpoints.first().is_some_and(|&r| r != 0.0) {
            e(at("readpoints"), format!("stress {}: the first readpoint must be 0 (t0), the reference for drift", s.name));
        }
        for (lot, list) in &s.samples {
            if !plan.lots.contains(lot) {
                e(at("samples"), format!("stress {}: samples names lot {lot:?}, which is not in lots", s.name));
            }
            for item in list {
                if let Err(m) = expand_serials(item) {
                    e(loc.find(&format!("{item:?}")), format!("stress {}: {m}", s.name));
                }
            }
        }
        if s.sample_size == 0 {
            e(at("sample_size"), format!("stress {}: sample_size is 0", s.name));
        }
        for (name, v) in [("ea_ev", s.ea_ev), ("exponent", s.exponent)] {
            if v.is_some_and(|v| !(v.is_finite() && v > 0.0)) {
                e(at(name), format!("stress {}: {name} must be positive", s.name));
            }
        }
        if !s.data.files.is_empty() && s.data.csv.is_some() {
            e(at("csv"), format!("stress {}: give data.files or data.csv, not both", s.name));
        }
        for f in &s.data.files {
            if !s.readpoints.contains(&f.readpoint) {
                e(at("files"), format!("stress {}: data.files names readpoint {}, which is not in readpoints", s.name, f.readpoint));
            }
        }
    }
    for (i, d) in plan.drift.iter().enumerate() {
        if d.limit.is_some_and(|l| !(l.is_finite() && l > 0.0)) {
            e(loc.key("drift", i, "limit"), format!("drift {}: limit must be positive", d.test));
        }
        for s in &d.stresses {
            if !plan.stresses.iter().any(|p| p.name.eq_ignore_ascii_case(s)) {
                e(loc.key("drift", i, "stresses"), format!("drift {}: stress {s} is not in the plan", d.test));
            }
        }
    }
    for (i, m) in plan.mission.iter().enumerate() {
        for (k, v) in [("hours", m.hours), ("cycles", m.cycles), ("rh_pct", m.rh_pct), ("delta_t_c", m.delta_t_c)] {
            if v.is_some_and(|v| !(v.is_finite() && v >= 0.0)) {
                e(loc.key("mission", i, k), format!("mission phase {}: {k} is negative", m.name));
            }
        }
    }
    if errs.is_empty() { Ok(plan) } else { Err(PlanErrors(errs)) }
}

/// Parses and checks a profile.
pub fn parse_profile(text: &str, file: &str) -> Result<Profile, PlanErrors> {
    let p: Profile = toml::from_str(text).map_err(|e| PlanErrors(vec![toml_error(file, text, e)]))?;
    let loc = Locator::new(text);
    let mut errs = Vec::new();
    if p.format != PROFILE_FORMAT {
        errs.push(PlanError {
            file: file.into(),
            line: loc.top("format"),
            message: format!("format is {:?}; expected {PROFILE_FORMAT:?}", p.format),
        });
    }
    for (i, s) in p.stress.iter().enumerate() {
        for v in [&s.duration_by_grade, &s.temperature_by_grade, &s.delta_t_by_grade] {
            if !v.is_empty() && !p.grades.is_empty() && v.len() != p.grades.len() {
                errs.push(PlanError {
                    file: file.into(),
                    line: loc.table("stress", i),
                    message: format!("stress {}: a per-grade list needs one value per grade ({})", s.name, p.grades.len()),
                });
            }
        }
    }
    if errs.is_empty() { Ok(p) } else { Err(PlanErrors(errs)) }
}

/// The JSON Schema of the plan, as kept in `schemas/`.
pub fn plan_json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(Plan)).unwrap_or_default()
}

/// The JSON Schema of a profile.
pub fn profile_json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(Profile)).unwrap_or_default()
}
