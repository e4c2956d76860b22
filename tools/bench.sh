#!/bin/sh
# make bench: every benchmark, on the release build; figures go to docs/benchmarks.md.
# Takes a few minutes on 2 cores.  BENCH_QUICK=1 runs a shorter version of each.
set -e
cd "$(dirname "$0")/.."
python3 tools/bench.py
python3 tools/bench_fork.py
python3 tools/bench_native.py
python3 tools/bench_peers.py
python3 tools/bench_mechanisms.py
[ -f tools/bench-memory.sh ] && sh tools/bench-memory.sh
sh tools/bench-attrib.sh
python3 tools/bench_slowdown.py
[ -f tools/bench-render.sh ] && sh tools/bench-render.sh
echo "bench: results written to docs/benchmarks.md"
