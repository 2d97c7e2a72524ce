"""Interop: the lake opens in pyarrow, polars and DuckDB with nothing but hive
partitioning, and they agree with yieldlake's DataFusion on every table's row count
and on the sum of results.result. DuckDB, given the views' SQL from `yieldlake tables
--json`, agrees with our final_parts and results_final (a table provider on our side).

usage: python lake_readers.py YIELDLAKE_BIN LAKE_DIR
"""
import math
import sys

import duckdb
import polars as pl
import pyarrow.dataset as ds

from lakecheck import TABLES, check_views, ours, views


def main():
    exe, lake = sys.argv[1], sys.argv[2]
    failures = 0
    checks = 0
    con = duckdb.connect()
    for t in TABLES:
        glob = f"{lake}/{t}/**/*.parquet"
        want = ours(exe, lake, f"SELECT count(*) AS n FROM {t}")[0]["n"]
        got = {
            "pyarrow": ds.dataset(f"{lake}/{t}", format="parquet", partitioning="hive").count_rows(),
            "polars": pl.scan_parquet(glob, hive_partitioning=True).select(pl.len()).collect().item(),
            "duckdb": con.execute(f"SELECT count(*) FROM read_parquet('{glob}', hive_partitioning = true)").fetchone()[0],
        }
        for reader, n in got.items():
            checks += 1
            if n != want:
                failures += 1
                print(f"FAIL {t}: {reader} reads {n} rows, DataFusion {want}")
        print(f"  {t}: {want} rows in DataFusion, pyarrow, polars and DuckDB" if all(v == want for v in got.values()) else f"  {t}: {got}")
    # Sums of the measured values, and both the raw lot_id column and the lot directory key.
    glob = f"{lake}/results/**/*.parquet"
    want = ours(exe, lake, "SELECT sum(CAST(result AS DOUBLE)) AS s, count(DISTINCT lot_id) AS lots FROM results")[0]
    sums = {
        "pyarrow": ds.dataset(f"{lake}/results", format="parquet", partitioning="hive").to_table(columns=["result"]).column("result").cast("float64").to_pandas().sum(),
        "polars": pl.scan_parquet(glob, hive_partitioning=True).select(pl.col("result").cast(pl.Float64).sum()).collect().item(),
        "duckdb": con.execute(f"SELECT sum(CAST(result AS DOUBLE)) FROM read_parquet('{glob}', hive_partitioning = true)").fetchone()[0],
    }
    for reader, s in sums.items():
        checks += 1
        if not math.isclose(s, want["s"], rel_tol=1e-9, abs_tol=1e-9):
            failures += 1
            print(f"FAIL results.result sum: {reader} {s!r} vs DataFusion {want['s']!r}")
    print(f"  sum(results.result) = {want['s']!r} in all four readers" if failures == 0 else "")
    lots = con.execute(f"SELECT count(DISTINCT lot_id), count(DISTINCT lot) FROM read_parquet('{glob}', hive_partitioning = true)").fetchone()
    checks += 1
    if lots[0] != want["lots"] or lots[1] != want["lots"]:
        failures += 1
        print(f"FAIL lot ids: DuckDB sees {lots[0]} lot_id values and {lots[1]} lot directories, DataFusion {want['lots']}")
    # The views, defined in DuckDB from their published SQL.
    for t in ["parts", "results", "files"]:
        con.execute(f"CREATE VIEW {t} AS SELECT * FROM read_parquet('{lake}/{t}/**/*.parquet', hive_partitioning = true)")
    for name, sql in views(exe, lake):
        con.execute(f"CREATE VIEW {name} AS {sql}")

    def run(q):
        cur = con.execute(q)
        return dict(zip([d[0] for d in cur.description], cur.fetchone()))

    c, f = check_views("DuckDB", exe, lake, run)
    checks += c
    failures += f
    print(f"lake interop: {checks - failures} passed, {failures} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
