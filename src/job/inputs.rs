//! Input expansion: files, directories (searched recursively) and glob patterns.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// Expands files, directories (recursively) and glob patterns (`lots/*/*.stdf.gz`,
/// `w[0-9].stdf`, `**/*.std`) into input files, sorted and without repeats. A name that
/// exists is taken as it is, even when it contains glob characters.
pub fn expand_inputs(inputs: &[PathBuf]) -> io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in inputs {
        let s = p.to_string_lossy();
        if p.is_dir() {
            walk(p, &mut out)?;
        } else if p.exists() || s == "-" {
            out.push(p.clone());
        } else if s.contains(['*', '?', '[']) {
            let paths = glob::glob(&s).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("bad pattern {s}: {e}")))?;
            let before = out.len();
            for m in paths {
                let m = m.map_err(|e| io::Error::new(e.error().kind(), format!("{}: {}", e.path().display(), e.error())))?;
                if m.is_dir() { walk(&m, &mut out)? } else { out.push(m) }
            }
            if out.len() == before {
                return Err(io::Error::new(io::ErrorKind::NotFound, format!("no file matches {s}")));
            }
        } else {
            return Err(io::Error::new(io::ErrorKind::NotFound, format!("{s}: no such file or directory")));
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// Every file below `d`, skipping hidden entries and the sidecars that sit beside STDF
/// files (truth JSON, notes, READMEs).
fn walk(d: &Path, out: &mut Vec<PathBuf>) -> io::Result<()> {
    let mut v: Vec<_> = fs::read_dir(d)?.collect::<Result<_, _>>()?;
    v.sort_by_key(|e| e.path());
    for e in v {
        let p = e.path();
        let name = e.file_name().to_string_lossy().to_string();
        if name.starts_with('.') {
            continue;
        }
        if p.is_dir() {
            walk(&p, out)?;
        } else if !(name.ends_with(".json") || name.ends_with(".md") || name.ends_with(".txt") || name == "REGENERATE") {
            out.push(p);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Character classes, `**`, directories and sidecars, and a pattern that matches
    /// nothing, which is an error naming it.
    #[test]
    fn patterns_expand_like_a_shell() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        for f in ["w1.stdf", "w2.stdf", "wx.stdf", "w1.truth.json", "sub/deep/w3.stdf", "sub/notes.md"] {
            let p = root.join(f);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(&p, b"x").unwrap();
        }
        let names = |pats: &[&str]| -> Vec<String> {
            let v: Vec<PathBuf> = pats.iter().map(|p| root.join(p)).collect();
            expand_inputs(&v).unwrap().iter().map(|p| p.strip_prefix(root).unwrap().to_string_lossy().into_owned()).collect()
        };
        assert_eq!(names(&["w[0-9].stdf"]), ["w1.stdf", "w2.stdf"]);
        assert_eq!(names(&["**/w?.stdf"]), ["sub/deep/w3.stdf", "w1.stdf", "w2.stdf", "wx.stdf"]);
        assert_eq!(names(&["sub", "w1.stdf", "w*.stdf"]), ["sub/deep/w3.stdf", "w1.stdf", "w2.stdf", "wx.stdf"]);
        let e = expand_inputs(&[root.join("z[0-9].stdf")]).unwrap_err();
        assert!(e.to_string().contains("no file matches") && e.to_string().contains("z[0-9].stdf"), "{e}");
        // A file whose name holds glob characters is taken as it is.
        fs::write(root.join("odd[1].stdf"), b"x").unwrap();
        assert_eq!(names(&["odd[1].stdf"]), ["odd[1].stdf"]);
    }
}
