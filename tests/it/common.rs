//! Helpers shared by the test modules: the corpus (where it is, what it expects), whole
//! files as records or plain bytes, and a representation-free rendering of a record.

use std::path::PathBuf;

use yieldlake::stdf::{ByteOrder, Record, StdfReader};

/// The shared corpus: `YIELDLAKE_CORPUS`, else `../shared/stdf-corpus` beside the repo.
/// Returns None (the caller reports a skip) when it is absent, unless
/// `YIELDLAKE_REQUIRE_CORPUS=1` (set by `.ci/run`), in which case absence fails the test.
pub fn corpus_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("YIELDLAKE_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/stdf-corpus"));
    if dir.join("expected.json").is_file() {
        return Some(dir);
    }
    if std::env::var("YIELDLAKE_REQUIRE_CORPUS").is_ok_and(|v| v == "1") {
        panic!("the STDF corpus is required (YIELDLAKE_REQUIRE_CORPUS=1) but {} has no expected.json", dir.display());
    }
    eprintln!("SKIPPED: no STDF corpus at {} (set YIELDLAKE_CORPUS)", dir.display());
    None
}

/// Every corpus file named in expected.json, with its expectations.
pub fn corpus_files() -> Option<Vec<(String, PathBuf, serde_json::Value)>> {
    let dir = corpus_dir()?;
    let exp: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("expected.json")).unwrap()).unwrap();
    let mut v: Vec<_> = exp.as_object().unwrap().iter().map(|(k, e)| (k.clone(), dir.join(k), e.clone())).collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(v.len() >= 10, "expected.json lists only {} files", v.len());
    Some(v)
}

/// The file's bytes as stored on disk, decompressed by the compression crates directly
/// (not through our reader), so that a comparison with them is independent of our framing.
pub fn plain_bytes(path: &std::path::Path) -> Vec<u8> {
    use std::io::Read;
    let data = std::fs::read(path).unwrap();
    let mut out = Vec::new();
    match data.get(..4) {
        Some([0x1f, 0x8b, ..]) => flate2::read::MultiGzDecoder::new(&data[..]).read_to_end(&mut out).map(|_| ()),
        Some([b'B', b'Z', b'h', ..]) => bzip2::read::MultiBzDecoder::new(&data[..]).read_to_end(&mut out).map(|_| ()),
        Some([b'P', b'K', 3, 4]) => {
            let mut z = zip::ZipArchive::new(std::io::Cursor::new(&data)).unwrap();
            z.by_index(0).unwrap().read_to_end(&mut out).map(|_| ())
        }
        Some([0x28, 0xb5, 0x2f, 0xfd]) => zstd::stream::read::Decoder::new(&data[..]).unwrap().read_to_end(&mut out).map(|_| ()),
        _ => return data,
    }
    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    out
}

/// Every record's type and body, through our reader's framing.
pub fn read_all_records(path: &std::path::Path) -> (ByteOrder, Vec<(u8, u8, Vec<u8>)>) {
    let mut r = StdfReader::open(path).unwrap();
    let order = r.byte_order();
    let mut v = Vec::new();
    while let Some(raw) = r.next_record().unwrap() {
        v.push((raw.typ, raw.sub, raw.body.to_vec()));
    }
    (order, v)
}

/// A representation-independent rendering of a record: every field's JSON value plus
/// any extra bytes. Equal fingerprints mean equal records (NaN compares equal here).
pub fn fingerprint(rec: &Record<'_>) -> String {
    let mut s = String::new();
    s.push_str(rec.code());
    rec.visit(&mut |name, v| {
        s.push(' ');
        s.push_str(name);
        s.push('=');
        match v {
            Some(v) => v.json(&mut s),
            None => s.push_str("<absent>"),
        }
    });
    s.push_str(" extra=");
    for b in rec.extra() {
        s.push_str(&format!("{b:02x}"));
    }
    s
}
