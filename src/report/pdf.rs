//! Writes a `Doc` as PDF with typst used as a library: the document becomes typst markup,
//! the SVG charts are handed to typst as they are (vector images), and the fonts are the
//! DejaVu files shipped in `fonts/`, compiled into the binary. No browser, no network, no
//! system font: the same report gives the same PDF on every machine (no timestamp, a
//! stable document id).

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use typst::diag::{FileError, FileResult};
use typst::foundations::{Bytes, Datetime, Duration, Smart};
use typst::syntax::{FileId, RootedPath, Source, VirtualPath, VirtualRoot};
use typst::text::{Font, FontBook};
use typst::utils::LazyHash;
use typst::{Library, LibraryExt};

use super::doc::{Block, Cell, Doc, Run, Table};
use super::fonts::FONTS;

/// Landscape A4 (wide capability tables), in points: 842 × 595.
const PAGE_W: f64 = 841.89;
const PAGE_H: f64 = 595.28;
const MARGIN: f64 = 34.0;

struct World {
    library: LazyHash<Library>,
    book: LazyHash<FontBook>,
    fonts: Vec<Font>,
    main: Source,
    files: HashMap<FileId, Bytes>,
}

fn file_id(path: &str) -> FileId {
    // Paths are ours ("/main.typ", "/img/N.svg"), always valid.
    let vpath = VirtualPath::new(path).unwrap_or_else(|_| VirtualPath::new("/invalid").expect("a valid path"));
    FileId::new(RootedPath::new(VirtualRoot::Project, vpath))
}

impl typst::World for World {
    fn library(&self) -> &LazyHash<Library> {
        &self.library
    }
    fn book(&self) -> &LazyHash<FontBook> {
        &self.book
    }
    fn main(&self) -> FileId {
        self.main.id()
    }
    fn source(&self, id: FileId) -> FileResult<Source> {
        if id == self.main.id() { Ok(self.main.clone()) } else { Err(FileError::NotSource) }
    }
    fn file(&self, id: FileId) -> FileResult<Bytes> {
        if id == self.main.id() {
            return Ok(Bytes::from_string(self.main.clone()));
        }
        self.files.get(&id).cloned().ok_or_else(|| FileError::NotFound(id.vpath().get_without_slash().into()))
    }
    fn font(&self, index: usize) -> Option<Font> {
        self.fonts.get(index).cloned()
    }
    fn today(&self, _: Option<Duration>) -> Option<Datetime> {
        None
    }
}

/// A typst string literal.
fn lit(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '\\' => o.push_str("\\\\"),
            '"' => o.push_str("\\\""),
            '\n' => o.push_str("\\n"),
            '\r' | '\t' => o.push(' '),
            c if (c as u32) < 0x20 => o.push('\u{FFFD}'),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn colour(class: &str) -> Option<&'static str> {
    class.split_whitespace().find_map(|c| match c {
        "PASS" => Some("#1B5E20"),
        "FAIL" => Some("#B71C1C"),
        "INCOMPLETE" => Some("#E65100"),
        _ => None,
    })
}

/// Runs as one typst content expression.
fn runs(rs: &[Run]) -> String {
    if rs.is_empty() {
        return "[]".into();
    }
    let parts: Vec<String> = rs
        .iter()
        .map(|r| match r.class.as_deref() {
            Some("code") => format!("raw({})", lit(&r.text)),
            Some(c) => match colour(c) {
                Some(col) => format!("text(fill: rgb({}), weight: \"bold\", {})", lit(col), lit(&r.text)),
                None => lit(&r.text),
            },
            None => lit(&r.text),
        })
        .collect();
    // `[] +` makes the sum content even when every run is a string.
    format!("[] + {}", parts.join(" + "))
}

fn cell(c: &Cell) -> String {
    let mut args = Vec::new();
    if c.colspan > 1 {
        args.push(format!("colspan: {}", c.colspan));
    }
    if c.class.split_whitespace().any(|k| k == "num") {
        args.push("align: right".into());
    }
    if c.head {
        args.push("fill: rgb(\"#EEEEEE\")".into());
    }
    let mut body = runs(&c.text);
    if c.head {
        body = format!("text(weight: \"bold\", {body})");
    } else if let Some(col) = colour(&c.class) {
        body = format!("text(fill: rgb({}), weight: \"bold\", {body})", lit(col));
    }
    args.push(body);
    format!("table.cell({})", args.join(", "))
}

fn table(o: &mut String, t: &Table) {
    let n =
        t.rows.iter().map(|r| r.cells.iter().map(|c| c.colspan.max(1) as usize).sum::<usize>()).chain([t.header.len()]).max().unwrap_or(0);
    if n == 0 {
        return;
    }
    // Wide tables get a smaller type and share the page width, so that they fit the page.
    let (size, columns) = if n > 12 { ("5.5pt", format!("({})", vec!["1fr"; n].join(", "))) } else { ("7.5pt", n.to_string()) };
    let _ = write!(o, "#block(width: 100%)[#set text(size: {size})\n#table(columns: {columns}");
    if !t.header.is_empty() {
        let cells: Vec<String> = t.header.iter().map(|h| cell(&Cell::head(h.clone()))).collect();
        let _ = write!(o, ",\n  table.header({})", cells.join(", "));
    }
    for r in &t.rows {
        o.push_str(",\n  ");
        let mut width = 0;
        let mut cells: Vec<String> = Vec::with_capacity(n);
        for c in &r.cells {
            width += c.colspan.max(1) as usize;
            cells.push(cell(c));
        }
        // A short row is padded so that the next row starts in the first column.
        cells.extend(std::iter::repeat_n("[]".to_string(), n.saturating_sub(width)));
        o.push_str(&cells.join(", "));
    }
    o.push_str(")]\n\n");
    if t.omitted > 0 {
        let _ = writeln!(o, "#par({})\n", lit(&format!("{} more rows in the JSON report.", t.omitted)));
    }
}

/// The size of an SVG from its root element's width and height, in px.
fn svg_size(svg: &str) -> (f64, f64) {
    let head = &svg[..svg.find('>').unwrap_or(svg.len())];
    let attr = |name: &str| -> Option<f64> {
        let i = head.find(&format!(" {name}=\""))? + name.len() + 3;
        head[i..].split('"').next()?.trim_end_matches("px").parse().ok()
    };
    (attr("width").unwrap_or(640.0), attr("height").unwrap_or(480.0))
}

struct Images {
    files: HashMap<FileId, Bytes>,
    by_content: HashMap<String, String>,
}

impl Images {
    /// The virtual path of an SVG (one file per distinct picture).
    fn add(&mut self, svg: &str) -> String {
        if let Some(p) = self.by_content.get(svg) {
            return p.clone();
        }
        let path = format!("/img/{}.svg", self.by_content.len());
        self.files.insert(file_id(&path), Bytes::new(svg.as_bytes().to_vec()));
        self.by_content.insert(svg.to_string(), path.clone());
        path
    }
}

/// The typst markup of a document and the images it uses.
fn markup(d: &Doc) -> (String, HashMap<FileId, Bytes>) {
    let mut o = String::with_capacity(1 << 18);
    let title = lit(&d.title);
    let _ = write!(
        o,
        "#set document(title: {title})\n\
         #set page(width: {PAGE_W}pt, height: {PAGE_H}pt, margin: {MARGIN}pt, footer: context [#set text(size: 7pt)\n#{title} #h(1fr) #counter(page).display(\"1 / 1\", both: true)])\n\
         #set text(font: \"DejaVu Sans\", size: 9pt, lang: \"en\")\n\
         #set table(stroke: 0.4pt + rgb(\"#999999\"), inset: 2.5pt)\n\
         #show raw: set text(font: \"DejaVu Sans Mono\", size: 7pt)\n\
         #show heading.where(level: 1): set text(size: 15pt)\n\
         #show heading.where(level: 2): it => block(width: 100%, stroke: (bottom: 1pt), inset: (bottom: 3pt), text(size: 12pt, it))\n\
         #show heading.where(level: 3): set text(size: 10pt)\n\n"
    );
    let mut img = Images { files: HashMap::new(), by_content: HashMap::new() };
    let anchors: HashSet<&str> = d
        .blocks
        .iter()
        .filter_map(|b| match b {
            Block::Heading { anchor: Some(a), .. } => Some(a.as_str()),
            _ => None,
        })
        .collect();
    let (avail_w, avail_h) = (PAGE_W - 2.0 * MARGIN - 4.0, PAGE_H - 2.0 * MARGIN - 60.0);
    let mut first = true;
    for b in &d.blocks {
        match b {
            Block::Section { .. } => {
                if !first {
                    o.push_str("#pagebreak(weak: true)\n\n");
                }
                first = false;
            }
            Block::Heading { level, text, anchor } => {
                let _ = write!(o, "#heading(level: {}, {})", level.clamp(&1, &6), runs(text));
                if let Some(a) = anchor.as_deref().filter(|a| label_ok(a)) {
                    let _ = write!(o, " <{a}>");
                }
                o.push_str("\n\n");
            }
            Block::Para { text, class, .. } => {
                if class.as_deref() == Some("note") {
                    let _ = writeln!(
                        o,
                        "#block(width: 100%, fill: rgb(\"#FFF3E0\"), stroke: (left: 2pt + rgb(\"#E65100\")), inset: 5pt, {})\n",
                        runs(text)
                    );
                } else {
                    let _ = writeln!(o, "#par({})\n", runs(text));
                }
            }
            Block::Table(t) => table(&mut o, t),
            Block::Figure(svg) => {
                let (w, h) = svg_size(svg);
                let scale = (avail_w / w).min(avail_h / h).min(0.75);
                let _ = writeln!(o, "#align(center, image({}, width: {:.1}pt))\n", lit(&img.add(svg)), w * scale);
            }
            Block::Thumbs(ts) => {
                o.push_str("#grid(columns: 6, gutter: 6pt");
                for t in ts {
                    let pic = format!(
                        "stack(dir: ttb, spacing: 2pt, image({}, width: 100%), text(size: 7pt, {}))",
                        lit(&img.add(&t.svg)),
                        lit(&t.caption)
                    );
                    if anchors.contains(t.target.as_str()) && label_ok(&t.target) {
                        let _ = write!(o, ",\n  link(<{}>, {pic})", t.target);
                    } else {
                        let _ = write!(o, ",\n  {pic}");
                    }
                }
                o.push_str(")\n\n");
            }
            Block::List(items) => {
                let items: Vec<String> = items.iter().map(|i| lit(i)).collect();
                let _ = writeln!(o, "#list({})\n", items.join(", "));
            }
        }
    }
    (o, img.files)
}

fn label_ok(a: &str) -> bool {
    !a.is_empty() && a.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
}

/// The document as PDF bytes. An error here is a bug in the markup we wrote; it names the
/// first problems typst reports.
pub fn write(d: &Doc) -> Result<Vec<u8>, String> {
    let (text, files) = markup(d);
    let fonts: Vec<Font> = FONTS.iter().flat_map(|f| Font::iter(Bytes::new(*f))).collect();
    let world = World {
        library: LazyHash::new(Library::default()),
        book: LazyHash::new(FontBook::from_fonts(&fonts)),
        fonts,
        main: Source::new(file_id("/main.typ"), text),
        files,
    };
    let doc = typst::compile::<typst_layout::PagedDocument>(&world).output.map_err(|errs| diagnostics(&world, &errs))?;
    let opts = typst_pdf::PdfOptions { ident: Smart::Custom(d.title.clone()), timestamp: None, ..Default::default() };
    typst_pdf::pdf(&doc, &opts).map_err(|errs| diagnostics(&world, &errs))
}

fn diagnostics(world: &World, errs: &[typst::diag::SourceDiagnostic]) -> String {
    use typst::WorldExt as _;
    errs.iter()
        .take(3)
        .map(|e| {
            let at = world
                .range(e.span)
                .map(|r| {
                    let s = world.main.text();
                    let line = s[..r.start.min(s.len())].matches('\n').count() + 1;
                    format!(" (markup line {line})")
                })
                .unwrap_or_default();
            format!("{}{at}", e.message)
        })
        .collect::<Vec<_>>()
        .join("; ")
}
