//! Statistical yield and bin limits (AEC-Q002 Rev-B): SYL1/SYL2 on lot yield and
//! SBL1/SBL2 on each failing bin's share, from a rolling window of the product's earlier
//! lots, and the disposition of each lot (normal, review, hold) with its reasons.

use std::collections::BTreeMap;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{UInt16Type, UInt64Type};
use serde::{Deserialize, Serialize};
use statrs::distribution::{DiscreteCDF, Poisson};

/// How yields are modelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum YieldModel {
    /// μ − 3σ and μ − 4σ of the lot yields (AEC-Q002).
    #[default]
    Normal,
    /// The same on the logit of yield, mapped back: for yields near 100 %, whose
    /// distribution is skewed and bounded, the limits stay below 100 % and above 0 %.
    Logit,
}

/// How bin shares are modelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum BinModel {
    /// μ + 3σ and μ + 4σ of the lot percentages (AEC-Q002).
    #[default]
    Normal,
    /// For rare bins: the count a Poisson with the window's rate per unit exceeds with
    /// the one-sided normal tail probabilities of 3σ (0.135 %) and 4σ (0.003 %).
    Poisson,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SylConfig {
    /// The most recent earlier lots the limits come from.
    pub window: usize,
    /// Fewer earlier lots than this: no limits ("insufficient_history").
    pub min_lots: usize,
    pub yield_model: YieldModel,
    pub bin_model: BinModel,
}

impl Default for SylConfig {
    fn default() -> Self {
        SylConfig { window: 8, min_lots: 6, yield_model: YieldModel::Normal, bin_model: BinModel::Normal }
    }
}

/// One lot at one stage or insertion: units, final passes and failing-bin counts.
#[derive(Debug, Clone, Serialize)]
pub struct LotCounts {
    pub lot_id: String,
    pub scope: String,
    pub units: u64,
    pub passed: u64,
    pub bins: BTreeMap<u16, u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Normal,
    Review,
    Hold,
    InsufficientHistory,
}

/// A limit a lot broke.
#[derive(Debug, Clone, Serialize)]
pub struct Reason {
    /// SYL1, SYL2, SBL1 or SBL2.
    pub limit: &'static str,
    pub bin: Option<u16>,
    pub value: f64,
    pub limit_value: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct BinLimits {
    pub bin: u16,
    pub pct: f64,
    pub sbl1: Option<f64>,
    pub sbl2: Option<f64>,
}

/// A lot judged by the limits in force when it was tested: those of its own earlier lots.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub lot_id: String,
    pub scope: String,
    pub units: u64,
    pub yield_pct: f64,
    pub syl1: Option<f64>,
    pub syl2: Option<f64>,
    pub status: Status,
    pub reasons: Vec<Reason>,
    /// The lots the limits came from.
    pub history: Vec<String>,
    pub bins: Vec<BinLimits>,
}

fn mean_sd(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    let sd = if v.len() > 1 { (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0)).sqrt() } else { 0.0 };
    (m, sd)
}

/// One-sided normal tail beyond 3 and 4 sigma.
const TAIL: [f64; 2] = [0.001_349_898, 0.000_031_671];

/// The smallest count c with P(X > c) ≤ tail for X ~ Poisson(m).
fn poisson_limit(m: f64, tail: f64) -> f64 {
    if m <= 0.0 {
        return 0.0;
    }
    let Ok(p) = Poisson::new(m) else { return 0.0 };
    let mut c = m.floor() as u64;
    while p.sf(c) > tail {
        c += 1;
    }
    c as f64
}

/// Judges lots in test order (`lots` is in that order); each scope has its own history.
/// Lots found review or hold are left out of later windows, so one bad lot does not
/// widen the limits that judge the next.
pub fn judge(lots: &[LotCounts], cfg: &SylConfig) -> Vec<Verdict> {
    let mut out: Vec<Verdict> = Vec::new();
    let mut history: BTreeMap<&str, Vec<&LotCounts>> = BTreeMap::new();
    for lot in lots {
        let hist = history.entry(lot.scope.as_str()).or_default();
        let window: Vec<&LotCounts> = hist.iter().rev().take(cfg.window).rev().copied().collect();
        let y = if lot.units > 0 { 100.0 * lot.passed as f64 / lot.units as f64 } else { f64::NAN };
        let pct = |l: &LotCounts, b: u16| if l.units > 0 { 100.0 * *l.bins.get(&b).unwrap_or(&0) as f64 / l.units as f64 } else { 0.0 };
        let mut v = Verdict {
            lot_id: lot.lot_id.clone(),
            scope: lot.scope.clone(),
            units: lot.units,
            yield_pct: y,
            syl1: None,
            syl2: None,
            status: Status::InsufficientHistory,
            reasons: Vec::new(),
            history: window.iter().map(|l| l.lot_id.clone()).collect(),
            bins: Vec::new(),
        };
        let mut bins: Vec<u16> = lot.bins.keys().copied().collect();
        for l in &window {
            bins.extend(l.bins.keys());
        }
        bins.sort_unstable();
        bins.dedup();
        if window.len() >= cfg.min_lots.max(2) && lot.units > 0 {
            let ys: Vec<f64> = window.iter().filter(|l| l.units > 0).map(|l| 100.0 * l.passed as f64 / l.units as f64).collect();
            let (s1, s2) = match cfg.yield_model {
                YieldModel::Normal => {
                    let (m, s) = mean_sd(&ys);
                    (m - 3.0 * s, m - 4.0 * s)
                }
                YieldModel::Logit => {
                    let z: Vec<f64> = window
                        .iter()
                        .filter(|l| l.units > 0)
                        .map(|l| {
                            let p = (l.passed as f64 + 0.5) / (l.units as f64 + 1.0);
                            (p / (1.0 - p)).ln()
                        })
                        .collect();
                    let (m, s) = mean_sd(&z);
                    let back = |z: f64| 100.0 / (1.0 + (-z).exp());
                    (back(m - 3.0 * s), back(m - 4.0 * s))
                }
            };
            v.syl1 = Some(s1);
            v.syl2 = Some(s2);
            let mut review = false;
            let mut hold = false;
            if y < s2 {
                hold = true;
                v.reasons.push(Reason { limit: "SYL2", bin: None, value: y, limit_value: s2 });
            } else if y < s1 {
                review = true;
                v.reasons.push(Reason { limit: "SYL1", bin: None, value: y, limit_value: s1 });
            }
            for b in bins {
                let p = pct(lot, b);
                let (l1, l2) = match cfg.bin_model {
                    BinModel::Normal => {
                        let ps: Vec<f64> = window.iter().map(|l| pct(l, b)).collect();
                        let (m, s) = mean_sd(&ps);
                        (m + 3.0 * s, m + 4.0 * s)
                    }
                    BinModel::Poisson => {
                        let (c, n): (u64, u64) = window.iter().fold((0, 0), |(c, n), l| (c + l.bins.get(&b).unwrap_or(&0), n + l.units));
                        let m = c as f64 / n.max(1) as f64 * lot.units as f64;
                        let to_pct = |k: f64| 100.0 * k / lot.units as f64;
                        (to_pct(poisson_limit(m, TAIL[0])), to_pct(poisson_limit(m, TAIL[1])))
                    }
                };
                if p > l2 {
                    hold = true;
                    v.reasons.push(Reason { limit: "SBL2", bin: Some(b), value: p, limit_value: l2 });
                } else if p > l1 {
                    review = true;
                    v.reasons.push(Reason { limit: "SBL1", bin: Some(b), value: p, limit_value: l1 });
                }
                v.bins.push(BinLimits { bin: b, pct: p, sbl1: Some(l1), sbl2: Some(l2) });
            }
            v.status = if hold {
                Status::Hold
            } else if review {
                Status::Review
            } else {
                Status::Normal
            };
        } else {
            v.bins = bins.into_iter().map(|b| BinLimits { bin: b, pct: pct(lot, b), sbl1: None, sbl2: None }).collect();
        }
        if matches!(v.status, Status::Normal | Status::InsufficientHistory) {
            hist.push(lot);
        }
        out.push(v);
    }
    out
}

/// Lot counts from `yields::yields` grouped by `lot|scope` (its yields and bins tables):
/// units and final passes, and the final units of each failing hard bin.
pub fn lot_counts(yields: &RecordBatch, bins: &RecordBatch) -> Vec<LotCounts> {
    let grp = yields.column_by_name("grp").map(|c| c.as_string::<i32>().clone());
    let units = yields.column_by_name("units").map(|c| c.as_primitive::<UInt64Type>().clone());
    let pass = yields.column_by_name("final_pass").map(|c| c.as_primitive::<UInt64Type>().clone());
    let (Some(grp), Some(units), Some(pass)) = (grp, units, pass) else { return Vec::new() };
    let mut out: Vec<LotCounts> = Vec::new();
    let mut at: BTreeMap<String, usize> = BTreeMap::new();
    for i in 0..yields.num_rows() {
        let (lot, scope) = grp.value(i).split_once('|').unwrap_or((grp.value(i), ""));
        at.insert(grp.value(i).to_string(), out.len());
        out.push(LotCounts {
            lot_id: lot.into(),
            scope: scope.into(),
            units: units.value(i),
            passed: pass.value(i),
            bins: BTreeMap::new(),
        });
    }
    let bg = bins.column_by_name("grp").map(|c| c.as_string::<i32>().clone());
    let ty = bins.column_by_name("bin_type").map(|c| c.as_string::<i32>().clone());
    let num = bins.column_by_name("bin_num").map(|c| c.as_primitive::<UInt16Type>().clone());
    let passing = bins.column_by_name("passing").map(|c| c.as_boolean().clone());
    let fin = bins.column_by_name("final_units").map(|c| c.as_primitive::<UInt64Type>().clone());
    if let (Some(bg), Some(ty), Some(num), Some(passing), Some(fin)) = (bg, ty, num, passing, fin) {
        for i in 0..bins.num_rows() {
            if ty.value(i) != "H" || passing.value(i) || num.is_null(i) || fin.value(i) == 0 {
                continue;
            }
            if let Some(&k) = at.get(bg.value(i)) {
                out[k].bins.insert(num.value(i), fin.value(i));
            }
        }
    }
    out
}

/// The verdicts as a table: one row per lot and stage, reasons as text.
pub fn verdicts_table(v: &[Verdict]) -> Result<RecordBatch, arrow::error::ArrowError> {
    use arrow::array::{ArrayRef, Float64Array, StringArray, UInt64Array};
    use arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;
    let schema = Arc::new(Schema::new(vec![
        Field::new("lot_id", DataType::Utf8, false),
        Field::new("stage", DataType::Utf8, false),
        Field::new("units", DataType::UInt64, false),
        Field::new("yield_pct", DataType::Float64, true),
        Field::new("syl1", DataType::Float64, true),
        Field::new("syl2", DataType::Float64, true),
        Field::new("status", DataType::Utf8, false),
        Field::new("reasons", DataType::Utf8, false),
        Field::new("history", DataType::Utf8, false),
    ]));
    let status = |s: Status| match s {
        Status::Normal => "normal",
        Status::Review => "review",
        Status::Hold => "hold",
        Status::InsufficientHistory => "insufficient_history",
    };
    let reasons = |l: &Verdict| {
        l.reasons
            .iter()
            .map(|r| match r.bin {
                Some(b) => format!("{} bin {b}: {} > {}", r.limit, r.value, r.limit_value),
                None => format!("{}: {} < {}", r.limit, r.value, r.limit_value),
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    let cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(v.iter().map(|l| l.lot_id.as_str()))),
        Arc::new(StringArray::from_iter_values(v.iter().map(|l| l.scope.as_str()))),
        Arc::new(UInt64Array::from_iter_values(v.iter().map(|l| l.units))),
        Arc::new(v.iter().map(|l| l.yield_pct.is_finite().then_some(l.yield_pct)).collect::<Float64Array>()),
        Arc::new(v.iter().map(|l| l.syl1).collect::<Float64Array>()),
        Arc::new(v.iter().map(|l| l.syl2).collect::<Float64Array>()),
        Arc::new(StringArray::from_iter_values(v.iter().map(|l| status(l.status)))),
        Arc::new(StringArray::from_iter_values(v.iter().map(reasons))),
        Arc::new(StringArray::from_iter_values(v.iter().map(|l| l.history.join(",")))),
    ];
    RecordBatch::try_new(schema, cols)
}
