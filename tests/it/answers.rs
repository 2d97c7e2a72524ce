//! Yield, bins, site-to-site, statistics and wafer maps, checked against the corpus's
//! `expected.json` and the generator's truth sidecars; bad requests end with status 1.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Float64Type, UInt16Type, UInt32Type, UInt64Type};
use serde_json::Value;
use yieldlake::analysis::sites::ShiftConfig;
use yieldlake::generate::{GenOptions, Profile, generate};
use yieldlake::query::answers::{self, BinKind, By};
use yieldlake::query::{QueryConfig, session};
use yieldlake::report::png::svg_to_png;
use yieldlake::report::wafermap::{HEIGHT, MapKind, WIDTH, bin_colours, draw_wafer};
use yieldlake::stdf::{ByteOrder, Compression};

use crate::lake::ingest;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

fn u64s(b: &RecordBatch, name: &str) -> Vec<u64> {
    b.column_by_name(name).unwrap().as_primitive::<UInt64Type>().values().to_vec()
}

fn strs(b: &RecordBatch, name: &str) -> Vec<String> {
    let c = b.column_by_name(name).unwrap().as_string::<i32>();
    (0..c.len()).map(|i| c.value(i).to_string()).collect()
}

/// The bin table of one type as {bin (or "null"): touches}.
fn bin_touches(bins: &RecordBatch, ty: &str) -> BTreeMap<String, u64> {
    let t = strs(bins, "bin_type");
    let n = bins.column_by_name("bin_num").unwrap().as_primitive::<UInt16Type>();
    let c = u64s(bins, "touches");
    (0..bins.num_rows())
        .filter(|i| t[*i] == ty && c[*i] > 0)
        .map(|i| (if n.is_null(i) { "null".to_string() } else { n.value(i).to_string() }, c[i]))
        .collect()
}

fn num_map(v: &Value) -> BTreeMap<String, u64> {
    v.as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_u64().unwrap())).filter(|(_, v)| *v > 0).collect()
}

/// Each corpus file alone in a lake: `yield` gives expected.json's parts, passes, bins,
/// per-wafer parts, dies tested and dies passing on their final touch.
#[test]
fn corpus_yield_reproduces_expected_json() {
    let Some(files) = crate::common::corpus_files() else { return };
    let rt = rt();
    let mut checked = 0;
    for (name, path, exp) in files {
        let dir = tempfile::tempdir().unwrap();
        let lake = dir.path().join("lake");
        ingest(&lake, &[path]);
        rt.block_on(async {
            let ctx = session(&lake, &QueryConfig::default()).await.unwrap();
            let y = answers::yields(&ctx, By::File, None).await.unwrap();
            let t = &y.tables.yields;
            let sum = |c: &str| u64s(t, c).iter().sum::<u64>();
            let ctx_msg = |w: &str| format!("{name}: {w}");
            assert_eq!(Some(sum("touches")), exp["parts"].as_u64(), "{}", ctx_msg("parts"));
            assert_eq!(Some(sum("touches_pass")), exp["parts_pass"].as_u64(), "{}", ctx_msg("passes"));
            assert_eq!(Some(sum("touches_fail")), exp["parts_fail"].as_u64(), "{}", ctx_msg("fails"));
            assert_eq!(Some(sum("touches_unknown")), exp["parts_no_pf"].as_u64(), "{}", ctx_msg("no pass/fail"));
            assert_eq!(bin_touches(&y.tables.bins, "H"), num_map(&exp["hard_bins"]), "{}", ctx_msg("hard bins"));
            assert_eq!(bin_touches(&y.tables.bins, "S"), num_map(&exp["soft_bins"]), "{}", ctx_msg("soft bins"));
            if let Some(w) = exp.get("wafers") {
                assert_eq!(Some(sum("dies")), exp["dies_tested"].as_u64(), "{}", ctx_msg("dies tested"));
                assert_eq!(Some(sum("dies_final_pass")), exp["dies_final_pass"].as_u64(), "{}", ctx_msg("dies passing finally"));
                let by_wafer = answers::yields(&ctx, By::Wafer, None).await.unwrap().tables.yields;
                let lot = exp["lot_id"].as_str().unwrap_or("");
                let got: BTreeMap<String, u64> = strs(&by_wafer, "grp")
                    .into_iter()
                    .zip(u64s(&by_wafer, "touches"))
                    .filter_map(|(g, n)| g.strip_prefix(&format!("{lot}/")).map(|w| (w.to_string(), n)))
                    .collect();
                assert_eq!(got, num_map(w), "{}", ctx_msg("parts per wafer"));
            }
        });
        checked += 1;
    }
    eprintln!("yield checked on {checked} corpus files");
}

/// A real tester's wafer (lot2, Teradyne A530, no WCR sizes) gets a map holding every
/// die it tested.
#[test]
fn corpus_real_wafer_gets_a_map_of_its_dies() {
    let Some(files) = crate::common::corpus_files() else { return };
    let (_, path, exp) = files.into_iter().find(|f| f.0.ends_with("lot2.stdf.gz")).expect("lot2 in the corpus");
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    ingest(&lake, &[path]);
    let lot = exp["lot_id"].as_str().unwrap().to_string();
    rt().block_on(async {
        let ctx = session(&lake, &QueryConfig::default()).await.unwrap();
        let maps = answers::wafer_maps(&ctx, &lot, None, BinKind::Hard, None).await.unwrap();
        let dies: usize = maps.iter().map(|m| m.dies.len()).sum();
        assert_eq!(Some(dies as u64), exp["dies_tested"].as_u64());
        let pass: usize = maps.iter().map(|m| m.dies.iter().filter(|d| d.passed == Some(true)).count()).sum();
        assert_eq!(Some(pass as u64), exp["dies_final_pass"].as_u64());
        for m in &maps {
            let (img, _) = draw_wafer(m, MapKind::Bins, "hard", None);
            let png = resvg::tiny_skia::Pixmap::decode_png(&img.png().unwrap()).unwrap();
            assert_eq!((png.width(), png.height()), (WIDTH, HEIGHT));
        }
    });
}

fn gen_ws(dir: &Path, seed: u64, wafers: u32, scale: f64) -> Vec<(PathBuf, Value)> {
    let r = generate(
        &GenOptions {
            profile: Profile::AutoIcWs,
            out: dir.to_path_buf(),
            lots: 1,
            wafers,
            seed,
            scale,
            order: ByteOrder::Little,
            compression: Compression::None,
            sites: Some(8),
            tests: Some(12),
            history: false,
            qual_stresses: 5,
        },
        |_| {},
    )
    .unwrap();
    r.files
        .into_iter()
        .map(|f| {
            let t: Value = serde_json::from_slice(&std::fs::read(f.truth_path.unwrap()).unwrap()).unwrap();
            (f.path, t)
        })
        .collect()
}

fn hex(c: &str) -> [u8; 3] {
    let v = u32::from_str_radix(&c[1..], 16).unwrap();
    [(v >> 16) as u8, (v >> 8) as u8, v as u8]
}

/// Generated wafer sort: yields are the truth's exactly; the offset site and test are
/// the only location shift flagged; the signature dies carry their bins on the map, and
/// the PNG pixel at each checked die's centre has its bin's colour.
#[test]
fn generator_truth_yields_sites_and_maps() {
    let dir = tempfile::tempdir().unwrap();
    let files = gen_ws(&dir.path().join("in"), 41, 3, 0.3);
    let lake = dir.path().join("lake");
    ingest(&lake, &files.iter().map(|f| f.0.clone()).collect::<Vec<_>>());
    let lot = files[0].1["lot_id"].as_str().unwrap().to_string();
    rt().block_on(async {
        let ctx = session(&lake, &QueryConfig::default()).await.unwrap();
        let y = answers::yields(&ctx, By::Wafer, Some(&lot)).await.unwrap();
        let t = &y.tables.yields;
        let grp = strs(t, "grp");
        for (_, truth) in &files {
            let tr = &truth["truth"];
            let w = tr["wafer_id"].as_str().unwrap();
            let i = grp.iter().position(|g| g == &format!("{lot}/{w}")).unwrap();
            assert_eq!(u64s(t, "units")[i], tr["dies"].as_u64().unwrap(), "{w} dies");
            assert_eq!(u64s(t, "final_pass")[i], tr["dies_final_pass"].as_u64().unwrap(), "{w} final pass");
            assert_eq!(u64s(t, "first_pass")[i], tr["first_pass"].as_u64().unwrap(), "{w} first pass");
            assert_eq!(u64s(t, "touches")[i], tr["prr_records"].as_u64().unwrap(), "{w} PRRs");
            let fy = t.column_by_name("final_yield").unwrap().as_primitive::<Float64Type>().value(i);
            assert!((fy - tr["true_yield"].as_f64().unwrap()).abs() < 1e-12);
        }
        // The generator's summaries are consistent: every tester count agrees.
        let agrees = y.checks.column_by_name("agrees").unwrap().as_boolean();
        assert!(y.checks.num_rows() > 0 && agrees.true_count() == y.checks.num_rows());

        let tr = &files[0].1["truth"];
        let site = format!("1/{}", tr["offset_site"].as_u64().unwrap());
        let s = answers::site_to_site(&ctx, Some(&lot), &ShiftConfig::default()).await.unwrap();
        let sh = &s.shifts;
        let flagged = sh.column_by_name("flagged").unwrap().as_boolean();
        let tn = sh.column_by_name("test_num").unwrap().as_primitive::<UInt32Type>();
        let sites = strs(sh, "site");
        let hits: Vec<(u32, String)> = (0..sh.num_rows()).filter(|i| flagged.value(*i)).map(|i| (tn.value(i), sites[i].clone())).collect();
        assert_eq!(hits, vec![(tr["offset_test_num"].as_u64().unwrap() as u32, site)], "only the injected site offset is flagged");
        let ind = s.independence.unwrap();
        assert!(ind.p_value > 0.001, "pass/fail does not depend on the site here: {ind:?}");

        let maps = answers::wafer_maps(&ctx, &lot, None, BinKind::Hard, None).await.unwrap();
        assert_eq!(maps.len(), files.len());
        // The lot's `parts` files are read straight; a `parts` table that is not files
        // goes through SQL. Both give the same maps, retests included.
        let mem = session(&lake, &QueryConfig::default()).await.unwrap();
        let rows = mem.sql("SELECT * FROM parts").await.unwrap().collect().await.unwrap();
        let table = datafusion::datasource::MemTable::try_new(rows[0].schema(), vec![rows]).unwrap();
        mem.deregister_table("parts").unwrap();
        mem.register_table("parts", std::sync::Arc::new(table)).unwrap();
        let via_sql = answers::wafer_maps(&mem, &lot, None, BinKind::Hard, None).await.unwrap();
        assert_eq!(serde_json::to_value(&via_sql).unwrap(), serde_json::to_value(&maps).unwrap());
        assert!(maps.iter().any(|m| m.dies.iter().any(|d| d.first_bin != d.bin)), "the lot has retested dies");
        for m in &maps {
            let truth = &files.iter().find(|f| f.1["truth"]["wafer_id"] == m.wafer_id.as_str()).unwrap().1["truth"];
            let reprobed_pass: Vec<(i64, i64)> = truth["reprobed"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|r| r[2] == 1)
                .map(|r| (r[0].as_i64().unwrap(), r[1].as_i64().unwrap()))
                .collect();
            let at = |x: i64, y: i64| m.dies.iter().find(|d| d.x as i64 == x && d.y as i64 == y).unwrap();
            let (img, layout) = draw_wafer(m, MapKind::Bins, "hard", None);
            let png = resvg::tiny_skia::Pixmap::decode_png(&img.png().unwrap()).unwrap();
            assert_eq!((png.width(), png.height()), (WIDTH, HEIGHT), "every map has the same size");
            let colours = bin_colours(m);
            let mut checked = 0;
            let mut check = |x: i64, y: i64, bin: u16| {
                let d = at(x, y);
                assert_eq!(d.bin, Some(bin), "die ({x}, {y}) of {}", m.wafer_id);
                let (px, py) = layout.die_centre(d.x, d.y);
                let p = png.pixel(px as u32, py as u32).unwrap();
                let want = hex(colours.iter().find(|c| c.0 == Some(bin)).unwrap().1);
                assert_eq!([p.red(), p.green(), p.blue()], want, "pixel of die ({x}, {y}) bin {bin} at ({px:.0}, {py:.0})");
                checked += 1;
            };
            for (sig, bin) in [("edge_ring", 5), ("centre_cluster", 3), ("scratch", 4)] {
                for xy in truth[sig].as_array().unwrap() {
                    let (x, y) = (xy[0].as_i64().unwrap(), xy[1].as_i64().unwrap());
                    if !reprobed_pass.contains(&(x, y)) {
                        check(x, y, bin);
                    }
                }
            }
            // Corners and orientation: +X to the right and +Y upwards (WCR R/U).
            let right = m.dies.iter().max_by_key(|d| (d.x, d.y)).unwrap();
            let left = m.dies.iter().min_by_key(|d| (d.x, d.y)).unwrap();
            let top = m.dies.iter().max_by_key(|d| (d.y, d.x)).unwrap();
            let bottom = m.dies.iter().min_by_key(|d| (d.y, d.x)).unwrap();
            assert!(layout.die_centre(right.x, right.y).0 > layout.die_centre(left.x, left.y).0);
            assert!(layout.die_centre(top.x, top.y).1 < layout.die_centre(bottom.x, bottom.y).1);
            for d in [right, left, top, bottom] {
                if let Some(b) = d.bin {
                    check(d.x as i64, d.y as i64, b);
                }
            }
            assert!(checked >= 3, "{} dies checked on {}", checked, m.wafer_id);
        }
    });
}

/// The SQL functions and `stats` give the same numbers from one implementation: Ppk is
/// `cpk(avg, stddev, lo, hi)` and robust sigma is `robust_sigma(result)`; with one
/// subgroup per group (by wafer), Cpk equals Ppk.
#[test]
fn stats_agree_with_the_sql_functions() {
    let dir = tempfile::tempdir().unwrap();
    let files = gen_ws(&dir.path().join("in"), 43, 2, 0.1);
    let lake = dir.path().join("lake");
    ingest(&lake, &files.iter().map(|f| f.0.clone()).collect::<Vec<_>>());
    rt().block_on(async {
        let ctx = session(&lake, &QueryConfig::default()).await.unwrap();
        for (by, grp) in [(By::Lot, "lot_id"), (By::Wafer, "lot_id || '/' || wafer_id")] {
            let st = answers::param_stats(&ctx, by, None, &[]).await.unwrap();
            let sql = format!(
                "SELECT {grp} AS grp, test_num, test_name, cpk(avg(CAST(result AS DOUBLE)), stddev(CAST(result AS DOUBLE)), CAST(first_value(lo_limit) AS DOUBLE), CAST(first_value(hi_limit) AS DOUBLE)) AS ppk, \
                 robust_sigma(CAST(result AS DOUBLE)) AS rs, count(result) AS n FROM results_final WHERE rec_type = 'P' AND valid GROUP BY 1, 2, 3"
            );
            let rows = ctx.sql(&sql).await.unwrap().collect().await.unwrap();
            let mut want: BTreeMap<(String, u32, String), (f64, f64, i64)> = BTreeMap::new();
            for b in &rows {
                let g = arrow::compute::cast(b.column(0), &arrow::datatypes::DataType::Utf8).unwrap();
                let nm = arrow::compute::cast(b.column(2), &arrow::datatypes::DataType::Utf8).unwrap();
                for i in 0..b.num_rows() {
                    want.insert(
                        (g.as_string::<i32>().value(i).into(), b.column(1).as_primitive::<UInt32Type>().value(i), nm.as_string::<i32>().value(i).into()),
                        (
                            b.column(3).as_primitive::<Float64Type>().value(i),
                            b.column(4).as_primitive::<Float64Type>().value(i),
                            b.column(5).as_primitive::<arrow::datatypes::Int64Type>().value(i),
                        ),
                    );
                }
            }
            let g = strs(&st, "grp");
            let nm = strs(&st, "test_name");
            let tn = st.column_by_name("test_num").unwrap().as_primitive::<UInt32Type>();
            let f = |c: &str, i: usize| st.column_by_name(c).unwrap().as_primitive::<Float64Type>().value(i);
            let mut matched = 0;
            for i in 0..st.num_rows() {
                let Some((ppk, rs, n)) = want.get(&(g[i].clone(), tn.value(i), nm[i].clone())) else { continue };
                assert_eq!(u64s(&st, "n")[i], *n as u64);
                assert!((f("ppk", i) - ppk).abs() <= 1e-9 * ppk.abs(), "{by:?} {}: ppk {} vs SQL {ppk}", nm[i], f("ppk", i));
                assert_eq!(f("robust_sigma", i), *rs, "{by:?} {}: robust sigma", nm[i]);
                if by == By::Wafer {
                    assert!((f("cpk", i) - f("ppk", i)).abs() <= 1e-9 * ppk.abs());
                }
                matched += 1;
            }
            assert!(matched >= 12, "{by:?}: {matched} tests compared");
        }
    });
}

fn yl(args: &[&str]) -> std::process::Output {
    assert_cmd::Command::cargo_bin("yieldlake").unwrap().args(args).output().unwrap()
}

/// A lot or wafer that does not exist, a test with no results, an empty lake and no
/// lake at all: a clear message and status 1.
#[test]
fn bad_requests_end_with_status_1() {
    let dir = tempfile::tempdir().unwrap();
    let files = gen_ws(&dir.path().join("in"), 44, 1, 0.05);
    let lake = dir.path().join("lake");
    ingest(&lake, &files.iter().map(|f| f.0.clone()).collect::<Vec<_>>());
    let lot = files[0].1["lot_id"].as_str().unwrap().to_string();
    let l = lake.to_str().unwrap();
    let out = dir.path().join("maps");
    let o = out.to_str().unwrap();
    let empty = dir.path().join("empty");
    ingest(&empty, &[]);
    let e = empty.to_str().unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["yield", "--lake", l, "--lot", "NO-SUCH-LOT"], "lot \"NO-SUCH-LOT\" is not in the lake"),
        (vec!["stats", "--lake", l, "--lot", "NO-SUCH-LOT"], "is not in the lake"),
        (vec!["wafermap", "--lake", l, "--lot", "NO-SUCH-LOT", "--out", o], "is not in the lake"),
        (vec!["wafermap", "--lake", l, "--lot", &lot, "--wafer", "W99", "--out", o], "wafer \"W99\" is not in lot"),
        (vec!["wafermap", "--lake", l, "--lot", &lot, "--test", "NO_SUCH_TEST", "--out", o], "has no results"),
        (vec!["stats", "--lake", l, "--test", "NO_SUCH_TEST"], "no results for test NO_SUCH_TEST"),
        (vec!["yield", "--lake", e], "the lake has no files yet"),
        (vec!["stats", "--lake", e], "the lake has no files yet"),
        (vec!["yield", "--lake", o], "is not a yieldlake lake"),
    ];
    for (args, msg) in cases {
        let r = yl(&args);
        let err = String::from_utf8_lossy(&r.stderr);
        assert_eq!(r.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains(msg), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

/// The commands' outputs: JSON parses, CSV has a header, G85 counts agree with the map,
/// and the PNG written is the rendering of the SVG written.
#[test]
fn commands_write_readable_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let files = gen_ws(&dir.path().join("in"), 45, 2, 0.05);
    let lake = dir.path().join("lake");
    ingest(&lake, &files.iter().map(|f| f.0.clone()).collect::<Vec<_>>());
    let lot = files[0].1["lot_id"].as_str().unwrap().to_string();
    let l = lake.to_str().unwrap();
    let r = yl(&["yield", "--lake", l, "--by", "site", "--json"]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let v: Value = serde_json::from_slice(&r.stdout).unwrap();
    assert!(v["site_to_site"]["independence"]["method"].as_str().is_some());
    let r = yl(&["stats", "--lake", l, "--format", "csv"]);
    assert!(r.status.success());
    assert!(String::from_utf8_lossy(&r.stdout).starts_with("grp,test_num,test_name,n,mean,sd"));
    let out = dir.path().join("maps");
    let r = yl(&[
        "wafermap",
        "--lake",
        l,
        "--lot",
        &lot,
        "--stacked",
        "--retest",
        "--test",
        "IDDQ_0",
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let v: Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 3, "two wafers and the stacked map");
    for w in v.as_array().unwrap() {
        for f in w["files"].as_array().unwrap() {
            let f = PathBuf::from(f.as_str().unwrap());
            if f.extension().is_some_and(|e| e == "svg") {
                // The PNG is drawn straight from the map, not from the SVG: its pixels must
                // be resvg's rendering of the SVG, every one of them.
                let ours = resvg::tiny_skia::Pixmap::decode_png(&std::fs::read(f.with_extension("png")).unwrap()).unwrap();
                let theirs = resvg::tiny_skia::Pixmap::decode_png(&svg_to_png(&std::fs::read_to_string(&f).unwrap()).unwrap()).unwrap();
                assert_eq!((ours.width(), ours.height()), (theirs.width(), theirs.height()));
                let differ = ours.pixels().iter().zip(theirs.pixels()).filter(|(a, b)| a != b).count();
                assert_eq!(differ, 0, "{}: {differ} pixels differ from resvg's rendering of its SVG", f.display());
            }
            if f.to_string_lossy().ends_with(".g85.xml") {
                let xml = std::fs::read_to_string(&f).unwrap();
                let declared: u64 = xml.split("BinCount=\"").skip(1).map(|s| s[..s.find('"').unwrap()].parse::<u64>().unwrap()).sum();
                assert_eq!(declared, w["dies"].as_u64().unwrap(), "{}", f.display());
            }
        }
    }
}

/// Final test: yields per insertion equal the truth, and the chain's parts passing every
/// insertion so far equal the truth's (a part fails an insertion when it failed first
/// and its retest did not pass).
#[test]
fn final_test_insertions_and_their_chain() {
    let dir = tempfile::tempdir().unwrap();
    let r = generate(
        &GenOptions {
            profile: Profile::AutoIcFt,
            out: dir.path().join("in"),
            lots: 1,
            wafers: 2,
            seed: 46,
            scale: 0.3,
            order: ByteOrder::Little,
            compression: Compression::None,
            sites: None,
            tests: Some(10),
            history: false,
            qual_stresses: 5,
        },
        |_| {},
    )
    .unwrap();
    let lake = dir.path().join("lake");
    ingest(&lake, &r.files.iter().map(|f| f.path.clone()).collect::<Vec<_>>());
    let truths: Vec<Value> =
        r.files.iter().map(|f| serde_json::from_slice(&std::fs::read(f.truth_path.as_ref().unwrap()).unwrap()).unwrap()).collect();
    rt().block_on(async {
        let ctx = session(&lake, &QueryConfig::default()).await.unwrap();
        let y = answers::yields(&ctx, By::Insertion, None).await.unwrap().tables.yields;
        let chain = answers::insertion_chain(&ctx, None).await.unwrap();
        let ins = strs(&chain, "insertion");
        let mut failed_any: std::collections::BTreeSet<String> = Default::default();
        for (k, t) in truths.iter().enumerate() {
            let it = &t["truth"]["insertion"];
            let name = it["insertion"].as_str().unwrap();
            let i = strs(&y, "grp").iter().position(|g| g.contains(&format!("/{name}"))).unwrap();
            assert_eq!(u64s(&y, "units")[i], it["parts"].as_u64().unwrap(), "{name} parts");
            assert_eq!(u64s(&y, "final_pass")[i], it["final_pass"].as_u64().unwrap(), "{name} final pass");
            assert_eq!(u64s(&y, "touches")[i], it["prr_records"].as_u64().unwrap(), "{name} PRRs");
            let passed_retest: Vec<&str> = it["retest_passed"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
            for s in it["failed_first"].as_array().unwrap() {
                if !passed_retest.contains(&s.as_str().unwrap()) {
                    failed_any.insert(s.as_str().unwrap().to_string());
                }
            }
            let j = ins.iter().position(|x| x.contains(name)).unwrap();
            assert_eq!(
                chain.column_by_name("step").unwrap().as_primitive::<UInt32Type>().value(j),
                k as u32 + 1,
                "{name} is step {}",
                k + 1
            );
            let parts = it["parts"].as_u64().unwrap();
            assert_eq!(
                u64s(&chain, "passed_all_so_far")[j],
                parts - failed_any.len() as u64,
                "{name}: parts passing every insertion so far"
            );
        }
    });
}

/// The SQL table functions return what the library calls return, and refuse bad
/// arguments with a message.
#[test]
fn sql_table_functions_equal_the_library() {
    let dir = tempfile::tempdir().unwrap();
    let files = gen_ws(&dir.path().join("in"), 47, 2, 0.05);
    let lake = dir.path().join("lake");
    ingest(&lake, &files.iter().map(|f| f.0.clone()).collect::<Vec<_>>());
    let lot = files[0].1["lot_id"].as_str().unwrap().to_string();
    rt().block_on(async {
        let ctx = session(&lake, &QueryConfig::default()).await.unwrap();
        let pretty = |b: &[RecordBatch]| arrow::util::pretty::pretty_format_batches(b).unwrap().to_string();
        let sql = |q: String| {
            let ctx = ctx.clone();
            async move { ctx.sql(&q).await.unwrap().collect().await.unwrap() }
        };
        let y = answers::yields(&ctx, By::Wafer, Some(&lot)).await.unwrap();
        assert_eq!(pretty(&sql(format!("SELECT * FROM yield_by('wafer', '{lot}')")).await), pretty(std::slice::from_ref(&y.tables.yields)));
        assert_eq!(pretty(&sql(format!("SELECT * FROM bins_by('wafer', '{lot}')")).await), pretty(std::slice::from_ref(&y.tables.bins)));
        assert_eq!(pretty(&sql(format!("SELECT * FROM summary_checks('{lot}')")).await), pretty(std::slice::from_ref(&y.checks)));
        let st = answers::param_stats(&ctx, By::Site, None, &[]).await.unwrap();
        assert_eq!(pretty(&sql("SELECT * FROM test_stats('site')".into()).await), pretty(&[st]));
        for (q, msg) in [
            ("SELECT * FROM yield_by('nope')", "unknown grouping"),
            ("SELECT * FROM test_stats('tester')", "lot, wafer or site"),
            ("SELECT * FROM yield_by(3)", "string literals"),
            ("SELECT * FROM yield_by('lot', 'NO-SUCH-LOT')", "is not in the lake"),
        ] {
            let err = match ctx.sql(q).await {
                Err(e) => e.to_string(),
                Ok(df) => df.collect().await.unwrap_err().to_string(),
            };
            assert!(err.contains(msg), "{q}: {err}");
        }
    });
}
