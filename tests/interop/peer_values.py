"""Interop: decoded VALUES agree with independent STDF readers (pystdf, stdf-convert).

peer_counts.py compares record counts; this compares what the records say, between each
peer's reading of the STDF file and the rows yieldlake wrote to the lake:

- per test (PTR and MPR, keyed by record type and TEST_NUM): every RESULT in file order
  (so count, sum, min and max too, which are printed), the rows written (an MPR gives one
  row per pin result, at least one), the limits and units in force on the test's first
  record, and the TEST_FLG histogram;
- per part, in PIR order (the lake's part_seq): hard and soft bin, X/Y and PART_ID;
- the HBR and SBR records: head, site, bin, count, pass/fail and name.

The lake is read with pyarrow straight from the Parquet files its manifest lists, in row
order, so DataFusion plays no part either. Every peer that can read a file is compared;
a peer may fail only on the files listed in peer_counts.py with their reasons, and an
excuse that no longer applies (the peer reads the file) is itself a failure.

usage: python peer_values.py LAKE FILE...
"""
import collections
import glob
import hashlib
import io
import json
import math
import os
import sys

import pyarrow.parquet as pq
import stdf_convert
from pystdf.IO import Parser

from peer_counts import V4_2007, decompressed, peer_read

WANTED = {"PIR", "PRR", "PTR", "MPR", "HBR", "SBR"}
# Files in which stdf-convert found V4-2007 records, which pystdf 1.4 does not know.
HAS_2007 = set()
NO_COORD, NO_BIN = -32768, 65535


def flag(v):
    """B1 fields: pystdf gives ints, stdf-convert one-byte bytes."""
    if v is None:
        return None
    if isinstance(v, (bytes, bytearray)):
        return v[0] if v else None
    return int(v)


def text(v):
    return v if v else None


def pystdf_records(path):
    """(code, fields) in file order, from pystdf."""
    out = []

    class Sink:
        def after_send(self, _, rec):
            code = type(rec[0]).__name__.upper()
            if code in WANTED:
                out.append((code, dict(zip(rec[0].fieldNames, rec[1]))))

    p = Parser(inp=io.BytesIO(decompressed(path)))
    p.addSink(Sink())
    p.parse()
    return out


def stdf_convert_records(path):
    """(code, fields) in file order, from stdf-convert's per-type tables."""
    tables = stdf_convert.tables(str(path))
    if any(tables.get(c) is not None and tables[c].num_rows for c in V4_2007):
        HAS_2007.add(str(path))
    rows = []
    for code in WANTED:
        t = tables.get(code)
        if t is None or not t.num_rows:
            continue
        for r in t.to_pylist():
            rows.append((r["sequence_number"], code, r))
    rows.sort(key=lambda x: x[0])
    return [(code, r) for _, code, r in rows]


def in_force(opt, value, invalid_bit, none_bit):
    """A limit on a test's first record: OPT_FLAG bit 6/7 says none, bit 4/5 says use the
    default (which a first record does not have yet); no OPT_FLAG, no limits."""
    if opt is None or value is None or opt & (1 << none_bit) or opt & (1 << invalid_bit):
        return None
    return value


def expected(records):
    """What the lake must hold, walked from a peer's records by the STDF rules alone."""
    tests = {}
    parts = []
    open_parts = {}
    next_seq = 0
    bins = collections.Counter()
    for code, f in records:
        if code == "PIR":
            open_parts[(f["HEAD_NUM"], f["SITE_NUM"])] = next_seq  # a second PIR replaces the first
            next_seq += 1
        elif code == "PRR":
            seq = open_parts.pop((f["HEAD_NUM"], f["SITE_NUM"]), None)
            if seq is None:  # an orphan PRR still is a part
                seq = next_seq
                next_seq += 1
            sb, x, y = f.get("SOFT_BIN"), f.get("X_COORD"), f.get("Y_COORD")
            parts.append(
                (
                    seq,
                    f.get("HARD_BIN"),
                    None if sb == NO_BIN else sb,
                    None if x == NO_COORD else x,
                    None if y == NO_COORD else y,
                    text(f.get("PART_ID")),
                )
            )
        elif code in ("PTR", "MPR"):
            kind = "P" if code == "PTR" else "M"
            t = tests.get((kind, f["TEST_NUM"]))
            opt = flag(f.get("OPT_FLAG"))
            if t is None:
                t = tests[(kind, f["TEST_NUM"])] = {
                    "values": [],
                    "rows": 0,
                    "flags": collections.Counter(),
                    "first": (
                        in_force(opt, f.get("LO_LIMIT"), 4, 6),
                        in_force(opt, f.get("HI_LIMIT"), 5, 7),
                        f.get("UNITS") or "",
                    ),
                }
            tf = flag(f.get("TEST_FLG"))
            if code == "PTR":
                vals = [f.get("RESULT")]
            else:
                vals = list(f.get("RTN_RSLT") or []) or [None]
            t["rows"] += len(vals)
            t["flags"][tf] += len(vals)
            t["values"].extend(v for v in vals if v is not None)
        else:
            num = f["HBIN_NUM"] if code == "HBR" else f["SBIN_NUM"]
            cnt = f["HBIN_CNT"] if code == "HBR" else f["SBIN_CNT"]
            name = f.get("HBIN_NAM") if code == "HBR" else f.get("SBIN_NAM")
            bins[(code[0], f["HEAD_NUM"], f["SITE_NUM"], num, cnt, text(name))] += 1
    parts.sort()
    return tests, parts, bins


def lake_values(lake, entry):
    """The same three views, read from the file's Parquet files in row order."""

    def read(table, cols):
        files = [f for f in entry["files"] if f.startswith(table + "/")]
        if not files:
            return []
        return pq.read_table(os.path.join(lake, files[0]), columns=cols).to_pylist()

    tests = {}
    for r in read("results", ["rec_type", "test_num", "result", "test_flg", "lo_limit", "hi_limit", "units"]):
        key = (r["rec_type"], r["test_num"])
        t = tests.get(key)
        if t is None:
            t = tests[key] = {"values": [], "rows": 0, "flags": collections.Counter(), "first": (r["lo_limit"], r["hi_limit"], r["units"] or "")}
        t["rows"] += 1
        t["flags"][r["test_flg"]] += 1
        if r["result"] is not None:
            t["values"].append(r["result"])
    parts = sorted(
        (r["part_seq"], r["hard_bin"], r["soft_bin"], r["x"], r["y"], text(r["part_id"]))
        for r in read("parts", ["part_seq", "hard_bin", "soft_bin", "x", "y", "part_id"])
    )
    bins = collections.Counter(
        (r["bin_type"], r["head_num"], r["site_num"], r["bin_num"], r["bin_count"], text(r["bin_name"]))
        for r in read("bins", ["bin_type", "head_num", "site_num", "bin_num", "bin_count", "bin_name"])
    )
    return tests, parts, bins


def same_float(a, b):
    return a == b or (a is not None and b is not None and math.isnan(a) and math.isnan(b))


def summary(vals):
    finite = [v for v in vals if not math.isnan(v)]
    if not finite:
        return f"n={len(vals)}"
    return f"n={len(vals)} sum={math.fsum(finite):.6g} min={min(finite):.6g} max={max(finite):.6g}"


def compare(name, peer, want, got):
    """Differences between a peer's expectation and the lake, as readable lines."""
    wt, wp, wb = want
    gt, gp, gb = got
    diffs = []
    if set(wt) != set(gt):
        diffs.append(f"tests differ: only in {peer}: {sorted(set(wt) - set(gt))[:5]}, only in the lake: {sorted(set(gt) - set(wt))[:5]}")
    for key in sorted(set(wt) & set(gt)):
        a, b = wt[key], gt[key]
        label = f"test {key[0]}{key[1]}"
        if a["rows"] != b["rows"]:
            diffs.append(f"{label}: {a['rows']} rows from {peer}, {b['rows']} in the lake")
        va, vb = a["values"], b["values"]
        if len(va) != len(vb) or not all(same_float(x, y) for x, y in zip(va, vb)):
            i = next((i for i, (x, y) in enumerate(zip(va, vb)) if not same_float(x, y)), min(len(va), len(vb)))
            diffs.append(
                f"{label}: RESULT differs at value {i}: {peer} {summary(va)}, lake {summary(vb)}; "
                f"first difference {va[i] if i < len(va) else '-'} vs {vb[i] if i < len(vb) else '-'}"
            )
        if not all(same_float(x, y) for x, y in zip(a["first"][:2], b["first"][:2])) or a["first"][2] != b["first"][2]:
            diffs.append(f"{label}: first record's limits and units {a['first']} from {peer}, {b['first']} in the lake")
        if a["flags"] != b["flags"]:
            diffs.append(f"{label}: TEST_FLG counts {dict(a['flags'])} from {peer}, {dict(b['flags'])} in the lake")
    if wp != gp:
        if len(wp) != len(gp):
            diffs.append(f"{len(wp)} parts from {peer}, {len(gp)} in the lake")
        i = next((i for i, (x, y) in enumerate(zip(wp, gp)) if x != y), None)
        if i is not None:
            diffs.append(f"part {i} (seq, hard, soft, x, y, id): {wp[i]} from {peer}, {gp[i]} in the lake")
    if wb != gb:
        diffs.append(f"HBR/SBR differ: only from {peer}: {sorted(wb - gb)[:5]}, only in the lake: {sorted(gb - wb)[:5]}")
    return diffs


def main():
    lake, files = sys.argv[1], sys.argv[2:]
    by_sha = {}
    for p in glob.glob(os.path.join(lake, "_manifest", "*.json")):
        e = json.load(open(p))
        by_sha[e["sha256"]] = e
    failures = compared = 0
    for f in files:
        name = os.path.basename(f)
        entry = by_sha.get(hashlib.sha256(open(f, "rb").read()).hexdigest())
        if entry is None:
            print(f"FAIL {name}: not in the lake {lake}")
            failures += 1
            continue
        got = lake_values(lake, entry)
        for peer, fn in (("stdf-convert", stdf_convert_records), ("pystdf", pystdf_records)):
            ok, recs = peer_read(peer, fn, f, str(f) in HAS_2007)
            if ok is None:
                continue
            if not ok:
                failures += 1
                continue
            want = expected(recs)
            diffs = compare(name, peer, want, got)
            if diffs:
                failures += 1
                print(f"FAIL {name}: {peer} and the lake disagree:")
                for d in diffs[:12]:
                    print(f"    {d}")
            else:
                compared += 1
                tests, parts, bins = want
                n = sum(len(t["values"]) for t in tests.values())
                total = math.fsum(v for t in tests.values() for v in t["values"] if not math.isnan(v))
                print(f"  ok {name}: {peer} agrees on {len(tests)} tests ({n} results, sum {total:.6g}), {len(parts)} parts, {sum(bins.values())} HBR/SBR")
    print(f"interop values: {compared} passed, {failures} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
