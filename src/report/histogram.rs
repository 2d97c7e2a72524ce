//! Histograms as SVG: fixed-width bars (bins from `analysis::param::histogram`), with the
//! test limits drawn as dashed lines.

use super::svg::Svg;

pub const WIDTH: u32 = 800;
pub const HEIGHT: u32 = 480;

/// Draws bins (left, right, count) and the limits under a title.
pub fn draw_histogram(title: &str, bins: &[(f64, f64, u64)], lo: Option<f64>, hi: Option<f64>, units: &str) -> String {
    let mut s = Svg::new(WIDTH, HEIGHT);
    s.text(20.0, 28.0, 18.0, "start", title);
    let (x0, y0, w, h) = (70.0, 50.0, 700.0, 370.0);
    let mut xmin = bins.first().map(|b| b.0).unwrap_or(0.0);
    let mut xmax = bins.last().map(|b| b.1).unwrap_or(1.0);
    for l in [lo, hi].into_iter().flatten() {
        xmin = xmin.min(l);
        xmax = xmax.max(l);
    }
    if xmax <= xmin {
        xmax = xmin + 1.0;
    }
    let pad = (xmax - xmin) * 0.03;
    let (xmin, xmax) = (xmin - pad, xmax + pad);
    let ymax = bins.iter().map(|b| b.2).max().unwrap_or(1).max(1) as f64;
    let px = |v: f64| x0 + (v - xmin) / (xmax - xmin) * w;
    let py = |c: f64| y0 + h - c / ymax * h;
    s.line((x0, y0 + h), (x0 + w, y0 + h), "#333333", 1.0, false);
    s.line((x0, y0), (x0, y0 + h), "#333333", 1.0, false);
    for (l, r, c) in bins {
        let (a, b) = (px(*l), px(*r));
        s.rect(a, py(*c as f64), (b - a).max(0.5), y0 + h - py(*c as f64), "#0072B2", Some("#FFFFFF"));
    }
    for (name, l) in [("LSL", lo), ("USL", hi)] {
        if let Some(l) = l {
            s.line((px(l), y0), (px(l), y0 + h), "#D55E00", 2.0, true);
            s.text(px(l), y0 - 4.0, 12.0, "middle", &format!("{name} {l:.4e}"));
        }
    }
    for i in 0..=4 {
        let v = xmin + (xmax - xmin) * i as f64 / 4.0;
        s.text(px(v), y0 + h + 18.0, 11.0, "middle", &format!("{v:.4e}"));
        let c = ymax * i as f64 / 4.0;
        s.text(x0 - 6.0, py(c) + 4.0, 11.0, "end", &format!("{c:.0}"));
    }
    s.text(x0 + w / 2.0, y0 + h + 40.0, 12.0, "middle", &format!("value [{units}]"));
    s.finish()
}
