"""Interop: `yieldlake serve` through the Python ADBC Flight SQL driver
(adbc-driver-flightsql), as a notebook or BI tool connects.

1. The query suite (tests/query-suite.sql) gives what `yieldlake sql` gives, row for row.
2. A prepared statement with `?` parameters, and the catalog (adbc_get_objects, get_info).
3. A token limited to a product reads only that product's lots.
4. Load: 16 clients, each on its own connection, run the suite for 30 s. Prints
   throughput and p50/p95/p99 latency; errors must be zero and the server's peak RSS
   (VmHWM) must stay under its --memory-limit.

usage: python flight_adbc.py YIELDLAKE_BIN WORK_DIR
"""
import json
import math
import os
import re
import subprocess
import sys
import threading
import time

import adbc_driver_flightsql.dbapi as flightsql
from adbc_driver_flightsql import DatabaseOptions

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SAMPLES = ["auto-ic-ws", "auto-ic-ft", "power-mosfet", "qual-readpoints", "v4-2007"]
LIMIT_MIB = 1024
CLIENTS = 16
SECONDS = 30


def suite():
    text = open(os.path.join(ROOT, "tests", "query-suite.sql")).read()
    out = []
    for block in text.split("-- name: ")[1:]:
        name, sql = block.split("\n", 1)
        out.append((name.strip(), sql.strip().rstrip(";")))
    return out


def ours(exe, lake, sql):
    r = subprocess.run([exe, "sql", "--lake", lake, "--format", "json", sql], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"yieldlake sql failed on {sql!r}: {r.stderr}")
    return [json.loads(l) for l in r.stdout.splitlines() if l.strip()]


def same(a, b):
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None:
            return a is b
        a, b = float(a), float(b)
        return a == b or (math.isnan(a) and math.isnan(b)) or abs(a - b) <= 1e-9 * max(abs(a), abs(b))
    if a is None or b is None:
        return a is b
    return str(a) == str(b) or (isinstance(a, bool) and str(a).lower() == str(b).lower())


def connect(port, token):
    return flightsql.connect(
        f"grpc://127.0.0.1:{port}",
        db_kwargs={DatabaseOptions.AUTHORIZATION_HEADER.value: f"Bearer {token}"},
        autocommit=True,
    )


def rows(cur, sql, params=None):
    cur.execute(sql, parameters=params)
    return cur.fetch_arrow_table().to_pylist()


def token(exe, name, *limits):
    r = subprocess.run([exe, "token", "--name", name, *limits], capture_output=True, text=True, check=True)
    return r.stdout, r.stderr.strip().splitlines()[-1].strip()


def main():
    exe, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    lake = os.path.join(work, "lake")
    subprocess.run([exe, "ingest", "--lake", lake, *[os.path.join(ROOT, "sample-data", s) for s in SAMPLES]],
                   check=True, capture_output=True)
    admin_entry, admin = token(exe, "admin")
    ws_entry, ws = token(exe, "ws", "--product", "YL-AMS2400")
    tokens = os.path.join(work, "tokens.toml")
    open(tokens, "w").write(admin_entry + "\n" + ws_entry)
    server = subprocess.Popen([exe, "serve", "--lake", lake, "--addr", "127.0.0.1:0", "--tokens", tokens,
                               "--memory-limit", f"{LIMIT_MIB}MiB", "--max-concurrent", "4"],
                              stdout=subprocess.PIPE, text=True)
    failures, checks = 0, 0
    try:
        line = server.stdout.readline()
        m = re.search(r":(\d+)\s*$", line)
        if not m:
            raise RuntimeError(f"server did not start: {line!r}")
        port = int(m.group(1))
        conn = connect(port, admin)
        cur = conn.cursor()

        # 1. The suite, as `yieldlake sql` answers it.
        queries = suite()
        for name, sql in queries:
            got = rows(cur, sql)
            want = ours(exe, lake, sql)
            checks += 1
            ok = len(got) == len(want) and len(want) > 0 and all(
                list(g.keys()) == list(w.keys()) and all(same(g[k], w.get(k)) for k in g) for g, w in zip(got, want))
            if not ok:
                failures += 1
                print(f"FAIL {name}: {len(got)} rows over ADBC, {len(want)} from yieldlake sql")
            else:
                print(f"  {name}: {len(got)} rows, identical")

        # 2. Parameters and the catalog.
        got = rows(cur, "SELECT count(*) AS n FROM parts WHERE lot_id = ? AND x >= ?", ("YL2026-01", 3))[0]["n"]
        want = ours(exe, lake, "SELECT count(*) AS n FROM parts WHERE lot_id = 'YL2026-01' AND x >= 3")[0]["n"]
        checks += 1
        if got != want or want == 0:
            failures += 1
            print(f"FAIL prepared statement: {got} over ADBC, {want} from yieldlake sql")
        objects = conn.adbc_get_objects(depth="tables").read_all().to_pylist()
        names = {t["table_name"] for c in objects for s in c["catalog_db_schemas"] for t in (s["db_schema_tables"] or [])}
        checks += 1
        if not {"parts", "results", "files", "final_parts", "results_final"} <= names:
            failures += 1
            print(f"FAIL adbc_get_objects lists {sorted(names)}")
        info = conn.adbc_get_info()
        checks += 1
        if info.get("vendor_name") != "yieldlake":
            failures += 1
            print(f"FAIL adbc_get_info: {info}")
        print(f"  prepared statement: {got} rows counted; catalog: {len(names)} tables and views; vendor {info.get('vendor_name')}")

        # 3. A product-limited token.
        wconn = connect(port, ws)
        wcur = wconn.cursor()
        lots = {r["l"] for r in rows(wcur, "SELECT DISTINCT CAST(lot_id AS VARCHAR) AS l FROM results")}
        n = rows(wcur, "SELECT count(*) AS n FROM results_final")[0]["n"]
        want = rows(cur, "SELECT count(*) AS n FROM results_final WHERE lot_id IN ('YL2026-01', 'YL2026-V7')")[0]["n"]
        checks += 1
        if lots != {"YL2026-01", "YL2026-V7"} or n != want:
            failures += 1
            print(f"FAIL token scope: lots {sorted(lots)}, {n} results_final rows (want {want})")
        else:
            print(f"  product token: lots {sorted(lots)} only, {n} results_final rows")
        wconn.close()

        # 4. Load.
        lat, errors, lock = [], [], threading.Lock()
        stop = time.monotonic() + SECONDS

        def client(i):
            c = connect(port, admin)
            k = i
            try:
                with c.cursor() as cu:
                    while time.monotonic() < stop:
                        sql = queries[k % len(queries)][1]
                        k += 1
                        t = time.perf_counter()
                        try:
                            cu.execute(sql)
                            cu.fetch_arrow_table()
                            with lock:
                                lat.append(time.perf_counter() - t)
                        except Exception as e:  # noqa: BLE001 - counted and printed
                            with lock:
                                errors.append(str(e)[:200])
            finally:
                c.close()

        threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.monotonic() - t0
        lat.sort()
        q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] if lat else float("nan")
        hwm = 0
        for l in open(f"/proc/{server.pid}/status"):
            if l.startswith("VmHWM:"):
                hwm = int(l.split()[1]) // 1024
        print(f"  load: {CLIENTS} clients for {wall:.0f} s: {len(lat)} queries, {len(lat) / wall:.1f} queries/s, "
              f"p50 {q(0.5) * 1000:.0f} ms, p95 {q(0.95) * 1000:.0f} ms, p99 {q(0.99) * 1000:.0f} ms, "
              f"{len(errors)} errors; server peak RSS {hwm} MiB (limit {LIMIT_MIB} MiB)")
        checks += 2
        if errors:
            failures += 1
            print(f"FAIL load: {len(errors)} errors, first: {errors[0]}")
        if not lat or hwm >= LIMIT_MIB:
            failures += 1
            print(f"FAIL load: peak RSS {hwm} MiB against a limit of {LIMIT_MIB} MiB")
        conn.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(f"flight/adbc: {checks} checks, {failures} failures")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
