//! `yieldlake rel`: the reliability calculator (acceleration and FIT, binomial bounds,
//! Weibull fits of CSV data, mission-profile test durations, sample sizes). Each
//! subcommand prints text, or with `--json` one object with the documented keys.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use yieldlake::analysis::reliability::{self as rel, Obs};

use super::output::outln;

#[derive(clap::Args)]
pub struct RelArgs {
    #[command(subcommand)]
    cmd: RelCmd,
}

#[derive(clap::Subcommand)]
enum RelCmd {
    /// Acceleration factor (Arrhenius), chi-square FIT and MTTF of a life test
    Fit(FitArgs),
    /// Clopper-Pearson bounds on a defect fraction (zero failures: LTPD)
    Binomial(BinomialArgs),
    /// Weibull maximum likelihood of a CSV of times (exact, right-censored or interval)
    Weibull(WeibullArgs),
    /// The test duration one phase of a use profile needs (AEC-Q100/Q101 Appendix 7)
    Mission(MissionArgs),
    /// Units needed to show a defect fraction at a confidence
    SampleSize(SampleSizeArgs),
}

#[derive(clap::Args)]
struct FitArgs {
    #[arg(long)]
    units: u64,
    /// Hours on stress per unit.
    #[arg(long)]
    hours: f64,
    #[arg(long, default_value_t = 0)]
    failures: u64,
    #[arg(long)]
    stress_c: f64,
    #[arg(long)]
    use_c: f64,
    /// Activation energy in eV.
    #[arg(long)]
    ea: f64,
    #[arg(long, default_value_t = 0.6)]
    cl: f64,
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct BinomialArgs {
    #[arg(long)]
    n: u64,
    #[arg(long, default_value_t = 0)]
    failures: u64,
    #[arg(long)]
    cl: f64,
    #[arg(long)]
    two_sided: bool,
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct WeibullArgs {
    /// CSV with columns `time,censored` (censored 0 or 1) or `time_lo,time_hi` (equal for
    /// an exact failure, empty time_hi for a survivor, time_lo 0 for a failure found at
    /// the first readpoint).
    #[arg(long)]
    times: PathBuf,
    /// Two-sided confidence of the bounds.
    #[arg(long, default_value_t = 0.95)]
    cl: f64,
    /// Write the Weibull probability plot here as SVG, and beside it as PNG.
    #[arg(long)]
    plot: Option<PathBuf>,
    /// The time unit, for the plot's axis.
    #[arg(long, default_value = "h")]
    unit: String,
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Model {
    Arrhenius,
    Peck,
    CoffinManson,
}

#[derive(clap::Args)]
struct MissionArgs {
    #[arg(long, value_enum)]
    model: Model,
    #[arg(long)]
    use_hours: Option<f64>,
    #[arg(long)]
    use_c: Option<f64>,
    #[arg(long)]
    test_c: Option<f64>,
    #[arg(long)]
    ea: Option<f64>,
    #[arg(long)]
    use_rh: Option<f64>,
    #[arg(long)]
    test_rh: Option<f64>,
    /// Peck's humidity exponent (3), or Coffin-Manson's m.
    #[arg(long)]
    exponent: Option<f64>,
    #[arg(long)]
    use_cycles: Option<f64>,
    #[arg(long)]
    use_dt: Option<f64>,
    #[arg(long)]
    test_dt: Option<f64>,
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct SampleSizeArgs {
    /// The defect fraction to demonstrate (0.01 for 1 %).
    #[arg(long)]
    p: f64,
    #[arg(long)]
    cl: f64,
    #[arg(long, default_value_t = 0)]
    failures: u64,
    #[arg(long)]
    json: bool,
}

/// A usage error: message and status 1.
fn usage(msg: impl std::fmt::Display) -> Result<ExitCode> {
    eprintln!("error: {msg}");
    Ok(ExitCode::from(1))
}

fn print(json: bool, v: serde_json::Value, text: String) -> Result<ExitCode> {
    if json {
        outln!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        outln!("{text}");
    }
    Ok(ExitCode::SUCCESS)
}

pub fn run(a: RelArgs) -> Result<ExitCode> {
    match a.cmd {
        RelCmd::Fit(f) => {
            if f.units == 0 || f.hours.is_nan() || f.hours <= 0.0 {
                return usage("--units and --hours must be positive");
            }
            let af = rel::arrhenius_af(f.ea, f.use_c, f.stress_c);
            let r = match rel::chi2_failure_rate(f.units as f64 * f.hours, f.failures, af, f.cl) {
                Ok(r) => r,
                Err(e) => return usage(e),
            };
            print(
                f.json,
                serde_json::json!({"af": r.af, "fit": r.fit, "mttf_h": r.mttf_h, "lambda_per_h": r.lambda, "equivalent_device_hours": r.device_hours, "failures": r.failures, "cl": r.cl}),
                format!(
                    "AF {:.4} (Arrhenius, Ea {} eV, {} C -> {} C); {} failures in {:.4e} equivalent device-hours: {:.4} FIT, MTTF {:.4e} h ({:.1} years) at {:.0} % confidence",
                    r.af,
                    f.ea,
                    f.stress_c,
                    f.use_c,
                    r.failures,
                    r.device_hours,
                    r.fit,
                    r.mttf_h,
                    r.mttf_h / 8760.0,
                    100.0 * r.cl
                ),
            )
        }
        RelCmd::Binomial(b) => match rel::clopper_pearson(b.n, b.failures, b.cl, b.two_sided) {
            Ok((lo, hi)) => print(
                b.json,
                serde_json::json!({"lower": lo, "upper": hi, "n": b.n, "failures": b.failures, "cl": b.cl, "two_sided": b.two_sided}),
                format!(
                    "{} failures in {}: defect fraction between {:.6} % and {:.6} % ({}{:.0} % Clopper-Pearson)",
                    b.failures,
                    b.n,
                    100.0 * lo,
                    100.0 * hi,
                    if b.two_sided { "two-sided " } else { "one-sided " },
                    100.0 * b.cl
                ),
            ),
            Err(e) => usage(e),
        },
        RelCmd::SampleSize(s) => match rel::sample_size(s.p, s.cl, s.failures) {
            Ok(n) => print(
                s.json,
                serde_json::json!({"units": n, "p": s.p, "cl": s.cl, "failures": s.failures}),
                format!(
                    "{n} units, with {} failures allowed, show a defect fraction of at most {} % at {:.0} % confidence",
                    s.failures,
                    100.0 * s.p,
                    100.0 * s.cl
                ),
            ),
            Err(e) => usage(e),
        },
        RelCmd::Mission(m) => mission(m),
        RelCmd::Weibull(w) => weibull(w),
    }
}

fn mission(m: MissionArgs) -> Result<ExitCode> {
    let need = |v: Option<f64>, flag: &str| v.ok_or_else(|| format!("--model needs --{flag}"));
    let r: Result<(f64, f64, &str), String> = (|| match m.model {
        Model::Arrhenius => {
            let af = rel::arrhenius_af(need(m.ea, "ea")?, need(m.use_c, "use-c")?, need(m.test_c, "test-c")?);
            Ok((af, need(m.use_hours, "use-hours")? / af, "h"))
        }
        Model::Peck => {
            let af = rel::peck_af(
                need(m.ea, "ea")?,
                need(m.use_c, "use-c")?,
                need(m.use_rh, "use-rh")?,
                need(m.test_c, "test-c")?,
                need(m.test_rh, "test-rh")?,
                m.exponent.unwrap_or(3.0),
            );
            Ok((af, need(m.use_hours, "use-hours")? / af, "h"))
        }
        Model::CoffinManson => {
            let af = rel::coffin_manson_af(need(m.test_dt, "test-dt")?, need(m.use_dt, "use-dt")?, need(m.exponent, "exponent")?);
            Ok((af, need(m.use_cycles, "use-cycles")? / af, "cycles"))
        }
    })();
    match r {
        Ok((af, d, unit)) if af.is_finite() && af > 0.0 && d.is_finite() => print(
            m.json,
            serde_json::json!({"af": af, "test_duration": d, "unit": unit}),
            format!("AF {af:.4}: the test needs {d:.2} {unit}"),
        ),
        Ok((af, _, _)) => usage(format!("the acceleration factor is {af}: check the temperatures, humidities and ΔT")),
        Err(e) => usage(e),
    }
}

/// Reads a times CSV in either layout; errors name the line.
pub fn read_times(path: &std::path::Path) -> Result<Vec<Obs>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
    let Some((_, header)) = lines.next() else { return Err(format!("{}: empty file", path.display())) };
    let cols: Vec<String> = header.split(',').map(|c| c.trim().to_lowercase()).collect();
    let idx = |n: &str| cols.iter().position(|c| c == n);
    let layout = match (idx("time"), idx("censored"), idx("time_lo"), idx("time_hi")) {
        (_, _, Some(l), Some(h)) => (l, h, true),
        (Some(t), Some(c), _, _) => (t, c, false),
        _ => {
            return Err(format!("{}:1: the header must have columns time,censored or time_lo,time_hi (it has {header:?})", path.display()));
        }
    };
    let mut obs = Vec::new();
    for (i, line) in lines {
        let at = format!("{}:{}", path.display(), i + 1);
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        let get = |k: usize| f.get(k).copied().unwrap_or("");
        let num =
            |s: &str, what: &str| -> Result<f64, String> { s.parse::<f64>().map_err(|_| format!("{at}: {what} {s:?} is not a number")) };
        let o = if layout.2 {
            let lo = num(get(layout.0), "time_lo")?;
            let hi = if get(layout.1).is_empty() { f64::INFINITY } else { num(get(layout.1), "time_hi")? };
            Obs { lo, hi }
        } else {
            let t = num(get(layout.0), "time")?;
            match get(layout.1) {
                "false" => Obs::exact(t),
                "true" => Obs::censored(t),
                s if s.parse::<f64>() == Ok(0.0) => Obs::exact(t),
                s if s.parse::<f64>() == Ok(1.0) => Obs::censored(t),
                other => return Err(format!("{at}: censored must be 0 or 1, not {other:?}")),
            }
        };
        if let Err(e) = rel::check_obs(&[o], &|_| at.clone()) {
            return Err(e.0);
        }
        obs.push(o);
    }
    if obs.is_empty() {
        return Err(format!("{}: no data rows", path.display()));
    }
    Ok(obs)
}

fn weibull(w: WeibullArgs) -> Result<ExitCode> {
    let obs = match read_times(&w.times) {
        Ok(o) => o,
        Err(e) => return usage(e),
    };
    let fit = match rel::weibull_fit(&obs, w.cl) {
        Ok(f) => f,
        Err(e) => return usage(format!("{}: {e}", w.times.display())),
    };
    let mut v = serde_json::to_value(&fit)?;
    let steps = rel::turnbull(&obs);
    v["turnbull"] = serde_json::to_value(&steps)?;
    if let Some(p) = &w.plot {
        let title = format!("Weibull probability plot: {}", w.times.file_name().map(|f| f.to_string_lossy()).unwrap_or_default());
        let svg = yieldlake::report::weibull::draw_weibull(&title, &fit, &steps, &w.unit);
        std::fs::write(p, &svg).with_context(|| format!("writing {}", p.display()))?;
        let png = yieldlake::report::png::svg_to_png(&svg).map_err(anyhow::Error::msg)?;
        std::fs::write(p.with_extension("png"), png)?;
        eprintln!("wrote {} and {}", p.display(), p.with_extension("png").display());
    }
    let text = format!(
        "{} units: {} exact failures, {} in intervals, {} censored\nbeta {:.6} [{:.6}, {:.6}]  eta {:.6} [{:.6}, {:.6}]  ({:.0} % two-sided, {} bounds)\nlog-likelihood {:.6}\nB1 {:.6}  B10 {:.6}",
        fit.n,
        fit.exact,
        fit.interval,
        fit.censored,
        fit.beta,
        fit.beta_ci[0],
        fit.beta_ci[1],
        fit.eta,
        fit.eta_ci[0],
        fit.eta_ci[1],
        100.0 * fit.cl,
        match fit.bounds {
            rel::BoundsMethod::Fisher => "Fisher-matrix",
            rel::BoundsMethod::LikelihoodRatio => "likelihood-ratio",
        },
        fit.loglik,
        fit.b1,
        fit.b10
    );
    print(w.json, v, text)
}
