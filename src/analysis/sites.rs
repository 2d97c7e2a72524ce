//! Site-to-site comparison: whether pass/fail depends on the site (chi-square test of
//! independence, or an exact test when expected counts are small), and which sites
//! shift a test's location (Welch's t, or Kruskal-Wallis for non-normal data, each site
//! against the others), with Benjamini-Hochberg control over all tests and sites.

use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, Float64Array, RecordBatch, StringArray, UInt32Array, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::error::ArrowError;
use statrs::distribution::{ChiSquared, ContinuousCDF, StudentsT};
use statrs::function::gamma::ln_gamma;

use super::param::mean_sd;
use super::stats::quantile_type7;

/// A test of independence on a sites × (pass, fail) table.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Independence {
    pub method: String,
    pub statistic: Option<f64>,
    pub df: Option<f64>,
    pub p_value: f64,
}

/// Pearson's chi-square test of independence (no continuity correction), or, when an
/// expected count is below 5, Fisher's exact test (2 sites) or the Freeman-Halton
/// extension (more sites; enumerated, or 20,000 seeded Monte Carlo tables when there
/// are too many to enumerate). Rows with no parts are left out.
pub fn independence(table: &[[u64; 2]]) -> Option<Independence> {
    let rows: Vec<[u64; 2]> = table.iter().copied().filter(|r| r[0] + r[1] > 0).collect();
    let n: u64 = rows.iter().map(|r| r[0] + r[1]).sum();
    let c = [rows.iter().map(|r| r[0]).sum::<u64>(), rows.iter().map(|r| r[1]).sum::<u64>()];
    if rows.len() < 2 || c[0] == 0 || c[1] == 0 {
        return None;
    }
    let expected = |r: &[u64; 2], j: usize| (r[0] + r[1]) as f64 * c[j] as f64 / n as f64;
    let small = rows.iter().any(|r| expected(r, 0) < 5.0 || expected(r, 1) < 5.0);
    if !small {
        let stat: f64 = rows.iter().map(|r| (0..2).map(|j| (r[j] as f64 - expected(r, j)).powi(2) / expected(r, j)).sum::<f64>()).sum();
        let df = (rows.len() - 1) as f64;
        let p = ChiSquared::new(df).ok()?.sf(stat);
        return Some(Independence {
            method: "Pearson chi-square test of independence".into(),
            statistic: Some(stat),
            df: Some(df),
            p_value: p,
        });
    }
    Some(exact(&rows, c[0]))
}

fn ln_choose(n: u64, k: u64) -> f64 {
    ln_gamma(n as f64 + 1.0) - ln_gamma(k as f64 + 1.0) - ln_gamma((n - k) as f64 + 1.0)
}

fn exact(rows: &[[u64; 2]], passes: u64) -> Independence {
    let totals: Vec<u64> = rows.iter().map(|r| r[0] + r[1]).collect();
    let n: u64 = totals.iter().sum();
    let denom = ln_choose(n, passes);
    let lp = |x: &[u64]| x.iter().zip(&totals).map(|(x, r)| ln_choose(*r, *x)).sum::<f64>() - denom;
    let observed: Vec<u64> = rows.iter().map(|r| r[0]).collect();
    let lp_obs = lp(&observed);
    // Tables as likely as the observed one, within rounding, count as "as extreme".
    let tol = 1e-7;
    let name = if rows.len() == 2 { "Fisher exact test" } else { "Freeman-Halton exact test" };
    let count: f64 = totals.iter().map(|r| (*r + 1) as f64).product();
    if count <= 2e6 {
        let mut p = 0.0;
        let mut x = vec![0u64; totals.len()];
        enumerate(&totals, passes, 0, &mut x, &mut |x| {
            let l = lp(x);
            if l <= lp_obs + tol {
                p += l.exp();
            }
        });
        return Independence { method: name.into(), statistic: None, df: None, p_value: p.min(1.0) };
    }
    // Monte Carlo: random tables with the same margins, by shuffling the pass labels.
    let mut labels: Vec<bool> = (0..n).map(|i| i < passes).collect();
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let draws = 20_000;
    let mut hits = 0u64;
    for _ in 0..draws {
        for i in (1..labels.len()).rev() {
            labels.swap(i, (next() % (i as u64 + 1)) as usize);
        }
        let mut x = Vec::with_capacity(totals.len());
        let mut at = 0usize;
        for r in &totals {
            x.push(labels[at..at + *r as usize].iter().filter(|b| **b).count() as u64);
            at += *r as usize;
        }
        hits += (lp(&x) <= lp_obs + tol) as u64;
    }
    Independence {
        method: format!("{name} (Monte Carlo, {draws} tables)"),
        statistic: None,
        df: None,
        p_value: (hits + 1) as f64 / (draws + 1) as f64,
    }
}

fn enumerate(totals: &[u64], left: u64, i: usize, x: &mut Vec<u64>, f: &mut dyn FnMut(&[u64])) {
    if i + 1 == totals.len() {
        if left <= totals[i] {
            x[i] = left;
            f(x);
        }
        return;
    }
    let rest: u64 = totals[i + 1..].iter().sum();
    let lo = left.saturating_sub(rest);
    for v in lo..=left.min(totals[i]) {
        x[i] = v;
        enumerate(totals, left - v, i + 1, x, f);
    }
}

/// Welch's two-sample t-test from each sample's (mean, sd, n): (t, df, two-sided p).
fn welch_moments((ma, sa, na): (f64, f64, usize), (mb, sb, nb): (f64, f64, usize)) -> Option<(f64, f64, f64)> {
    let (va, vb) = (sa * sa / na as f64, sb * sb / nb as f64);
    if va + vb <= 0.0 {
        return None;
    }
    let t = (ma - mb) / (va + vb).sqrt();
    let df = (va + vb).powi(2) / (va * va / (na as f64 - 1.0) + vb * vb / (nb as f64 - 1.0));
    let p = 2.0 * StudentsT::new(0.0, 1.0, df).ok()?.sf(t.abs());
    Some((t, df, p))
}

/// Runs of equal values with the index where each starts.
fn chunk_starts<T>(values: &[(f64, T)]) -> impl Iterator<Item = (usize, &[(f64, T)])> {
    values.chunk_by(|a, b| a.0 == b.0).scan(0, |start, g| {
        let i = *start;
        *start += g.len();
        Some((i, g))
    })
}

/// Kruskal-Wallis from each group's (rank sum, count), the total count and the tie term
/// (sum of t^3 - t over runs of equal values).
fn kruskal_wallis_ranked(groups: &[(f64, usize)], n: usize, ties: f64) -> Option<(f64, f64, f64)> {
    if n < 3 || groups.len() < 2 {
        return None;
    }
    let nf = n as f64;
    let h: f64 =
        12.0 / (nf * (nf + 1.0)) * groups.iter().filter(|g| g.1 > 0).map(|(r, c)| r * r / *c as f64).sum::<f64>() - 3.0 * (nf + 1.0);
    let corr = 1.0 - ties / (nf * nf * nf - nf);
    if corr <= 0.0 {
        return None;
    }
    let df = (groups.iter().filter(|g| g.1 > 0).count() - 1) as f64;
    let h = h / corr;
    Some((h, df, ChiSquared::new(df).ok()?.sf(h)))
}

/// Benjamini-Hochberg adjusted p-values (q-values), in the input order.
pub fn benjamini_hochberg(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut idx: Vec<usize> = (0..m).collect();
    idx.sort_by(|a, b| p[*a].total_cmp(&p[*b]));
    let mut q = vec![1.0; m];
    let mut running: f64 = 1.0;
    for (rank, &i) in idx.iter().enumerate().rev() {
        running = running.min(p[i] * m as f64 / (rank + 1) as f64);
        q[i] = running.min(1.0);
    }
    q
}

/// Settings of the location-shift screen.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ShiftConfig {
    /// False discovery rate for the Benjamini-Hochberg control.
    pub alpha: f64,
    /// A flagged shift must be at least this fraction of the limit span (hi - lo); with a
    /// limit missing, of 6 standard deviations of the test.
    pub min_fraction: f64,
}

impl Default for ShiftConfig {
    fn default() -> Self {
        ShiftConfig { alpha: 0.05, min_fraction: 0.05 }
    }
}

/// One test's values by site, and its limits.
pub struct TestSites {
    pub test_num: u32,
    pub test_name: String,
    pub lo: Option<f64>,
    pub hi: Option<f64>,
    /// (site label, values)
    pub sites: Vec<(String, Vec<f64>)>,
}

/// Data whose skewness or excess kurtosis is large, or with few distinct values, are
/// not treated as normal: Kruskal-Wallis is used for them.
fn looks_normal(all: &[f64]) -> bool {
    let (Some(m), Some(s)) = mean_sd(all) else { return false };
    if s <= 0.0 {
        return false;
    }
    let n = all.len() as f64;
    let skew = all.iter().map(|x| ((x - m) / s).powi(3)).sum::<f64>() / n;
    let kurt = all.iter().map(|x| ((x - m) / s).powi(4)).sum::<f64>() / n - 3.0;
    skew.abs() < 1.0 && kurt.abs() < 3.0
}

/// For each test and site: the site's mean, sd and median, its shift against the other
/// sites, the test used and its p-value, the BH q-value over all rows, and the flag.
pub fn location_shifts(tests: &[TestSites], cfg: &ShiftConfig) -> Result<RecordBatch, ArrowError> {
    struct R {
        test: usize,
        site: String,
        n: u64,
        mean: Option<f64>,
        sd: Option<f64>,
        median: Option<f64>,
        delta: Option<f64>,
        threshold: Option<f64>,
        method: &'static str,
        stat: Option<f64>,
        p: Option<f64>,
    }
    let mut rows = Vec::new();
    for (ti, t) in tests.iter().enumerate() {
        // Each site's values in order (they normally come sorted; sorted here if not).
        let sorted: Vec<std::borrow::Cow<[f64]>> = t
            .sites
            .iter()
            .map(|(_, v)| {
                if v.is_sorted_by(|a, b| a.total_cmp(b).is_le()) {
                    std::borrow::Cow::Borrowed(v.as_slice())
                } else {
                    let mut s = v.clone();
                    s.sort_by(|a, b| a.total_cmp(b));
                    std::borrow::Cow::Owned(s)
                }
            })
            .collect();
        let n_all: usize = t.sites.iter().map(|(_, v)| v.len()).sum();
        // All values, tagged with their site, ranked once: each site-against-the-rest
        // Kruskal-Wallis test is then a sum of these ranks (sums of half-integers, so
        // exact in any order).
        let mut pairs: Vec<(f64, u32)> = Vec::with_capacity(n_all);
        for (si, v) in sorted.iter().enumerate() {
            pairs.extend(v.iter().map(|x| (*x, si as u32)));
        }
        // Runs of sorted values merge in near-linear time with the stable sort.
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut rank_sum = vec![0.0f64; t.sites.len()];
        let (mut ties, mut distinct) = (0.0f64, 0usize);
        for (i, g) in chunk_starts(&pairs) {
            let r = (2 * i + g.len() - 1) as f64 / 2.0 + 1.0;
            for p in g {
                rank_sum[p.1 as usize] += r;
            }
            let c = g.len() as f64;
            ties += c * c * c - c;
            distinct += 1;
        }
        // Normality is judged on the residuals from each site's mean, so that a shifted
        // site does not itself make the data look non-normal.
        let residuals: Vec<f64> = t
            .sites
            .iter()
            .flat_map(|(_, v)| {
                let m = mean_sd(v).0.unwrap_or(0.0);
                v.iter().map(move |x| x - m)
            })
            .collect();
        let normal = looks_normal(&residuals) && distinct >= 20;
        let threshold = match (t.lo, t.hi) {
            (Some(l), Some(h)) => Some(cfg.min_fraction * (h - l)),
            _ => {
                let all: Vec<f64> = t.sites.iter().flat_map(|(_, v)| v.iter().copied()).collect();
                mean_sd(&all).1.map(|s| cfg.min_fraction * 6.0 * s)
            }
        };
        let total_rank: f64 = rank_sum.iter().sum();
        for (si, (site, v)) in t.sites.iter().enumerate() {
            // The other sites' values, in site order, without copying them.
            let rest = || t.sites.iter().enumerate().filter(move |(j, _)| *j != si).flat_map(|(_, (_, v))| v.iter().copied());
            let n_rest = n_all - v.len();
            let rest_mean = (n_rest > 0).then(|| rest().sum::<f64>() / n_rest as f64);
            let (mean, sd) = mean_sd(v);
            let delta = mean.zip(rest_mean).map(|(a, b)| a - b);
            let (method, stat, p) = if n_rest == 0 || v.len() < 2 {
                ("none", None, None)
            } else if normal {
                let rest_sd = rest_mean
                    .filter(|_| n_rest > 1)
                    .map(|m| (rest().map(|x| (x - m) * (x - m)).sum::<f64>() / (n_rest as f64 - 1.0)).sqrt());
                match mean
                    .zip(sd)
                    .zip(rest_mean.zip(rest_sd))
                    .and_then(|((ma, sa), (mb, sb))| welch_moments((ma, sa, v.len()), (mb, sb, n_rest)))
                {
                    Some((t, _, p)) => ("welch", Some(t), Some(p)),
                    None => ("welch", None, None),
                }
            } else {
                let own = rank_sum[si];
                match kruskal_wallis_ranked(&[(own, v.len()), (total_rank - own, n_rest)], n_all, ties) {
                    Some((h, _, p)) => ("kruskal-wallis", Some(h), Some(p)),
                    None => ("kruskal-wallis", None, None),
                }
            };
            rows.push(R {
                test: ti,
                site: site.clone(),
                n: v.len() as u64,
                mean,
                sd,
                median: quantile_type7(&sorted[si], 0.5),
                delta,
                threshold,
                method,
                stat,
                p,
            });
        }
    }
    let with_p: Vec<usize> = (0..rows.len()).filter(|i| rows[*i].p.is_some()).collect();
    let q_of = benjamini_hochberg(&with_p.iter().map(|i| rows[*i].p.unwrap()).collect::<Vec<_>>());
    let mut q = vec![None; rows.len()];
    for (k, i) in with_p.iter().enumerate() {
        q[*i] = Some(q_of[k]);
    }
    let flagged: Vec<bool> = rows
        .iter()
        .zip(&q)
        .map(|(r, q)| q.is_some_and(|q| q <= cfg.alpha) && r.delta.zip(r.threshold).is_some_and(|(d, th)| d.abs() >= th))
        .collect();
    let f = |g: &dyn Fn(&R) -> Option<f64>| -> ArrayRef { Arc::new(rows.iter().map(g).collect::<Float64Array>()) };
    let schema = Schema::new(vec![
        Field::new("test_num", DataType::UInt32, false),
        Field::new("test_name", DataType::Utf8, false),
        Field::new("site", DataType::Utf8, false),
        Field::new("n", DataType::UInt64, false),
        Field::new("mean", DataType::Float64, true),
        Field::new("sd", DataType::Float64, true),
        Field::new("median", DataType::Float64, true),
        Field::new("delta_mean", DataType::Float64, true),
        Field::new("min_shift", DataType::Float64, true),
        Field::new("method", DataType::Utf8, false),
        Field::new("statistic", DataType::Float64, true),
        Field::new("p_value", DataType::Float64, true),
        Field::new("q_value", DataType::Float64, true),
        Field::new("flagged", DataType::Boolean, false),
    ]);
    RecordBatch::try_new(
        Arc::new(schema),
        vec![
            Arc::new(rows.iter().map(|r| tests[r.test].test_num).collect::<UInt32Array>()),
            Arc::new(rows.iter().map(|r| Some(tests[r.test].test_name.as_str())).collect::<StringArray>()),
            Arc::new(rows.iter().map(|r| Some(r.site.as_str())).collect::<StringArray>()),
            Arc::new(rows.iter().map(|r| r.n).collect::<UInt64Array>()),
            f(&|r| r.mean),
            f(&|r| r.sd),
            f(&|r| r.median),
            f(&|r| r.delta),
            f(&|r| r.threshold),
            Arc::new(rows.iter().map(|r| Some(r.method)).collect::<StringArray>()),
            f(&|r| r.stat),
            f(&|r| r.p),
            Arc::new(q.into_iter().collect::<Float64Array>()),
            Arc::new(BooleanArray::from(flagged)),
        ],
    )
}
