"""What the lake interop scripts share: asking yieldlake, the views' published SQL, and
the probes every other engine must answer exactly as DataFusion does."""
import json
import math
import subprocess

TABLES = ["files", "wafers", "parts", "results", "functional", "tests", "bins", "sites", "other_records"]

# Counts and integer sums must be equal; `s` (a float sum) equal within 1e-9.
VIEW_PROBES = [
    "SELECT count(*) AS n, sum(CAST(hard_bin AS BIGINT)) AS hb, count(DISTINCT touch_key) AS k FROM final_parts",
    "SELECT count(*) AS n, sum(abs(CAST(x AS BIGINT) - 7)) AS sx, sum(CAST(retest_index AS BIGINT)) AS ri, sum(CAST(result AS DOUBLE)) AS s FROM results_final",
    "SELECT count(*) AS n, sum(CAST(result AS DOUBLE)) AS s FROM results_final WHERE test_num = (SELECT min(test_num) FROM results)",
    "SELECT count(*) AS n, sum(CAST(hard_bin AS BIGINT)) AS hb, sum(CASE WHEN passed THEN 1 ELSE 0 END) AS good FROM final_dies",
]


def ours(exe, lake, q):
    """Rows of `yieldlake sql` as dicts."""
    out = subprocess.run([exe, "sql", q, "--lake", lake, "--format", "json"], capture_output=True, text=True, check=True)
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def views(exe, lake):
    """(name, SQL) of every view, as `yieldlake tables --json` publishes them."""
    meta = json.loads(subprocess.run([exe, "tables", "--lake", lake, "--json"], capture_output=True, text=True, check=True).stdout)
    return [(v["view"], v["sql"]) for v in meta["views"]]


def check_views(engine, exe, lake, run):
    """Runs VIEW_PROBES through `run(sql) -> dict` and ours; returns (checks, failures)."""
    failures = 0
    for q in VIEW_PROBES:
        want = ours(exe, lake, q)[0]
        got = run(q)
        same = all(
            (math.isclose(float(got[k] or 0), float(want[k] or 0), rel_tol=1e-9, abs_tol=1e-9) if k == "s" else got[k] == want[k]) for k in want
        )
        if not same:
            failures += 1
            print(f"FAIL {q}: {engine} {got}, DataFusion {want}")
        else:
            print(f"  {engine} view = ours: {q.split(' FROM ')[1]}: {want}")
    return len(VIEW_PROBES), failures
