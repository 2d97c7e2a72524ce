//! Reliability statistics for qualification: acceleration factors (Arrhenius,
//! Hallberg-Peck, Coffin-Manson), binomial bounds and sample sizes (LTPD,
//! Clopper-Pearson), the chi-square failure rate (FIT, MTTF), and Weibull maximum
//! likelihood for mixed exact, right-censored and interval-censored data, with Fisher
//! and likelihood-ratio bounds and the Turnbull estimate for probability plots.

use serde::Serialize;
use statrs::distribution::{Beta, ChiSquared, ContinuousCDF, Normal};

/// Boltzmann's constant in eV/K (CODATA 2018).
pub const BOLTZMANN_EV: f64 = 8.617_333_262e-5;
const KELVIN: f64 = 273.15;

/// Arrhenius: AF = exp((Ea / k) (1/T_use − 1/T_stress)), temperatures in °C.
pub fn arrhenius_af(ea_ev: f64, use_c: f64, stress_c: f64) -> f64 {
    ((ea_ev / BOLTZMANN_EV) * (1.0 / (use_c + KELVIN) - 1.0 / (stress_c + KELVIN))).exp()
}

/// Hallberg-Peck: AF = (RH_test / RH_use)^p · Arrhenius.
pub fn peck_af(ea_ev: f64, use_c: f64, use_rh: f64, test_c: f64, test_rh: f64, exponent: f64) -> f64 {
    (test_rh / use_rh).powf(exponent) * arrhenius_af(ea_ev, use_c, test_c)
}

/// Coffin-Manson: AF = (ΔT_test / ΔT_use)^m.
pub fn coffin_manson_af(test_dt: f64, use_dt: f64, exponent: f64) -> f64 {
    (test_dt / use_dt).powf(exponent)
}

/// Errors of the reliability functions: the input and what is wrong with it.
#[derive(Debug, Clone, PartialEq)]
pub struct RelError(pub String);

impl std::fmt::Display for RelError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for RelError {}

fn err<T>(msg: impl Into<String>) -> Result<T, RelError> {
    Err(RelError(msg.into()))
}

fn check_cl(cl: f64) -> Result<(), RelError> {
    if cl > 0.0 && cl < 1.0 { Ok(()) } else { err(format!("confidence {cl} must be between 0 and 1 (e.g. 0.6 or 0.9)")) }
}

/// Clopper-Pearson bounds on a defect fraction after `failures` in `n`: one-sided at
/// `cl` (the lower bound then at the same level), or two-sided with (1 − cl)/2 per tail.
/// With no failures the upper bound is 1 − (1 − cl)^(1/n), the zero-failure LTPD.
pub fn clopper_pearson(n: u64, failures: u64, cl: f64, two_sided: bool) -> Result<(f64, f64), RelError> {
    check_cl(cl)?;
    if n == 0 {
        return err("n must be at least 1");
    }
    if failures > n {
        return err(format!("{failures} failures in {n} units: more failures than units"));
    }
    let tail = if two_sided { (1.0 - cl) / 2.0 } else { 1.0 - cl };
    let (r, nf) = (failures as f64, n as f64);
    let lower = if failures == 0 { 0.0 } else { Beta::new(r, nf - r + 1.0).map_err(|e| RelError(e.to_string()))?.inverse_cdf(tail) };
    let upper = if failures == n {
        1.0
    } else if failures == 0 {
        1.0 - tail.powf(1.0 / nf)
    } else {
        Beta::new(r + 1.0, nf - r).map_err(|e| RelError(e.to_string()))?.inverse_cdf(1.0 - tail)
    };
    Ok((lower, upper))
}

/// The fewest units that show a defect fraction of at most `p` at confidence `cl`
/// (one-sided Clopper-Pearson) when `failures` of them fail.
pub fn sample_size(p: f64, cl: f64, failures: u64) -> Result<u64, RelError> {
    check_cl(cl)?;
    if !(p > 0.0 && p < 1.0) {
        return err(format!("defect fraction {p} must be between 0 and 1 (e.g. 0.01)"));
    }
    if failures == 0 {
        return Ok(((1.0 - cl).ln() / (1.0 - p).ln()).ceil() as u64);
    }
    let mut n = failures + 1;
    // Doubling then bisection on the monotone upper bound.
    let ok = |n: u64| clopper_pearson(n, failures, cl, false).map(|(_, u)| u <= p);
    let mut hi = n;
    while !ok(hi)? {
        n = hi;
        hi *= 2;
        if hi > 1 << 40 {
            return err("no sample size below 2^40 units reaches that bound");
        }
    }
    let mut lo = n;
    while lo + 1 < hi {
        let mid = (lo + hi) / 2;
        if ok(mid)? { hi = mid } else { lo = mid }
    }
    Ok(hi)
}

/// The chi-square failure rate of a life test (JESD85).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct FailureRate {
    pub failures: u64,
    /// Equivalent device-hours at use conditions (device-hours × AF).
    pub device_hours: f64,
    pub af: f64,
    pub cl: f64,
    /// λ upper bound per hour at use conditions.
    pub lambda: f64,
    pub fit: f64,
    pub mttf_h: f64,
}

/// λ = χ²(cl; 2r + 2) / (2 · device_hours · AF); FIT = λ · 1e9; MTTF = 1/λ.
pub fn chi2_failure_rate(device_hours: f64, failures: u64, af: f64, cl: f64) -> Result<FailureRate, RelError> {
    check_cl(cl)?;
    if !(device_hours.is_finite() && device_hours > 0.0 && af.is_finite() && af > 0.0) {
        return err(format!("device-hours ({device_hours}) and acceleration factor ({af}) must be positive"));
    }
    let chi = ChiSquared::new(2.0 * failures as f64 + 2.0).map_err(|e| RelError(e.to_string()))?.inverse_cdf(cl);
    let eq = device_hours * af;
    let lambda = chi / (2.0 * eq);
    Ok(FailureRate { failures, device_hours: eq, af, cl, lambda, fit: lambda * 1e9, mttf_h: 1.0 / lambda })
}

/// Device-hours of readpoint data for the chi-square method: each survivor contributes
/// its whole time on stress, each failure the time up to the start of the interval in
/// which it was found (the last readpoint at which it still worked), never more.
pub fn device_hours(obs: &[Obs]) -> f64 {
    obs.iter().map(|o| o.lo).sum()
}

/// One unit's life: failed exactly at `lo` (= `hi`), failed within (`lo`, `hi`], or
/// survived to `lo` (`hi` infinite).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Obs {
    pub lo: f64,
    /// Infinite for a survivor (null in JSON).
    #[serde(serialize_with = "infinite_as_null")]
    #[schemars(with = "Option<f64>")]
    pub hi: f64,
}

fn infinite_as_null<S: serde::Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    if v.is_finite() { s.serialize_some(v) } else { s.serialize_none() }
}

impl Obs {
    pub fn exact(t: f64) -> Obs {
        Obs { lo: t, hi: t }
    }
    pub fn censored(t: f64) -> Obs {
        Obs { lo: t, hi: f64::INFINITY }
    }
    pub fn interval(lo: f64, hi: f64) -> Obs {
        Obs { lo, hi }
    }
    pub fn is_failure(&self) -> bool {
        self.hi.is_finite()
    }
}

/// Checks observations; `what(i)` names observation i (a CSV line) in the message.
pub fn check_obs(obs: &[Obs], what: &dyn Fn(usize) -> String) -> Result<(), RelError> {
    for (i, o) in obs.iter().enumerate() {
        if o.lo.is_nan() || o.lo < 0.0 || o.lo.is_infinite() {
            return err(format!("{}: time {} must be a finite number >= 0", what(i), o.lo));
        }
        if o.hi < o.lo {
            return err(format!("{}: the interval's right bound {} is before its left bound {}", what(i), o.hi, o.lo));
        }
        if o.lo == o.hi && o.lo == 0.0 {
            return err(format!("{}: an exact failure at time 0 has no Weibull likelihood", what(i)));
        }
    }
    Ok(())
}

fn ln_sf(t: f64, beta: f64, eta: f64) -> f64 {
    if t <= 0.0 { 0.0 } else { -(t / eta).powf(beta) }
}

/// The log-likelihood of a 2-parameter Weibull.
pub fn weibull_loglik(obs: &[Obs], beta: f64, eta: f64) -> f64 {
    let mut ll = 0.0;
    for o in obs {
        if o.hi.is_infinite() {
            ll += ln_sf(o.lo, beta, eta);
        } else if o.lo == o.hi {
            let z = o.lo / eta;
            ll += (beta / eta).ln() + (beta - 1.0) * z.ln() - z.powf(beta);
        } else {
            // ln(S(a) − S(b)) = ln S(a) + ln(1 − exp(ln S(b) − ln S(a))).
            let (a, b) = (ln_sf(o.lo, beta, eta), ln_sf(o.hi, beta, eta));
            ll += a + (-(b - a).exp_m1()).ln();
        }
    }
    ll
}

/// Which confidence bounds a fit shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BoundsMethod {
    /// Fisher matrix (observed information), on the log scale.
    Fisher,
    /// Likelihood ratio: where the profile log-likelihood drops by χ²₁(cl)/2. Shown when
    /// there are fewer than 10 failures, where the Fisher bounds' normal approximation is poor.
    LikelihoodRatio,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct WeibullFit {
    pub n: usize,
    pub failures: usize,
    pub exact: usize,
    pub interval: usize,
    pub censored: usize,
    pub beta: f64,
    pub eta: f64,
    pub loglik: f64,
    /// Two-sided confidence level of the bounds.
    pub cl: f64,
    pub bounds: BoundsMethod,
    pub beta_ci: [f64; 2],
    pub eta_ci: [f64; 2],
    pub beta_ci_fisher: [f64; 2],
    pub eta_ci_fisher: [f64; 2],
    pub beta_ci_lr: Option<[f64; 2]>,
    pub eta_ci_lr: Option<[f64; 2]>,
    pub b1: f64,
    pub b10: f64,
    /// Fisher bounds on B1 and B10 (log scale).
    pub b1_ci: [f64; 2],
    pub b10_ci: [f64; 2],
    /// Var(ln β), Cov(ln β, ln η), Var(ln η).
    pub cov_log: [f64; 3],
}

impl WeibullFit {
    /// Unreliability F(t) = 1 − exp(−(t/η)^β).
    pub fn cdf(&self, t: f64) -> f64 {
        -(-(t / self.eta).powf(self.beta)).exp_m1()
    }
    /// Fisher bounds on F(t) at the fit's confidence (delta method on ln(−ln(1 − F))).
    pub fn cdf_bounds(&self, t: f64) -> (f64, f64) {
        let u = self.beta * (t.ln() - self.eta.ln());
        let [vb, cbe, ve] = self.cov_log;
        // u = β (ln t − ln η): du/dlnβ = u, du/dlnη = −β.
        let var = u * u * vb - 2.0 * u * self.beta * cbe + self.beta * self.beta * ve;
        let z = z_two_sided(self.cl) * var.max(0.0).sqrt();
        let f = |u: f64| -(-(u.exp())).exp_m1();
        (f(u - z), f(u + z))
    }
    /// The time by which a fraction `p` has failed.
    pub fn b_life(&self, p: f64) -> f64 {
        self.eta * (-(-p).ln_1p()).powf(1.0 / self.beta)
    }
}

fn z_two_sided(cl: f64) -> f64 {
    Normal::new(0.0, 1.0).map(|n| n.inverse_cdf(0.5 + cl / 2.0)).unwrap_or(1.959_963_984_540_054)
}

/// Maximises the log-likelihood over (ln β, ln η) by Newton's method with a backtracking
/// line search, from the least-squares start on exact failures and interval midpoints.
fn maximise(obs: &[Obs]) -> Option<(f64, f64, f64)> {
    let f = |p: [f64; 2]| weibull_loglik(obs, p[0].exp(), p[1].exp());
    // Start: median-rank regression on the failures (intervals at their midpoints).
    let mut times: Vec<f64> =
        obs.iter().filter(|o| o.is_failure()).map(|o| if o.lo == o.hi || o.lo == 0.0 { o.hi } else { 0.5 * (o.lo + o.hi) }).collect();
    times.sort_by(f64::total_cmp);
    let n = obs.len() as f64;
    let (mut sx, mut sy, mut sxx, mut sxy) = (0.0, 0.0, 0.0, 0.0);
    for (i, t) in times.iter().enumerate() {
        let fr = (i as f64 + 0.7) / (n + 0.4);
        let (x, y) = (t.ln(), (-(1.0 - fr).ln()).ln());
        sx += x;
        sy += y;
        sxx += x * x;
        sxy += x * y;
    }
    let k = times.len() as f64;
    let mut p = if times.len() >= 2 && (k * sxx - sx * sx) > 0.0 {
        let b = ((k * sxy - sx * sy) / (k * sxx - sx * sx)).clamp(0.2, 20.0);
        [b.ln(), sx / k - (sy / k) / b]
    } else {
        [0.0, times.first().copied().unwrap_or(1.0).max(1e-12).ln()]
    };
    let mut fp = f(p);
    if !fp.is_finite() {
        p = [0.0, obs.iter().map(|o| if o.hi.is_finite() { o.hi } else { o.lo }).fold(0.0, f64::max).max(1e-12).ln()];
        fp = f(p);
    }
    for _ in 0..200 {
        let (g, h) = grad_hess(&f, p);
        // Newton step on the negative log-likelihood; fall back to gradient ascent when
        // the Hessian is not negative definite.
        let det = h[0][0] * h[1][1] - h[0][1] * h[1][0];
        let mut step = if h[0][0] < 0.0 && det > 0.0 {
            [-(h[1][1] * g[0] - h[0][1] * g[1]) / det, -(-h[1][0] * g[0] + h[0][0] * g[1]) / det]
        } else {
            let s = 0.1 / (g[0].abs() + g[1].abs()).max(1e-12);
            [g[0] * s, g[1] * s]
        };
        let mut t = 1.0;
        let mut moved = false;
        for _ in 0..60 {
            let q = [p[0] + t * step[0], p[1] + t * step[1]];
            let fq = f(q);
            if fq.is_finite() && fq >= fp - 1e-12 * fp.abs() {
                let done = (fq - fp).abs() < 1e-13 * (1.0 + fp.abs()) && step[0].abs().max(step[1].abs()) * t < 1e-10;
                p = q;
                fp = fq;
                moved = true;
                if done {
                    return Some((p[0].exp(), p[1].exp(), fp));
                }
                break;
            }
            t *= 0.5;
        }
        if !moved {
            break;
        }
        step = [step[0] * t, step[1] * t];
        if step[0].abs().max(step[1].abs()) < 1e-11 {
            break;
        }
    }
    Some((p[0].exp(), p[1].exp(), fp))
}

/// Central-difference gradient and Hessian of f at p.
fn grad_hess(f: &dyn Fn([f64; 2]) -> f64, p: [f64; 2]) -> ([f64; 2], [[f64; 2]; 2]) {
    let h = 1e-4;
    let at = |d0: f64, d1: f64| f([p[0] + d0, p[1] + d1]);
    let f0 = at(0.0, 0.0);
    let g = [(at(h, 0.0) - at(-h, 0.0)) / (2.0 * h), (at(0.0, h) - at(0.0, -h)) / (2.0 * h)];
    let h00 = (at(h, 0.0) - 2.0 * f0 + at(-h, 0.0)) / (h * h);
    let h11 = (at(0.0, h) - 2.0 * f0 + at(0.0, -h)) / (h * h);
    let h01 = (at(h, h) - at(h, -h) - at(-h, h) + at(-h, -h)) / (4.0 * h * h);
    (g, [[h00, h01], [h01, h11]])
}

/// Weibull MLE for mixed exact, interval-censored and right-censored data, with
/// two-sided bounds at `cl`.
pub fn weibull_fit(obs: &[Obs], cl: f64) -> Result<WeibullFit, RelError> {
    check_cl(cl)?;
    check_obs(obs, &|i| format!("observation {}", i + 1))?;
    let failures = obs.iter().filter(|o| o.is_failure()).count();
    if failures == 0 {
        return err(format!("no failures among {} units: a Weibull fit needs at least one failure (every unit is censored)", obs.len()));
    }
    let exact = obs.iter().filter(|o| o.lo == o.hi).count();
    let interval = failures - exact;
    if exact == 0 {
        let mut bounds: Vec<(f64, f64)> = obs.iter().filter(|o| o.is_failure()).map(|o| (o.lo, o.hi)).collect();
        bounds.dedup();
        let survivors_after = obs.iter().any(|o| !o.is_failure() && o.lo >= bounds[0].1);
        if bounds.len() == 1 && !survivors_after {
            let (a, b) = bounds[0];
            let which =
                if a == 0.0 { "all parts failed at the first readpoint".to_string() } else { format!("every unit failed in ({a}, {b}]") };
            return err(format!("{which}, and none survived past it: the data fix no Weibull shape (the likelihood has no maximum)"));
        }
        if bounds.len() == 1 {
            return err(format!(
                "every failure lies in the one interval ({}, {}]: the data cannot tell the shape β from the scale; more readpoints are needed",
                bounds[0].0, bounds[0].1
            ));
        }
    }
    if failures == 1 && exact == 1 && obs.len() == 1 {
        return err("one failure and nothing else: a 2-parameter fit needs more data");
    }
    let (beta, eta, ll) = maximise(obs).ok_or_else(|| RelError("the likelihood could not be maximised".into()))?;
    if !(beta.is_finite() && eta.is_finite() && beta > 1e-3 && beta < 1e3) {
        return err(format!("the fit did not converge (β = {beta}, η = {eta}): the data do not determine both parameters"));
    }
    let f = |p: [f64; 2]| weibull_loglik(obs, p[0].exp(), p[1].exp());
    let (_, h) = grad_hess(&f, [beta.ln(), eta.ln()]);
    let det = h[0][0] * h[1][1] - h[0][1] * h[0][1];
    if !(det > 0.0 && h[0][0] < 0.0) {
        return err("the information matrix is singular at the maximum: the data do not determine both parameters");
    }
    // Covariance of (ln β, ln η) = inverse of −H.
    let cov = [-h[1][1] / det, h[0][1] / det, -h[0][0] / det];
    let z = z_two_sided(cl);
    let (sb, se) = (cov[0].sqrt(), cov[2].sqrt());
    let beta_ci_fisher = [beta * (-z * sb).exp(), beta * (z * sb).exp()];
    let eta_ci_fisher = [eta * (-z * se).exp(), eta * (z * se).exp()];
    let (beta_ci_lr, eta_ci_lr) = match lr_bounds(obs, beta, eta, ll, cl) {
        Some((b, e)) => (Some(b), Some(e)),
        None => (None, None),
    };
    let bounds = if failures < 10 && beta_ci_lr.is_some() { BoundsMethod::LikelihoodRatio } else { BoundsMethod::Fisher };
    let (beta_ci, eta_ci) = match bounds {
        BoundsMethod::LikelihoodRatio => (beta_ci_lr.unwrap_or(beta_ci_fisher), eta_ci_lr.unwrap_or(eta_ci_fisher)),
        BoundsMethod::Fisher => (beta_ci_fisher, eta_ci_fisher),
    };
    let mut fit = WeibullFit {
        n: obs.len(),
        failures,
        exact,
        interval,
        censored: obs.len() - failures,
        beta,
        eta,
        loglik: ll,
        cl,
        bounds,
        beta_ci,
        eta_ci,
        beta_ci_fisher,
        eta_ci_fisher,
        beta_ci_lr,
        eta_ci_lr,
        b1: 0.0,
        b10: 0.0,
        b1_ci: [0.0; 2],
        b10_ci: [0.0; 2],
        cov_log: cov,
    };
    fit.b1 = fit.b_life(0.01);
    fit.b10 = fit.b_life(0.10);
    let b_ci = |p: f64, b: f64| {
        // ln B = ln η + (1/β) ln(−ln(1 − p)): d/dlnβ = −(1/β) c, d/dlnη = 1.
        let c = (-(-p).ln_1p()).ln() / beta;
        let var = c * c * cov[0] - 2.0 * c * cov[1] + cov[2];
        let s = z * var.max(0.0).sqrt();
        [b * (-s).exp(), b * s.exp()]
    };
    fit.b1_ci = b_ci(0.01, fit.b1);
    fit.b10_ci = b_ci(0.10, fit.b10);
    Ok(fit)
}

/// Likelihood-ratio bounds: for each parameter, the values where the profile
/// log-likelihood is χ²₁(cl)/2 below the maximum.
fn lr_bounds(obs: &[Obs], beta: f64, eta: f64, ll: f64, cl: f64) -> Option<([f64; 2], [f64; 2])> {
    let drop = ChiSquared::new(1.0).ok()?.inverse_cdf(cl) / 2.0;
    let target = ll - drop;
    // Profile over ln η for fixed ln β (and the reverse), by golden-section search.
    let profile = |fixed: f64, which: usize, start: f64| -> f64 {
        let g = |x: f64| if which == 0 { weibull_loglik(obs, fixed.exp(), x.exp()) } else { weibull_loglik(obs, x.exp(), fixed.exp()) };
        let (mut a, mut b) = (start - 3.0, start + 3.0);
        let r = 0.618_033_988_749_894_9;
        let (mut c, mut d) = (b - r * (b - a), a + r * (b - a));
        let (mut gc, mut gd) = (g(c), g(d));
        for _ in 0..100 {
            if gc > gd || gd.is_nan() {
                b = d;
                d = c;
                gd = gc;
                c = b - r * (b - a);
                gc = g(c);
            } else {
                a = c;
                c = d;
                gc = gd;
                d = a + r * (b - a);
                gd = g(d);
            }
            if (b - a).abs() < 1e-10 {
                break;
            }
        }
        gc.max(gd)
    };
    let solve = |which: usize, centre: f64, other: f64, dir: f64| -> Option<f64> {
        // which = 0: the bound on ln β (profile over ln η), else on ln η.
        let h = |x: f64| profile(x, which, other) - target;
        let mut inside = centre;
        let mut step = 0.05;
        let mut out;
        loop {
            out = centre + dir * step;
            if h(out) < 0.0 {
                break;
            }
            inside = out;
            step *= 2.0;
            if step > 20.0 {
                return None;
            }
        }
        for _ in 0..80 {
            let mid = 0.5 * (inside + out);
            if h(mid) >= 0.0 { inside = mid } else { out = mid }
        }
        Some((0.5 * (inside + out)).exp())
    };
    let (lb, le) = (beta.ln(), eta.ln());
    Some(([solve(0, lb, le, -1.0)?, solve(0, lb, le, 1.0)?], [solve(1, le, lb, -1.0)?, solve(1, le, lb, 1.0)?]))
}

/// A step of the Turnbull estimate: the probability mass on an innermost interval.
#[derive(Debug, Clone, Serialize)]
pub struct TurnbullStep {
    pub lo: f64,
    pub hi: f64,
    /// Mass on (lo, hi].
    pub mass: f64,
    /// F at `hi`: the cumulative mass.
    pub cdf: f64,
}

/// Turnbull's nonparametric maximum-likelihood estimate for interval-censored data (the
/// self-consistency algorithm): its mass sits on the innermost intervals, where a left
/// bound is followed by a right bound with no other bound between. Exact failures are
/// intervals of zero width; survivors put mass beyond the last bound.
pub fn turnbull(obs: &[Obs]) -> Vec<TurnbullStep> {
    // Bounds as (value, kind): intervals are (lo, hi], so at equal values a right bound
    // (1) closes before a left bound (2) opens; an exact failure's left bound (0) comes
    // first, so that it closes its own zero-width interval [t, t].
    let mut ends: Vec<(f64, u8)> = Vec::new();
    for o in obs {
        ends.push((o.lo, if o.lo == o.hi { 0 } else { 2 }));
        ends.push((o.hi, 1));
    }
    ends.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let mut inner: Vec<(f64, f64)> = Vec::new();
    for w in ends.windows(2) {
        if w[0].1 != 1 && w[1].1 == 1 {
            inner.push((w[0].0, w[1].0));
        }
    }
    inner.dedup();
    let contains = |o: &Obs, (l, r): (f64, f64)| {
        if o.lo == o.hi { l == o.lo && r == o.hi } else { l >= o.lo && r <= o.hi && !(l == r && l == o.lo) }
    };
    let m = inner.len();
    if m == 0 {
        return Vec::new();
    }
    let alpha: Vec<Vec<usize>> = obs.iter().map(|o| (0..m).filter(|&j| contains(o, inner[j])).collect()).collect();
    let mut s = vec![1.0 / m as f64; m];
    let n = obs.len() as f64;
    for _ in 0..10_000 {
        let mut next = vec![0.0; m];
        for a in &alpha {
            let tot: f64 = a.iter().map(|&j| s[j]).sum();
            if tot > 0.0 {
                for &j in a {
                    next[j] += s[j] / tot / n;
                }
            }
        }
        let diff = next.iter().zip(&s).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        s = next;
        if diff < 1e-12 {
            break;
        }
    }
    let mut cum = 0.0;
    inner
        .into_iter()
        .zip(s)
        .map(|((lo, hi), mass)| {
            cum += mass;
            TurnbullStep { lo, hi, mass, cdf: cum.min(1.0) }
        })
        .collect()
}
