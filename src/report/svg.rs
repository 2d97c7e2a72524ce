//! A small SVG writer: the few elements our charts use, with text escaped.

use std::fmt::Write as _;

pub struct Svg {
    out: String,
}

/// Escapes text for XML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            // Control characters are not allowed in XML 1.0.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => o.push('\u{FFFD}'),
            c => o.push(c),
        }
    }
    o
}

/// Opens an SVG document: the root element every chart and map shares.
pub fn root(out: &mut String, width: u32, height: u32) {
    let _ = write!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="DejaVu Sans, Liberation Sans, Arial, sans-serif" shape-rendering="crispEdges">"##
    );
}

impl Svg {
    pub fn new(width: u32, height: u32) -> Svg {
        let mut out = String::with_capacity(1 << 16);
        root(&mut out, width, height);
        let _ = write!(out, r##"<rect x="0" y="0" width="{width}" height="{height}" fill="#FFFFFF"/>"##);
        Svg { out }
    }
    /// Elements without a document around them, for [`super::cells::MapImage`].
    pub fn fragment() -> Svg {
        Svg { out: String::with_capacity(1 << 12) }
    }
    pub fn len(&self) -> usize {
        self.out.len()
    }
    pub fn is_empty(&self) -> bool {
        self.out.is_empty()
    }
    pub fn body(&self) -> &str {
        &self.out
    }
    pub fn rect(&mut self, x: f64, y: f64, w: f64, h: f64, fill: &str, stroke: Option<&str>) {
        // An empty bar draws nothing, and SVG renderers warn about it.
        if !(w > 0.0 && h > 0.0) {
            return;
        }
        let _ = write!(self.out, r#"<rect x="{x:.2}" y="{y:.2}" width="{w:.2}" height="{h:.2}" fill="{fill}""#);
        if let Some(s) = stroke {
            let _ = write!(self.out, r#" stroke="{s}" stroke-width="0.5""#);
        }
        self.out.push_str("/>");
    }
    pub fn line(&mut self, (x1, y1): (f64, f64), (x2, y2): (f64, f64), stroke: &str, width: f64, dash: bool) {
        let _ = write!(self.out, r#"<line x1="{x1:.2}" y1="{y1:.2}" x2="{x2:.2}" y2="{y2:.2}" stroke="{stroke}" stroke-width="{width}""#);
        if dash {
            self.out.push_str(r#" stroke-dasharray="6 4""#);
        }
        self.out.push_str("/>");
    }
    pub fn text(&mut self, x: f64, y: f64, size: f64, anchor: &str, text: &str) {
        let _ = write!(
            self.out,
            r##"<text x="{x:.1}" y="{y:.1}" font-size="{size}" text-anchor="{anchor}" fill="#111111" shape-rendering="auto">{}</text>"##,
            esc(text)
        );
    }
    /// Appends markup built by the caller (already escaped).
    pub fn raw(&mut self, s: &str) {
        self.out.push_str(s);
    }
    pub fn finish(mut self) -> String {
        self.out.push_str("</svg>\n");
        self.out
    }
}
