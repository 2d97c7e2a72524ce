//! Writes a `Doc` as one self-contained HTML file: inline CSS and SVG, no script, nothing
//! fetched, printable (print CSS breaks the page before each section but the first).

use std::fmt::Write as _;

use super::doc::{Block, Cell, Doc, Run, Table};
use super::svg::esc;

const CSS: &str = "body{font-family:'DejaVu Sans',Arial,sans-serif;margin:2em;color:#111;max-width:1200px}\
h1{font-size:1.6em}h2{font-size:1.25em;border-bottom:2px solid #333;padding-bottom:.2em;margin-top:1.6em}h3{font-size:1.05em}\
table{border-collapse:collapse;margin:.6em 0;font-size:.85em}td,th{border:1px solid #999;padding:.2em .45em;text-align:left;vertical-align:top}\
th{background:#EEE}td.num{text-align:right}.PASS{color:#1B5E20;font-weight:bold}.FAIL{color:#B71C1C;font-weight:bold}\
.INCOMPLETE{color:#E65100;font-weight:bold}.note{background:#FFF3E0;border-left:4px solid #E65100;padding:.5em}\
.thumbs a{display:inline-block;width:220px;margin:4px;vertical-align:top}.thumbs svg{width:220px;height:auto}\
figure{margin:.6em 0;display:inline-block}svg{max-width:100%;height:auto}\
@media print{body{margin:0;max-width:none}section{page-break-before:always}section.first{page-break-before:avoid}a{color:#111}}";

fn runs(h: &mut String, rs: &[Run]) {
    for r in rs {
        match r.class.as_deref() {
            None => h.push_str(&esc(&r.text)),
            Some("code") => {
                let _ = write!(h, "<code>{}</code>", esc(&r.text));
            }
            Some(c) => {
                let _ = write!(h, "<span class=\"{}\">{}</span>", esc(c), esc(&r.text));
            }
        }
    }
}

fn attr(a: &Option<(String, String)>) -> String {
    a.as_ref().map(|(k, v)| format!(" {}=\"{}\"", esc(k), esc(v))).unwrap_or_default()
}

fn cell(h: &mut String, c: &Cell) {
    let tag = if c.head { "th" } else { "td" };
    let _ = write!(h, "<{tag}");
    if let Some(id) = &c.id {
        let _ = write!(h, " id=\"{}\"", esc(id));
    }
    if !c.class.is_empty() {
        let _ = write!(h, " class=\"{}\"", esc(&c.class));
    }
    if c.colspan > 1 {
        let _ = write!(h, " colspan=\"{}\"", c.colspan);
    }
    h.push('>');
    runs(h, &c.text);
    let _ = write!(h, "</{tag}>");
}

fn table(h: &mut String, t: &Table) {
    match &t.id {
        Some(id) => {
            let _ = write!(h, "<table id=\"{}\">", esc(id));
        }
        None => h.push_str("<table>"),
    }
    if !t.header.is_empty() {
        h.push_str("<tr>");
        for c in &t.header {
            let _ = write!(h, "<th>{}</th>", esc(c));
        }
        h.push_str("</tr>");
    }
    for r in &t.rows {
        let _ = write!(h, "<tr{}>", attr(&r.attr));
        for c in &r.cells {
            cell(h, c);
        }
        h.push_str("</tr>");
    }
    h.push_str("</table>");
    if t.omitted > 0 {
        let _ = write!(h, "<p>{} more rows in the JSON report.</p>", t.omitted);
    }
}

/// The document as one HTML page.
pub fn write(d: &Doc) -> String {
    let mut h = String::with_capacity(1 << 20);
    let _ = write!(
        h,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{CSS}</style></head><body>",
        esc(&d.title)
    );
    let mut open = false;
    for b in &d.blocks {
        match b {
            Block::Section { attr: a } => {
                if open {
                    h.push_str("</section>");
                }
                let first = if open { "" } else { " class=\"first\"" };
                let _ = write!(h, "<section{first}{}>", attr(a));
                open = true;
            }
            Block::Heading { level, text, anchor } => {
                let l = (*level).clamp(1, 6);
                let _ = write!(h, "<h{l}{}>", anchor.as_ref().map(|a| format!(" id=\"{}\"", esc(a))).unwrap_or_default());
                runs(&mut h, text);
                let _ = write!(h, "</h{l}>");
            }
            Block::Para { text, id, class } => {
                h.push_str("<p");
                if let Some(id) = id {
                    let _ = write!(h, " id=\"{}\"", esc(id));
                }
                if let Some(c) = class {
                    let _ = write!(h, " class=\"{}\"", esc(c));
                }
                h.push('>');
                runs(&mut h, text);
                h.push_str("</p>");
            }
            Block::Table(t) => table(&mut h, t),
            Block::Figure(svg) => {
                let _ = write!(h, "<figure>{svg}</figure>");
            }
            Block::Thumbs(ts) => {
                h.push_str("<div class=\"thumbs\">");
                for t in ts {
                    let _ = write!(h, "<a href=\"#{}\" title=\"{}\">{}<br>{}</a>", esc(&t.target), esc(&t.title), t.svg, esc(&t.caption));
                }
                h.push_str("</div>");
            }
            Block::List(items) => {
                h.push_str("<ul>");
                for i in items {
                    let _ = write!(h, "<li>{}</li>", esc(i));
                }
                h.push_str("</ul>");
            }
        }
    }
    if open {
        h.push_str("</section>");
    }
    h.push_str("</body></html>\n");
    h
}
