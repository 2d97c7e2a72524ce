//! What the benchmarks share: the benchmark lake of at least 100 M results (built once
//! under target/bench-data/query-lake and reused), and DuckDB through the venv's Python.

#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Instant;

use yieldlake::generate::{GenOptions, Profile, generate};
use yieldlake::job::{self, IngestConfig};
use yieldlake::lake::{Lake, Manifest};
use yieldlake::stdf::{ByteOrder, Compression};

pub fn bench_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-data")
}

/// The lake of `BENCH_RESULTS_M` (default 100) million results or more.
pub fn query_lake() -> PathBuf {
    let root = bench_root();
    let want_m: u64 = std::env::var("BENCH_RESULTS_M").ok().and_then(|v| v.parse().ok()).unwrap_or(100);
    let lake = root.join("query-lake");
    let have = Manifest::load(&lake).map(|m| m.rows("results")).unwrap_or(0);
    if have < want_m * 1_000_000 {
        let _ = std::fs::remove_dir_all(&lake);
        let input = root.join("query-input");
        let _ = std::fs::remove_dir_all(&input);
        // ~36 M results per wafer at scale 270 (810 k dies x 44 results).
        let wafers = (want_m as f64 / 35.0).ceil() as u32;
        println!("building a lake of >= {want_m} M results: {wafers} wafers of ~1 GB ...");
        let t = Instant::now();
        build(&lake, &input, wafers, 77, 270.0, None);
        let _ = std::fs::remove_dir_all(&input);
        println!("built in {:.0} s", t.elapsed().as_secs_f64());
    }
    lake
}

/// Generates `wafers` wafers of one lot at `scale` into a fresh lake under `name`.
pub fn small_lake(name: &str, wafers: u32, scale: f64, tests: u32) -> PathBuf {
    let root = bench_root();
    let lake = root.join(name);
    let marker = lake.join(format!("_built_{wafers}_{scale}_{tests}"));
    if marker.exists() {
        return lake;
    }
    let _ = std::fs::remove_dir_all(&lake);
    let input = root.join(format!("{name}-input"));
    let _ = std::fs::remove_dir_all(&input);
    build(&lake, &input, wafers, 78, scale, Some(tests));
    let _ = std::fs::remove_dir_all(&input);
    std::fs::write(&marker, b"").unwrap();
    lake
}

/// A qualification lake: 3 lots x 10 stresses x 77 serialised units, read at t0 and 2-3
/// readpoints (qual-readpoints with all ten stresses).
#[allow(dead_code)]
pub fn qual_lake() -> PathBuf {
    let root = bench_root();
    let lake = root.join("qual-lake");
    let marker = lake.join("_built_3x10x77");
    if marker.exists() {
        return lake;
    }
    let _ = std::fs::remove_dir_all(&lake);
    let input = root.join("qual-input");
    let _ = std::fs::remove_dir_all(&input);
    let rep = generate(
        &GenOptions {
            profile: Profile::QualReadpoints,
            out: input.clone(),
            lots: 3,
            wafers: 1,
            seed: 79,
            scale: 1.0,
            order: ByteOrder::Little,
            compression: Compression::None,
            sites: None,
            tests: None,
            history: false,
            qual_stresses: 10,
        },
        |_| {},
    )
    .unwrap();
    let files: Vec<PathBuf> = rep.files.iter().map(|f| f.path.clone()).collect();
    let lk = Lake::open_for_write(&lake).unwrap();
    let r = job::ingest(&lk, &files, &IngestConfig { threads: 2, ..Default::default() }, &|_, _| {});
    assert_eq!(r.ingested, files.len());
    let _ = std::fs::remove_dir_all(&input);
    std::fs::write(&marker, b"").unwrap();
    lake
}

/// Generates one wafer-sort lot into `input` and ingests it into `lake` on two threads.
fn build(lake: &std::path::Path, input: &std::path::Path, wafers: u32, seed: u64, scale: f64, tests: Option<u32>) {
    let rep = generate(
        &GenOptions {
            profile: Profile::AutoIcWs,
            out: input.to_path_buf(),
            lots: 1,
            wafers,
            seed,
            scale,
            order: ByteOrder::Little,
            compression: Compression::None,
            sites: None,
            tests,
            history: false,
            qual_stresses: 5,
        },
        |_| {},
    )
    .unwrap();
    let files: Vec<PathBuf> = rep.files.iter().map(|f| f.path.clone()).collect();
    let lk = Lake::open_for_write(lake).unwrap();
    let r = job::ingest(&lk, &files, &IngestConfig { threads: 2, ..Default::default() }, &|_, _| {});
    assert_eq!(r.ingested, files.len());
}

/// The Python with DuckDB (PYTHON, else the repo's .venv).
pub fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python").display().to_string())
}

/// Process CPU time (user + system) in seconds, from /proc (Linux); None elsewhere.
pub fn cpu_seconds() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}
