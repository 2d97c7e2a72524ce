"""Interop: Apache Spark opens the lake with nothing but its default Parquet reader
(hive-style partition discovery) and agrees with yieldlake's DataFusion on every
table's row count, on the sum of results.result, and on the views defined from the
SQL that `yieldlake tables --json` publishes.

usage: python lake_spark.py YIELDLAKE_BIN LAKE_DIR
"""
import json
import math
import subprocess
import sys

from pyspark.sql import SparkSession

TABLES = ["files", "wafers", "parts", "results", "functional", "tests", "bins", "sites", "other_records"]


def ours(exe, lake, q):
    out = subprocess.run([exe, "sql", q, "--lake", lake, "--format", "json"], capture_output=True, text=True, check=True)
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def main():
    exe, lake = sys.argv[1], sys.argv[2]
    spark = (
        SparkSession.builder.master("local[2]")
        .appName("yieldlake-interop")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    failures = checks = 0
    for t in TABLES:
        df = spark.read.parquet(f"{lake}/{t}")
        df.createOrReplaceTempView(t)
        want = ours(exe, lake, f"SELECT count(*) AS n FROM {t}")[0]["n"]
        got = df.count()
        checks += 1
        if got != want:
            failures += 1
            print(f"FAIL {t}: Spark reads {got} rows, DataFusion {want}")
        else:
            print(f"  {t}: {want} rows in Spark and DataFusion")
    meta = json.loads(subprocess.run([exe, "tables", "--lake", lake, "--json"], capture_output=True, text=True, check=True).stdout)
    for v in meta["views"]:
        spark.sql(f"CREATE OR REPLACE TEMP VIEW {v['view']} AS {v['sql']}")
    probes = [
        "SELECT count(*) AS n, sum(CAST(result AS DOUBLE)) AS s, count(DISTINCT lot_id) AS lots FROM results",
        "SELECT count(*) AS n, sum(CAST(hard_bin AS BIGINT)) AS hb, count(DISTINCT touch_key) AS k FROM final_parts",
        "SELECT count(*) AS n, sum(abs(CAST(x AS BIGINT) - 7)) AS sx, sum(CAST(retest_index AS BIGINT)) AS ri, sum(CAST(result AS DOUBLE)) AS s FROM results_final",
        "SELECT count(*) AS n, sum(CAST(hard_bin AS BIGINT)) AS hb, sum(CASE WHEN passed THEN 1 ELSE 0 END) AS good FROM final_dies",
    ]
    for q in probes:
        want = ours(exe, lake, q)[0]
        row = spark.sql(q).collect()[0].asDict()
        checks += 1
        same = all(
            (math.isclose(float(row[k] or 0), float(want[k] or 0), rel_tol=1e-9, abs_tol=1e-9) if k == "s" else row[k] == want[k]) for k in want
        )
        if not same:
            failures += 1
            print(f"FAIL {q}: Spark {row}, DataFusion {want}")
        else:
            print(f"  Spark = ours: {q.split(' FROM ')[1]}: {want}")
    spark.stop()
    print(f"lake interop (Spark): {checks - failures} passed, {failures} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
