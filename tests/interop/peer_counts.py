"""Interop: independent STDF readers (pystdf, stdf-convert) agree with yieldlake.

For every file given, record counts per type from each peer must equal the counts that
`yieldlake info --json` reports. Peers that cannot read a file are allowed only where the
failure is a known limitation of that peer, listed below with its reason.

usage: python peer_counts.py YIELDLAKE_BIN FILE...
"""
import bz2
import collections
import gzip
import io
import json
import subprocess
import sys
import zipfile

import stdf_convert
from pystdf.IO import Parser

# Known peer limitations (file name -> reason). Anything else failing is an error.
PYSTDF_CANNOT_READ = {
    "gdr.stdf": "pystdf cannot parse GDR type-0 pad bytes",
    "x.stdf": "pystdf rejects the legally shortened FTR",
}
# pystdf 1.4 does not know the V4-2007 record types at all.
V4_2007 = {"VUR", "PSR", "NMR", "CNR", "SSR", "CDR", "STR"}


def decompressed(path):
    data = open(path, "rb").read()
    if data[:2] == b"\x1f\x8b":
        return gzip.decompress(data)
    if data[:3] == b"BZh":
        return bz2.decompress(data)
    if data[:4] == b"PK\x03\x04":
        z = zipfile.ZipFile(io.BytesIO(data))
        return z.read(z.namelist()[0])
    if data[:4] == b"\x28\xb5\x2f\xfd":
        import zstandard  # noqa: only if a zstd file is given

        return zstandard.ZstdDecompressor().decompressobj().decompress(data)
    return data


def pystdf_counts(path):
    counts = collections.Counter()

    class Sink:
        def after_send(self, _, rec):
            counts[type(rec[0]).__name__.upper()] += 1

    p = Parser(inp=io.BytesIO(decompressed(path)))
    p.addSink(Sink())
    p.parse()
    return dict(counts)


def stdf_convert_counts(path):
    return {k: t.num_rows for k, t in stdf_convert.tables(str(path)).items() if t.num_rows}


def peer_read(peer, fn, path, has_2007):
    """Runs one peer on one file: (ok, value). A failure is allowed only where it is a
    known limitation of pystdf (then ok is None: skipped); an excuse for a file that pystdf
    now reads is itself a failure. Prints what happened."""
    name = str(path).rsplit("/", 1)[-1]
    excused = peer == "pystdf" and name in PYSTDF_CANNOT_READ
    if peer == "pystdf" and has_2007:
        print(f"  {name}: pystdf skipped (no V4-2007 support)")
        return None, None
    try:
        value = fn(path)
    except Exception as e:  # noqa: BLE001
        if excused:
            print(f"  {name}: pystdf failed as known ({PYSTDF_CANNOT_READ[name]})")
            return None, None
        print(f"FAIL {name}: {peer} could not read it: {e!r}")
        return False, None
    if excused:
        print(f"FAIL {name}: pystdf now reads it; remove the excuse '{PYSTDF_CANNOT_READ[name]}'")
        return False, None
    return True, value


def main():
    exe, files = sys.argv[1], sys.argv[2:]
    out = subprocess.run([exe, "info", "--json", *files], capture_output=True, text=True)
    ours = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(ours) == len(files), out.stderr
    failures = 0
    compared = 0
    for f, info in zip(files, ours):
        name = f.rsplit("/", 1)[-1]
        mine = info["records"]
        has_2007 = bool(V4_2007 & set(mine))
        for peer, fn in (("stdf-convert", stdf_convert_counts), ("pystdf", pystdf_counts)):
            ok, theirs = peer_read(peer, fn, f, has_2007)
            if ok is None:
                continue
            if not ok:
                failures += 1
                continue
            if theirs != mine:
                print(f"FAIL {name}: {peer} counts {theirs} != yieldlake {mine}")
                failures += 1
            else:
                compared += 1
                print(f"  ok {name}: {peer} agrees on {sum(mine.values())} records")
    print(f"interop: {compared} passed, {failures} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
