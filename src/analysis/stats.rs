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

/// Quantile by linear interpolation between order statistics (Hyndman & Fan type 7,
/// the default of R, NumPy and Excel's QUANTILE.INC): h = (n - 1) p.
pub fn quantile_type7(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let h = (sorted.len() - 1) as f64 * p;
    let (lo, hi) = (h.floor() as usize, h.ceil() as usize);
    Some(sorted[lo] + (sorted[hi] - sorted[lo]) * (h - lo as f64))
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
