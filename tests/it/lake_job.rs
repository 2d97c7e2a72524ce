//! The per-file job on a real lake: crash safety under `kill -9`, the spill path, both
//! hashing paths, both Parquet writers, and the files row against the decoder's summary.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use yieldlake::generate::{GenOptions, Profile, generate};
use yieldlake::job::{self, IngestConfig, Outcome};
use yieldlake::lake::{Lake, Manifest, ParquetWriter};
use yieldlake::stdf::*;
use yieldlake::table::schema;

use crate::lake::{ingest, small_ws, sql, totals, u, wafer_file};

/// Kills ingest at random moments (SIGKILL); after each kill the lake reads
/// consistently, and a final run completes it with exact counts.
#[test]
fn crash_safety_under_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    generate(
        &GenOptions {
            profile: Profile::AutoIcWs,
            out: input.clone(),
            lots: 2,
            wafers: 3,
            seed: 21,
            scale: 0.5,
            order: ByteOrder::Little,
            compression: Compression::None,
            sites: None,
            tests: Some(30),
            history: false,
            qual_stresses: 5,
        },
        |_| {},
    )
    .unwrap();
    let reference = dir.path().join("reference");
    let t0 = std::time::Instant::now();
    let st = assert_cmd::Command::cargo_bin("yieldlake")
        .unwrap()
        .arg("ingest")
        .arg(&input)
        .arg("--lake")
        .arg(&reference)
        .arg("--threads")
        .arg("2")
        .output()
        .unwrap();
    assert!(st.status.success());
    let cold = t0.elapsed();
    // A second, warm run (page cache, binary loaded) is what the kills race against.
    let warm_lake = dir.path().join("warm");
    let t1 = std::time::Instant::now();
    assert!(
        assert_cmd::Command::cargo_bin("yieldlake")
            .unwrap()
            .arg("ingest")
            .arg(&input)
            .arg("--lake")
            .arg(&warm_lake)
            .arg("--threads")
            .arg("2")
            .output()
            .unwrap()
            .status
            .success()
    );
    let full = t1.elapsed().min(cold);
    let want = totals(&reference);
    let bin = assert_cmd::cargo::cargo_bin("yieldlake");
    let mut rng = yieldlake::generate::rng::Rng::new(12345);
    let mut killed_mid_run = 0;
    let mut committed_then = std::collections::BTreeSet::new();
    for i in 0..20 {
        // A fresh lake each time, so that every kill lands in real work; the delay spans
        // a whole run, from before the first commit to after the last.
        let lake = dir.path().join(format!("lake{i}"));
        let wait = full.mul_f64(rng.range(0.0, 0.9));
        let mut child = std::process::Command::new(&bin)
            .arg("ingest")
            .arg(&input)
            .arg("--lake")
            .arg(&lake)
            .arg("--threads")
            .arg("2")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(wait);
        if child.try_wait().unwrap().is_none() {
            killed_mid_run += 1;
        }
        let _ = child.kill();
        let _ = child.wait();
        // Consistent: every table holds exactly the rows its committed files declare.
        let m = Manifest::load(&lake).unwrap_or_default();
        committed_then.insert(m.live.len());
        let got = if lake.join("_manifest").is_dir() { totals(&lake) } else { BTreeMap::new() };
        for t in schema::TABLES {
            assert_eq!(got.get(t.name).copied().unwrap_or(0), m.rows(t.name), "kill {i}: table {} disagrees with its manifest", t.name);
        }
        if !got.is_empty() {
            assert_eq!(u(&sql(&lake, "SELECT count(*) AS n FROM files")[0]["n"]), m.live.len() as u64, "kill {i}");
            let dup = sql(&lake, "SELECT count(*) AS n FROM (SELECT source_path FROM files GROUP BY source_path HAVING count(*) > 1)");
            assert_eq!(u(&dup[0]["n"]), 0);
        }
        // The re-run completes it, exactly.
        let st = std::process::Command::new(&bin).arg("ingest").arg(&input).arg("--lake").arg(&lake).output().unwrap();
        assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
        assert_eq!(totals(&lake), want, "kill {i}: re-run did not give the reference counts");
        assert_eq!(std::fs::read_dir(lake.join("_staging")).unwrap().count(), 0);
        let m = Manifest::load(&lake).unwrap();
        let referenced: std::collections::HashSet<String> = m.live.iter().flat_map(|e| e.files.clone()).collect();
        let on_disk = crate::generate_walk(&lake).into_iter().filter(|p| p.extension().is_some_and(|x| x == "parquet")).count();
        assert_eq!(on_disk, referenced.len(), "kill {i}: unreferenced Parquet files left");
        std::fs::remove_dir_all(&lake).unwrap();
    }
    assert!(killed_mid_run >= 10, "only {killed_mid_run} of 20 kills landed during a run");
    // Kills landed at different stages: before any commit, between commits.
    assert!(committed_then.len() >= 3, "kills landed at too few distinct stages: {committed_then:?}");
}

/// Files with more parts than the memory budget spill their parts to disk and resolve
/// retests by external sort; the parts table must be exactly what the in-memory path gives,
/// on die re-probes (corpus A530 lots, generated wafers) and part-id retests (generated
/// final test), and the spill files must be gone afterwards.
#[test]
fn spilled_parts_equal_the_in_memory_path() {
    let dir = tempfile::tempdir().unwrap();
    let mut inputs = small_ws(&dir.path().join("ws"), 3);
    let ft = generate(
        &GenOptions {
            profile: Profile::AutoIcFt,
            out: dir.path().join("ft"),
            lots: 1,
            wafers: 1,
            seed: 4,
            // About 400 parts per insertion: with the small wafers, more than 1,000 parts
            // without the corpus.
            scale: 1.0,
            order: ByteOrder::Big,
            compression: Compression::None,
            sites: Some(4),
            tests: Some(10),
            history: false,
            qual_stresses: 5,
        },
        |_| {},
    )
    .unwrap();
    inputs.extend(ft.files.into_iter().map(|f| f.path));
    let reprobe = dir.path().join("reprobe.stdf");
    std::fs::write(&reprobe, wafer_file(1000, &[(0, 0, false), (1, 0, false), (2, 0, true), (1, 0, true), (0, 0, false), (1, 0, false)]))
        .unwrap();
    inputs.push(reprobe);
    if let Some(files) = crate::common::corpus_files() {
        inputs.extend(files.into_iter().map(|f| f.1));
    }
    // Parts per file that waited on disk, by source path.
    let run = |name: &str, spill: Option<usize>| -> (PathBuf, BTreeMap<String, (u64, u64)>) {
        let lake = dir.path().join(name);
        let lk = Lake::open_for_write(&lake).unwrap();
        let cfg = IngestConfig { threads: 2, spill_parts: spill.unwrap_or(IngestConfig::default().spill_parts), ..Default::default() };
        let out = job::ingest(&lk, &inputs, &cfg, &|_, _| {}).outcomes;
        let spills = out
            .iter()
            .map(|o| match o {
                Outcome::Ingested { path, rows, spilled_parts, .. } => {
                    (path.clone(), (rows.get("parts").copied().unwrap_or(0), *spilled_parts))
                }
                other => panic!("{other:?}"),
            })
            .collect();
        drop(lk);
        let staged: Vec<_> = walk_files(&lake.join("_staging"));
        assert!(staged.is_empty(), "spill or staging files left behind: {staged:?}");
        (lake, spills)
    };
    let (mem, in_memory) = run("mem", None);
    let (spilled, on_disk) = run("spilled", Some(5));
    // The spill path really ran: once a file reaches the budget, every one of its parts
    // goes through the spill file; nothing spilled under the default budget.
    assert!(in_memory.values().all(|&(_, s)| s == 0), "{in_memory:?}");
    for (path, &(parts, s)) in &on_disk {
        assert_eq!(s, if parts >= 5 { parts } else { 0 }, "{path}: {parts} parts, {s} spilled");
    }
    assert!(on_disk.values().filter(|&&(_, s)| s > 0).count() >= 5, "{on_disk:?}");
    let q = "SELECT * FROM parts ORDER BY file_id, part_seq";
    let (a, b) = (sql(&mem, q), sql(&spilled, q));
    assert!(a.len() > 1000, "{} parts", a.len());
    let retests = a.iter().filter(|r| u(&r["retest_index"]) > 0).count();
    let by_id = a.iter().filter(|r| u(&r["retest_index"]) > 0 && r["touch_key"].as_str().is_some_and(|k| k.starts_with("p:"))).count();
    assert!(retests > by_id && by_id > 0, "die and part-id retests both present: {retests} retests, {by_id} by part id");
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x, y);
    }
    assert_eq!(totals(&mem), totals(&spilled));
}

/// Every file under the lake with its bytes: equal states mean nothing was written.
pub(crate) fn lake_state(lake: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = walk_files(lake);
    files.sort();
    files.into_iter().map(|f| (f.clone(), std::fs::read(&f).unwrap())).collect()
}

fn walk_files(d: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() { out.extend(walk_files(&p)) } else { out.push(p) }
    }
    out
}

/// The file id is the first 16 hex digits of the file's sha256 in every table, whether
/// the file was hashed while it was ingested (a size no live version has) or before
/// (a live version has its size), and no placeholder is left in any Parquet file.
#[test]
fn file_ids_are_the_sha256_prefix_on_both_hashing_paths() {
    use sha2::{Digest, Sha256};
    let dir = tempfile::tempdir().unwrap();
    let inputs = small_ws(&dir.path().join("in"), 3);
    let lake = dir.path().join("lake");
    let sha = |p: &Path| Sha256::digest(std::fs::read(p).unwrap()).iter().map(|b| format!("{b:02x}")).collect::<String>();
    let ids_in = |lake: &Path| -> BTreeMap<String, BTreeMap<String, u64>> {
        // file_id -> table -> rows
        let mut m: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
        for t in schema::TABLES {
            for r in sql(lake, &format!("SELECT file_id, count(*) AS n FROM {} GROUP BY file_id", t.name)) {
                m.entry(r["file_id"].as_str().unwrap().to_string()).or_default().insert(t.name.to_string(), u(&r["n"]));
            }
        }
        m
    };
    let out = ingest(&lake, &inputs);
    assert!(out.iter().all(|o| matches!(o, Outcome::Ingested { .. })), "{out:?}");
    let ids = ids_in(&lake);
    let want: Vec<String> = inputs.iter().map(|p| sha(p)[..16].to_string()).collect();
    assert_eq!(ids.keys().cloned().collect::<Vec<_>>(), {
        let mut w = want.clone();
        w.sort();
        w
    });
    for (p, id) in inputs.iter().zip(&want) {
        assert_eq!(ids[id].len(), 9, "{id} in every table: {:?}", ids[id]);
        let f = sql(&lake, &format!("SELECT sha256, size_bytes FROM files WHERE file_id = '{id}'"));
        assert_eq!(f[0]["sha256"].as_str().unwrap(), sha(p));
        assert_eq!(u(&f[0]["size_bytes"]), std::fs::metadata(p).unwrap().len());
    }
    // Same size, other bytes: one character of a test name changed.
    let name = sql(&lake, "SELECT test_name FROM tests WHERE length(test_name) > 3 LIMIT 1")[0]["test_name"].as_str().unwrap().to_string();
    let mut bytes = std::fs::read(&inputs[0]).unwrap();
    // Every occurrence, so that the test is renamed rather than split in two.
    let mut hits = 0;
    for at in 0..bytes.len() - name.len() {
        if &bytes[at..at + name.len()] == name.as_bytes() {
            bytes[at] = b'~';
            hits += 1;
        }
    }
    assert!(hits > 0, "{name} is in the file");
    let changed = dir.path().join("changed.stdf");
    std::fs::write(&changed, &bytes).unwrap();
    let copy = dir.path().join("copy.stdf");
    std::fs::copy(&inputs[1], &copy).unwrap();
    let out = ingest(&lake, &[changed.clone(), copy]);
    assert!(matches!(&out[0], Outcome::Ingested { replaced: None, .. }), "{out:?}");
    assert!(matches!(&out[1], Outcome::Unchanged { .. }), "{out:?}");
    let ids = ids_in(&lake);
    let changed_id = sha(&changed)[..16].to_string();
    assert_eq!(ids.len(), 3);
    // Rows per table equal the original's: only a name differs.
    assert_eq!(ids[&changed_id], ids[&want[0]]);
    // The changed file alone, hashed while read, gives the same rows and id.
    let fresh = dir.path().join("fresh");
    ingest(&fresh, std::slice::from_ref(&changed));
    assert_eq!(ids_in(&fresh)[&changed_id], ids[&changed_id]);
    for f in walk_files(&lake).into_iter().chain(walk_files(&fresh)).filter(|f| f.extension().is_some_and(|e| e == "parquet")) {
        let b = std::fs::read(&f).unwrap();
        assert!(!b.windows(16).any(|w| w == b"~file-id-pending"), "placeholder left in {}", f.display());
    }
}

/// The `files` row counts records and lists problems exactly as the decoder's own summary
/// (`yieldlake info`) does, although ingest takes PTRs, PIRs, PRRs, MPRs and FTRs on
/// paths of their own: every corpus file, and a file where every record type also comes
/// with bytes past its last field, plus an orphan PRR.
#[test]
fn files_rows_count_and_report_what_the_decoder_reports() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("in")).unwrap();
    let mut w = StdfWriter::new(Vec::new(), ByteOrder::Big);
    let all = yieldlake::stdf::catalog::every_record_type();
    for r in &all {
        w.write(r).unwrap();
    }
    let mut body = yieldlake::stdf::types::Writer::new(ByteOrder::Big);
    for r in all.iter().filter(|r| !matches!(r, Record::Far(_) | Record::Mir(_) | Record::Vur(_) | Record::Unknown(_))) {
        body.buf.clear();
        r.encode_body(&mut body);
        let (typ, sub) = r.typ_sub();
        // An empty trailing field list would make the padding a field: write every field.
        body.buf.extend_from_slice(&[0xab; 300]);
        w.write_body(typ, sub, &body.buf).unwrap();
    }
    // An orphan PRR, then two PIRs and two PRRs on one site: ingest keeps one open part
    // per site, so the second PIR replaces the first and the last PRR is an orphan.
    let (pir, prr) =
        (Pir { head_num: Some(1), site_num: Some(9), extra: &[] }, Prr { head_num: Some(1), site_num: Some(9), ..Default::default() });
    for r in [Record::Prr(prr.clone()), Record::Pir(pir.clone()), Record::Pir(pir), Record::Prr(prr.clone()), Record::Prr(prr)] {
        w.write(&r).unwrap();
    }
    let crafted = dir.path().join("in/extra.stdf");
    std::fs::write(&crafted, w.into_inner()).unwrap();
    let mut inputs = vec![crafted];
    if let Some(files) = crate::common::corpus_files() {
        inputs.extend(files.into_iter().map(|(_, p, _)| p));
    }
    let lake = dir.path().join("lake");
    let out = ingest(&lake, &inputs);
    assert!(out.iter().all(|o| matches!(o, Outcome::Ingested { .. })), "{out:?}");
    let rows = sql(&lake, "SELECT source_path, records, record_counts, problems FROM files");
    assert_eq!(rows.len(), inputs.len());
    let mut crafted_problems = Vec::new();
    for row in rows {
        let path = row["source_path"].as_str().unwrap();
        let s = yieldlake::stdf::summary::summarize(StdfReader::open(path).unwrap(), |_| {});
        assert_eq!(u(&row["records"]), s.total_records, "{path}");
        let counts: BTreeMap<String, u64> = serde_json::from_str(row["record_counts"].as_str().unwrap()).unwrap();
        assert_eq!(counts, s.records, "{path}");
        let mut ours: Vec<&str> = row["problems"].as_str().unwrap().lines().collect();
        let mut theirs: Vec<&str> = s.problems.iter().map(String::as_str).collect();
        ours.sort();
        theirs.sort();
        assert_eq!(ours, theirs, "{path}");
        if path.ends_with("extra.stdf") {
            crafted_problems = ours.iter().map(|p| p.to_string()).collect();
        }
    }
    // The records ingest decodes on paths of their own report their extra bytes too.
    for code in ["PTR", "PIR", "PRR", "MPR", "FTR", "WIR", "HBR"] {
        let line = format!("{code} record(s) carry bytes beyond their last field");
        assert!(crafted_problems.iter().any(|p| p.contains(&line)), "{code}: {crafted_problems:?}");
    }
    assert!(crafted_problems.iter().any(|p| p.starts_with("2 PRR(s) without an open PIR")), "{crafted_problems:?}");
    assert!(crafted_problems.iter().any(|p| p.starts_with("1 PIR(s) opened a site that already had an open part")), "{crafted_problems:?}");
}

/// The fast page writer and the parquet crate's own `ArrowWriter` (the fallback) give
/// the same rows in every table, on the corpus and on generated data of every profile.
/// When parquet is upgraded, this is the gate for the fast path.
#[test]
fn both_parquet_writers_give_the_same_rows() {
    let dir = tempfile::tempdir().unwrap();
    let mut inputs = small_ws(&dir.path().join("ws"), 21);
    let all = generate(
        &GenOptions {
            profile: Profile::All,
            out: dir.path().join("all"),
            lots: 1,
            wafers: 1,
            seed: 22,
            scale: 0.1,
            order: ByteOrder::Big,
            compression: Compression::Gzip,
            sites: None,
            tests: None,
            history: false,
            qual_stresses: 5,
        },
        |_| {},
    )
    .unwrap();
    inputs.extend(all.files.into_iter().map(|f| f.path));
    if let Some(files) = crate::common::corpus_files() {
        inputs.extend(files.into_iter().map(|f| f.1));
    }
    let run = |name: &str, writer: ParquetWriter| {
        let lake = dir.path().join(name);
        let lk = Lake::open_for_write(&lake).unwrap();
        let out = job::ingest(&lk, &inputs, &IngestConfig { writer, ..Default::default() }, &|_, _| {}).outcomes;
        assert!(out.iter().all(|o| matches!(o, Outcome::Ingested { .. })), "{out:?}");
        lake
    };
    let fast = run("fast", ParquetWriter::Fast);
    let arrow = run("arrow", ParquetWriter::Arrow);
    for t in schema::TABLES {
        // Every column but the time of ingest, in a total order.
        let cols: Vec<&str> = t.cols.iter().map(|c| c.name).filter(|c| *c != "ingested_at").collect();
        let q = format!(
            "SELECT {} FROM {} ORDER BY {}",
            cols.join(", "),
            t.name,
            cols.iter().map(|c| format!("{c} NULLS FIRST")).collect::<Vec<_>>().join(", ")
        );
        let (a, b) = (sql(&fast, &q), sql(&arrow, &q));
        assert!(!a.is_empty(), "{}: no rows", t.name);
        assert_eq!(a.len(), b.len(), "{}", t.name);
        for (i, (x, y)) in a.iter().zip(&b).enumerate() {
            assert_eq!(x, y, "{} row {i}", t.name);
        }
    }
    // Both are real Parquet with our metadata: every file names its table and version.
    for lake in [&fast, &arrow] {
        for e in Manifest::load(lake).unwrap().live {
            for f in &e.files {
                let r = parquet::file::reader::SerializedFileReader::new(std::fs::File::open(lake.join(f)).unwrap()).unwrap();
                let kv = parquet::file::reader::FileReader::metadata(&r).file_metadata().key_value_metadata().cloned().unwrap_or_default();
                assert!(kv.iter().any(|k| k.key == "ARROW:schema"), "{f}");
            }
        }
    }
}

/// `yieldlake.partial_group_by` switches the GROUP BY rule: in the session config, by
/// `SET` (with writes allowed), and from the CLI's flag and environment variable.
#[test]
fn partial_group_by_is_a_session_setting() {
    use yieldlake::query::{self, QueryConfig};
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    ingest(&lake, &small_ws(&dir.path().join("in"), 23));
    let q = "EXPLAIN SELECT wafer_id, count(*) AS n FROM parts GROUP BY wafer_id";
    let plan = |cfg: QueryConfig, set: Option<&str>| -> String {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(async {
            let ctx = query::session(&lake, &cfg).await.unwrap();
            if let Some(s) = set {
                query::query(&ctx, s, true).await.unwrap().collect().await.unwrap();
            }
            let b = query::query(&ctx, q, false).await.unwrap().collect().await.unwrap();
            arrow::util::pretty::pretty_format_batches(&b).unwrap().to_string()
        })
    };
    assert!(plan(QueryConfig::default(), None).contains("PartialGroupByExec"));
    assert!(!plan(QueryConfig::default().with("yieldlake.partial_group_by", "false"), None).contains("PartialGroupByExec"));
    assert!(!plan(QueryConfig::default(), Some("SET yieldlake.partial_group_by = false")).contains("PartialGroupByExec"));
    let cli = |env: Option<&str>, flag: &[&str]| -> String {
        let mut c = assert_cmd::Command::cargo_bin("yieldlake").unwrap();
        c.args(["sql", q, "--format", "csv", "--lake"]).arg(&lake).args(flag);
        if let Some(v) = env {
            c.env("YIELDLAKE_PARTIAL_GROUP_BY", v);
        }
        let out = c.output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    assert!(cli(None, &[]).contains("PartialGroupByExec"));
    assert!(!cli(Some("off"), &[]).contains("PartialGroupByExec"));
    assert!(!cli(None, &["--partial-group-by", "off"]).contains("PartialGroupByExec"));
}
