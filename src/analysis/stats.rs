//! Descriptive statistics and capability indices over plain values. Each number is
//! computed here once; SQL functions, commands and reports call these.

/// Cpk = min(hi - mean, mean - lo) / (3 sd); with one limit, the one-sided index.
pub fn cpk_value(mean: f64, sd: f64, lo: Option<f64>, hi: Option<f64>) -> Option<f64> {
    // NaN and non-positive spreads have no index.
    if sd.is_nan() || sd <= 0.0 {
        return None;
    }
    match (lo, hi) {
        (Some(l), Some(h)) => Some((h - mean).min(mean - l) / (3.0 * sd)),
        (Some(l), None) => Some((mean - l) / (3.0 * sd)),
        (None, Some(h)) => Some((h - mean) / (3.0 * sd)),
        (None, None) => None,
    }
}

/// Which sample quantile definition (Hyndman & Fan 1996) a screen uses. PAT limits depend
/// on it at the third digit, so limits files record it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum QuantileRule {
    /// Hazen, numpy `method="hazen"`.
    Type5,
    /// Weibull / Minitab, numpy `method="weibull"`.
    Type6,
    /// Linear between order statistics: R's, numpy's and Excel QUANTILE.INC's default.
    #[default]
    Type7,
    /// Median-unbiased, numpy `method="median_unbiased"`.
    Type8,
}

/// The 1-based rank h = n p + m of the p-quantile of n values under `rule` (m the rule's
/// offset), clamped to the sample's ends.
fn rank(n: usize, p: f64, rule: QuantileRule) -> f64 {
    let nf = n as f64;
    match rule {
        QuantileRule::Type5 => nf * p + 0.5,
        QuantileRule::Type6 => (nf + 1.0) * p,
        QuantileRule::Type7 => (nf - 1.0) * p + 1.0,
        QuantileRule::Type8 => (nf + 1.0 / 3.0) * p + 1.0 / 3.0,
    }
    .clamp(1.0, nf)
}

/// The p-quantile of sorted values under `rule`: with m the rule's offset, h = n p + m
/// (1-based), interpolating between the order statistics around h and clamping to the
/// sample's ends.
pub fn quantile(sorted: &[f64], p: f64, rule: QuantileRule) -> Option<f64> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let h = rank(n, p, rule);
    let j = h.floor();
    let (lo, hi) = (j as usize - 1, (j as usize).min(n - 1));
    Some(sorted[lo] + (sorted[hi] - sorted[lo]) * (h - j))
}

/// A value selection orders in its own width: PAT selects over f32 results, and comparing
/// them as f32 keeps the partition loops short (the same total order as through f64).
pub trait Sample: Copy + Into<f64> {
    fn total_order(&self, other: &Self) -> std::cmp::Ordering;
}

impl Sample for f32 {
    fn total_order(&self, other: &Self) -> std::cmp::Ordering {
        self.total_cmp(other)
    }
}

impl Sample for f64 {
    fn total_order(&self, other: &Self) -> std::cmp::Ordering {
        self.total_cmp(other)
    }
}

/// The quartiles (Q1, Q2, Q3) of unsorted values under `rule`, by selection: the median's
/// selection splits the values, and Q1 and Q3 are selected within its halves, so the
/// three cost little more than one. Reorders `v`.
pub fn quartiles_select<T: Sample>(v: &mut [T], rule: QuantileRule) -> Option<[f64; 3]> {
    let n = v.len();
    if n == 0 {
        return None;
    }
    let h = |p: f64| rank(n, p, rule);
    let cmp = |a: &T, b: &T| a.total_order(b);
    let min = |s: &[T]| s.iter().map(|x| (*x).into()).fold(f64::INFINITY, f64::min);
    // Order statistic k (0-based) and k + 1 within v[from..to], where v is already
    // partitioned so that every element of the range lies between its neighbours'.
    let pair = |v: &mut [T], from: usize, to: usize, k: usize, next_outside: f64| -> (f64, f64) {
        let (_, x, rest) = v[from..to].select_nth_unstable_by(k - from, cmp);
        let x: f64 = (*x).into();
        let nx = if rest.is_empty() { next_outside } else { min(rest) };
        (x, nx)
    };
    let interp = |hh: f64, (a, b): (f64, f64)| if hh > hh.floor() { a + (b - a) * (hh - hh.floor()) } else { a };
    let h2 = h(0.5);
    let k2 = h2.floor() as usize - 1;
    let (m, m_next) = pair(v, 0, n, k2, f64::NAN);
    let q2 = interp(h2, (m, m_next));
    let h1 = h(0.25);
    let k1 = h1.floor() as usize - 1;
    let q1 = if k1 < k2 { interp(h1, pair(v, 0, k2, k1, m)) } else { interp(h1, (m, m_next)) };
    let h3 = h(0.75);
    let k3 = h3.floor() as usize - 1;
    let q3 = if k3 > k2 {
        // v[k2 + 1..] holds the values above the median, unordered.
        let (x, nx) = pair(v, k2 + 1, n, k3, f64::NAN);
        interp(h3, (x, nx))
    } else {
        interp(h3, (m, m_next))
    };
    Some([q1, q2, q3])
}

/// Quantile by linear interpolation between order statistics (type 7).
pub fn quantile_type7(sorted: &[f64], p: f64) -> Option<f64> {
    quantile(sorted, p, QuantileRule::Type7)
}

/// (Q3 - Q1) / 1.35 with type-7 quantiles; NaN and NULL inputs are ignored.
pub fn robust_sigma(values: &mut [f64]) -> Option<f64> {
    values.sort_by(|a, b| a.total_cmp(b));
    robust_sigma_sorted(values)
}

/// [`robust_sigma`] of values already sorted ascending (callers that also need other
/// quantiles sort once).
pub fn robust_sigma_sorted(sorted: &[f64]) -> Option<f64> {
    Some((quantile_type7(sorted, 0.75)? - quantile_type7(sorted, 0.25)?) / 1.35)
}
