#!/bin/sh
# bench-memory.sh [RUNS]: memory attribution accuracy and allocator-statistics cost, for
# `make bench` (see docs/benchmarks.md).  Uses ./tgattach (run `make` first) and the
# interpreters installed here (pyenv 3.11 and 3.12, Debian /usr/bin/python3.11); prints the
# machine, then per interpreter and metric the error per thread in percent.
set -eu
cd "$(dirname "$0")/.."
runs=${1:-3}
[ -x ./tgattach ] || { echo "bench-memory: build ./tgattach first (make)" >&2; exit 1; }
python=$(command -v python3 || true)
[ -n "$python" ] || { echo "bench-memory: python3 is needed to drive the benchmark" >&2; exit 1; }
echo "machine: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), $(uname -sr)"
"$python" tools/bench_memory.py --tgattach ./tgattach --cost
"$python" tools/bench_memory.py --tgattach ./tgattach --runs "$runs"
