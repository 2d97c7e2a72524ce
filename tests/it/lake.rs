//! The Parquet lake and SQL over it, with real Parquet files and real DataFusion.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::lake_job::lake_state;
use serde_json::Value;
use yieldlake::generate::{GenOptions, Profile, generate};
use yieldlake::job::{self, IngestConfig, Outcome};
use yieldlake::lake::{Lake, Manifest, escape_lot};
use yieldlake::query::{self, QueryConfig};
use yieldlake::stdf::types::C1;
use yieldlake::stdf::writer::encode_all;
use yieldlake::stdf::*;
use yieldlake::table::schema;

/// Runs a query and returns its rows as JSON objects.
pub fn sql(lake: &Path, q: &str) -> Vec<serde_json::Map<String, Value>> {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let ctx = query::session(lake, &QueryConfig::default()).await.unwrap();
        let batches = query::query(&ctx, q, false).await.unwrap_or_else(|e| panic!("{q}: {e}")).collect().await.unwrap();
        let mut buf = Vec::new();
        {
            let mut w = arrow::json::ArrayWriter::new(&mut buf);
            for b in &batches {
                let plain =
                    arrow::compute::cast(&arrow::array::StructArray::from(b.clone()) as &dyn arrow::array::Array, &plain_type(b)).unwrap();
                let sa = plain.as_any().downcast_ref::<arrow::array::StructArray>().unwrap();
                w.write(&arrow::array::RecordBatch::from(sa)).unwrap();
            }
            w.finish().unwrap();
        }
        if buf.is_empty() {
            return vec![];
        }
        serde_json::from_slice::<Vec<serde_json::Map<String, Value>>>(&buf).unwrap()
    })
}

fn plain_type(b: &arrow::array::RecordBatch) -> arrow::datatypes::DataType {
    use arrow::datatypes::{DataType, Field};
    let fields: Vec<Field> = b
        .schema()
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Dictionary(_, v) => Field::new(f.name(), (**v).clone(), true),
            t => Field::new(f.name(), t.clone(), true),
        })
        .collect();
    DataType::Struct(fields.into())
}

pub(crate) fn ingest(lake: &Path, inputs: &[PathBuf]) -> Vec<Outcome> {
    let lk = Lake::open_for_write(lake).unwrap();
    job::ingest(&lk, inputs, &IngestConfig::default(), &|_, _| {}).outcomes
}

pub(crate) fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a number: {v}"))
}

#[test]
fn corpus_through_sql_matches_expected_json() {
    let Some(files) = crate::common::corpus_files() else { return };
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let inputs: Vec<PathBuf> = files.iter().map(|f| f.1.clone()).collect();
    let out = ingest(&lake, &inputs);
    assert!(out.iter().all(|o| matches!(o, Outcome::Ingested { .. })), "{out:?}");
    let ids: BTreeMap<String, String> = sql(&lake, "SELECT source_path, file_id FROM files")
        .into_iter()
        .map(|r| (r["source_path"].as_str().unwrap().to_string(), r["file_id"].as_str().unwrap().to_string()))
        .collect();
    let by_file = |q: &str| -> BTreeMap<String, Vec<serde_json::Map<String, Value>>> {
        let mut m: BTreeMap<String, Vec<_>> = BTreeMap::new();
        for r in sql(&lake, q) {
            m.entry(r["file_id"].as_str().unwrap().to_string()).or_default().push(r);
        }
        m
    };
    let pf = by_file("SELECT file_id, pass_fail, count(*) AS n FROM parts GROUP BY file_id, pass_fail");
    let hb = by_file("SELECT file_id, hard_bin, count(*) AS n FROM parts GROUP BY file_id, hard_bin");
    let sb = by_file("SELECT file_id, soft_bin, count(*) AS n FROM parts GROUP BY file_id, soft_bin");
    let wafers = by_file(
        "SELECT w.file_id, w.wafer_id, (SELECT count(*) FROM parts p WHERE p.file_id = w.file_id AND p.wafer_index = w.wafer_index) AS n FROM wafers w",
    );
    let dies = by_file(
        "SELECT file_id, count(*) AS tested, count(*) FILTER (WHERE passed) AS pass FROM final_parts WHERE x IS NOT NULL AND y IS NOT NULL AND wafer_index IS NOT NULL GROUP BY file_id",
    );
    let recs = by_file("SELECT file_id, record_counts FROM files");
    let finals =
        by_file("SELECT file_id, count(*) FILTER (WHERE is_final) AS fin, count(DISTINCT part_id) AS ids FROM parts GROUP BY file_id");
    let ptr = by_file("SELECT file_id, count(*) AS n, count(DISTINCT test_num) AS nums FROM results WHERE rec_type = 'P' GROUP BY file_id");
    for (name, path, exp) in &files {
        let src = std::fs::canonicalize(path).unwrap().to_string_lossy().to_string();
        let id = &ids[&src];
        let empty = vec![];
        let get = |m: &BTreeMap<String, Vec<serde_json::Map<String, Value>>>| m.get(id).unwrap_or(&empty).clone();
        let count_of = |rows: &[serde_json::Map<String, Value>], k: &str, v: &str| -> u64 {
            rows.iter().filter(|r| r[k].as_str() == Some(v)).map(|r| u(&r["n"])).sum()
        };
        let p = get(&pf);
        assert_eq!(p.iter().map(|r| u(&r["n"])).sum::<u64>(), u(&exp["parts"]), "{name} parts");
        assert_eq!(count_of(&p, "pass_fail", "pass"), u(&exp["parts_pass"]), "{name} pass");
        assert_eq!(count_of(&p, "pass_fail", "fail"), u(&exp["parts_fail"]), "{name} fail");
        assert_eq!(count_of(&p, "pass_fail", "unknown"), u(&exp["parts_no_pf"]), "{name} no p/f");
        let h: BTreeMap<String, u64> = get(&hb).iter().map(|r| (r["hard_bin"].to_string(), u(&r["n"]))).collect();
        let eh: BTreeMap<String, u64> = exp["hard_bins"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), u(v))).collect();
        assert_eq!(h, eh, "{name} hard bins");
        let s: BTreeMap<String, u64> = get(&sb)
            .iter()
            .map(|r| (if r.get("soft_bin").is_none_or(|v| v.is_null()) { "null".into() } else { r["soft_bin"].to_string() }, u(&r["n"])))
            .collect();
        let es: BTreeMap<String, u64> = exp["soft_bins"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), u(v))).collect();
        assert_eq!(s, es, "{name} soft bins");
        let rc: BTreeMap<String, u64> = serde_json::from_str(get(&recs)[0]["record_counts"].as_str().unwrap()).unwrap();
        let er: BTreeMap<String, u64> = exp["records"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), u(v))).collect();
        assert_eq!(rc, er, "{name} record counts");
        let pt = get(&ptr);
        assert_eq!(pt.first().map_or(0, |r| u(&r["n"])), er.get("PTR").copied().unwrap_or(0), "{name}: one results row per PTR");
        assert_eq!(pt.first().map_or(0, |r| u(&r["nums"])), u(&exp["ptr_test_nums"]), "{name} distinct PTR test numbers");
        // Final test: when every part id is distinct, every PRR is a part's final touch,
        // whatever X/Y the tester wrote (testcaseSmall writes 0,0 in every PRR).
        let f = get(&finals);
        if exp.get("wafers").is_none() && f.first().is_some_and(|r| u(&r["ids"]) == u(&exp["parts"])) {
            assert_eq!(u(&f[0]["fin"]), u(&exp["parts"]), "{name}: parts on their final touch");
        }
        if let Some(w) = exp.get("wafers") {
            let got: BTreeMap<String, u64> =
                get(&wafers).iter().map(|r| (r["wafer_id"].as_str().unwrap().to_string(), u(&r["n"]))).collect();
            let ew: BTreeMap<String, u64> = w.as_object().unwrap().iter().map(|(k, v)| (k.clone(), u(v))).collect();
            assert_eq!(got, ew, "{name} parts per wafer");
            let d = get(&dies);
            assert_eq!(d.first().map_or(0, |r| u(&r["tested"])), u(&exp["dies_tested"]), "{name} dies_tested");
            assert_eq!(d.first().map_or(0, |r| u(&r["pass"])), u(&exp["dies_final_pass"]), "{name} dies_final_pass");
        }
    }
}

#[test]
fn schemas_dir_matches_code_and_the_parquet_files() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("schemas");
    for t in schema::TABLES {
        let committed = std::fs::read_to_string(root.join(format!("{}.json", t.name))).unwrap_or_default();
        assert_eq!(committed, schema::schema_file_text(t), "schemas/{}.json is stale: run `cargo run -- schemas`", t.name);
    }
    // Every Parquet file written has exactly its table's schema and the schema version.
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    generate(
        &GenOptions {
            profile: Profile::All,
            out: input.clone(),
            lots: 1,
            wafers: 1,
            seed: 3,
            scale: 0.05,
            order: ByteOrder::Big,
            compression: Compression::None,
            sites: None,
            tests: None,
            history: false,
            qual_stresses: 5,
        },
        |_| {},
    )
    .unwrap();
    let lake = dir.path().join("lake");
    ingest(&lake, &job::expand_inputs(&[input]).unwrap());
    let m = Manifest::load(&lake).unwrap();
    let mut seen = std::collections::HashSet::new();
    for e in &m.live {
        for f in &e.files {
            let table = f.split('/').next().unwrap();
            let t = schema::table(table).unwrap();
            let file = std::fs::File::open(lake.join(f)).unwrap();
            let r = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
            let got = r.schema();
            let want = t.arrow_schema();
            assert_eq!(got.fields(), want.fields(), "{f}");
            assert_eq!(
                got.metadata().get("yieldlake.schema_version").map(String::as_str),
                Some(schema::SCHEMA_VERSION.to_string().as_str()),
                "{f}"
            );
            seen.insert(table.to_string());
        }
    }
    assert_eq!(seen.len(), 9, "every table was written: {seen:?}");
}

pub(crate) fn small_ws(dir: &Path, seed: u64) -> Vec<PathBuf> {
    let r = generate(
        &GenOptions {
            profile: Profile::AutoIcWs,
            out: dir.to_path_buf(),
            lots: 1,
            wafers: 2,
            seed,
            scale: 0.1,
            order: ByteOrder::Little,
            compression: Compression::None,
            sites: Some(4),
            tests: Some(30),
            history: false,
            qual_stresses: 5,
        },
        |_| {},
    )
    .unwrap();
    r.files.into_iter().map(|f| f.path).collect()
}

pub(crate) fn totals(lake: &Path) -> BTreeMap<String, u64> {
    schema::TABLES.iter().map(|t| (t.name.to_string(), u(&sql(lake, &format!("SELECT count(*) AS n FROM {}", t.name))[0]["n"]))).collect()
}

#[test]
fn ingest_is_idempotent_and_a_changed_file_replaces_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = small_ws(&dir.path().join("in"), 1);
    let lake = dir.path().join("lake");
    ingest(&lake, &inputs);
    let first = totals(&lake);
    assert!(first["results"] > 1000);
    let again = ingest(&lake, &inputs);
    assert!(again.iter().all(|o| matches!(o, Outcome::Unchanged { .. })), "{again:?}");
    assert_eq!(totals(&lake), first);
    // Rewrite the first wafer file with other content under the same name.
    let other = small_ws(&dir.path().join("other"), 2);
    std::fs::copy(&other[0], &inputs[0]).unwrap();
    let out = ingest(&lake, &inputs);
    assert!(matches!(&out[0], Outcome::Ingested { replaced: Some(_), .. }), "{out:?}");
    assert!(matches!(&out[1], Outcome::Unchanged { .. }));
    // The lake now equals a fresh lake of the same two files.
    let fresh = dir.path().join("fresh");
    ingest(&fresh, &inputs);
    assert_eq!(totals(&lake), totals(&fresh));
    assert_ne!(totals(&lake), first);
    assert_eq!(Manifest::load(&lake).unwrap().live.len(), 2);
}

#[test]
fn multi_site_results_belong_to_their_part_and_match_the_truth() {
    let dir = tempfile::tempdir().unwrap();
    let report = generate(
        &GenOptions {
            profile: Profile::AutoIcWs,
            out: dir.path().join("in"),
            lots: 1,
            wafers: 1,
            seed: 9,
            scale: 0.2,
            order: ByteOrder::Little,
            compression: Compression::Gzip,
            sites: Some(16),
            tests: Some(30),
            history: false,
            qual_stresses: 5,
        },
        |_| {},
    )
    .unwrap();
    let lake = dir.path().join("lake");
    ingest(&lake, &[report.files[0].path.clone()]);
    let truth: Value = serde_json::from_slice(&std::fs::read(report.files[0].truth_path.as_ref().unwrap()).unwrap()).unwrap();
    let t = &truth["truth"];
    // Sites interleave (16 PIRs, then each test for each site): every result's part is on its site.
    let bad = sql(
        &lake,
        "SELECT count(*) AS n FROM results r JOIN parts p ON r.file_id = p.file_id AND r.part_seq = p.part_seq WHERE r.site_num <> p.site_num",
    );
    assert_eq!(u(&bad[0]["n"]), 0);
    let per = sql(&lake, "SELECT min(c) AS lo, max(c) AS hi FROM (SELECT part_seq, count(*) AS c FROM results GROUP BY part_seq)");
    assert_eq!((u(&per[0]["lo"]), u(&per[0]["hi"])), (34, 34), "30 PTRs + 4 MPR pins per part");
    let orphans = sql(&lake, "SELECT count(*) AS n FROM results WHERE part_seq IS NULL");
    assert_eq!(u(&orphans[0]["n"]), 0);
    // Retests resolved: dies, final passes, re-probes.
    let d = sql(&lake, "SELECT count(*) AS dies, count(*) FILTER (WHERE passed) AS pass FROM final_parts");
    assert_eq!(u(&d[0]["dies"]), u(&t["dies"]));
    assert_eq!(u(&d[0]["pass"]), u(&t["dies_final_pass"]));
    let re = sql(&lake, "SELECT count(*) AS n FROM parts WHERE retest_index = 1");
    assert_eq!(u(&re[0]["n"]), t["reprobed"].as_array().unwrap().len() as u64);
    // Injected outliers are where the truth says, through the results_final view.
    for o in t["outliers"].as_array().unwrap() {
        let q = format!("SELECT result FROM results_final WHERE x = {} AND y = {} AND test_num = {}", o["x"], o["y"], o["test_num"]);
        let r = sql(&lake, &q);
        assert_eq!(r.len(), 1, "{q}");
        assert_eq!(r[0]["result"].as_f64().unwrap() as f32, o["value"].as_f64().unwrap() as f32);
    }
    // The first-PTR rule: every result carries its test's limits although later PTRs omit them.
    let lim = sql(
        &lake,
        "SELECT count(*) AS n FROM results WHERE rec_type = 'P' AND (lo_limit IS NULL OR hi_limit IS NULL OR (units = '' AND test_name NOT LIKE 'TRIM_CODE%'))",
    );
    assert_eq!(u(&lim[0]["n"]), 0);
}

#[test]
fn sql_functions_robust_sigma_and_cpk() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    Lake::open_for_write(&lake).unwrap();
    // 1..=100: type-7 quartiles are 25.75 and 75.25, so (75.25 - 25.75) / 1.35.
    let r = sql(&lake, "SELECT robust_sigma(CAST(value AS DOUBLE)) AS rs FROM generate_series(1, 100)");
    assert!((r[0]["rs"].as_f64().unwrap() - 49.5 / 1.35).abs() < 1e-9, "{r:?}");
    // Grouped (exercises state merging across partitions).
    let r = sql(
        &lake,
        "SELECT value % 2 AS g, robust_sigma(CAST(value AS DOUBLE)) AS rs FROM generate_series(1, 1000) GROUP BY value % 2 ORDER BY g",
    );
    // Even numbers 2..1000: n=500, Q1 at h=124.75 -> 251.5, Q3 at h=374.25 -> 750.5.
    assert!((r[0]["rs"].as_f64().unwrap() - (750.5 - 251.5) / 1.35).abs() < 1e-9, "{r:?}");
    let c = sql(
        &lake,
        "SELECT cpk(10.0, 1.0, 4.0, 13.0) AS a, cpk(10.0, 1.0, NULL, 13.0) AS b, cpk(10.0, 1.0, 4.0, NULL) AS c, cpk(10.0, 0.0, 4.0, 13.0) AS d",
    );
    assert_eq!(c[0]["a"].as_f64(), Some(1.0));
    assert_eq!(c[0]["b"].as_f64(), Some(1.0));
    assert_eq!(c[0]["c"].as_f64(), Some(2.0));
    assert!(c[0].get("d").is_none_or(|v| v.is_null()));
}

fn stdf_with_lot(lot: &[u8]) -> Vec<u8> {
    let recs = vec![
        Record::Far(Far { cpu_type: Some(2), stdf_ver: Some(4), extra: &[] }),
        Record::Mir(Mir {
            setup_t: Some(1),
            start_t: Some(2),
            stat_num: Some(1),
            mode_cod: Some(C1(b'P')),
            lot_id: Some(Cn(std::borrow::Cow::Owned(lot.to_vec()))),
            ..Default::default()
        }),
        Record::Pir(Pir { head_num: Some(1), site_num: Some(1), extra: &[] }),
        Record::Ptr(Ptr {
            test_num: Some(1),
            head_num: Some(1),
            site_num: Some(1),
            test_flg: Some(0),
            parm_flg: Some(0),
            result: Some(1.5),
            test_txt: Some(Cn::from("T")),
            ..Default::default()
        }),
        Record::Prr(Prr {
            head_num: Some(1),
            site_num: Some(1),
            part_flg: Some(0),
            num_test: Some(1),
            hard_bin: Some(1),
            soft_bin: Some(1),
            x_coord: Some(0),
            y_coord: Some(0),
            ..Default::default()
        }),
        Record::Mrr(Mrr { finish_t: Some(3), ..Default::default() }),
    ];
    encode_all(&recs, ByteOrder::Little).unwrap()
}

#[test]
fn hostile_lot_ids_stay_inside_the_lake_and_never_collide() {
    // C*n holds at most 255 bytes; 200 is long enough to need the hashed form.
    let long = "L".repeat(200);
    let lots: Vec<Vec<u8>> = vec![
        b"../../../../tmp/escape".to_vec(),
        b"..".to_vec(),
        b".".to_vec(),
        b"/abs/olute".to_vec(),
        b"a\0b".to_vec(),
        b"lot/with/slash".to_vec(),
        b"A_B".to_vec(),
        b"A%5FB".to_vec(),
        b"_".to_vec(),
        b"".to_vec(),
        "Lot-\u{b5}".as_bytes().to_vec(),
        long.as_bytes().to_vec(),
        format!("{long}x").into_bytes(),
        b"C:\\win\\path".to_vec(),
        b"lot=inner".to_vec(),
    ];
    let dir = tempfile::tempdir().unwrap();
    let inputs: Vec<PathBuf> = lots
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let p = dir.path().join(format!("in/f{i}.stdf"));
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, stdf_with_lot(l)).unwrap();
            p
        })
        .collect();
    let lake = dir.path().join("sub/lake");
    let out = ingest(&lake, &inputs);
    assert!(out.iter().all(|o| matches!(o, Outcome::Ingested { .. })), "{out:?}");
    // Nothing was written outside the lake, and every file is inside it.
    let mut top: Vec<String> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into()).collect();
    top.sort();
    assert_eq!(top, ["in", "sub"]);
    assert_eq!(std::fs::read_dir(dir.path().join("sub")).unwrap().count(), 1);
    assert!(!Path::new("/tmp/escape").exists());
    let m = Manifest::load(&lake).unwrap();
    let canon = std::fs::canonicalize(&lake).unwrap();
    let mut dirs = std::collections::HashSet::new();
    for e in &m.live {
        for f in &e.files {
            let p = std::fs::canonicalize(lake.join(f)).unwrap();
            assert!(p.starts_with(&canon), "{f} escapes the lake");
            assert_eq!(p.parent().unwrap().parent().unwrap().parent().unwrap(), canon, "{f} is not at <table>/lot=<x>/<file>");
        }
        assert!(e.lot_dir.len() <= 120 && !e.lot_dir.contains(['/', '\\', '\0', '.']) && e.lot_dir != "..", "{}", e.lot_dir);
        dirs.insert(e.lot_dir.clone());
    }
    assert_eq!(dirs.len(), lots.len(), "distinct lot ids must get distinct directories");
    // The raw lot ids survive exactly (Latin-1 for non-UTF-8 bytes, which none are here).
    let got: std::collections::HashSet<String> =
        sql(&lake, "SELECT DISTINCT lot_id FROM parts").into_iter().map(|r| r["lot_id"].as_str().unwrap().to_string()).collect();
    let want: std::collections::HashSet<String> = lots.iter().map(|l| String::from_utf8(l.clone()).unwrap()).collect();
    assert_eq!(got, want);
    assert_eq!(escape_lot(""), "_");
    assert_ne!(escape_lot("_"), "_");
}

#[test]
fn sql_write_statements_are_refused_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    ingest(&lake, &small_ws(&dir.path().join("in"), 4)[..1]);
    let target = dir.path().join("copied.csv");
    let before = lake_state(&lake);
    for (q, kind) in [
        ("CREATE TABLE t AS SELECT 1".to_string(), "CreateMemoryTable"),
        ("CREATE VIEW v AS SELECT 1".to_string(), "CreateView"),
        ("DROP TABLE results".to_string(), "DropTable"),
        ("INSERT INTO results SELECT * FROM results".to_string(), "Insert Into"),
        (format!("COPY (SELECT 1) TO '{}'", target.display()), "COPY"),
        (format!("EXPLAIN ANALYZE COPY (SELECT 1) TO '{}'", target.display()), "COPY"),
        ("SET datafusion.execution.batch_size = 1".to_string(), "SetVariable"),
    ] {
        let out = assert_cmd::Command::cargo_bin("yieldlake").unwrap().args(["sql", &q, "--lake"]).arg(&lake).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{q} was accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&format!("{}, and this statement is {kind}", query::READ_ONLY)), "{q}: {err}");
        assert_eq!(lake_state(&lake), before, "{q} changed the lake");
    }
    assert!(!target.exists());
    let ok = assert_cmd::Command::cargo_bin("yieldlake")
        .unwrap()
        .args(["sql", "SELECT count(*) AS n FROM results", "--format", "csv", "--lake"])
        .arg(&lake)
        .output()
        .unwrap();
    assert!(ok.status.success());
    assert!(String::from_utf8_lossy(&ok.stdout).starts_with("n\n"));
    let allowed = assert_cmd::Command::cargo_bin("yieldlake")
        .unwrap()
        .args(["sql", &format!("COPY (SELECT 1 AS one) TO '{}'", target.display()), "--allow-write", "--lake"])
        .arg(&lake)
        .output()
        .unwrap();
    assert!(allowed.status.success(), "{}", String::from_utf8_lossy(&allowed.stderr));
    assert!(target.exists());
}

#[test]
fn bad_files_are_quarantined_and_the_rest_lands() {
    let dir = tempfile::tempdir().unwrap();
    let good = small_ws(&dir.path().join("in"), 5);
    let bytes = std::fs::read(&good[0]).unwrap();
    let cut = dir.path().join("in/truncated.stdf");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let junk = dir.path().join("in/notes.stdf");
    std::fs::write(&junk, b"this is not STDF").unwrap();
    let lake = dir.path().join("lake");
    let out = assert_cmd::Command::cargo_bin("yieldlake")
        .unwrap()
        .arg("ingest")
        .arg(dir.path().join("in"))
        .arg("--lake")
        .arg(&lake)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("ingested 2, unchanged 0, quarantined 2"), "{text}");
    let m = Manifest::load(&lake).unwrap();
    assert_eq!(m.live.len(), 2);
    let q: Vec<&str> = m.quarantine.iter().map(|q| q.error.as_str()).collect();
    assert!(q.iter().any(|e| e.contains("truncated.stdf") && e.contains("at byte") && e.contains("record #")), "{q:?}");
    assert!(q.iter().any(|e| e.contains("notes.stdf") && e.contains("not an STDF file")), "{q:?}");
    // No rows of a quarantined file are visible.
    let n = sql(&lake, "SELECT count(DISTINCT file_id) AS n FROM results");
    assert_eq!(u(&n[0]["n"]), 2);
    let t = assert_cmd::Command::cargo_bin("yieldlake").unwrap().args(["tables", "--lake"]).arg(&lake).output().unwrap();
    let tt = String::from_utf8_lossy(&t.stdout);
    assert!(tt.contains("2 quarantined") && tt.contains("truncated.stdf"), "{tt}");
}

/// `results_final` is served by an array-lookup provider; its rows must be exactly those
/// of the view's SQL join (query::VIEWS), under projections and filters on either side.
#[test]
fn results_final_provider_equals_the_sql_join() {
    let dir = tempfile::tempdir().unwrap();
    let files = small_ws(dir.path(), 11);
    let lake = dir.path().join("lake");
    ingest(&lake, &files);
    let join = query::VIEWS.iter().find(|v| v.0 == "results_final").unwrap().2;
    let probes = [
        "SELECT count(*) AS n, sum(CAST(test_num AS BIGINT)) AS t, sum(abs(CAST(x AS BIGINT) - 7)) AS sx, sum(CAST(y AS BIGINT)) AS sy, \
         count(DISTINCT wafer_id) AS w, count(DISTINCT part_id) AS p, sum(CAST(retest_index AS BIGINT)) AS ri, \
         sum(CASE WHEN part_passed THEN 1 ELSE 0 END) AS pp, sum(CAST(hard_bin AS BIGINT)) AS hb, round(sum(result), 3) AS s FROM {}",
        "SELECT count(*) AS n, round(avg(result), 9) AS m FROM {} WHERE test_num = (SELECT min(test_num) FROM results)",
        "SELECT wafer_id, count(*) AS n, min(x) AS x0, max(y) AS y1 FROM {} WHERE wafer_id LIKE '%W02' GROUP BY wafer_id",
        "SELECT site_num, count(*) AS n FROM {} WHERE site_num = 2 AND soft_bin > 1 GROUP BY site_num",
        "SELECT count(*) AS n FROM {}",
    ];
    for p in probes {
        let ours = sql(&lake, &p.replace("{}", "results_final"));
        let want = sql(&lake, &p.replace("{}", &format!("({join}) AS j")));
        assert_eq!(ours, want, "{p}");
        assert!(u(&ours[0]["n"]) > 0, "{p}: the probe selects rows");
    }
    // The provider drops non-final touches: the file has re-probes, so fewer rows than results.
    let all = u(&sql(&lake, "SELECT count(*) AS n FROM results")[0]["n"]);
    let fin = u(&sql(&lake, "SELECT count(*) AS n FROM results_final")[0]["n"]);
    assert!(fin < all, "{fin} < {all}");
}

/// One wafer-sort file of lot `L1`, wafer `W1`, started at `start`: each die is (x, y, pass).
pub(crate) fn wafer_file(start: u32, dies: &[(i16, i16, bool)]) -> Vec<u8> {
    let mut recs = vec![
        Record::Far(Far { cpu_type: Some(2), stdf_ver: Some(4), extra: &[] }),
        Record::Mir(Mir {
            setup_t: Some(start),
            start_t: Some(start),
            stat_num: Some(1),
            lot_id: Some(Cn::from("L1")),
            ..Default::default()
        }),
        Record::Wir(Wir { head_num: Some(1), site_grp: Some(255), start_t: Some(start), wafer_id: Some(Cn::from("W1")), extra: &[] }),
    ];
    for &(x, y, pass) in dies {
        recs.push(Record::Pir(Pir { head_num: Some(1), site_num: Some(1), extra: &[] }));
        recs.push(Record::Prr(Prr {
            head_num: Some(1),
            site_num: Some(1),
            part_flg: Some(if pass { 0 } else { 8 }),
            num_test: Some(0),
            hard_bin: Some(if pass { 1 } else { 5 }),
            soft_bin: Some(if pass { 1 } else { 5 }),
            x_coord: Some(x),
            y_coord: Some(y),
            ..Default::default()
        }));
    }
    recs.push(Record::Wrr(Wrr {
        head_num: Some(1),
        finish_t: Some(start + 10),
        part_cnt: Some(dies.len() as u32),
        wafer_id: Some(Cn::from("W1")),
        ..Default::default()
    }));
    recs.push(Record::Mrr(Mrr { finish_t: Some(start + 20), ..Default::default() }));
    encode_all(&recs, ByteOrder::Little).unwrap()
}

/// A final-test file (no WIR) whose PRRs all carry the same X/Y: the shared coordinate
/// names no die, so parts are told apart by PART_ID, and a repeated id is a retest. With
/// distinct X/Y and no wafers the part id still comes first; PART_FLG bit 1 still names
/// X/Y as the key.
#[test]
fn final_test_parts_are_told_apart_by_part_id() {
    let file = |parts: &[(&str, i16, i16, u8)]| -> Vec<u8> {
        let mut recs = vec![
            Record::Far(Far { cpu_type: Some(2), stdf_ver: Some(4), extra: &[] }),
            Record::Mir(Mir { setup_t: Some(1), start_t: Some(1), stat_num: Some(1), lot_id: Some(Cn::from("FT1")), ..Default::default() }),
        ];
        for &(id, x, y, flg) in parts {
            recs.push(Record::Pir(Pir { head_num: Some(1), site_num: Some(1), extra: &[] }));
            recs.push(Record::Prr(Prr {
                head_num: Some(1),
                site_num: Some(1),
                part_flg: Some(flg),
                num_test: Some(0),
                hard_bin: Some(1),
                soft_bin: Some(1),
                x_coord: Some(x),
                y_coord: Some(y),
                part_id: Some(Cn::from(id)),
                ..Default::default()
            }));
        }
        recs.push(Record::Mrr(Mrr { finish_t: Some(9), ..Default::default() }));
        encode_all(&recs, ByteOrder::Little).unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    // (name, parts as (PART_ID, X, Y, PART_FLG), expected (retest_index, is_final) in order)
    type Case<'a> = (&'a str, Vec<(&'a str, i16, i16, u8)>, Vec<(u64, bool)>);
    let cases: [Case; 3] = [
        // Every PRR at 0,0: four parts, the second touch of "2" decides it.
        ("shared", vec![("1", 0, 0, 0), ("2", 0, 0, 0), ("3", 0, 0, 0), ("2", 0, 0, 1)], vec![(0, true), (0, false), (0, true), (1, true)]),
        // X/Y differ but there are no wafers: still the part id.
        ("distinct", vec![("1", 1, 1, 0), ("2", 2, 2, 0), ("1", 3, 3, 0)], vec![(0, false), (0, true), (1, true)]),
        // PART_FLG bit 1: this retest supersedes by X/Y.
        ("by_xy", vec![("1", 5, 5, 0), ("2", 6, 6, 0), ("9", 5, 5, 2)], vec![(0, false), (0, true), (1, true)]),
    ];
    for (name, parts, want) in cases {
        let path = dir.path().join(format!("{name}.stdf"));
        std::fs::write(&path, file(&parts)).unwrap();
        let lake = dir.path().join(format!("lake_{name}"));
        ingest(&lake, &[path]);
        let got: Vec<(u64, bool)> = sql(&lake, "SELECT retest_index, is_final FROM parts ORDER BY part_seq")
            .iter()
            .map(|r| (u(&r["retest_index"]), r["is_final"].as_bool().unwrap()))
            .collect();
        assert_eq!(got, want, "{name}");
    }
}

/// Retests in a later file: `final_parts` stays per file (as `expected.json` counts),
/// `final_dies` lets the later file's touch decide each die of the lot.
#[test]
fn final_dies_merges_reprobes_across_files_by_start_time() {
    let dir = tempfile::tempdir().unwrap();
    // First pass: three dies, (1,0) probed twice within the file (fail, then pass).
    let first = wafer_file(1000, &[(0, 0, false), (1, 0, false), (2, 0, true), (1, 0, true)]);
    // Re-probe file, written later: (0,0) now passes, (2,0) now fails.
    let reprobe = wafer_file(2000, &[(0, 0, true), (2, 0, false)]);
    // Named so that directory order is the reverse of time order.
    std::fs::write(dir.path().join("a_reprobe.stdf"), reprobe).unwrap();
    std::fs::write(dir.path().join("b_first.stdf"), first).unwrap();
    let lake = dir.path().join("lake");
    ingest(&lake, &[dir.path().join("a_reprobe.stdf"), dir.path().join("b_first.stdf")]);
    let fp = sql(&lake, "SELECT count(*) AS n FROM final_parts");
    assert_eq!(u(&fp[0]["n"]), 5, "per file: 3 final dies in the first file, 2 in the re-probe");
    let d = sql(&lake, "SELECT x, y, passed, file_start_t, retest_index FROM final_dies ORDER BY x");
    let got: Vec<(i64, bool, bool)> = d
        .iter()
        .map(|r| {
            (r["x"].as_i64().unwrap(), r["passed"].as_bool().unwrap(), r["file_start_t"].as_str().unwrap().contains("1970-01-01T00:33:20"))
        })
        .collect();
    // (0,0) and (2,0) from the re-probe (start 2000 s = 00:33:20), (1,0) from the first file's second touch.
    assert_eq!(got, vec![(0, true, true), (1, true, false), (2, false, true)], "{d:?}");
}
