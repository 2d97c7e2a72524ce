//! Wafer maps: bin maps, parametric heat maps, stacked fail-rate maps and retest maps.
//! One drawing per map ([`MapImage`]), written as SVG and as PNG. Dies sit on whole-pixel
//! edges, so every renderer draws them alike; the outline, labels and legend go on top.

use crate::analysis::stats::{quantile_type7, robust_sigma_sorted};
use crate::analysis::wafermap::{StackedDie, WaferGeometry, WaferMap};

use super::cells::MapImage;
use super::svg::Svg;

/// Image size in pixels: the same for every map, whatever the die count.
pub const WIDTH: u32 = 960;
pub const HEIGHT: u32 = 760;
const AREA: (f64, f64, f64, f64) = (20.0, 70.0, 700.0, 670.0);

/// Colour-blind-safe bin colours (Okabe-Ito, then Paul Tol's muted set): passing bins
/// take greens, failing bins the rest, in legend order.
pub const PASS_COLOURS: [&str; 4] = ["#009E73", "#44AA99", "#117733", "#999933"];
pub const FAIL_COLOURS: [&str; 13] = [
    "#E69F00", "#56B4E9", "#D55E00", "#0072B2", "#CC79A7", "#F0E442", "#332288", "#882255", "#AA4499", "#DDCC77", "#88CCEE", "#CC6677",
    "#000000",
];
/// Diverging scale (ColorBrewer RdBu) for test values around the median.
pub const DIVERGING: [&str; 11] =
    ["#053061", "#2166AC", "#4393C3", "#92C5DE", "#D1E5F0", "#F7F7F7", "#FDDBC7", "#F4A582", "#D6604D", "#B2182B", "#67001F"];
/// Sequential scale (ColorBrewer Blues) for fail rates 0 to 100 %.
pub const SEQUENTIAL: [&str; 9] = ["#F7FBFF", "#DEEBF7", "#C6DBEF", "#9ECAE1", "#6BAED6", "#4292C6", "#2171B5", "#08519C", "#08306B"];

/// Where each die goes on the image.
#[derive(Debug, Clone)]
pub struct MapLayout {
    /// Width and height of a die in pixels (their ratio is the die's, from WCR).
    pub cell: f64,
    pub cell_h: f64,
    x0: f64,
    y0: f64,
    xmin: f64,
    xmax: f64,
    ymin: f64,
    ymax: f64,
    /// +X grows to the left (WCR POS_X = L).
    flip_x: bool,
    /// +Y grows downwards (WCR POS_Y = D).
    down_y: bool,
    /// Wafer centre (die coordinates) and radii (dies), when WCR gives the sizes.
    pub outline: Option<(f64, f64, f64, f64)>,
}

impl MapLayout {
    pub fn new(positions: impl Iterator<Item = (i16, i16)>, g: &WaferGeometry) -> MapLayout {
        let (mut xmin, mut xmax, mut ymin, mut ymax) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
        let mut any = false;
        for (x, y) in positions {
            any = true;
            xmin = xmin.min(x as f64 - 0.5);
            xmax = xmax.max(x as f64 + 0.5);
            ymin = ymin.min(y as f64 - 0.5);
            ymax = ymax.max(y as f64 + 0.5);
        }
        if !any {
            (xmin, xmax, ymin, ymax) = (-0.5, 0.5, -0.5, 0.5);
        }
        let outline = match (g.wafer_size, g.die_width, g.die_height) {
            (Some(s), Some(w), Some(h)) if s > 0.0 && w > 0.0 && h > 0.0 && s / w < 2000.0 && s / h < 2000.0 => {
                let cx = g.center_x.map(f64::from).unwrap_or((xmin + xmax) / 2.0);
                let cy = g.center_y.map(f64::from).unwrap_or((ymin + ymax) / 2.0);
                Some((cx, cy, s / 2.0 / w, s / 2.0 / h))
            }
            _ => None,
        };
        if let Some((cx, cy, rx, ry)) = outline {
            xmin = xmin.min(cx - rx);
            xmax = xmax.max(cx + rx);
            ymin = ymin.min(cy - ry);
            ymax = ymax.max(cy + ry);
        }
        let aspect = match (g.die_width, g.die_height) {
            (Some(w), Some(h)) if w > 0.0 && h > 0.0 && (0.1..10.0).contains(&(h / w)) => h / w,
            _ => 1.0,
        };
        let (ax, ay, aw, ah) = AREA;
        let cell = (aw / (xmax - xmin)).min(ah / (aspect * (ymax - ymin)));
        let cell_h = cell * aspect;
        let x0 = ax + (aw - cell * (xmax - xmin)) / 2.0;
        let y0 = ay + (ah - cell_h * (ymax - ymin)) / 2.0;
        MapLayout { cell, cell_h, x0, y0, xmin, xmax, ymin, ymax, flip_x: g.pos_x == Some('L'), down_y: g.pos_y == Some('D'), outline }
    }

    /// Pixel position of a point in die coordinates.
    pub fn point(&self, x: f64, y: f64) -> (f64, f64) {
        let px = if self.flip_x { self.xmax - x } else { x - self.xmin };
        let py = if self.down_y { y - self.ymin } else { self.ymax - y };
        (self.x0 + px * self.cell, self.y0 + py * self.cell_h)
    }

    /// Pixel box `(x0, y0, x1, y1)` of die (x, y): its edges rounded to whole pixels, so
    /// neighbours share an edge and no renderer blends them. At least one pixel wide.
    pub fn die_box(&self, x: i16, y: i16) -> (i32, i32, i32, i32) {
        let (ax, ay) = self.point(x as f64 - 0.5, y as f64 - 0.5);
        let (bx, by) = self.point(x as f64 + 0.5, y as f64 + 0.5);
        let edge = |a: f64, b: f64| {
            let lo = a.min(b).round() as i32;
            (lo, (a.max(b).round() as i32).max(lo + 1))
        };
        let ((x0, x1), (y0, y1)) = (edge(ax, bx), edge(ay, by));
        (x0, y0, x1, y1)
    }

    /// Pixel centre of die (x, y), as drawn.
    pub fn die_centre(&self, x: i16, y: i16) -> (f64, f64) {
        let (x0, y0, x1, y1) = self.die_box(x, y);
        ((x0 + x1) as f64 / 2.0, (y0 + y1) as f64 / 2.0)
    }

    fn outline(&self, s: &mut Svg, flat: Option<char>) {
        let Some((cx, cy, rx, ry)) = self.outline else { return };
        let (px, py) = self.point(cx, cy);
        let (rxp, ryp) = (rx * self.cell, ry * self.cell_h);
        s.raw(&format!(
            r##"<ellipse cx="{px:.2}" cy="{py:.2}" rx="{rxp:.2}" ry="{ryp:.2}" fill="none" stroke="#555555" stroke-width="1.5"/>"##
        ));
        // The flat or notch: a small triangle on the outline, pointing out.
        let (dx, dy) = match flat {
            Some('U') => (0.0, -1.0),
            Some('D') => (0.0, 1.0),
            Some('L') => (-1.0, 0.0),
            Some('R') => (1.0, 0.0),
            _ => return,
        };
        let (ex, ey) = (px + dx * rxp, py + dy * ryp);
        let k = 8.0;
        let pts =
            format!("{:.1},{:.1} {:.1},{:.1} {:.1},{:.1}", ex - dy * k, ey - dx * k, ex + dy * k, ey + dx * k, ex - dx * k, ey - dy * k);
        s.raw(&format!(r##"<polygon points="{pts}" fill="#555555"/>"##));
    }
}

/// Colour of each bin of the map, in legend order.
pub fn bin_colours(map: &WaferMap) -> Vec<(Option<u16>, &'static str)> {
    let (mut p, mut f) = (0, 0);
    map.bins
        .iter()
        .map(|b| {
            let c = if b.passing {
                p += 1;
                PASS_COLOURS[(p - 1) % PASS_COLOURS.len()]
            } else {
                f += 1;
                FAIL_COLOURS[(f - 1) % FAIL_COLOURS.len()]
            };
            (b.bin, c)
        })
        .collect()
}

fn bin_label(b: Option<u16>) -> String {
    b.map(|b| b.to_string()).unwrap_or_else(|| "none".into())
}

fn header(s: &mut Svg, title: &str, sub: &str) {
    s.text(20.0, 30.0, 20.0, "start", title);
    s.text(20.0, 54.0, 13.0, "start", sub);
}

fn notes(s: &mut Svg, map: &WaferMap) {
    for (i, n) in map.notes.iter().enumerate() {
        s.text(20.0, HEIGHT as f64 - 8.0 - 14.0 * (map.notes.len() - 1 - i) as f64, 11.0, "start", n);
    }
}

/// Which picture to draw of one wafer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapKind {
    /// Final bin of each die.
    Bins,
    /// One test's value, diverging around the median; out-of-limit dies crossed.
    Parametric,
    /// Final bin, with a dot on dies whose first touch had another bin.
    Retest,
}

/// One wafer's map, and its layout.
pub fn draw_wafer(map: &WaferMap, kind: MapKind, bin_kind: &str, test_label: Option<&str>) -> (MapImage, MapLayout) {
    let layout = MapLayout::new(map.dies.iter().map(|d| (d.x, d.y)), &map.geometry);
    let mut img = MapImage::new(WIDTH, HEIGHT);
    let yield_txt = map.yield_pct.map(|y| format!("{y:.2} %")).unwrap_or_else(|| "n/a".into());
    let title = format!("Lot {} wafer {}", map.lot_id, map.wafer_id);
    let what = match kind {
        MapKind::Bins => format!("{bin_kind} bin map"),
        MapKind::Parametric => format!("test {}", test_label.unwrap_or("?")),
        MapKind::Retest => format!("retest map ({bin_kind} bin: first touch vs final)"),
    };
    let colours = bin_colours(map);
    let colour_of = |b: Option<u16>| colours.iter().find(|c| c.0 == b).map(|c| c.1).unwrap_or("#777777");
    let scale = (kind == MapKind::Parametric).then(|| value_scale(map));
    for d in &map.dies {
        let fill = match scale {
            Some((med, half)) => d.value.map(|v| DIVERGING[diverging_index(v, med, half)]).unwrap_or("#BBBBBB"),
            None => colour_of(d.bin),
        };
        img.cell(layout.die_box(d.x, d.y), fill);
    }
    let s = img.over();
    header(s, &title, &format!("{what} · yield {yield_txt} · {} dies", map.dies.len()));
    layout.outline(s, map.geometry.flat);
    match kind {
        MapKind::Bins | MapKind::Retest => {
            let mut changed = 0;
            if kind == MapKind::Retest {
                for d in map.dies.iter().filter(|d| d.first_bin != d.bin) {
                    changed += 1;
                    let (cx, cy) = layout.die_centre(d.x, d.y);
                    s.raw(&format!(
                        r##"<circle cx="{cx:.2}" cy="{cy:.2}" r="{:.2}" fill="#000000" stroke="#FFFFFF" stroke-width="0.5"/>"##,
                        (layout.cell.min(layout.cell_h) * 0.22).max(1.0)
                    ));
                }
            }
            let mut y = 90.0;
            s.text(735.0, y - 12.0, 13.0, "start", &format!("{bin_kind} bin: count (%)"));
            for (b, (_, c)) in map.bins.iter().zip(&colours) {
                s.rect(735.0, y, 14.0, 14.0, c, Some("#333333"));
                let name = b.name.as_deref().map(|n| format!(" {n}")).unwrap_or_default();
                s.text(755.0, y + 12.0, 12.0, "start", &format!("{}{name}: {} ({:.2} %)", bin_label(b.bin), b.count, b.pct));
                y += 20.0;
            }
            if kind == MapKind::Retest {
                s.raw(&format!(r##"<circle cx="742" cy="{:.1}" r="4" fill="#000000"/>"##, y + 7.0));
                s.text(755.0, y + 12.0, 12.0, "start", &format!("bin changed on retest: {changed}"));
            }
        }
        MapKind::Parametric => {
            let (med, half) = scale.unwrap_or((0.0, 1.0));
            for d in &map.dies {
                if d.out_of_limits {
                    let (cx, cy) = layout.die_centre(d.x, d.y);
                    let h = layout.cell.min(layout.cell_h) * 0.4;
                    s.raw(&format!(
                        r##"<path d="M{:.2} {:.2}L{:.2} {:.2}M{:.2} {:.2}L{:.2} {:.2}" stroke="#000000" stroke-width="1.2"/>"##,
                        cx - h,
                        cy - h,
                        cx + h,
                        cy + h,
                        cx - h,
                        cy + h,
                        cx + h,
                        cy - h
                    ));
                }
            }
            let mut y = 90.0;
            s.text(735.0, y - 12.0, 13.0, "start", "value (median ± 4 robust σ)");
            for (i, c) in DIVERGING.iter().enumerate().rev() {
                let v = med + half * (i as f64 / 5.0 - 1.0);
                s.rect(735.0, y, 14.0, 14.0, c, Some("#333333"));
                s.text(755.0, y + 12.0, 12.0, "start", &format!("{v:.4e}"));
                y += 18.0;
            }
            let ool = map.dies.iter().filter(|d| d.out_of_limits).count();
            let none = map.dies.iter().filter(|d| d.value.is_none()).count();
            s.text(735.0, y + 14.0, 12.0, "start", &format!("× out of limits: {ool}"));
            s.text(735.0, y + 32.0, 12.0, "start", &format!("grey: no result: {none}"));
        }
    }
    notes(s, map);
    (img, layout)
}

/// The parametric map's colour scale: the median, and 4 robust sigma either side (or
/// the largest distance from the median when the robust sigma is zero).
fn value_scale(map: &WaferMap) -> (f64, f64) {
    let mut values: Vec<f64> = map.dies.iter().filter_map(|d| d.value).collect();
    values.sort_by(|a, b| a.total_cmp(b));
    let med = quantile_type7(&values, 0.5).unwrap_or(0.0);
    let rs = robust_sigma_sorted(&values).unwrap_or(0.0);
    let half = if rs > 0.0 { 4.0 * rs } else { values.iter().map(|v| (v - med).abs()).fold(0.0, f64::max).max(1e-30) };
    (med, half)
}

/// Which of the 11 diverging colours a value takes, `half` either side of the median.
fn diverging_index(v: f64, med: f64, half: f64) -> usize {
    ((((v - med) / half).clamp(-1.0, 1.0) + 1.0) / 2.0 * 10.0).round() as usize
}

/// The stacked map of a lot: each position's fail rate across its wafers.
pub fn draw_stacked(lot_id: &str, wafers: usize, dies: &[StackedDie], g: &WaferGeometry) -> (MapImage, MapLayout) {
    let layout = MapLayout::new(dies.iter().map(|d| (d.x, d.y)), g);
    let mut img = MapImage::new(WIDTH, HEIGHT);
    for d in dies {
        img.cell(layout.die_box(d.x, d.y), SEQUENTIAL[(d.fail_rate * 8.0).round() as usize]);
    }
    let s = img.over();
    header(s, &format!("Lot {lot_id}: stacked fail rate"), &format!("{wafers} wafers · {} die positions", dies.len()));
    layout.outline(s, g.flat);
    let mut y = 90.0;
    s.text(735.0, y - 12.0, 13.0, "start", "fail rate across wafers");
    for (i, c) in SEQUENTIAL.iter().enumerate() {
        s.rect(735.0, y, 14.0, 14.0, c, Some("#333333"));
        s.text(755.0, y + 12.0, 12.0, "start", &format!("{:.1} %", i as f64 * 12.5));
        y += 18.0;
    }
    (img, layout)
}
