"""Independent checks of yield, statistics, site-to-site and G85 maps.

Values come straight from the lake's Parquet files through DuckDB; the numbers are
recomputed with numpy and scipy and compared with `yieldlake stats --json` and
`yieldlake yield --by site --json`. The G85 files from `yieldlake wafermap` are read with
the `g85` package and compared die by die with the lake's final dies.

usage: python analysis_check.py YIELDLAKE_BIN WORK_DIR
"""
import glob
import json
import math
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import duckdb
import g85
import numpy as np
from scipy import stats

QS = [(0.001, "q0_1"), (0.01, "q1"), (0.05, "q5"), (0.25, "q25"), (0.5, "q50"), (0.75, "q75"), (0.95, "q95"), (0.99, "q99"), (0.999, "q99_9")]
failures = 0
checks = 0


def run(exe, *args):
    out = subprocess.run([exe, *args], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{' '.join(args)} failed: {out.stderr}")
    return out.stdout


def close(a, b, rel=1e-9, what=""):
    global failures, checks
    checks += 1
    ok = (a is None and b is None) or (a is not None and b is not None and math.isclose(a, b, rel_tol=rel, abs_tol=1e-300))
    if not ok:
        failures += 1
        print(f"FAIL {what}: yieldlake {a}, numpy/scipy {b}")


def close_p(a, b, what):
    """p-values: equal in log10 to 1e-6 (tiny p-values lose relative precision in any CDF)."""
    global failures, checks
    checks += 1
    if a < 1e-280 and b < 1e-280:
        return
    if abs(math.log10(max(a, 1e-300)) - math.log10(max(b, 1e-300))) > 1e-6 * max(1.0, abs(math.log10(max(b, 1e-300)))):
        failures += 1
        print(f"FAIL {what}: p {a} vs scipy {b}")


def final_results(con, lake):
    """PTR results of the final touch of each part within its file."""
    return con.execute(f"""
        SELECT r.lot_id, p.wafer_id, r.file_id, p.wafer_index, r.head_num, r.site_num, r.test_num, r.test_name,
               CAST(r.result AS DOUBLE) AS v, CAST(r.lo_limit AS DOUBLE) AS lo, CAST(r.hi_limit AS DOUBLE) AS hi, r.valid, r.alarm
        FROM read_parquet('{lake}/results/**/*.parquet', hive_partitioning = false) r
        JOIN read_parquet('{lake}/parts/**/*.parquet', hive_partitioning = false) p ON r.file_id = p.file_id AND r.part_seq = p.part_seq
        WHERE p.is_final AND r.rec_type = 'P'
        ORDER BY r.file_id, r.part_seq""").fetchall()


def check_stats(exe, lake, con):
    rows = final_results(con, lake)
    for by in ["lot", "wafer"]:
        ours = json.loads(run(exe, "stats", "--lake", lake, "--by", by, "--json"))["stats"]
        groups = {}
        for lot, wafer, file_id, widx, head, site, tnum, tname, v, lo, hi, valid, alarm in rows:
            g = lot if by == "lot" else f"{lot}/{wafer}"
            e = groups.setdefault((g, tnum, tname), {"v": [], "sub": [], "lo": None, "hi": None, "below": 0, "above": 0, "invalid": 0, "alarms": 0})
            if e["lo"] is None:
                e["lo"] = lo
            if e["hi"] is None:
                e["hi"] = hi
            e["alarms"] += int(alarm)
            if not valid or v is None or not math.isfinite(v):
                e["invalid"] += 1
                continue
            e["v"].append(v)
            e["sub"].append((file_id, widx))
            e["below"] += int(lo is not None and v < lo)
            e["above"] += int(hi is not None and v > hi)
        seen = 0
        for o in ours:
            key = (o["grp"], o["test_num"], o["test_name"])
            if key not in groups:
                continue
            seen += 1
            e = groups[key]
            v = np.array(e["v"])
            what = f"stats by {by} {key}"
            close(float(o["n"]), float(len(v)), what=what + " n")
            mean, sd = v.mean(), v.std(ddof=1)
            close(o["mean"], mean, 1e-12, what + " mean")
            close(o["sd"], sd, 1e-9, what + " sd")
            close(o["min"], v.min(), 1e-15, what + " min")  # JSON text may round the last bit
            close(o["max"], v.max(), 1e-15, what + " max")
            for p, name in QS:
                close(o[name], float(np.quantile(v, p)), 1e-12, f"{what} {name}")
            rs = (np.quantile(v, 0.75) - np.quantile(v, 0.25)) / 1.35
            close(o["robust_sigma"], float(rs), 1e-12, what + " robust sigma")
            subs = {}
            for x, s in zip(e["v"], e["sub"]):
                subs.setdefault(s, []).append(x)
            ss = sum(((np.array(xs) - np.mean(xs)) ** 2).sum() for xs in subs.values())
            df = sum(len(xs) - 1 for xs in subs.values())
            sw = math.sqrt(ss / df)
            close(o["sigma_within"], sw, 1e-9, what + " sigma within")
            lo, hi = e["lo"], e["hi"]

            def cpk(s):
                if lo is not None and hi is not None:
                    return min(hi - mean, mean - lo) / (3 * s)
                if lo is not None:
                    return (mean - lo) / (3 * s)
                if hi is not None:
                    return (hi - mean) / (3 * s)
                return None

            cp = (hi - lo) / (6 * sw) if lo is not None and hi is not None else None
            pp = (hi - lo) / (6 * sd) if lo is not None and hi is not None else None
            close(o["cp"], cp, 1e-9, what + " Cp")
            close(o["cpk"], cpk(sw), 1e-9, what + " Cpk")
            close(o["pp"], pp, 1e-9, what + " Pp")
            close(o["ppk"], cpk(sd), 1e-9, what + " Ppk")
            for k in ["below", "above"]:
                close(float(o[k + ("_lo" if k == "below" else "_hi")]), float(e[k]), 0, f"{what} {k}")
            close(float(o["invalid"]), float(e["invalid"]), 0, what + " invalid")
            close(float(o["alarms"]), float(e["alarms"]), 0, what + " alarms")
        if seen < 10:
            sys.exit(f"stats by {by}: only {seen} tests matched")
        print(f"  stats by {by}: {seen} test groups equal numpy (mean, sd, 9 quantiles, robust sigma, sigma within, Cp, Cpk, Pp, Ppk, counts)")
    # Site-to-site: the same values grouped by head/site.
    doc = json.loads(run(exe, "yield", "--lake", lake, "--by", "site", "--json"))
    site_vals = {}
    for lot, wafer, file_id, widx, head, site, tnum, tname, v, lo, hi, valid, alarm in rows:
        if valid and v is not None and math.isfinite(v):
            site_vals.setdefault((tnum, tname), {}).setdefault(f"{head}/{site}", []).append(v)
    n_shift = 0
    for r in doc["site_to_site"]["location_shifts"]:
        sites = site_vals.get((r["test_num"], r["test_name"]))
        if sites is None or r.get("p_value") is None:
            continue
        a = np.array(sites[r["site"]])
        b = np.array([x for s, xs in sites.items() if s != r["site"] for x in xs])
        if r["method"] == "welch":
            p = stats.ttest_ind(a, b, equal_var=False).pvalue
        else:
            p = stats.kruskal(a, b).pvalue
        close_p(r["p_value"], float(p), f"{r['method']} test {r['test_num']} site {r['site']}")
        n_shift += 1
    # Site x pass/fail on each die's first touch within its site.
    first = con.execute(f"""
        SELECT site, sum(CASE WHEN passed THEN 1 ELSE 0 END) AS pass, count(*) AS n FROM (
          SELECT CAST(p.head_num AS VARCHAR) || '/' || CAST(p.site_num AS VARCHAR) AS site, p.passed,
                 row_number() OVER (PARTITION BY p.head_num, p.site_num, p.lot_id, p.touch_key
                                    ORDER BY f.start_t ASC NULLS FIRST, f.finish_t ASC NULLS FIRST, f.file_id, p.part_seq) AS rn
          FROM read_parquet('{lake}/parts/**/*.parquet', hive_partitioning = false) p
          JOIN read_parquet('{lake}/files/**/*.parquet', hive_partitioning = false) f ON p.file_id = f.file_id) t
        WHERE rn = 1 GROUP BY site ORDER BY site""").fetchall()
    table = np.array([[ps, n - ps] for _, ps, n in first])
    ind = doc["site_to_site"]["independence"]
    if ind["method"].startswith("Pearson"):
        chi2, p, dof, _ = stats.chi2_contingency(table, correction=False)
        close(ind["statistic"], float(chi2), 1e-9, "chi-square statistic")
        close_p(ind["p_value"], float(p), "chi-square p")
    else:
        sys.exit(f"expected the chi-square test on this data, got {ind['method']}")
    print(f"  site-to-site: chi-square and {n_shift} Welch/Kruskal-Wallis p-values equal scipy")


def check_histograms(exe, lake, work, con):
    """`stats --hist`: Freedman-Diaconis bin count and counts per bin equal numpy's."""
    global checks, failures
    out = os.path.join(work, "hist")
    run(exe, "stats", "--lake", lake, "--by", "lot", "--test", "VREF_0", "IDDQ_0", "--hist", out)
    rows = final_results(con, lake)
    n = 0
    for f in sorted(glob.glob(os.path.join(out, "*.csv"))):
        lot, tnum = os.path.basename(f).split("_")[:2]
        v = np.array([r[8] for r in rows if r[0] == lot and r[6] == int(tnum) and r[11] and r[8] is not None])
        got = np.loadtxt(f, delimiter=",", skiprows=1, ndmin=2)
        want, edges = np.histogram(v, bins="fd")
        checks += 1
        if len(want) <= 200 and (len(got) != len(want) or not np.array_equal(got[:, 2].astype(int), want)):
            failures += 1
            print(f"FAIL histogram {f}: {len(got)} bins {got[:, 2].astype(int).tolist()[:8]}..., numpy {len(want)} bins {want.tolist()[:8]}...")
        n += 1
    if n < 4:
        sys.exit(f"only {n} histograms written")
    print(f"  histograms: {n} Freedman-Diaconis histograms equal numpy.histogram(bins='fd')")


def freeman_halton(table):
    """Exact p of a k x 2 table with fixed margins: the probability of all tables no more
    likely than the observed one (enumerated with math.comb; 2 x 2 is Fisher's test)."""
    rows = [a + b for a, b in table]
    c1, n = sum(a for a, _ in table), sum(rows)
    denom = math.comb(n, c1)

    def prob(xs):
        p = 1
        for x, r in zip(xs, rows):
            p *= math.comb(r, x)
        return p / denom

    p_obs = prob([a for a, _ in table])
    total = 0.0

    def walk(i, left, xs):
        nonlocal total
        if i == len(rows) - 1:
            if left <= rows[i]:
                p = prob(xs + [left])
                if p <= p_obs * (1 + 1e-7):
                    total += p
            return
        for x in range(max(0, left - sum(rows[i + 1:])), min(rows[i], left) + 1):
            walk(i + 1, left - x, xs + [x])

    walk(0, c1, [])
    return min(total, 1.0)


def check_exact(exe, work):
    """Small lots take the exact tests: Fisher (2 sites, against scipy) and
    Freeman-Halton (4 sites, against an enumeration here)."""
    for sites in [2, 4]:
        # Seeds until a lot has an expected count below 5 (so that the exact test applies).
        for seed in range(20, 60):
            d = os.path.join(work, f"exact{sites}-{seed}")
            run(exe, "generate", "--profile", "auto-ic-ws", "--lots", "1", "--wafers", "1", "--scale", "0.01", "--seed", str(seed), "--sites", str(sites), "--tests", "4", "--out", d + "/gen", "--quiet")
            run(exe, "ingest", "--lake", d + "/lake", d + "/gen")
            doc = json.loads(run(exe, "yield", "--lake", d + "/lake", "--by", "site", "--json"))
            table = [[y["first_pass"], y["units"] - y["first_pass"]] for y in doc["yields"]]
            n = sum(a + b for a, b in table)
            cols = [sum(r[j] for r in table) for j in range(2)]
            if 0 in cols or min((a + b) * cols[j] / n for a, b in table for j in range(2)) >= 5:
                continue
            want = stats.fisher_exact(np.array(table)).pvalue if sites == 2 else freeman_halton(table)
            if want < 0.9:  # a table whose p-value tells rules apart
                break
        else:
            sys.exit(f"no small {sites}-site lot found")
        ind = doc["site_to_site"]["independence"]
        name = "Fisher exact test" if sites == 2 else "Freeman-Halton exact test"
        global checks, failures
        checks += 1
        if ind is None or ind["method"] != name:
            failures += 1
            print(f"FAIL {sites} sites {table}: expected {name}, got {ind}")
            continue
        close_p(ind["p_value"], float(want), f"{name} on {table}")
        print(f"  {name} on {table}: p = {ind['p_value']:.6g} (peer {want:.6g})")


def check_g85(exe, lake, con, work):
    lots = [r[0] for r in con.execute(f"SELECT DISTINCT lot_id FROM read_parquet('{lake}/wafers/**/*.parquet', hive_partitioning = false)").fetchall()]
    n_maps = 0
    for lot in lots:
        out = os.path.join(work, "maps")
        run(exe, "wafermap", "--lake", lake, "--lot", lot, "--out", out, "--no-png", "--good-bins", "1")
        dies = con.execute(f"""
            SELECT wafer_id, x, y, hard_bin FROM (
              SELECT p.*, row_number() OVER (PARTITION BY p.lot_id, p.touch_key
                 ORDER BY f.start_t DESC NULLS LAST, f.finish_t DESC NULLS LAST, p.file_id DESC, p.part_seq DESC) AS rk
              FROM read_parquet('{lake}/parts/**/*.parquet', hive_partitioning = false) p
              JOIN read_parquet('{lake}/files/**/*.parquet', hive_partitioning = false) f ON p.file_id = f.file_id
              WHERE p.touch_key LIKE 'w:%' AND p.lot_id = ?) t WHERE rk = 1""", [lot]).fetchall()
        by_wafer = {}
        for w, x, y, b in dies:
            by_wafer.setdefault(w, {})[(x, y)] = b
        for w, want in by_wafer.items():
            files = [f for f in glob.glob(os.path.join(out, "*.g85.xml")) if ET.parse(f).getroot().find("Map").get("SubstrateId") == w]
            if len(files) != 1:
                sys.exit(f"{lot} {w}: {len(files)} G85 files")
            maps = g85.read(open(files[0]))
            dev = maps[0].devices[0]
            x_min = min(x for x, _ in want)
            y_max = max(y for _, y in want)
            got = {}
            for r, row in enumerate(dev.map):
                for c, code in enumerate(row):
                    if code != dev.NullBin:
                        got[(x_min + c, y_max - r)] = code
            global checks, failures
            checks += 1
            if got != want:
                failures += 1
                diff = [(k, got.get(k), want.get(k)) for k in set(got) | set(want) if got.get(k) != want.get(k)][:5]
                print(f"FAIL G85 {lot} {w}: {len(got)} dies in the map, {len(want)} in the lake; e.g. {diff}")
            counts = dev.bin_counts()
            root = ET.parse(files[0]).getroot()
            for b in root.iter("Bin"):
                checks += 1
                if int(b.get("BinCount")) != counts[int(b.get("BinCode"))]:
                    failures += 1
                    print(f"FAIL G85 {lot} {w}: bin {b.get('BinCode')} header count {b.get('BinCount')}, map {counts[int(b.get('BinCode'))]}")
                checks += 1
                if (b.get("BinQuality") == "Pass") != (int(b.get("BinCode")) == 1):
                    failures += 1
                    print(f"FAIL G85 {lot} {w}: bin {b.get('BinCode')} quality {b.get('BinQuality')}")
            n_maps += 1
    print(f"  G85: {n_maps} wafer maps read by the g85 package equal the lake's final dies, die by die")


def pat_values(con, lake, lots):
    """Passing final parts' PTR values per (lot/wafer, test), inside the test limits."""
    ls = ", ".join(f"'{l}'" for l in lots)
    rows = con.execute(f"""
        SELECT p.lot_id || '/' || p.wafer_id AS pop, r.test_num, r.test_name, p.wafer_id, p.x, p.y,
               CAST(r.result AS DOUBLE) AS v, CAST(r.lo_limit AS DOUBLE) AS lo, CAST(r.hi_limit AS DOUBLE) AS hi
        FROM read_parquet('{lake}/results/**/*.parquet', hive_partitioning = false) r
        JOIN read_parquet('{lake}/parts/**/*.parquet', hive_partitioning = false) p
          ON r.file_id = p.file_id AND r.part_seq = p.part_seq
        WHERE p.is_final AND p.passed AND r.rec_type = 'P' AND r.valid AND r.result IS NOT NULL AND r.lot_id IN ({ls})
    """).fetchall()
    groups = {}
    for pop, num, name, w, x, y, v, lo, hi in rows:
        g = groups.setdefault((pop, num, name), {"all": [], "lo": lo, "hi": hi})
        g["all"].append((v, w, x, y))
    return groups


def np_limits(vals, lo, hi, k, method, asymmetric):
    v = np.sort(np.array([x for x in vals if (lo is None or x >= lo) and (hi is None or x <= hi)]))
    q1, med, q3 = np.quantile(v, [0.25, 0.5, 0.75], method=method)
    if asymmetric:
        slo, shi = (med - q1) / 0.675, (q3 - med) / 0.675
    else:
        slo = shi = (q3 - q1) / 1.35
    if not (slo > 0 and shi > 0):
        sd = np.std(v, ddof=1) if len(v) > 1 else 0.0
        if sd == 0:
            return med, lo, hi
        slo = shi = sd
    l, h = med - k * slo, med + k * shi
    return med, (l if lo is None else max(l, lo)), (h if hi is None else min(h, hi))


METHODS = {"type5": "hazen", "type6": "weibull", "type7": "linear", "type8": "median_unbiased"}


def check_pat(exe, lake, con, work):
    """Dynamic and static PAT limits and flags, recomputed with numpy."""
    lots = sorted(r[0] for r in con.execute(f"SELECT DISTINCT lot_id FROM read_parquet('{lake}/files/**/*.parquet', hive_partitioning = false)").fetchall())
    groups = pat_values(con, lake, lots[:1])
    n_lim = n_flag = 0
    for rule, asym in [("type7", False), ("type6", True)]:
        out = os.path.join(work, f"pat-{rule}")
        args = ["pat", "--lake", lake, "--lot", lots[0], "--dynamic", "--rule", rule, "--out", out, "--no-lake"]
        if asym:
            args.append("--asymmetric")
        run(exe, *args)
        lim = json.load(open(os.path.join(out, "limits.json")))
        flagged = {}
        import pyarrow.parquet as pq
        for r in pq.read_table(os.path.join(out, "outliers.parquet")).to_pylist():
            if r["screen"] == "dynamic":
                flagged.setdefault((r["population"], r["test_num"]), set()).add((r["wafer_id"], r["x"], r["y"]))
        for l in lim:
            key = (l["population"], l["test_num"], l["test_name"])
            g = groups[key]
            med, lo, hi = np_limits([v for v, *_ in g["all"]], g["lo"], g["hi"], 6.0, METHODS[rule], asym)
            y = l["limits"]
            close(y["center"], med, 1e-12, f"PAT {rule} centre {key}")
            close(y.get("lo"), lo, 1e-9, f"PAT {rule} lo {key}")
            close(y.get("hi"), hi, 1e-9, f"PAT {rule} hi {key}")
            n_lim += 1
            exp = {(w, x, yy) for v, w, x, yy in g["all"] if (lo is not None and v < lo) or (hi is not None and v > hi)}
            global checks, failures
            checks += 1
            n_flag += len(exp)
            if exp != flagged.get((l["population"], l["test_num"]), set()):
                failures += 1
                print(f"FAIL PAT {rule} flags {key}: yieldlake {flagged.get((l['population'], l['test_num']))}, numpy {exp}")
    # Static limits: every lot's passing values pooled per test.
    path = os.path.join(work, "limits.toml")
    run(exe, "pat", "limits", "--lake", lake, "--product", "YL-AMS2400", "--lots", *lots, "--force", "--out", path)
    import tomllib
    f = tomllib.load(open(path, "rb"))
    pooled = {}
    for (pop, num, name), g in pat_values(con, lake, lots).items():
        p = pooled.setdefault((num, name), {"v": [], "lo": g["lo"], "hi": g["hi"]})
        p["v"].extend(v for v, *_ in g["all"])
    for t in f["tests"]:
        p = pooled[(t["test_num"], t["test_name"])]
        med, lo, hi = np_limits(p["v"], p["lo"], p["hi"], f["k"], METHODS[f["rule"]], f["asymmetric"])
        close(t["center"], med, 1e-12, f"static centre {t['test_name']}")
        close(t.get("lo"), lo, 1e-9, f"static lo {t['test_name']}")
        close(t.get("hi"), hi, 1e-9, f"static hi {t['test_name']}")
    print(f"  PAT: {n_lim} dynamic limits (type 7, and type 6 asymmetric), {n_flag} flags and {len(f['tests'])} static limits equal numpy's")


def check_syl(exe, work, con):
    """SYL/SBL limits and statuses of a 12-lot history, recomputed with numpy."""
    gen, lake = os.path.join(work, "hist-gen"), os.path.join(work, "hist-lake")
    run(exe, "generate", "--profile", "auto-ic-ws", "--lots", "12", "--wafers", "2", "--scale", "0.2", "--seed", "3", "--tests", "4", "--history", "--out", gen, "--quiet")
    run(exe, "ingest", "--lake", lake, gen)
    y = json.loads(run(exe, "syl", "--lake", lake, "--product", "YL-AMS2400", "--json"))
    rows = con.execute(f"""
        SELECT p.lot_id, count(*) AS units, sum(CASE WHEN p.passed THEN 1 ELSE 0 END) AS passed,
               list(CASE WHEN NOT p.passed THEN p.hard_bin END) AS bins, min(f.start_t) AS t
        FROM read_parquet('{lake}/parts/**/*.parquet', hive_partitioning = false) p
        JOIN read_parquet('{lake}/files/**/*.parquet', hive_partitioning = false) f ON p.file_id = f.file_id
        WHERE p.is_final GROUP BY p.lot_id ORDER BY t, p.lot_id
    """).fetchall()
    lots = []
    for lot, units, passed, bins, _ in rows:
        counts = {}
        for b in bins:
            if b is not None:
                counts[b] = counts.get(b, 0) + 1
        lots.append((lot, units, passed, counts))
    hist = []
    by_lot = {l["lot_id"]: l for l in y["lots"]}
    for lot, units, passed, counts in lots:
        yl_ = by_lot[lot]
        window = hist[-8:]
        ypct = 100.0 * passed / units
        close(yl_["yield_pct"], ypct, 1e-12, f"SYL yield {lot}")
        status = "insufficient_history"
        if len(window) >= 6:
            ys = np.array([100.0 * p / u for _, u, p, _ in window])
            s1, s2 = ys.mean() - 3 * ys.std(ddof=1), ys.mean() - 4 * ys.std(ddof=1)
            close(yl_["syl1"], s1, 1e-9, f"SYL1 {lot}")
            close(yl_["syl2"], s2, 1e-9, f"SYL2 {lot}")
            hold = ypct < s2
            review = (not hold) and ypct < s1
            allbins = sorted(set(counts) | {b for _, _, _, c in window for b in c})
            for b in allbins:
                ps = np.array([100.0 * c.get(b, 0) / u for _, u, _, c in window])
                b1, b2 = ps.mean() + 3 * ps.std(ddof=1), ps.mean() + 4 * ps.std(ddof=1)
                mine = next(x for x in yl_["bins"] if x["bin"] == b)
                close(mine["sbl1"], b1, 1e-9, f"SBL1 {lot} bin {b}")
                close(mine["sbl2"], b2, 1e-9, f"SBL2 {lot} bin {b}")
                p = 100.0 * counts.get(b, 0) / units
                hold |= p > b2
                review |= b1 < p <= b2
            status = "hold" if hold else ("review" if review else "normal")
        global checks, failures
        checks += 1
        if yl_["status"] != status:
            failures += 1
            print(f"FAIL SYL status {lot}: yieldlake {yl_['status']}, numpy {status}")
        if status in ("normal", "insufficient_history"):
            hist.append((lot, units, passed, counts))
    print(f"  SYL/SBL: {len(lots)} lots' yields, limits and statuses equal numpy's")


def main():
    exe, work = sys.argv[1], sys.argv[2]
    gen, lake = os.path.join(work, "gen"), os.path.join(work, "lake")
    run(exe, "generate", "--profile", "auto-ic-ws", "--lots", "2", "--wafers", "3", "--scale", "0.3", "--seed", "11", "--sites", "8", "--tests", "12", "--out", gen, "--quiet")
    run(exe, "ingest", "--lake", lake, gen)
    con = duckdb.connect()
    check_stats(exe, lake, con)
    check_g85(exe, lake, con, work)
    check_exact(exe, work)
    check_histograms(exe, lake, work, con)
    check_pat(exe, lake, con, work)
    check_syl(exe, work, con)
    print(f"analysis checks: {checks - failures} passed, {failures} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
