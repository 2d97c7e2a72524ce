"""Weibull fits of `yieldlake rel weibull` against independent implementations.

- complete data: scipy.stats.weibull_min.fit (floc = 0), and the `reliability`
  package's Fit_Weibull_2P for the Fisher bounds;
- right-censored data (light, heavy, a single failure): `reliability`'s Fit_Weibull_2P
  where it accepts the data (two failures or more), and scipy's CensoredData fit;
- interval-censored readpoint data: lifelines' WeibullFitter.fit_interval_censoring and
  scipy's CensoredData fit;
- every unit censored: a message and status 1, not a number;
- `yieldlake qual` on generated qualification lots (3 lots x 10 stresses x 77 units):
  each stress's defect-rate bounds (scipy's beta and the zero-failure formula), its
  acceleration factor (recomputed from the formulas) and chi-square FIT (scipy's chi2),
  its interval-censored Weibull (lifelines), and every drift flag of the `qual_drift`
  table (read with DuckDB, recomputed with numpy).

usage: python reliability_check.py YIELDLAKE_BIN WORK_DIR
"""
import json
import math
import os
import subprocess
import sys
import warnings

import numpy as np
from scipy import stats

warnings.filterwarnings("ignore")
failures = 0
checks = 0


def close(a, b, rel, what):
    global failures, checks
    checks += 1
    if not math.isclose(a, b, rel_tol=rel, abs_tol=1e-12):
        failures += 1
        print(f"FAIL {what}: yieldlake {a}, peer {b}")


def ours(exe, path):
    out = subprocess.run([exe, "rel", "weibull", "--times", path, "--json"], capture_output=True, text=True)
    return out.returncode, (json.loads(out.stdout) if out.returncode == 0 else out.stderr)


def write(work, name, rows, header):
    p = os.path.join(work, name)
    with open(p, "w") as f:
        f.write(header + "\n")
        for r in rows:
            f.write(",".join("" if x is None else repr(float(x)) for x in r) + "\n")
    return p


def scipy_fit(exact, right, lo_hi):
    data = stats.CensoredData(uncensored=exact, right=right, interval=np.array(lo_hi).reshape(-1, 2) if lo_hi else None)
    c, loc, scale = stats.weibull_min.fit(data, floc=0, method="MLE")
    return c, scale


def check_qual(exe, work):
    global checks, failures
    import duckdb
    from lifelines import WeibullFitter

    data, lake = os.path.join(work, "qual-data"), os.path.join(work, "qual-lake")
    subprocess.run([exe, "generate", "--profile", "qual-readpoints", "--out", data, "--seed", "5", "--lots", "3", "--qual-stresses", "10", "--quiet"], check=True)
    subprocess.run([exe, "ingest", "--lake", lake, data], check=True, capture_output=True)
    stresses = [("HTRB", "h", [0, 168, 500, 1000]), ("HTGB", "h", [0, 168, 500, 1000]), ("H3TRB", "h", [0, 168, 500, 1000]),
                ("TC", "cycles", [0, 250, 500, 1000]), ("IOL", "cycles", [0, 5000, 15000]), ("UHAST", "h", [0, 24, 48, 96]),
                ("HAST", "h", [0, 24, 48, 96]), ("HTSL", "h", [0, 168, 500, 1000]), ("PTC", "cycles", [0, 5000, 10000, 15000]),
                ("HTFB", "h", [0, 168, 500, 1000])]
    plan = [
        'format = "yieldlake-qual-plan/1"', 'id = "PEER"', 'product = "YL-SIC1200-16"', 'package = "TO-247-4"',
        'device_class = "discrete"', 'device_type = "mosfet"', 'profile = "aec-q101"', 'lots = ["YL5-Q01", "YL5-Q02", "YL5-Q03"]',
        "[use]", "temperature_c = 55.0", "rh_pct = 60.0", "delta_t_c = 55.0",
    ]
    for name, unit, rps in stresses:
        plan += ["[[stress]]", f'name = "{name}"', f'unit = "{unit}"', f"readpoints = {rps}", "sample_size = 77",
                 "conditions = { temperature_c = 150.0, rh_pct = 85.0, delta_t_c = 150.0 }"]
        if name == "HTSL":  # not a Q101 stress: the plan gives its model
            plan += ['model = "arrhenius"', "ea_ev = 0.9"]
    for t in ["VGS_TH", "RDS_ON_10A", "RDS_ON_20A", "BVDSS", "VSD"]:
        plan += ["[[drift]]", f'test = "{t}"']
    for t in ["IDSS_80PCT_BV", "IGSS_POS", "IGSS_NEG"]:
        plan += ["[[drift]]", f'test = "{t}"', "leakage = true"]
    pp = os.path.join(work, "qual-plan.toml")
    with open(pp, "w") as f:
        f.write("\n".join(plan) + "\n")
    out = subprocess.run([exe, "qual", "--plan", pp, "--lake", lake, "--json"], capture_output=True, text=True)
    checks += 1
    if out.returncode != 0:
        failures += 1
        print(f"FAIL qual: status {out.returncode}: {out.stderr}")
        return
    e = json.loads(out.stdout)
    k = 8.617333262e-5
    fitted = 0
    for s in e["stresses"]:
        n, r = s["completed"], s["failed"]
        for d in s["defect_rate"]:
            cl = d["cl"]
            peer = 1 - (1 - cl) ** (1 / n) if r == 0 else stats.beta.ppf(cl, r + 1, n - r)
            close(d["upper"], peer, 1e-9, f"qual {s['name']} defect rate at {cl}")
        a = s["acceleration"]
        checks += 1
        if a is None:
            failures += 1
            print(f"FAIL qual {s['name']}: no acceleration factor: {s['notes']}")
            continue
        ts, rh, dt = s["conditions"]["temperature_c"], s["conditions"]["rh_pct"], s["conditions"]["delta_t_c"]
        arr = lambda ea: math.exp(ea / k * (1 / (55 + 273.15) - 1 / (ts + 273.15)))
        if a["model"] == "arrhenius":
            af = arr(a["ea_ev"])
        elif a["model"] == "peck":
            af = (rh / 60.0) ** a["exponent"] * arr(a["ea_ev"])
        else:
            af = (dt / 55.0) ** a["exponent"]
        close(a["af"], af, 1e-12, f"qual {s['name']} acceleration factor ({a['model']})")
        dh = sum(o["lo"] for o in s["observations"])
        for f in s["fit"]:
            peer = stats.chi2.ppf(f["cl"], 2 * r + 2) / (2 * dh * af) * 1e9
            close(f["fit"], peer, 1e-9, f"qual {s['name']} FIT at {f['cl']}")
        if s["weibull"] is not None:
            lo = np.array([o["lo"] for o in s["observations"]])
            hi = np.array([np.inf if o["hi"] is None else o["hi"] for o in s["observations"]])
            wf = WeibullFitter().fit_interval_censoring(lo, hi)
            close(s["weibull"]["beta"], wf.rho_, 1e-3, f"qual {s['name']} Weibull beta vs lifelines")
            close(s["weibull"]["eta"], wf.lambda_, 1e-3, f"qual {s['name']} Weibull eta vs lifelines")
            close(s["weibull"]["loglik"], wf.log_likelihood_, 1e-5, f"qual {s['name']} Weibull loglik vs lifelines")
            fitted += 1
    checks += 1
    if fitted == 0:
        failures += 1
        print("FAIL qual: no stress had a Weibull fit to compare")
    rows = duckdb.sql(f"SELECT stress, rule, \"limit\", t0_value, value, flagged FROM read_parquet('{lake}/qual_drift/*/*.parquet')").fetchnumpy()
    v0, v, lim = rows["t0_value"], rows["value"], rows["limit"]
    rule = np.array(rows["rule"], dtype=object)
    floor = 100e-9
    rel_flag = np.abs(v - v0) > lim * np.abs(v0)
    ratio_flag = np.maximum(np.abs(v), floor) > lim * np.maximum(np.abs(v0), floor)
    peer = np.where(rule == "ratio", ratio_flag, rel_flag)
    ok = np.array(rows["flagged"], dtype=bool) == peer
    checks += 1
    if not ok.all() or len(ok) < 1000:
        failures += 1
        print(f"FAIL qual_drift: {int((~ok).sum())} of {len(ok)} flags differ from numpy")
    print(f"qual: {len(e['stresses'])} stresses, {fitted} Weibull fits, {len(ok)} drift rows, {int(peer.sum())} flagged")


def main():
    global checks, failures
    exe, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    from reliability.Fitters import Fit_Weibull_2P
    from lifelines import WeibullFitter

    rng = np.random.default_rng(2026)
    w1 = [58, 75, 36, 52, 63, 65, 22, 17, 28, 64, 23, 40, 73, 45, 52, 36, 52, 60, 13, 55, 82, 55, 34, 57, 23, 42, 66, 35, 34, 25]
    # Complete data.
    code, y = ours(exe, write(work, "complete.csv", [(t, 0) for t in w1], "time,censored"))
    c, _, scale = stats.weibull_min.fit(w1, floc=0)
    close(y["beta"], c, 1e-4, "complete beta vs scipy")
    close(y["eta"], scale, 1e-4, "complete eta vs scipy")
    r = Fit_Weibull_2P(failures=w1, print_results=False, show_probability_plot=False, CI=0.95)
    close(y["beta"], r.beta, 1e-4, "complete beta vs reliability")
    close(y["eta"], r.alpha, 1e-4, "complete eta vs reliability")
    close(y["loglik"], r.loglik, 1e-5, "complete loglik vs reliability")
    close(y["beta_ci"][0], r.beta_lower, 1e-3, "complete beta lower vs reliability")
    close(y["beta_ci"][1], r.beta_upper, 1e-3, "complete beta upper vs reliability")
    close(y["eta_ci"][0], r.alpha_lower, 1e-3, "complete eta lower vs reliability")
    close(y["eta_ci"][1], r.alpha_upper, 1e-3, "complete eta upper vs reliability")
    # Right-censored: light and heavy censoring, and a single failure.
    t = 500.0 * rng.weibull(1.7, 60)
    for name, cut in [("light", 700.0), ("heavy", 150.0)]:
        fail = [x for x in t if x <= cut]
        cens = [cut] * (len(t) - len(fail))
        code, y = ours(exe, write(work, f"right-{name}.csv", [(x, 0) for x in fail] + [(x, 1) for x in cens], "time,censored"))
        r = Fit_Weibull_2P(failures=fail, right_censored=cens, print_results=False, show_probability_plot=False)
        # With few failures the likelihood is flat and `reliability`'s optimizer stops
        # earlier (within 5e-4 here); scipy is held to 1e-4, and our maximum must be at
        # least as high as reliability's.
        tol = 1e-4 if name == "light" else 1e-3
        close(y["beta"], r.beta, tol, f"{name} censoring beta vs reliability ({len(fail)} failures, {len(cens)} censored)")
        close(y["eta"], r.alpha, tol, f"{name} censoring eta vs reliability")
        close(y["loglik"], r.loglik, 1e-5, f"{name} censoring loglik vs reliability")
        checks += 1
        if y["loglik"] < r.loglik - 1e-9:
            failures += 1
            print(f"FAIL {name} censoring: our log-likelihood {y['loglik']} is below reliability's {r.loglik}")
        sc, ss = scipy_fit(fail, cens, None)
        close(y["beta"], sc, 1e-4, f"{name} censoring beta vs scipy")
        close(y["eta"], ss, 1e-4, f"{name} censoring eta vs scipy")
    single = [(240.0, 0), (90.0, 0)] + [(1000.0, 1)] * 40
    code, y = ours(exe, write(work, "two-failures.csv", single, "time,censored"))
    sc, ss = scipy_fit([240.0, 90.0], [1000.0] * 40, None)
    close(y["beta"], sc, 1e-4, "two failures beta vs scipy")
    close(y["eta"], ss, 1e-4, "two failures eta vs scipy")
    # Interval-censored readpoint data (0, 168], (168, 500], (500, 1000], survivors at 1000.
    life = 800.0 * rng.weibull(2.0, 200)
    rps = [168.0, 500.0, 1000.0]
    rows, lo, hi, ivals, right = [], [], [], [], []
    for x in life:
        seen = next((r_ for r_ in rps if r_ >= x), None)
        if seen is None:
            rows.append((1000.0, None))
            lo.append(1000.0)
            hi.append(np.inf)
            right.append(1000.0)
        else:
            prev = max([0.0] + [r_ for r_ in rps if r_ < seen])
            rows.append((prev, seen))
            lo.append(prev)
            hi.append(seen)
            ivals.append((prev, seen))
    code, y = ours(exe, write(work, "interval.csv", rows, "time_lo,time_hi"))
    wf = WeibullFitter().fit_interval_censoring(np.array(lo), np.array(hi))
    close(y["beta"], wf.rho_, 1e-4, "interval beta vs lifelines")
    close(y["eta"], wf.lambda_, 1e-4, "interval eta vs lifelines")
    close(y["loglik"], wf.log_likelihood_, 1e-5, "interval loglik vs lifelines")
    sc, ss = scipy_fit(None, right, ivals)
    close(y["beta"], sc, 1e-4, "interval beta vs scipy")
    close(y["eta"], ss, 1e-4, "interval eta vs scipy")
    # All censored: a message, not a number.
    code, err = ours(exe, write(work, "censored.csv", [(1000.0, 1)] * 10, "time,censored"))
    checks += 1
    if code != 1 or "no failures" not in err:
        failures += 1
        print(f"FAIL all censored: status {code}, {err}")
    check_qual(exe, work)
    print(f"reliability checks: {checks - failures} passed, {failures} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
