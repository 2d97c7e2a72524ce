//! Map images: a grid of die cells on whole-pixel edges, with SVG markup over it. One
//! drawing, written twice: as SVG (one path per colour, then the markup) and as PNG
//! (the cells filled straight into the pixels, then resvg renders only the markup).
//! Because every cell edge is a whole pixel, both give the same pixels, and a 10,000-die
//! map costs a few milliseconds instead of parsing and rasterising 10,000 SVG elements.

use std::fmt::Write as _;

use super::png::{encode_rgba, render_over};
use super::svg::{Svg, root};

/// One cell: its pixel box `[x, x + w) × [y, y + h)` and its colour's index.
#[derive(Debug, Clone, Copy)]
struct Cell {
    x: u16,
    y: u16,
    w: u16,
    h: u16,
    colour: u16,
}

/// A drawing: white background, cells, then markup on top.
pub struct MapImage {
    width: u32,
    height: u32,
    colours: Vec<&'static str>,
    cells: Vec<Cell>,
    over: Svg,
}

/// `#RRGGBB` as bytes; anything else is drawn grey (our palettes are all `#RRGGBB`).
fn rgb(hex: &str) -> [u8; 3] {
    let h = hex.strip_prefix('#').unwrap_or(hex);
    let byte = |i: usize| h.get(i..i + 2).and_then(|s| u8::from_str_radix(s, 16).ok()).unwrap_or(0x77);
    if h.len() == 6 { [byte(0), byte(2), byte(4)] } else { [0x77; 3] }
}

impl MapImage {
    pub fn new(width: u32, height: u32) -> MapImage {
        MapImage { width, height, colours: Vec::new(), cells: Vec::new(), over: Svg::fragment() }
    }

    /// Adds a cell with pixel edges `x0 < x1`, `y0 < y1` (clipped to the image).
    pub fn cell(&mut self, (x0, y0, x1, y1): (i32, i32, i32, i32), colour: &'static str) {
        let clip = |v: i32, max: u32| v.clamp(0, max as i32) as u16;
        let (x0, x1, y0, y1) = (clip(x0, self.width), clip(x1, self.width), clip(y0, self.height), clip(y1, self.height));
        if x1 <= x0 || y1 <= y0 {
            return;
        }
        let colour = match self.colours.iter().position(|c| *c == colour) {
            Some(i) => i,
            None => {
                self.colours.push(colour);
                self.colours.len() - 1
            }
        } as u16;
        self.cells.push(Cell { x: x0, y: y0, w: x1 - x0, h: y1 - y0, colour });
    }

    /// The markup drawn over the cells.
    pub fn over(&mut self) -> &mut Svg {
        &mut self.over
    }

    pub fn svg(&self) -> String {
        // Each colour's cells in reading order, with neighbours in a row merged into one
        // rectangle: a map's rows are mostly runs of one bin, so the path (and the PDF
        // that embeds it) is several times shorter.
        let mut by_colour: Vec<Vec<Cell>> = vec![Vec::new(); self.colours.len()];
        for c in &self.cells {
            by_colour[c.colour as usize].push(*c);
        }
        let mut out = String::with_capacity(self.cells.len() * 8);
        let mut buf = itoa::Buffer::new();
        for (colour, mut cells) in self.colours.iter().zip(by_colour) {
            cells.sort_unstable_by_key(|c| (c.y, c.h, c.x));
            let _ = write!(out, r#"<path fill="{colour}" d=""#);
            let mut runs = cells.chunk_by(|a, b| a.y == b.y && a.h == b.h && a.x + a.w == b.x);
            for run in &mut runs {
                let (first, last) = (run[0], run[run.len() - 1]);
                let w = last.x + last.w - first.x;
                out.push('M');
                out.push_str(buf.format(first.x));
                out.push(' ');
                out.push_str(buf.format(first.y));
                out.push('h');
                out.push_str(buf.format(w));
                out.push('v');
                out.push_str(buf.format(first.h));
                out.push_str("h-");
                out.push_str(buf.format(w));
                out.push('z');
            }
            out.push_str(r#""/>"#);
        }
        let mut s = Svg::new(self.width, self.height);
        s.raw(&out);
        s.raw(self.over.body());
        s.finish()
    }

    /// The same picture as [`MapImage::svg`], as PNG bytes.
    pub fn png(&self) -> Result<Vec<u8>, String> {
        // Each thread keeps its pixel buffer: a fresh 3 MB buffer per map was mapped,
        // faulted in page by page and unmapped again.
        thread_local! {
            static PIXELS: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        PIXELS.with_borrow_mut(|px| self.png_into(px))
    }

    fn png_into(&self, px: &mut Vec<u8>) -> Result<Vec<u8>, String> {
        let (w, h) = (self.width as usize, self.height as usize);
        px.clear();
        px.resize(w * h * 4, 255);
        let colours: Vec<[u8; 3]> = self.colours.iter().map(|c| rgb(c)).collect();
        for c in &self.cells {
            let [r, g, b] = colours[c.colour as usize];
            for row in c.y as usize..(c.y + c.h) as usize {
                let start = (row * w + c.x as usize) * 4;
                for p in px[start..start + c.w as usize * 4].chunks_exact_mut(4) {
                    p.copy_from_slice(&[r, g, b, 255]);
                }
            }
        }
        let mut doc = String::with_capacity(self.over.len() + 512);
        root(&mut doc, self.width, self.height);
        doc.push_str(self.over.body());
        doc.push_str("</svg>\n");
        render_over(&doc, self.width, self.height, px)?;
        encode_rgba(px, self.width, self.height)
    }
}

#[cfg(test)]
mod tests {
    use super::rgb;

    #[test]
    fn colours_parse() {
        assert_eq!(rgb("#009E73"), [0x00, 0x9E, 0x73]);
        assert_eq!(rgb("red"), [0x77; 3]);
    }
}
