//! The qualification report: one self-contained HTML file (inline SVG and CSS, printable)
//! and its JSON, laid out after the AEC-Q100 "qualification test plan and results"
//! appendix. Every number comes from `analysis::qual::Evaluation`; this file only lays
//! them out and draws the drift and Weibull plots.

use std::collections::BTreeMap;
use std::fmt::Write as _;

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

const CSS: &str = "body{font-family:'DejaVu Sans',Arial,sans-serif;margin:2em;color:#111;max-width:1100px}\
h1{font-size:1.6em}h2{font-size:1.25em;border-bottom:2px solid #333;padding-bottom:.2em;margin-top:1.6em}h3{font-size:1.05em}\
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}td,th{border:1px solid #999;padding:.25em .5em;text-align:left;vertical-align:top}\
th{background:#EEE}td.num{text-align:right}.PASS{color:#1B5E20;font-weight:bold}.FAIL{color:#B71C1C;font-weight:bold}\
.INCOMPLETE{color:#E65100;font-weight:bold}.note{background:#FFF3E0;border-left:4px solid #E65100;padding:.5em}\
figure{margin:.6em 0;display:inline-block}svg{max-width:100%;height:auto}\
@media print{body{margin:0;max-width:none}section{page-break-before:always}section.first{page-break-before:avoid}a{color:#111}}";

fn verdict(v: Verdict) -> String {
    format!(r#"<span class="{0}">{0}</span>"#, v.label())
}

fn num(x: f64, digits: usize) -> String {
    if x.is_finite() { format!("{x:.digits$}") } else { "-".into() }
}

/// The report as one HTML document.
pub fn html(e: &Evaluation, generated_at: &str) -> String {
    let mut h = String::with_capacity(1 << 20);
    let _ = write!(
        h,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Qualification {id}</title><style>{CSS}</style></head><body>\
         <h1>Qualification report: {id}</h1><table>\
         <tr><th>Product</th><td>{p}</td><th>Package</th><td>{pk}</td></tr>\
         <tr><th>Device class</th><td>{dc:?}</td><th>Standard</th><td>{std}{g}</td></tr>\
         <tr><th>Lots</th><td>{lots}</td><th>Generated</th><td>{at} by yieldlake {ver}</td></tr>\
         <tr><th>Verdict</th><td colspan=\"3\" id=\"verdict\">{v}</td></tr></table>",
        id = esc(&e.id),
        p = esc(&e.product),
        pk = esc(&e.package),
        dc = e.device_class,
        std = esc(&e.profile.name),
        g = e.grade.map(|g| format!(", grade {g}")).unwrap_or_default(),
        lots = esc(&e.lots.join(", ")),
        at = esc(generated_at),
        ver = env!("CARGO_PKG_VERSION"),
        v = verdict(e.verdict),
    );
    if !e.profile.verified {
        let _ = write!(h, r#"<p class="note" id="unverified">Unverified profile: {}</p>"#, esc(&e.profile.note));
    }
    if !e.reasons.is_empty() {
        h.push_str("<ul>");
        for r in &e.reasons {
            let _ = write!(h, "<li>{}</li>", esc(r));
        }
        h.push_str("</ul>");
    }
    // Summary per stress.
    h.push_str("<section class=\"first\"><h2>Stresses and results</h2><table><tr><th>Stress</th><th>Conditions</th><th>Lots × SS</th><th>Readpoints</th><th>Fails/SS</th><th>Missing</th><th>Accept</th><th>Upper defect rate</th><th>Verdict</th><th>Reference</th></tr>");
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
        let _ = write!(
            h,
            "<tr data-stress=\"{n}\"><td>{n}</td><td>{cond}</td><td class=\"num\">{lots} × {pl}</td><td>{rps} {u}</td><td class=\"num fails\">{f}/{units}</td><td class=\"num\">{m}</td><td class=\"num\">{a}</td><td>{dr}</td><td>{v}</td><td>{cite}</td></tr>",
            n = esc(&s.name),
            cond = esc(&cond.join(", ")),
            pl = num(per_lot, 0),
            rps = s.readpoints.iter().map(|r| r.to_string()).collect::<Vec<_>>().join(", "),
            u = s.unit.label(),
            f = s.failed,
            units = s.units,
            m = s.missing,
            a = s.accept,
            dr = esc(&dr.join("; ")),
            v = verdict(s.verdict),
            cite = esc(s.cite.as_deref().unwrap_or("not in the profile")),
        );
    }
    h.push_str("</table>");
    // Plan against the profile.
    h.push_str("<h3>The plan against the standard profile</h3>");
    if e.gaps.is_empty() {
        h.push_str("<p id=\"gaps\">No gap.</p>");
    } else {
        h.push_str("<table id=\"gaps\"><tr><th>Stress</th><th>Gap</th><th>Detail</th></tr>");
        for g in &e.gaps {
            let _ = write!(h, "<tr><td>{}</td><td>{}</td><td>{}</td></tr>", esc(&g.stress), esc(&g.kind), esc(&g.detail));
        }
        h.push_str("</table>");
    }
    h.push_str("</section>");
    for s in &e.stresses {
        let _ = write!(h, "<section data-stress=\"{0}\"><h2>{0}: {1}</h2>", esc(&s.name), verdict(s.verdict));
        h.push_str("<table><tr><th>Lot</th><th>Readpoint</th><th>Tested</th><th>Failed</th><th>Missing</th><th>Cumulative</th></tr>");
        for r in &s.rows {
            let _ = write!(
                h,
                "<tr><td>{}</td><td class=\"num\">{} {}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}{}</td></tr>",
                esc(&r.lot_id),
                r.readpoint,
                s.unit.label(),
                r.tested,
                r.failed,
                r.missing,
                r.cum_failed,
                if r.pending { " (no data yet)" } else { "" }
            );
        }
        h.push_str("</table>");
        if !s.failures.is_empty() {
            h.push_str("<h3>Failures</h3><table><tr><th>Lot</th><th>Serial</th><th>Failed in</th><th>Kind</th><th>Tests</th></tr>");
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
                let _ = write!(
                    h,
                    "<tr><td>{}</td><td>{}</td><td>({}, {}] {}</td><td>{}</td><td>{}</td></tr>",
                    esc(&f.lot_id),
                    esc(&f.serial),
                    f.last_good,
                    f.readpoint,
                    s.unit.label(),
                    esc(&f.kind),
                    esc(&tests.join("; "))
                );
            }
            h.push_str("</table>");
        }
        if !s.drift.is_empty() {
            h.push_str("<h3>Drift against t0</h3><table><tr><th>Parameter</th><th>Readpoint</th><th>Rule</th><th>n</th><th>Mean</th><th>SD</th><th>Min</th><th>Median</th><th>Max</th><th>Flagged</th></tr>");
            for d in &s.drift {
                let _ = write!(
                    h,
                    "<tr><td>{}</td><td class=\"num\">{}</td><td>{:?} {}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                    esc(&d.test_name),
                    d.readpoint,
                    d.rule,
                    d.limit,
                    d.n,
                    num(d.mean, 4),
                    num(d.sd, 4),
                    num(d.min, 4),
                    num(d.median, 4),
                    num(d.max, 4),
                    d.flagged
                );
            }
            h.push_str("</table>");
            let mut by_test: BTreeMap<&str, Vec<&DriftRow>> = BTreeMap::new();
            for r in e.drift_rows.iter().filter(|r| r.stress == s.name) {
                by_test.entry(r.test_name.as_str()).or_default().push(r);
            }
            for (t, rows) in by_test {
                let _ = write!(h, "<figure>{}</figure>", draw_drift(&format!("{} {t}", s.name), &rows, &s.readpoints, s.unit.label()));
            }
        }
        h.push_str("<h3>Failure rate</h3>");
        match &s.acceleration {
            Some(a) => {
                let _ = write!(h, "<p>Acceleration: {:?}, AF {:.4}. Assumptions: {}.</p>", a.model, a.af, esc(&a.assumptions.join("; ")));
                h.push_str("<table><tr><th>Confidence</th><th>Failures</th><th>Equivalent device-");
                h.push_str(if s.unit.label() == "h" { "hours" } else { "cycles" });
                h.push_str("</th><th>FIT</th><th>MTTF</th></tr>");
                for f in &s.fit {
                    let _ = write!(
                        h,
                        "<tr><td>{:.0} %</td><td class=\"num\">{}</td><td class=\"num\">{:.4e}</td><td class=\"num fit\">{:.2}</td><td class=\"num\">{:.4e} {}</td></tr>",
                        100.0 * f.cl,
                        f.failures,
                        f.device_hours,
                        f.fit,
                        f.mttf_h,
                        s.unit.label()
                    );
                }
                h.push_str("</table>");
            }
            None => h.push_str("<p>No acceleration factor (see the notes).</p>"),
        }
        if let Some(m) = s.mission_duration {
            let _ = write!(h, "<p>The mission profile needs {m:.0} {} of this stress (AEC-Q100/Q101 Appendix 7).</p>", s.unit.label());
        }
        if let Some(w) = &s.weibull {
            let _ = write!(
                h,
                "<h3>Weibull</h3><p>β {:.3} [{:.3}, {:.3}], η {:.4e} [{:.4e}, {:.4e}] ({:?} bounds at {:.0} %), B1 {:.4e}, B10 {:.4e}; {} failures in intervals, {} survivors censored.</p><figure>{}</figure>",
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
                draw_weibull(&format!("{}: Weibull probability plot", s.name), w, &turnbull(&s.observations), s.unit.label())
            );
        }
        if !s.notes.is_empty() || !s.reasons.is_empty() {
            h.push_str("<ul>");
            for n in s.reasons.iter().chain(&s.notes) {
                let _ = write!(h, "<li>{}</li>", esc(n));
            }
            h.push_str("</ul>");
        }
        h.push_str("</section>");
    }
    h.push_str("<section><h2>Notes and sign-off</h2>");
    if !e.notes.is_empty() {
        h.push_str("<ul>");
        for n in &e.notes {
            let _ = write!(h, "<li>{}</li>", esc(n));
        }
        h.push_str("</ul>");
    }
    let _ = writeln!(
        h,
        "<p>Profile source: {}.</p><table><tr><th>Role</th><th>Name</th><th>Signature</th><th>Date</th></tr>\
         <tr><td>Prepared by</td><td></td><td></td><td></td></tr><tr><td>Reviewed by (quality)</td><td></td><td></td><td></td></tr>\
         <tr><td>Approved by (customer)</td><td></td><td></td><td></td></tr></table></section></body></html>",
        esc(&e.profile.source)
    );
    h
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
