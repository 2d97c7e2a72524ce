//! SEMI G85 wafer maps (XML), the format assembly houses read for inkless assembly: one
//! file per wafer, rows from the top of the drawn map, decimal bin codes, a configurable
//! set of good bins, and per-bin counts that agree with the map.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write as _};

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesText, Event};

use crate::analysis::wafermap::WaferMap;

/// Which bins are good; `None` takes the bins the map calls passing.
#[derive(Debug, Clone, Default)]
pub struct G85Options {
    pub good_bins: Option<BTreeSet<u16>>,
    pub product: Option<String>,
    /// Dies to ink in addition to their bin (for example PAT outliers), with the bin they take.
    pub inked: BTreeMap<(i16, i16), u16>,
}

/// The die grid as G85 rows, and where the grid sits in die coordinates.
pub struct Grid {
    pub rows: Vec<Vec<Option<u16>>>,
    pub x_min: i16,
    pub y_max: i16,
    pub x_flipped: bool,
    pub y_down: bool,
}

/// Lays the dies out row by row as they are drawn: row 0 is the top of the map.
pub fn grid(map: &WaferMap, inked: &BTreeMap<(i16, i16), u16>) -> Grid {
    let g = &map.geometry;
    let (x_flipped, y_down) = (g.pos_x == Some('L'), g.pos_y == Some('D'));
    let xs = map.dies.iter().map(|d| d.x);
    let ys = map.dies.iter().map(|d| d.y);
    let (x_min, x_max) = (xs.clone().min().unwrap_or(0), xs.max().unwrap_or(0));
    let (y_min, y_max) = (ys.clone().min().unwrap_or(0), ys.max().unwrap_or(0));
    let cols = (x_max as i32 - x_min as i32 + 1) as usize;
    let nrows = (y_max as i32 - y_min as i32 + 1) as usize;
    let mut rows = vec![vec![None; cols]; if map.dies.is_empty() { 0 } else { nrows }];
    for d in &map.dies {
        let c = if x_flipped { (x_max as i32 - d.x as i32) as usize } else { (d.x as i32 - x_min as i32) as usize };
        let r = if y_down { (d.y as i32 - y_min as i32) as usize } else { (y_max as i32 - d.y as i32) as usize };
        rows[r][c] = inked.get(&(d.x, d.y)).copied().or(d.bin);
    }
    Grid { rows, x_min, y_max, x_flipped, y_down }
}

fn orientation(flat: Option<char>) -> &'static str {
    // Degrees of the flat or notch, clockwise from the bottom of the drawing.
    match flat {
        Some('L') => "90",
        Some('U') => "180",
        Some('R') => "270",
        _ => "0",
    }
}

/// Writes one wafer's G85 document.
pub fn write_g85(map: &WaferMap, o: &G85Options, out: impl io::Write) -> io::Result<()> {
    let grid = grid(map, &o.inked);
    let mut counts: BTreeMap<u16, u64> = BTreeMap::new();
    for r in &grid.rows {
        for b in r.iter().flatten() {
            *counts.entry(*b).or_default() += 1;
        }
    }
    let used: BTreeSet<u16> = counts.keys().copied().collect();
    let null_bin: u32 = [255u32, 999, 9999, 65535].into_iter().find(|n| !used.contains(&(*n as u16)) || *n > 65535).unwrap_or(65536);
    let width = null_bin.max(used.last().copied().unwrap_or(0) as u32).to_string().len().max(3);
    // A bin code, zero-padded to the map's width; the null bin for an empty position.
    let push_code = |out: &mut String, b: Option<u16>| {
        let mut digits = itoa::Buffer::new();
        let d = digits.format(b.map(u32::from).unwrap_or(null_bin));
        out.extend(std::iter::repeat_n('0', width.saturating_sub(d.len())));
        out.push_str(d);
    };
    let code = |b: Option<u16>| {
        let mut s = String::new();
        push_code(&mut s, b);
        s
    };
    let good = |b: u16| match &o.good_bins {
        Some(set) => set.contains(&b),
        None => map.bins.iter().any(|c| c.bin == Some(b) && c.passing),
    };
    let mut w = Writer::new_with_indent(io::BufWriter::new(out), b' ', 2);
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    let g = &map.geometry;
    let mm = |v: Option<f64>| {
        let f = match g.units.as_deref() {
            Some("in") => Some(25.4),
            Some("cm") => Some(10.0),
            Some("mm") => Some(1.0),
            Some("mil") => Some(0.0254),
            _ => None,
        };
        v.zip(f).map(|(v, f)| format!("{:.4}", v * f))
    };
    let rows = grid.rows.len().to_string();
    let cols = grid.rows.first().map(|r| r.len()).unwrap_or(0).to_string();
    let null = null_bin.to_string();
    let product = o.product.clone().unwrap_or_default();
    let dies = map.dies.len().to_string();
    w.create_element("Maps").write_inner_content(|w| {
        w.create_element("Map")
            .with_attribute(("xmlns:semi", "http://www.semi.org"))
            .with_attribute(("FormatRevision", "SEMI G85 0703"))
            .with_attribute(("SubstrateType", "Wafer"))
            .with_attribute(("SubstrateId", map.wafer_id.as_str()))
            .write_inner_content(|w| {
                let mut dev = w
                    .create_element("Device")
                    .with_attribute(("ProductId", product.as_str()))
                    .with_attribute(("LotId", map.lot_id.as_str()))
                    .with_attribute(("Orientation", orientation(g.flat)))
                    .with_attribute(("Rows", rows.as_str()))
                    .with_attribute(("Columns", cols.as_str()))
                    .with_attribute(("OriginLocation", "2"))
                    .with_attribute(("BinType", "Decimal"))
                    .with_attribute(("NullBin", null.as_str()))
                    .with_attribute(("SupplierName", "yieldlake"))
                    .with_attribute(("DieCount", dies.as_str()));
                let sizes = [("WaferSize", mm(g.wafer_size)), ("DeviceSizeX", mm(g.die_width)), ("DeviceSizeY", mm(g.die_height))];
                for (k, v) in &sizes {
                    if let Some(v) = v {
                        dev = dev.with_attribute((*k, v.as_str()));
                    }
                }
                dev.write_inner_content(|w| {
                    for (b, n) in &counts {
                        let desc = map.bins.iter().find(|c| c.bin == Some(*b)).and_then(|c| c.name.clone()).unwrap_or_default();
                        w.create_element("Bin")
                            .with_attribute(("BinCode", code(Some(*b)).as_str()))
                            .with_attribute(("BinQuality", if good(*b) { "Pass" } else { "Fail" }))
                            .with_attribute(("BinCount", n.to_string().as_str()))
                            .with_attribute(("BinDescription", desc.as_str()))
                            .write_empty()?;
                    }
                    w.create_element("Data")
                        .with_attribute(("MapName", "yieldlake"))
                        .with_attribute(("MapVersion", "1"))
                        .write_inner_content(|w| {
                            // One String per row, not per die.
                            let mut line = String::with_capacity(grid.rows.first().map_or(0, |r| r.len() * (width + 1)));
                            for r in &grid.rows {
                                line.clear();
                                for (i, b) in r.iter().enumerate() {
                                    if i > 0 {
                                        line.push(' ');
                                    }
                                    push_code(&mut line, *b);
                                }
                                w.create_element("Row").write_text_content(BytesText::new(&line))?;
                            }
                            Ok(())
                        })?;
                    Ok(())
                })?;
                Ok(())
            })?;
        Ok(())
    })?;
    w.into_inner().flush()
}
