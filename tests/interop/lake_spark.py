"""Interop: Apache Spark opens the lake with nothing but its default Parquet reader
(hive-style partition discovery) and agrees with yieldlake's DataFusion on every
table's row count, on the sum of results.result, and on the views defined from the
SQL that `yieldlake tables --json` publishes.

usage: python lake_spark.py YIELDLAKE_BIN LAKE_DIR
"""
import math
import sys

from pyspark.sql import SparkSession

from lakecheck import TABLES, check_views, ours, views


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
    for name, sql in views(exe, lake):
        spark.sql(f"CREATE OR REPLACE TEMP VIEW {name} AS {sql}")
    q = "SELECT count(*) AS n, sum(CAST(result AS DOUBLE)) AS s, count(DISTINCT lot_id) AS lots FROM results"
    want, got = ours(exe, lake, q)[0], spark.sql(q).collect()[0].asDict()
    checks += 1
    if got["n"] != want["n"] or got["lots"] != want["lots"] or not math.isclose(got["s"], want["s"], rel_tol=1e-9, abs_tol=1e-9):
        failures += 1
        print(f"FAIL {q}: Spark {got}, DataFusion {want}")
    c, f = check_views("Spark", exe, lake, lambda q: spark.sql(q).collect()[0].asDict())
    checks += c
    failures += f
    spark.stop()
    print(f"lake interop (Spark): {checks - failures} passed, {failures} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
