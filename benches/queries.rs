//! The query suite on a lake of at least 100 M results: our DataFusion session against
//! DuckDB reading the same Parquet files, with the same SQL text (the views are defined
//! identically in both). Prints best-of-5 (BENCH_RUNS) seconds per query and the ratio.
//!
//! `cargo bench --bench queries` (env: BENCH_RESULTS_M=100, PYTHON=.venv/bin/python).
//! The lake is built once under target/bench-data/query-lake and reused.

#[path = "common/mod.rs"]
mod common;

use std::time::Instant;

use yieldlake::lake::Manifest;
use yieldlake::query::{self, QueryConfig};

const QUERIES: &[(&str, &str)] = &[
    (
        "yield per wafer",
        "SELECT lot_id, wafer_id, count(*) AS dies, avg(CASE WHEN passed THEN 1.0 ELSE 0.0 END) AS yield \
         FROM final_parts WHERE wafer_id IS NOT NULL GROUP BY lot_id, wafer_id ORDER BY lot_id, wafer_id",
    ),
    ("bin Pareto per lot", "SELECT lot_id, hard_bin, count(*) AS n FROM final_parts GROUP BY lot_id, hard_bin ORDER BY lot_id, n DESC"),
    (
        "per-test mean, sd, Cpk per wafer",
        "SELECT wafer_id, test_num, avg(result) AS mean, stddev(result) AS sd, \
         least(max(hi_limit) - avg(result), avg(result) - min(lo_limit)) / (3 * stddev(result)) AS cpk \
         FROM results_final GROUP BY wafer_id, test_num ORDER BY wafer_id, test_num",
    ),
    (
        "results_final for one test",
        "SELECT count(*) AS n, avg(result) AS mean, min(result) AS lo, max(result) AS hi FROM results_final WHERE test_num = 1100",
    ),
];

fn main() {
    let lake = common::query_lake();
    let m = Manifest::load(&lake).unwrap();
    println!("lake: {} results, {} parts, {} files", m.rows("results"), m.rows("parts"), m.live.len());

    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let ctx = rt.block_on(query::session(&lake, &QueryConfig::default())).unwrap();
    // BENCH_ONLY=pareto runs the queries whose name contains it (for profiling).
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let extra: Vec<(&str, &str)> = match std::env::var("BENCH_SQL") {
        Ok(q) => vec![("BENCH_SQL", Box::leak(q.into_boxed_str()))],
        Err(_) => vec![],
    };
    let queries: Vec<&(&str, &str)> = QUERIES.iter().chain(extra.iter()).filter(|q| q.0.contains(only.as_str())).collect();
    let runs: usize = std::env::var("BENCH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(5);
    let mut ours = Vec::new();
    for (name, q) in &queries {
        let mut best = f64::MAX;
        let mut rows = 0;
        for _ in 0..runs {
            let t = Instant::now();
            let b = rt.block_on(async { query::query(&ctx, q, false).await.unwrap().collect().await.unwrap() });
            best = best.min(t.elapsed().as_secs_f64());
            rows = b.iter().map(|b| b.num_rows()).sum::<usize>();
        }
        ours.push((name, best, rows));
    }

    let python = common::python();
    let mut script = String::from(
        "import duckdb, json, sys, time\ncon = duckdb.connect()\ncon.execute('SET enable_progress_bar = false')\nlake = sys.argv[1]\n",
    );
    script.push_str("for t in ['parts', 'results', 'files']:\n    con.execute(f\"CREATE VIEW {t} AS SELECT * FROM read_parquet('{lake}/{t}/**/*.parquet', hive_partitioning = true)\")\n");
    for (name, _, sql) in query::VIEWS {
        script.push_str(&format!("con.execute({:?})\n", format!("CREATE VIEW {name} AS {sql}")));
    }
    script.push_str("out = []\nfor q in json.loads(sys.argv[2]):\n    best = 1e9\n    for _ in range(int(sys.argv[3])):\n        t = time.perf_counter(); r = con.execute(q).fetchall(); best = min(best, time.perf_counter() - t)\n    out.append([best, len(r)])\nprint(json.dumps(out))\n");
    let qs = serde_json::to_string(&queries.iter().map(|q| q.1).collect::<Vec<_>>()).unwrap();
    let duck: Option<Vec<(f64, usize)>> = std::process::Command::new(&python)
        .args(["-c", &script])
        .arg(&lake)
        .arg(&qs)
        .arg(runs.to_string())
        .output()
        .ok()
        .filter(|o| {
            o.status.success() || {
                eprintln!("duckdb failed: {}", String::from_utf8_lossy(&o.stderr));
                false
            }
        })
        .and_then(|o| String::from_utf8_lossy(&o.stdout).lines().last().and_then(|l| serde_json::from_str(l).ok()));
    println!("{:<34} {:>10} {:>10} {:>8}  rows", format!("query (best of {runs})"), "DataFusion", "DuckDB", "ratio");
    for (i, (name, t, rows)) in ours.iter().enumerate() {
        match &duck {
            Some(d) => {
                let (td, rd) = d[i];
                println!(
                    "{:<34} {:>9.3}s {:>9.3}s {:>7.2}x  {rows}{}",
                    name,
                    t,
                    td,
                    t / td,
                    if rd == *rows { "" } else { "  (row counts differ!)" }
                );
            }
            None => println!("{:<34} {:>9.3}s {:>10}", name, t, "n/a"),
        }
    }
    println!("(ratio = our time / DuckDB's; target <= 1.0 per query)");
}
