//! The layering rule, checked from the source: a module names only the modules it may
//! build on (README, "Architecture"), so the rule outlives any one change.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Each layer of the library and the layers it may use, bottom up.
const LAYERS: &[(&str, &[&str])] = &[
    ("stdf", &[]),
    ("table", &[]),
    ("ingest", &["stdf", "table"]),
    ("lake", &["table"]),
    ("job", &["stdf", "table", "ingest", "lake"]),
    ("analysis", &["table"]),
    ("query", &["table", "lake", "analysis"]),
    ("report", &["table", "analysis", "query"]),
    ("serve", &["table", "lake", "analysis", "query"]),
    ("generate", &["stdf"]),
];

fn rust_files(d: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(d).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out)
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p)
        }
    }
}

/// The top-level modules a file names through `crate::`, outside comments and strings'
/// doc text: `use crate::lake::…`, `crate::stdf::Foo`, and `use crate::{a, b}` groups.
fn crate_refs(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap();
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            rest = &rest[i + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                // `crate::{a::x, b}`: every first segment of the group (one-line groups).
                let end = group.find('}').unwrap_or(group.len());
                for item in group[..end].split(',') {
                    let name: String = item.trim().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                    if !name.is_empty() {
                        out.insert(name);
                    }
                }
            } else {
                let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                out.insert(name);
            }
        }
    }
    out
}

#[test]
fn no_module_imports_a_layer_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let known: BTreeSet<&str> = LAYERS.iter().map(|l| l.0).collect();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut checked = 0;
    let mut broken = Vec::new();
    for f in &files {
        let rel = f.strip_prefix(&src).unwrap();
        let top = rel.components().next().unwrap().as_os_str().to_string_lossy().trim_end_matches(".rs").to_string();
        // The binaries (main.rs, cli/, bin/) sit on top and may use every layer.
        if top == "main" || top == "cli" || top == "lib" || top == "bin" {
            continue;
        }
        let Some((_, allowed)) = LAYERS.iter().find(|l| l.0 == top) else {
            panic!("{}: the module `{top}` is not in the layer list; add it to LAYERS and to the README", rel.display());
        };
        for r in crate_refs(&std::fs::read_to_string(f).unwrap()) {
            if r == top {
                continue;
            }
            if !known.contains(r.as_str()) {
                broken.push(format!("{}: names crate::{r}, which is no layer", rel.display()));
            } else if !allowed.contains(&r.as_str()) {
                broken.push(format!("{}: `{top}` may not use `{r}` (it may use {allowed:?})", rel.display()));
            }
        }
        checked += 1;
    }
    assert!(checked > 20, "only {checked} files checked under {}", src.display());
    assert!(broken.is_empty(), "layer rule broken:\n{}", broken.join("\n"));
}

/// The checker itself sees the forms of reference the rule depends on.
#[test]
fn the_layer_checker_sees_every_form_of_reference() {
    let text = "use crate::lake::schema;\nuse crate::{stdf::Record, table};\nlet x = crate::query::run(); // crate::report::x\n";
    let got: Vec<String> = crate_refs(text).into_iter().collect();
    assert_eq!(got, ["lake", "query", "stdf", "table"]);
}
