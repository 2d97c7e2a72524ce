#!/usr/bin/env bash
# Generation speed: writes one wafer-sort file of about 1 GB (or GB=N gigabytes in
# total, e.g. GB=2) and prints the rate the generator reports.
#   bash benches/generate.sh          # ~1 GB, one file
#   GB=2 bash benches/generate.sh     # ~2 GB over two wafers
set -euo pipefail
cd "$(dirname "$0")/.."
GB="${GB:-1}"
cargo build --release --quiet
OUT=target/bench-data/gen
rm -rf "$OUT"
# ~3.7 MB of STDF per wafer at scale 1 (about 3,000 dies x 40 tests); scale 270 is ~1 GB.
target/release/yieldlake generate --profile auto-ic-ws --out "$OUT" --wafers "$GB" --scale 270 --seed 1 2>/dev/null
ls -l "$OUT"/*.stdf | awk '{s+=$5} END {printf "total %.2f GB of STDF\n", s/1e9}'
