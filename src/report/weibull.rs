//! Weibull probability plots: ln t against ln(−ln(1 − F)), where a Weibull is a straight
//! line. Interval data are placed honestly: the Turnbull estimate's cumulative mass is
//! drawn as a horizontal segment across each innermost interval, not as a point at a
//! readpoint. The fitted line and its Fisher bounds come from `analysis::reliability`.

use super::svg::Svg;
use crate::analysis::reliability::{TurnbullStep, WeibullFit};

pub const WIDTH: u32 = 800;
pub const HEIGHT: u32 = 560;

fn wy(f: f64) -> f64 {
    (-(-f).ln_1p()).ln()
}

/// The plot of one fit and its data's Turnbull estimate.
pub fn draw_weibull(title: &str, fit: &WeibullFit, steps: &[TurnbullStep], unit: &str) -> String {
    let mut s = Svg::new(WIDTH, HEIGHT);
    s.text(20.0, 28.0, 18.0, "start", title);
    let (x0, y0, w, h) = (80.0, 50.0, 680.0, 430.0);
    let finite: Vec<&TurnbullStep> = steps.iter().filter(|t| t.hi.is_finite() && t.cdf > 0.0 && t.cdf < 1.0).collect();
    let mut tmin = finite.iter().map(|t| if t.lo > 0.0 { t.lo } else { t.hi }).fold(fit.b_life(0.01), f64::min);
    let mut tmax = finite.iter().map(|t| t.hi).fold(fit.b_life(0.99), f64::max);
    tmin = tmin.max(1e-12) / 1.5;
    tmax *= 1.5;
    let (lx0, lx1) = (tmin.log10().floor(), tmax.log10().ceil());
    let (fy0, fy1) = (wy(0.001), wy(0.999));
    let px = |t: f64| x0 + (t.log10() - lx0) / (lx1 - lx0) * w;
    let py = |f: f64| y0 + h - (wy(f) - fy0) / (fy1 - fy0) * h;
    // Grid: decades of t, and the usual unreliability ticks.
    for d in (lx0 as i32)..=(lx1 as i32) {
        let x = px(10f64.powi(d));
        s.line((x, y0), (x, y0 + h), "#DDDDDD", 1.0, false);
        s.text(x, y0 + h + 18.0, 11.0, "middle", &format!("{}", 10f64.powi(d)));
    }
    for f in [0.001, 0.01, 0.05, 0.1, 0.2, 0.5, 0.632, 0.9, 0.99, 0.999] {
        let y = py(f);
        s.line((x0, y), (x0 + w, y), "#DDDDDD", 1.0, false);
        s.text(x0 - 6.0, y + 4.0, 11.0, "end", &format!("{}", 100.0 * f));
    }
    s.line((x0, y0 + h), (x0 + w, y0 + h), "#333333", 1.0, false);
    s.line((x0, y0), (x0, y0 + h), "#333333", 1.0, false);
    s.text(x0 + w / 2.0, y0 + h + 40.0, 12.0, "middle", &format!("time [{unit}]"));
    s.text(20.0, y0 + h / 2.0, 12.0, "start", "F %");
    // The fit and its bounds, sampled along t.
    let n = 120;
    let ts: Vec<f64> = (0..=n).map(|i| 10f64.powf(lx0 + (lx1 - lx0) * i as f64 / n as f64)).collect();
    let path = |pts: Vec<(f64, f64)>, stroke: &str, width: f64, dash: bool| {
        let d: Vec<String> = pts
            .iter()
            .filter(|(_, f)| *f > 0.001 && *f < 0.999)
            .enumerate()
            .map(|(i, (t, f))| format!("{}{:.2},{:.2}", if i == 0 { "M" } else { "L" }, px(*t), py(*f)))
            .collect();
        if d.len() < 2 {
            return String::new();
        }
        format!(
            "<path d=\"{}\" fill=\"none\" stroke=\"{stroke}\" stroke-width=\"{width}\"{}/>",
            d.join(" "),
            if dash { " stroke-dasharray=\"6,4\"" } else { "" }
        )
    };
    s.raw(&path(ts.iter().map(|t| (*t, fit.cdf(*t))).collect(), "#0072B2", 2.0, false));
    s.raw(&path(ts.iter().map(|t| (*t, fit.cdf_bounds(*t).0)).collect(), "#0072B2", 1.0, true));
    s.raw(&path(ts.iter().map(|t| (*t, fit.cdf_bounds(*t).1)).collect(), "#0072B2", 1.0, true));
    // Turnbull: a segment over each interval at its cumulative mass, a dot at its end.
    for t in &finite {
        let y = py(t.cdf);
        let xa = if t.lo > 0.0 { px(t.lo) } else { x0 };
        let xb = px(t.hi);
        s.line((xa, y), (xb, y), "#D55E00", 2.0, false);
        s.raw(&format!(
            "<circle class=\"turnbull\" cx=\"{xb:.2}\" cy=\"{y:.2}\" r=\"3.5\" fill=\"#D55E00\" data-lo=\"{}\" data-hi=\"{}\" data-cdf=\"{}\"/>",
            t.lo, t.hi, t.cdf
        ));
    }
    let bounds = match fit.bounds {
        crate::analysis::reliability::BoundsMethod::Fisher => "Fisher",
        crate::analysis::reliability::BoundsMethod::LikelihoodRatio => "likelihood-ratio",
    };
    let legend = [
        format!("β = {:.4} [{:.4}, {:.4}]", fit.beta, fit.beta_ci[0], fit.beta_ci[1]),
        format!("η = {:.4} [{:.4}, {:.4}]", fit.eta, fit.eta_ci[0], fit.eta_ci[1]),
        format!("{:.0} % {bounds} bounds on β, η; dashed: Fisher bounds on F(t)", 100.0 * fit.cl),
        format!("{} units: {} exact, {} interval, {} censored; dots: Turnbull", fit.n, fit.exact, fit.interval, fit.censored),
    ];
    for (i, l) in legend.iter().enumerate() {
        s.text(x0 + 10.0, y0 + 18.0 + 16.0 * i as f64, 12.0, "start", l);
    }
    s.finish()
}
