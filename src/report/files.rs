//! Writes a report's files side by side: `<stem>.html`, `<stem>.pdf` (with the `pdf`
//! feature) and `<stem>.json`. Each goes through a temporary file and a rename, so a reader,
//! or a run killed part-way, never sees half a report.

use std::io;
use std::path::{Path, PathBuf};

use super::doc::Doc;

/// The files written.
pub struct Written {
    pub html: PathBuf,
    pub pdf: Option<PathBuf>,
    pub json: PathBuf,
}

/// Writes `bytes` to `path` through `path.<pid>.tmp` and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".{}.tmp", std::process::id()));
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, bytes).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", tmp.display())))?;
    std::fs::rename(&tmp, path).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}

fn with_ext(stem: &Path, ext: &str) -> PathBuf {
    let mut p = stem.as_os_str().to_owned();
    p.push(".");
    p.push(ext);
    PathBuf::from(p)
}

/// Writes the report as HTML, PDF and JSON (pretty, with a final newline).
pub fn write(stem: &Path, doc: &Doc, json: &serde_json::Value) -> io::Result<Written> {
    let html = with_ext(stem, "html");
    write_atomic(&html, super::html::write(doc).as_bytes())?;
    #[cfg(feature = "pdf")]
    let pdf = {
        let p = with_ext(stem, "pdf");
        let bytes = super::pdf::write(doc).map_err(|e| io::Error::other(format!("{}: typst: {e}", p.display())))?;
        write_atomic(&p, &bytes)?;
        Some(p)
    };
    #[cfg(not(feature = "pdf"))]
    let pdf = None;
    let json_path = with_ext(stem, "json");
    let text = serde_json::to_string_pretty(json).map_err(io::Error::other)? + "\n";
    write_atomic(&json_path, text.as_bytes())?;
    Ok(Written { html, pdf, json: json_path })
}
