//! The reports' layout model: a report is built once as a `Doc` (sections, headings,
//! paragraphs, tables, figures, thumbnail grids, lists) and then written as HTML
//! (`html.rs`) and as PDF (`pdf.rs`), so the two formats cannot disagree on a number or
//! leave a section out. Text is plain here; each writer escapes for its own format.

/// A report ready to be written.
#[derive(Debug, Default)]
pub struct Doc {
    pub title: String,
    pub blocks: Vec<Block>,
}

/// A piece of text with an optional style class: `PASS`, `FAIL`, `INCOMPLETE`, `code`.
#[derive(Debug, Clone)]
pub struct Run {
    pub text: String,
    pub class: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Cell {
    pub text: Vec<Run>,
    /// Space-separated classes; `num` right-aligns, a verdict colours.
    pub class: String,
    pub id: Option<String>,
    pub colspan: u32,
    pub head: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Row {
    /// An attribute the browser checks key rows by, e.g. `("data-stress", "HTRB")`.
    pub attr: Option<(String, String)>,
    pub cells: Vec<Cell>,
}

#[derive(Debug, Clone, Default)]
pub struct Table {
    pub id: Option<String>,
    pub header: Vec<String>,
    pub rows: Vec<Row>,
    /// Rows left out of the document (they are in the JSON report).
    pub omitted: usize,
}

/// A thumbnail linking to a full picture further down (by its heading's anchor).
#[derive(Debug, Clone)]
pub struct Thumb {
    pub svg: String,
    pub caption: String,
    pub title: String,
    pub target: String,
}

#[derive(Debug, Clone)]
pub enum Block {
    /// Starts a section: a new page in print and PDF, except for the first.
    Section {
        attr: Option<(String, String)>,
    },
    Heading {
        level: u8,
        text: Vec<Run>,
        anchor: Option<String>,
    },
    Para {
        text: Vec<Run>,
        id: Option<String>,
        class: Option<String>,
    },
    Table(Table),
    /// An SVG picture, inline in HTML and embedded as a vector image in PDF.
    Figure(String),
    Thumbs(Vec<Thumb>),
    List(Vec<String>),
}

pub fn run(text: impl Into<String>) -> Run {
    Run { text: text.into(), class: None }
}

pub fn styled(text: impl Into<String>, class: &str) -> Run {
    Run { text: text.into(), class: Some(class.to_string()) }
}

impl Cell {
    pub fn text(t: impl Into<String>) -> Cell {
        Cell { text: vec![run(t)], colspan: 1, ..Default::default() }
    }
    pub fn num(t: impl Into<String>) -> Cell {
        Cell { class: "num".into(), ..Cell::text(t) }
    }
    pub fn head(t: impl Into<String>) -> Cell {
        Cell { head: true, ..Cell::text(t) }
    }
    pub fn class(mut self, c: &str) -> Cell {
        if !self.class.is_empty() {
            self.class.push(' ');
        }
        self.class.push_str(c);
        self
    }
    pub fn id(mut self, id: &str) -> Cell {
        self.id = Some(id.to_string());
        self
    }
    pub fn span(mut self, n: u32) -> Cell {
        self.colspan = n;
        self
    }
    pub fn plain(&self) -> String {
        self.text.iter().map(|r| r.text.as_str()).collect()
    }
}

impl Row {
    pub fn new(cells: Vec<Cell>) -> Row {
        Row { attr: None, cells }
    }
    pub fn attr(mut self, k: &str, v: &str) -> Row {
        self.attr = Some((k.to_string(), v.to_string()));
        self
    }
}

impl Table {
    pub fn new(id: Option<&str>, header: &[&str]) -> Table {
        Table { id: id.map(str::to_string), header: header.iter().map(|s| s.to_string()).collect(), ..Default::default() }
    }
    pub fn row(&mut self, cells: Vec<Cell>) {
        self.rows.push(Row::new(cells));
    }
}

impl Doc {
    pub fn new(title: impl Into<String>) -> Doc {
        Doc { title: title.into(), blocks: Vec::new() }
    }
    pub fn section(&mut self) {
        self.blocks.push(Block::Section { attr: None });
    }
    pub fn section_with(&mut self, k: &str, v: &str) {
        self.blocks.push(Block::Section { attr: Some((k.to_string(), v.to_string())) });
    }
    pub fn h(&mut self, level: u8, text: impl Into<String>) {
        self.blocks.push(Block::Heading { level, text: vec![run(text)], anchor: None });
    }
    pub fn heading(&mut self, level: u8, text: Vec<Run>, anchor: Option<String>) {
        self.blocks.push(Block::Heading { level, text, anchor });
    }
    pub fn p(&mut self, text: impl Into<String>) {
        self.blocks.push(Block::Para { text: vec![run(text)], id: None, class: None });
    }
    pub fn para(&mut self, text: Vec<Run>, id: Option<&str>, class: Option<&str>) {
        self.blocks.push(Block::Para { text, id: id.map(str::to_string), class: class.map(str::to_string) });
    }
    pub fn note(&mut self, text: impl Into<String>, id: Option<&str>) {
        self.para(vec![run(text)], id, Some("note"));
    }
    pub fn table(&mut self, t: Table) {
        self.blocks.push(Block::Table(t));
    }
    pub fn figure(&mut self, svg: String) {
        self.blocks.push(Block::Figure(svg));
    }
    pub fn list(&mut self, items: Vec<String>) {
        if !items.is_empty() {
            self.blocks.push(Block::List(items));
        }
    }
}
