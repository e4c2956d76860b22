#!/bin/sh
# make bench: every benchmark, release build; figures go to docs/benchmarks.md.
set -e
cd "$(dirname "$0")/.."
python3 tools/bench.py
for extra in tools/bench-memory.sh tools/bench-render.sh; do
	[ -x "$extra" ] || [ -f "$extra" ] && sh "$extra"
done
echo "bench: results written to docs/benchmarks.md"
