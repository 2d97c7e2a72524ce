//! The answer commands against DuckDB and against plain reads, measured in one run:
//! - `yield` (yields, bin Paretos, summary checks) and `stats` over the benchmark lake
//!   (>= 100 M results) against DuckDB computing the same numbers with SQL on the same
//!   Parquet files (targets: ratio <= 1.2);
//! - `wafermap` (bin maps as SVG and PNG, and G85) for a 25-wafer lot of ~10,000 dies
//!   per wafer, against reading that lot's `parts` rows (target: ratio <= 2, and under
//!   3 s of CPU);
//! - `pat --dynamic --gdbn` on every test of a 25-wafer lot of ~10,000 dies × 200 tests,
//!   against one full SQL scan of that lot's `results` (the columns PAT reads; target:
//!   ratio <= 2);
//! - `qual` on a plan of 10 stresses x 4 readpoints x 3 lots x 77 units (target: under
//!   2 s), against one SQL read of the same parts and results;
//! - `report lot` (HTML, PDF and JSON) for the 25-wafer lot of ~10,000 dies per wafer,
//!   against `yield` + `stats` + `wafermap` on that lot (target: ratio <= 3);
//! - `nightly` with nothing new over a lake of 1,000 files (target: under 1 s).
//!
//! `cargo bench --bench analysis` (env: BENCH_RUNS=3, PYTHON=.venv/bin/python).

#[path = "common/mod.rs"]
mod common;

use std::time::Instant;

use rayon::prelude::*;
use yieldlake::analysis::pat::{GdbnConfig, PatConfig};
use yieldlake::query::answers::{self, BinKind, By};
use yieldlake::query::screens::{self, PatRequest};
use yieldlake::query::{QueryConfig, session};
use yieldlake::report::g85::write_g85;
use yieldlake::report::wafermap::{MapKind, draw_wafer};

/// DuckDB's yield, bins and tester-summary checks: the same counts as `answers::yields`
/// (units keyed as ours, and the PRR counts next to WRR, HBR/SBR and PCR).
const DUCK_YIELD: &str = "
WITH f AS (SELECT *, row_number() OVER (ORDER BY start_t ASC NULLS FIRST, finish_t ASC NULLS FIRST, file_id) AS file_ord FROM files),
t AS (SELECT p.lot_id || '/' || coalesce(p.wafer_id, '') AS grp, p.lot_id || '|' || CASE WHEN f.stage = 'wafer_sort' THEN '' ELSE f.insertion END AS scope,
      coalesce(p.touch_key, p.file_id || ':' || CAST(p.part_seq AS VARCHAR)) AS k, f.file_ord, p.part_seq, p.pass_fail, p.hard_bin, p.soft_bin
      FROM parts p JOIN f ON p.file_id = f.file_id),
u AS (SELECT grp, scope, k, arg_min(pass_fail, (file_ord, part_seq)) AS first_pf, arg_max(pass_fail, (file_ord, part_seq)) AS last_pf,
      arg_max(hard_bin, (file_ord, part_seq)) AS hb, arg_max(soft_bin, (file_ord, part_seq)) AS sb FROM t GROUP BY grp, scope, k),
y AS (SELECT grp, count(*) AS units, count_if(first_pf = 'pass') AS first_pass, count_if(last_pf = 'pass') AS final_pass,
      count_if(first_pf = 'fail' AND last_pf = 'pass') AS recovered, count_if(k LIKE 'w:%') AS dies FROM u GROUP BY grp),
tc AS (SELECT grp, count(*) AS touches, count_if(pass_fail = 'pass') AS tp, count_if(pass_fail = 'fail') AS tf FROM t GROUP BY grp),
bt AS (SELECT grp, 'H' AS ty, hard_bin AS bin, count(*) AS n FROM t GROUP BY ALL UNION ALL SELECT grp, 'S', soft_bin, count(*) FROM t GROUP BY ALL),
bf AS (SELECT grp, 'H' AS ty, hb AS bin, count(*) AS n FROM u GROUP BY ALL UNION ALL SELECT grp, 'S', sb, count(*) FROM u GROUP BY ALL),
pr AS (SELECT file_id, wafer_id, 'head ' || coalesce(CAST(head_num AS VARCHAR), '?') || ' site ' || coalesce(CAST(site_num AS VARCHAR), '?') AS site,
       pass_fail = 'pass' AS good, 'bin ' || coalesce(CAST(hard_bin AS VARCHAR), 'none') AS hb, 'bin ' || coalesce(CAST(soft_bin AS VARCHAR), 'none') AS sb FROM parts),
d AS (SELECT file_id, 'WRR' AS rec, 'wafer ' || wafer_id AS scope, 'part_cnt' AS field, count(*) AS n FROM pr WHERE wafer_id IS NOT NULL GROUP BY ALL
      UNION ALL SELECT file_id, 'WRR', 'wafer ' || wafer_id, 'good_cnt', count_if(good) FROM pr WHERE wafer_id IS NOT NULL GROUP BY ALL
      UNION ALL SELECT file_id, 'HBR', 'overall', hb, count(*) FROM pr GROUP BY ALL
      UNION ALL SELECT file_id, 'HBR', site, hb, count(*) FROM pr GROUP BY ALL
      UNION ALL SELECT file_id, 'SBR', 'overall', sb, count(*) FROM pr GROUP BY ALL
      UNION ALL SELECT file_id, 'SBR', site, sb, count(*) FROM pr GROUP BY ALL
      UNION ALL SELECT file_id, 'PCR', 'overall', 'part_cnt', count(*) FROM pr GROUP BY ALL
      UNION ALL SELECT file_id, 'PCR', 'overall', 'good_cnt', count_if(good) FROM pr GROUP BY ALL
      UNION ALL SELECT file_id, 'PCR', site, 'part_cnt', count(*) FROM pr GROUP BY ALL
      UNION ALL SELECT file_id, 'PCR', site, 'good_cnt', count_if(good) FROM pr GROUP BY ALL),
c AS (SELECT file_id, 'WRR' AS rec, 'wafer ' || wafer_id AS scope, 'part_cnt' AS field, part_cnt AS n FROM wafers WHERE part_cnt IS NOT NULL
      UNION ALL SELECT file_id, 'WRR', 'wafer ' || wafer_id, 'good_cnt', good_cnt FROM wafers WHERE good_cnt IS NOT NULL
      UNION ALL SELECT file_id, CASE WHEN bin_type = 'H' THEN 'HBR' ELSE 'SBR' END,
        CASE WHEN overall THEN 'overall' ELSE 'head ' || coalesce(CAST(head_num AS VARCHAR), '?') || ' site ' || coalesce(CAST(site_num AS VARCHAR), '?') END,
        'bin ' || CAST(bin_num AS VARCHAR), bin_count FROM bins WHERE bin_count IS NOT NULL
      UNION ALL SELECT file_id, 'PCR', CASE WHEN CAST(json_extract(fields, '$.HEAD_NUM') AS INT) = 255 THEN 'overall'
        ELSE 'head ' || CAST(json_extract(fields, '$.HEAD_NUM') AS VARCHAR) || ' site ' || CAST(json_extract(fields, '$.SITE_NUM') AS VARCHAR) END,
        'part_cnt', CAST(json_extract(fields, '$.PART_CNT') AS BIGINT) FROM other_records WHERE rec_type = 'PCR')
SELECT (SELECT count(*) FROM y JOIN tc USING (grp)) + (SELECT count(*) FROM bt FULL JOIN bf USING (grp, ty, bin))
     + (SELECT count(*) FROM c FULL JOIN d USING (file_id, rec, scope, field))";

/// DuckDB's parametric statistics per lot and test: the same numbers as `stats`.
const DUCK_STATS: &str = "
WITH r AS (SELECT r.lot_id AS grp, r.file_id, p.wafer_index, r.test_num,
           CASE WHEN r.rec_type = 'M' THEN r.test_name || '[' || CAST(r.pin_index AS VARCHAR) || ']' ELSE r.test_name END AS test_name,
           CAST(r.result AS DOUBLE) AS v, r.lo_limit, r.hi_limit, r.valid, r.alarm
           FROM results r JOIN parts p ON r.file_id = p.file_id AND r.part_seq = p.part_seq WHERE p.is_final),
s AS (SELECT grp, test_num, test_name, sum((v - m) * (v - m)) AS ss, count(*) - 1 AS df FROM
        (SELECT *, avg(v) OVER (PARTITION BY grp, test_num, test_name, file_id, wafer_index) AS m FROM r WHERE valid AND isfinite(v)) GROUP BY ALL),
a AS (SELECT grp, test_num, test_name, count(*) FILTER (WHERE valid AND isfinite(v)) AS n, avg(v) FILTER (WHERE valid AND isfinite(v)) AS mean,
        stddev_samp(v) FILTER (WHERE valid AND isfinite(v)) AS sd, min(v) FILTER (WHERE valid AND isfinite(v)) AS mn, max(v) FILTER (WHERE valid AND isfinite(v)) AS mx,
        quantile_cont(v, [0.001, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 0.999]) FILTER (WHERE valid AND isfinite(v)) AS q,
        count_if(valid AND v < lo_limit) AS below, count_if(valid AND v > hi_limit) AS above, count_if(NOT valid OR v IS NULL) AS invalid,
        count_if(alarm) AS alarms, first(lo_limit) AS lo, first(hi_limit) AS hi FROM r GROUP BY ALL)
SELECT count(*), sum((q[6] - q[4]) / 1.35), sum(least(hi - mean, mean - lo) / (3 * sqrt(ss / df))) FROM a JOIN s USING (grp, test_num, test_name)";

fn duck(lake: &std::path::Path, sql: &str, runs: usize) -> Option<f64> {
    let script = "import duckdb, sys, time\ncon = duckdb.connect()\ncon.execute('SET enable_progress_bar = false')\nlake = sys.argv[1]\n\
for t in ['parts', 'results', 'files', 'wafers', 'bins', 'other_records']:\n    con.execute(f\"CREATE VIEW {t} AS SELECT * FROM read_parquet('{lake}/{t}/**/*.parquet', hive_partitioning = true)\")\n\
best = 1e9\nfor _ in range(int(sys.argv[3])):\n    t = time.perf_counter(); con.execute(sys.argv[2]).fetchall(); best = min(best, time.perf_counter() - t)\nprint(best)\n";
    let o = std::process::Command::new(common::python()).args(["-c", script]).arg(lake).arg(sql).arg(runs.to_string()).output().ok()?;
    if !o.status.success() {
        eprintln!("duckdb failed: {}", String::from_utf8_lossy(&o.stderr));
        return None;
    }
    String::from_utf8_lossy(&o.stdout).trim().parse().ok()
}

fn best<F: FnMut()>(runs: usize, mut f: F) -> f64 {
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::MAX, f64::min)
}

/// What `wafermap` writes for each wafer: the bin map as SVG and PNG, and its G85 file.
/// (`png: false` leaves the PNG out, to show what resvg's share is.)
fn write_maps(maps: &[yieldlake::analysis::wafermap::WaferMap], out: &std::path::Path, png: bool) {
    maps.par_iter().for_each(|m| {
        let (img, _) = draw_wafer(m, MapKind::Bins, "hard", None);
        let stem = out.join(&m.wafer_id);
        std::fs::write(stem.with_extension("svg"), img.svg()).unwrap();
        if png {
            std::fs::write(stem.with_extension("png"), img.png().unwrap()).unwrap();
        }
        write_g85(m, &Default::default(), std::fs::File::create(stem.with_extension("g85.xml")).unwrap()).unwrap();
    });
}

fn main() {
    let runs: usize = std::env::var("BENCH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    println!("{:<44} {:>10} {:>10} {:>8}", format!("answer (best of {runs})"), "yieldlake", "peer", "ratio");
    if "yield stats".contains(only.as_str()) || only.is_empty() {
        let lake = common::query_lake();
        let ctx = rt.block_on(session(&lake, &QueryConfig::default())).unwrap();
        for (name, sql) in [("yield by wafer (+ bins, summary checks)", DUCK_YIELD), ("stats by lot", DUCK_STATS)] {
            if !only.is_empty() && !name.contains(only.as_str()) {
                continue;
            }
            let ours = best(runs, || {
                rt.block_on(async {
                    if name.starts_with("yield") {
                        answers::yields(&ctx, By::Wafer, None).await.unwrap();
                    } else {
                        answers::param_stats(&ctx, By::Lot, None, &[]).await.unwrap();
                    }
                })
            });
            match duck(&lake, sql, runs) {
                Some(d) => println!("{name:<44} {ours:>9.3}s {d:>9.3}s {:>7.2}x  (peer: DuckDB, same numbers; target <= 1.2)", ours / d),
                None => println!("{name:<44} {ours:>9.3}s {:>10}", "n/a"),
            }
            if name.starts_with("yield") {
                let checks = best(runs, || {
                    rt.block_on(answers::summary_checks(&ctx, None)).unwrap();
                });
                println!("{:<44} {checks:>9.3}s {:>10}", "  of which the summary checks", "");
            }
        }
    }
    if only.is_empty() || "wafermap".contains(only.as_str()) {
        // 3,000 dies per unit of scale: 25 wafers of ~10,000 dies.
        let lake = common::small_lake("map-lake", 25, 3.34, 4);
        let ctx = rt.block_on(session(&lake, &QueryConfig::default())).unwrap();
        let lot = "YL78-01";
        let read = best(runs, || {
            rt.block_on(async { ctx.sql(&format!("SELECT * FROM parts WHERE lot_id = '{lot}'")).await.unwrap().collect().await.unwrap() });
        });
        let out = common::bench_root().join("map-out");
        std::fs::create_dir_all(&out).unwrap();
        let cpu0 = common::cpu_seconds();
        let mut dies = 0;
        let mut data = f64::MAX;
        let ours = best(runs, || {
            let t = Instant::now();
            let maps = rt.block_on(answers::wafer_maps(&ctx, lot, None, BinKind::Hard, None)).unwrap();
            data = data.min(t.elapsed().as_secs_f64());
            dies = maps.iter().map(|m| m.dies.len()).sum();
            write_maps(&maps, &out, true);
        });
        let cpu = common::cpu_seconds().zip(cpu0).map(|(a, b)| (a - b) / runs as f64);
        let maps = rt.block_on(answers::wafer_maps(&ctx, lot, None, BinKind::Hard, None)).unwrap();
        let cpu0 = common::cpu_seconds();
        let drawing = best(runs, || write_maps(&maps, &out, true));
        let drawing_cpu = common::cpu_seconds().zip(cpu0).map(|(a, b)| (a - b) / runs as f64);
        let no_png = best(runs, || write_maps(&maps, &out, false));
        println!(
            "{:<44} {ours:>9.3}s {read:>9.3}s {:>7.2}x  (peer: reading the lot's parts rows; target <= 2; {dies} dies; CPU {} per run, target < 3 s)",
            "wafermap 25 wafers (SVG, PNG, G85)",
            ours / read,
            cpu.map(|c| format!("{c:.2} s")).unwrap_or("n/a".into())
        );
        println!(
            "{:<44} {data:>9.3}s {read:>9.3}s {:>7.2}x  (the maps' data: final and first touches of every die)",
            "  of which the dies from the lake",
            data / read
        );
        // CPU time spread perfectly over the cores is the least wall time drawing can take.
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) as f64;
        println!(
            "{:<44} {drawing:>9.3}s {read:>9.3}s {:>7.2}x  (CPU {} per run: on {cores} cores at least {} the read)",
            "  drawing and writing alone",
            drawing / read,
            drawing_cpu.map(|c| format!("{c:.3} s")).unwrap_or("n/a".into()),
            drawing_cpu.map(|c| format!("{:.2}x", c / cores / read)).unwrap_or("n/a".into())
        );
        println!("{:<44} {no_png:>9.3}s {read:>9.3}s {:>7.2}x  (SVG and G85 only)", "  drawing and writing without the PNG", no_png / read);
    }
    if only.is_empty() || "pat".contains(only.as_str()) {
        // 25 wafers of ~10,000 dies, 200 parametric tests: ~50 M results.
        let lake = common::small_lake("pat-lake", 25, 3.34, 200);
        let ctx = rt.block_on(session(&lake, &QueryConfig::default())).unwrap();
        let lot = "YL78-01";
        let mut rows = 0i64;
        let scan = best(runs, || {
            let b = rt.block_on(async {
                ctx.sql(&format!(
                    "SELECT count(*), sum(result), max(part_seq), max(test_key), max(lo_limit), min(hi_limit) FROM results WHERE lot_id = '{lot}' AND rec_type = 'P'"
                ))
                .await
                .unwrap()
                .collect()
                .await
                .unwrap()
            });
            rows = arrow::array::AsArray::as_primitive::<arrow::datatypes::Int64Type>(b[0].column(0)).value(0);
        });
        let req = PatRequest {
            cfg: PatConfig::default(),
            dynamic: true,
            limits: None,
            gdbn: Some(GdbnConfig::default()),
            nnr: None,
            zpat: None,
            maps: false,
        };
        let mut flagged = 0;
        let ours = best(runs, || {
            let run = rt.block_on(screens::pat(&ctx, lot, &req)).unwrap();
            flagged = run.outliers.num_rows();
        });
        println!(
            "{:<44} {ours:>9.3}s {scan:>9.3}s {:>7.2}x  (peer: one SQL scan of the lot's {rows} results; target <= 2; {flagged} flags)",
            "pat --dynamic --gdbn, 25 wafers x 200 tests",
            ours / scan
        );
        let load = best(runs, || {
            rt.block_on(screens::load(&ctx, &[lot.to_string()])).unwrap();
        });
        println!(
            "{:<44} {load:>9.3}s {scan:>9.3}s {:>7.2}x  (reading the parts, tests and passing values)",
            "  of which loading the values",
            load / scan
        );
        let maps = best(runs, || {
            rt.block_on(answers::wafer_maps(&ctx, lot, None, BinKind::Hard, None)).unwrap();
        });
        println!("{:<44} {maps:>9.3}s {scan:>9.3}s {:>7.2}x  (the maps GDBN works on)", "  of which the wafer maps", maps / scan);
    }
    if only.is_empty() || "qual".contains(only.as_str()) {
        let lake = common::qual_lake();
        let ctx = rt.block_on(session(&lake, &QueryConfig::default())).unwrap();
        let mut plan = String::from(
            "format = \"yieldlake-qual-plan/1\"\nid = \"BENCH\"\nproduct = \"YL-SIC1200-16\"\npackage = \"TO-247-4\"\ndevice_class = \"discrete\"\n\
             device_type = \"mosfet\"\nprofile = \"aec-q101\"\nlots = [\"YL79-Q01\", \"YL79-Q02\", \"YL79-Q03\"]\n\
             [use]\ntemperature_c = 55.0\nrh_pct = 60.0\ndelta_t_c = 55.0\n",
        );
        for st in yieldlake::generate::qual::STRESSES.iter() {
            plan.push_str(&format!(
                "[[stress]]\nname = \"{}\"\nunit = \"{}\"\nreadpoints = {:?}\nsample_size = 77\nconditions = {{ temperature_c = 150.0, rh_pct = 85.0, delta_t_c = 150.0 }}\n",
                st.name,
                st.unit,
                st.readpoints
            ));
        }
        for t in ["VGS_TH", "RDS_ON_10A", "RDS_ON_20A", "BVDSS", "VSD"] {
            plan.push_str(&format!("[[drift]]\ntest = \"{t}\"\n"));
        }
        for t in ["IDSS_80PCT_BV", "IGSS_POS", "IGSS_NEG"] {
            plan.push_str(&format!("[[drift]]\ntest = \"{t}\"\nleakage = true\n"));
        }
        let p = yieldlake::analysis::qual::plan::parse_plan(&plan, "bench-plan.toml").unwrap();
        let profile = yieldlake::query::qual::load_profile("aec-q101", std::path::Path::new(".")).unwrap();
        let path = std::path::Path::new("bench-plan.toml");
        let mut units = 0;
        let mut eval = None;
        let ours = best(runs, || {
            let e = rt.block_on(yieldlake::query::qual::qual(&ctx, &p, &plan, path, &profile)).unwrap();
            units = e.stresses.iter().map(|s| s.units).sum::<u32>();
            eval = Some(e);
        });
        let e = eval.expect("a run");
        let fits = best(runs, || {
            for s in e.stresses.iter().filter(|s| s.failed > 0) {
                let _ = yieldlake::analysis::reliability::weibull_fit(&s.observations, 0.9);
            }
        });
        let mut rows = 0;
        let scan = best(runs, || {
            let b = rt
                .block_on(async {
                    ctx.sql("SELECT p.part_id, p.passed, r.test_num, r.test_name, r.result, r.lo_limit, r.hi_limit FROM parts p JOIN results r ON r.file_id = p.file_id AND r.part_seq = p.part_seq")
                        .await?
                        .collect()
                        .await
                })
                .unwrap();
            rows = b.iter().map(|b| b.num_rows()).sum::<usize>();
        });
        println!(
            "{:<44} {ours:>9.3}s {scan:>9.3}s {:>7.2}x  (peer: one SQL read of the {rows} readings; target < 2 s; {units} units)",
            "qual, 10 stresses x 4 readpoints x 3 x 77",
            ours / scan
        );
        println!("{:<44} {fits:>9.3}s", "  of which the Weibull fits (LR bounds)");
    }
    if only.is_empty() || "report".contains(only.as_str()) {
        let lake = common::small_lake("map-lake", 25, 3.34, 4);
        let ctx = rt.block_on(session(&lake, &QueryConfig::default())).unwrap();
        let lot = "YL78-01";
        let out = common::bench_root().join("report-out");
        std::fs::create_dir_all(&out).unwrap();
        // The peer: the three answer commands' work on the lot (yield, stats, and the maps
        // as `wafermap` writes them: SVG, PNG, G85).
        let peer = best(runs, || {
            rt.block_on(async {
                answers::yields(&ctx, By::Wafer, Some(lot)).await.unwrap();
                answers::param_stats(&ctx, By::Lot, Some(lot), &[]).await.unwrap();
            });
            let maps = rt.block_on(answers::wafer_maps(&ctx, lot, None, BinKind::Hard, None)).unwrap();
            write_maps(&maps, &out, true);
        });
        let mut layout = f64::MAX;
        let ours = best(runs, || {
            let inp = yieldlake::report::lot::LotInputs {
                lot,
                quarantined: &[],
                generated_at: "bench",
                pat: &Default::default(),
                limits: None,
                syl: &Default::default(),
            };
            let r = rt.block_on(yieldlake::report::lot::lot_report(&ctx, &inp)).unwrap();
            let t = Instant::now();
            yieldlake::report::files::write(&out.join("lot"), &r.doc, &r.json).unwrap();
            layout = layout.min(t.elapsed().as_secs_f64());
        });
        println!(
            "{:<44} {ours:>9.3}s {peer:>9.3}s {:>7.2}x  (peer: yield + stats + wafermap on the lot; target <= 3; PDF: {})",
            "report lot, 25 wafers x ~10,000 dies",
            ours / peer,
            if cfg!(feature = "pdf") { "yes" } else { "no" }
        );
        println!(
            "{:<44} {layout:>9.3}s {peer:>9.3}s {:>7.2}x  (HTML, PDF and JSON from the laid-out report)",
            "  of which writing the files",
            layout / peer
        );
    }
    if only.is_empty() || "nightly".contains(only.as_str()) {
        // 1,000 one-wafer lots of ~9 dies, ingested by a first nightly run that builds no
        // report; then the measured runs, with nothing new.
        let root = common::bench_root().join("nightly-1000");
        let marker = root.join("_built");
        if !marker.exists() {
            let _ = std::fs::remove_dir_all(&root);
            yieldlake::generate::generate(
                &yieldlake::generate::GenOptions {
                    profile: yieldlake::generate::Profile::AutoIcWs,
                    out: root.join("inbox"),
                    lots: 1000,
                    wafers: 1,
                    seed: 80,
                    scale: 0.003,
                    order: yieldlake::stdf::ByteOrder::Little,
                    compression: yieldlake::stdf::Compression::None,
                    sites: None,
                    tests: Some(2),
                    history: false,
                    qual_stresses: 5,
                },
                |_| {},
            )
            .unwrap();
            std::fs::write(
                root.join("ops.toml"),
                "format = \"yieldlake-nightly/1\"\nlake = \"lake\"\nout = \"out\"\n[[inbox]]\ndir = \"inbox\"\npattern = \"*.stdf\"\n[reports]\nproducts = [\"none\"]\n",
            )
            .unwrap();
        }
        let nightly = || {
            let o = std::process::Command::new(env!("CARGO_BIN_EXE_yieldlake"))
                .args(["nightly", "--config", root.join("ops.toml").to_str().unwrap()])
                .output()
                .unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            String::from_utf8_lossy(&o.stdout).to_string()
        };
        if !marker.exists() {
            nightly();
            std::fs::write(&marker, b"").unwrap();
        }
        let files = yieldlake::lake::Manifest::load(&root.join("lake")).map(|m| m.live.len()).unwrap_or(0);
        let ours = best(runs, || {
            assert!(nightly().contains("no new files"));
        });
        println!(
            "{:<44} {ours:>9.3}s {:>10} {:>8}  (a lake of {files} files; target < 1 s, process start included)",
            "nightly, nothing new", "", ""
        );
    }
}
