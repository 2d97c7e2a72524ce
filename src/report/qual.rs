//! The qualification report: one self-contained HTML file (inline SVG and CSS, printable)
//! and its JSON, laid out after the AEC-Q100 "qualification test plan and results"
//! appendix. Every number comes from `analysis::qual::Evaluation`; this file only lays
//! them out and draws the drift and Weibull plots.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::doc::{Cell, Doc, Row, Run, Table, run, styled};
use super::svg::{Svg, esc};
use super::weibull::draw_weibull;
use crate::analysis::qual::{DriftRow, DriftRule, Evaluation, Verdict};
use crate::analysis::reliability::turnbull;

/// The `format` of the JSON report.
pub const JSON_FORMAT: &str = "yieldlake-qual-report/1";

fn measure(r: &DriftRow) -> f64 {
    match r.rule {
        DriftRule::Relative => 100.0 * r.relative().unwrap_or(f64::NAN),
        DriftRule::Absolute => r.delta(),
        DriftRule::Ratio => r.ratio().unwrap_or(f64::NAN),
    }
}

/// One parameter's drift under one stress: a line per part from t0 across the readpoints,
/// the criterion drawn dashed, parts outside it in red.
pub fn draw_drift(title: &str, rows: &[&DriftRow], readpoints: &[f64], unit: &str) -> String {
    let (w, h) = (640u32, 360u32);
    let mut s = Svg::new(w, h);
    s.text(16.0, 24.0, 15.0, "start", title);
    let Some(first) = rows.first() else { return s.finish() };
    let (rule, limit) = (first.rule, first.limit);
    let (base, lim_lo, lim_hi, label) = match rule {
        DriftRule::Relative => (0.0, -100.0 * limit, 100.0 * limit, "change from t0, %"),
        DriftRule::Absolute => (0.0, -limit, limit, "change from t0"),
        DriftRule::Ratio => (1.0, f64::NAN, limit, "ratio to t0 (floor applied in the rule)"),
    };
    let vals: Vec<f64> = rows.iter().map(|r| measure(r)).filter(|v| v.is_finite()).collect();
    let mut lo = vals.iter().copied().fold(base, f64::min);
    let mut hi = vals.iter().copied().fold(base, f64::max);
    for l in [lim_lo, lim_hi] {
        if l.is_finite() {
            lo = lo.min(l);
            hi = hi.max(l);
        }
    }
    // Keep the criterion in view without letting a shorted part flatten every other line.
    if rule != DriftRule::Ratio {
        lo = lo.max(lim_lo * 3.0);
        hi = hi.min(lim_hi * 3.0);
    } else {
        hi = hi.min(limit * 3.0);
    }
    let pad = (hi - lo).max(1e-12) * 0.08;
    let (lo, hi) = (lo - pad, hi + pad);
    let (x0, y0, pw, ph) = (70.0, 40.0, (w as f64) - 100.0, (h as f64) - 90.0);
    let tmax = readpoints.last().copied().unwrap_or(1.0).max(1e-9);
    let px = |t: f64| x0 + t / tmax * pw;
    let py = |v: f64| y0 + ph - ((v.clamp(lo, hi) - lo) / (hi - lo)) * ph;
    s.rect(x0, y0, pw, ph, "#FFFFFF", Some("#888888"));
    for &t in readpoints {
        s.line((px(t), y0), (px(t), y0 + ph), "#EEEEEE", 1.0, false);
        s.text(px(t), y0 + ph + 16.0, 11.0, "middle", &format!("{t}"));
    }
    s.text(x0 + pw / 2.0, y0 + ph + 34.0, 12.0, "middle", &format!("readpoint ({unit})"));
    for k in 0..=4 {
        let v = lo + (hi - lo) * k as f64 / 4.0;
        s.text(x0 - 6.0, py(v) + 4.0, 10.0, "end", &format!("{v:.3}"));
    }
    s.text(14.0, y0 - 8.0, 11.0, "start", label);
    let mut parts: BTreeMap<(&str, &str), Vec<&DriftRow>> = BTreeMap::new();
    for r in rows {
        parts.entry((r.lot_id.as_str(), r.serial.as_str())).or_default().push(r);
    }
    let mut red = String::new();
    for ((lot, serial), mut rs) in parts {
        rs.sort_by(|a, b| a.readpoint.total_cmp(&b.readpoint));
        let flagged = rs.iter().any(|r| r.flagged);
        let mut pts = format!("{:.1},{:.1}", px(0.0), py(base));
        for r in &rs {
            let m = measure(r);
            if m.is_finite() {
                let _ = write!(pts, " {:.1},{:.1}", px(r.readpoint), py(m));
            }
        }
        let line = format!(
            r#"<polyline class="{}" data-part="{}" points="{pts}" fill="none" stroke="{}" stroke-width="{}" shape-rendering="auto"/>"#,
            if flagged { "drift flagged" } else { "drift" },
            esc(&format!("{lot}/{serial}")),
            if flagged { "#C62828" } else { "#5B7BA6" },
            if flagged { 1.6 } else { 0.7 }
        );
        if flagged { red.push_str(&line) } else { s.raw(&line) }
    }
    s.raw(&red);
    for l in [lim_lo, lim_hi] {
        if l.is_finite() {
            s.line((x0, py(l)), (x0 + pw, py(l)), "#C62828", 1.2, true);
        }
    }
    s.finish()
}

fn verdict(v: Verdict) -> Run {
    styled(v.label(), v.label())
}

fn num(x: f64, digits: usize) -> String {
    if x.is_finite() { format!("{x:.digits$}") } else { "-".into() }
}

/// The report laid out, for HTML and PDF.
pub fn doc(e: &Evaluation, generated_at: &str) -> Doc {
    let mut d = Doc::new(format!("Qualification {}", e.id));
    let plots = plots(e);
    d.h(1, format!("Qualification report: {}", e.id));
    let mut t = Table::new(None, &[]);
    t.row(vec![Cell::head("Product"), Cell::text(&e.product), Cell::head("Package"), Cell::text(&e.package)]);
    t.row(vec![
        Cell::head("Device class"),
        Cell::text(format!("{:?}", e.device_class)),
        Cell::head("Standard"),
        Cell::text(format!("{}{}", e.profile.name, e.grade.map(|g| format!(", grade {g}")).unwrap_or_default())),
    ]);
    t.row(vec![
        Cell::head("Lots"),
        Cell::text(e.lots.join(", ")),
        Cell::head("Generated"),
        Cell::text(format!("{generated_at} by yieldlake {}", env!("CARGO_PKG_VERSION"))),
    ]);
    t.row(vec![Cell::head("Verdict"), Cell { text: vec![verdict(e.verdict)], ..Cell::text("") }.id("verdict").span(3)]);
    d.table(t);
    if !e.profile.verified {
        d.note(format!("Unverified profile: {}", e.profile.note), Some("unverified"));
    }
    d.list(e.reasons.clone());
    // Summary per stress.
    d.section();
    d.h(2, "Stresses and results");
    let mut t = Table::new(
        None,
        &["Stress", "Conditions", "Lots × SS", "Readpoints", "Fails/SS", "Missing", "Accept", "Upper defect rate", "Verdict", "Reference"],
    );
    for s in &e.stresses {
        let c = &s.conditions;
        let cond: Vec<String> = [
            c.temperature_c.map(|v| format!("{v} °C")),
            c.rh_pct.map(|v| format!("{v} % RH")),
            c.voltage_fraction.map(|v| format!("{:.0} % V", 100.0 * v)),
            c.delta_t_c.map(|v| format!("ΔT {v} °C")),
            c.cycle_on_min.zip(c.cycle_off_min).map(|(a, b)| format!("{a}/{b} min on/off")),
        ]
        .into_iter()
        .flatten()
        .collect();
        let lots = s.rows.iter().map(|r| r.lot_id.as_str()).collect::<std::collections::BTreeSet<_>>().len();
        let per_lot = s.units as f64 / lots.max(1) as f64;
        let dr: Vec<String> =
            s.defect_rate.iter().map(|d| format!("{:.3} % @ {:.0} % ({})", 100.0 * d.upper, 100.0 * d.cl, d.method)).collect();
        t.rows.push(
            Row::new(vec![
                Cell::text(&s.name),
                Cell::text(cond.join(", ")),
                Cell::num(format!("{lots} × {}", num(per_lot, 0))),
                Cell::text(format!("{} {}", s.readpoints.iter().map(|r| r.to_string()).collect::<Vec<_>>().join(", "), s.unit.label())),
                Cell::num(format!("{}/{}", s.failed, s.units)).class("fails"),
                Cell::num(s.missing.to_string()),
                Cell::num(s.accept.to_string()),
                Cell::text(dr.join("; ")),
                Cell::text(s.verdict.label()).class(s.verdict.label()),
                Cell::text(s.cite.as_deref().unwrap_or("not in the profile")),
            ])
            .attr("data-stress", &s.name),
        );
    }
    d.table(t);
    // Plan against the profile.
    d.h(3, "The plan against the standard profile");
    if e.gaps.is_empty() {
        d.para(vec![run("No gap.")], Some("gaps"), None);
    } else {
        let mut t = Table::new(Some("gaps"), &["Stress", "Gap", "Detail"]);
        for g in &e.gaps {
            t.row(vec![Cell::text(&g.stress), Cell::text(&g.kind), Cell::text(&g.detail)]);
        }
        d.table(t);
    }
    for s in &e.stresses {
        d.section_with("data-stress", &s.name);
        d.heading(2, vec![run(format!("{}: ", s.name)), verdict(s.verdict)], None);
        let mut t = Table::new(None, &["Lot", "Readpoint", "Tested", "Failed", "Missing", "Cumulative"]);
        for r in &s.rows {
            t.row(vec![
                Cell::text(&r.lot_id),
                Cell::num(format!("{} {}", r.readpoint, s.unit.label())),
                Cell::num(r.tested.to_string()),
                Cell::num(r.failed.to_string()),
                Cell::num(r.missing.to_string()),
                Cell::num(format!("{}{}", r.cum_failed, if r.pending { " (no data yet)" } else { "" })),
            ]);
        }
        d.table(t);
        if !s.failures.is_empty() {
            d.h(3, "Failures");
            let mut t = Table::new(None, &["Lot", "Serial", "Failed in", "Kind", "Tests"]);
            for f in &s.failures {
                let tests: Vec<String> = f
                    .tests
                    .iter()
                    .map(|t| {
                        format!(
                            "{} {} (t0 {}): {}",
                            t.test_name,
                            t.value.map(|v| format!("{v:.4e}")).unwrap_or_default(),
                            t.t0_value.map(|v| format!("{v:.4e}")).unwrap_or_else(|| "-".into()),
                            t.why
                        )
                    })
                    .collect();
                t.row(vec![
                    Cell::text(&f.lot_id),
                    Cell::text(&f.serial),
                    Cell::text(format!("({}, {}] {}", f.last_good, f.readpoint, s.unit.label())),
                    Cell::text(&f.kind),
                    Cell::text(tests.join("; ")),
                ]);
            }
            d.table(t);
        }
        if !s.drift.is_empty() {
            d.h(3, "Drift against t0");
            let mut t = Table::new(None, &["Parameter", "Readpoint", "Rule", "n", "Mean", "SD", "Min", "Median", "Max", "Flagged"]);
            for x in &s.drift {
                t.row(vec![
                    Cell::text(&x.test_name),
                    Cell::num(x.readpoint.to_string()),
                    Cell::text(format!("{:?} {}", x.rule, x.limit)),
                    Cell::num(x.n.to_string()),
                    Cell::num(num(x.mean, 4)),
                    Cell::num(num(x.sd, 4)),
                    Cell::num(num(x.min, 4)),
                    Cell::num(num(x.median, 4)),
                    Cell::num(num(x.max, 4)),
                    Cell::num(x.flagged.to_string()),
                ]);
            }
            d.table(t);
            for p in plots.iter().filter(|p| p.stress == s.name && !p.weibull) {
                d.figure(p.svg.clone());
            }
        }
        d.h(3, "Failure rate");
        match &s.acceleration {
            Some(a) => {
                d.p(format!("Acceleration: {:?}, AF {:.4}. Assumptions: {}.", a.model, a.af, a.assumptions.join("; ")));
                let hours = format!("Equivalent device-{}", if s.unit.label() == "h" { "hours" } else { "cycles" });
                let mut t = Table::new(None, &["Confidence", "Failures", &hours, "FIT", "MTTF"]);
                for f in &s.fit {
                    t.row(vec![
                        Cell::text(format!("{:.0} %", 100.0 * f.cl)),
                        Cell::num(f.failures.to_string()),
                        Cell::num(format!("{:.4e}", f.device_hours)),
                        Cell::num(format!("{:.2}", f.fit)).class("fit"),
                        Cell::num(format!("{:.4e} {}", f.mttf_h, s.unit.label())),
                    ]);
                }
                d.table(t);
            }
            None => d.p("No acceleration factor (see the notes)."),
        }
        if let Some(m) = s.mission_duration {
            d.p(format!("The mission profile needs {m:.0} {} of this stress (AEC-Q100/Q101 Appendix 7).", s.unit.label()));
        }
        if let Some(w) = &s.weibull {
            d.h(3, "Weibull");
            d.p(format!(
                "β {:.3} [{:.3}, {:.3}], η {:.4e} [{:.4e}, {:.4e}] ({:?} bounds at {:.0} %), B1 {:.4e}, B10 {:.4e}; {} failures in intervals, {} survivors censored.",
                w.beta,
                w.beta_ci[0],
                w.beta_ci[1],
                w.eta,
                w.eta_ci[0],
                w.eta_ci[1],
                w.bounds,
                100.0 * w.cl,
                w.b1,
                w.b10,
                w.interval + w.exact,
                w.censored,
            ));
            for p in plots.iter().filter(|p| p.stress == s.name && p.weibull) {
                d.figure(p.svg.clone());
            }
        }
        d.list(s.reasons.iter().chain(&s.notes).cloned().collect());
    }
    d.section();
    d.h(2, "Notes and sign-off");
    d.list(e.notes.clone());
    d.p(format!("Profile source: {}.", e.profile.source));
    let mut t = Table::new(None, &["Role", "Name", "Signature", "Date"]);
    for role in ["Prepared by", "Reviewed by (quality)", "Approved by (customer)"] {
        t.row(vec![Cell::text(role), Cell::text(""), Cell::text(""), Cell::text("")]);
    }
    d.table(t);
    d
}

/// A drift or Weibull plot of one stress.
pub struct Plot {
    pub stress: String,
    pub weibull: bool,
    /// A file stem: `drift-<stress>-<test>` or `weibull-<stress>`.
    pub name: String,
    pub svg: String,
}

/// Every plot of an evaluation, stress by stress: drift per parameter, then Weibull. The
/// report embeds them and `--plots` writes them as SVG and PNG.
pub fn plots(e: &Evaluation) -> Vec<Plot> {
    let mut out = Vec::new();
    for s in &e.stresses {
        let mut by_test: BTreeMap<&str, Vec<&DriftRow>> = BTreeMap::new();
        for r in e.drift_rows.iter().filter(|r| r.stress == s.name) {
            by_test.entry(r.test_name.as_str()).or_default().push(r);
        }
        for (t, rows) in by_test {
            out.push(Plot {
                stress: s.name.clone(),
                weibull: false,
                name: format!("drift-{}-{t}", s.name),
                svg: draw_drift(&format!("{} {t}", s.name), &rows, &s.readpoints, s.unit.label()),
            });
        }
        if let Some(w) = &s.weibull {
            out.push(Plot {
                stress: s.name.clone(),
                weibull: true,
                name: format!("weibull-{}", s.name),
                svg: draw_weibull(&format!("{}: Weibull probability plot", s.name), w, &turnbull(&s.observations), s.unit.label()),
            });
        }
    }
    out
}

/// The JSON report (schema: `schemas/qual-report.json`).
#[derive(serde::Serialize, schemars::JsonSchema)]
pub struct QualReport<'a> {
    /// "yieldlake-qual-report/1".
    pub format: &'static str,
    /// The yieldlake version that made it.
    pub yieldlake: &'static str,
    /// When, RFC 3339 UTC.
    pub generated_at: &'a str,
    pub evaluation: &'a Evaluation,
}

/// The report as JSON: the evaluation with the report's format and provenance.
pub fn json(e: &Evaluation, generated_at: &str) -> serde_json::Value {
    serde_json::to_value(QualReport { format: JSON_FORMAT, yieldlake: env!("CARGO_PKG_VERSION"), generated_at, evaluation: e })
        .unwrap_or_default()
}

/// The JSON Schema of the JSON report, as kept in `schemas/`.
pub fn json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(QualReport<'static>)).unwrap_or_default()
}
