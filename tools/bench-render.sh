#!/bin/sh
# Render throughput: generates a multi-hundred-MB recording (tools/gen-recording.py) under
# /tmp, times `tgattach render memg` and `render collapsed` (and top, speedscope, pprof) with the
# release build, and writes MB/s and peak RSS into docs/benchmarks.md, section "Render
# throughput" (between <!-- render:begin --> and <!-- render:end -->).  The data is deleted.
#
#   tools/bench-render.sh [SIZE_MB]        (default 500; TGATTACH=path to test another build)
set -e
cd "$(dirname "$0")/.."
SIZE_MB=${1:-500}
TG=${TGATTACH:-./tgattach}
THREADS=8
[ -x "$TG" ] || { echo "bench-render: build $TG first (make)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "bench-render: needs python3" >&2; exit 1; }
command -v gnuplot >/dev/null || { echo "bench-render: needs gnuplot" >&2; exit 1; }

WORK=$(mktemp -d /tmp/tg-bench-render.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM

echo "bench-render: generating a $SIZE_MB MB recording in $WORK"
REC=$(python3 tools/gen-recording.py "$WORK/rec" "$SIZE_MB" "$THREADS")
total=$(cat "$REC"/* | wc -c)
mem_bytes=$(cat "$REC"/*.mem | wc -c)
stack_bytes=$(cat "$REC"/*.stack | wc -c)
cat "$REC"/* >/dev/null # page cache: measure the renderer, not the disk

# measure CMD...: runs it (stdout to /dev/null, stderr to $WORK/err) and prints "SECONDS
# PEAK_KB", the peak being the VmHWM of the program itself, polled every 2 ms (wait4's
# ru_maxrss would count the forked parent's memory from before exec).
measure() {
	python3 - "$@" 2>"$WORK/err" <<'PY'
import os, subprocess, sys, time
exe = os.path.realpath(sys.argv[1])
t0 = time.monotonic()
p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
peak = 0
while p.poll() is None:
    try:
        if os.path.realpath("/proc/%d/exe" % p.pid) == exe:
            with open("/proc/%d/status" % p.pid) as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]))
    except OSError:
        pass
    time.sleep(0.002)
if p.returncode != 0:
    sys.exit("exit status %d" % p.returncode)
print("%.2f %d" % (time.monotonic() - t0, peak))
PY
}

# run NAME INPUT_BYTES OUTPUT ARGS...: one line "NAME INPUT_BYTES SECONDS PEAK_KB
# OUTPUT_BYTES" into $WORK/rows (OUTPUT: the files it writes, "-" for none)
run() {
	name=$1 bytes=$2 output=$3
	shift 3
	rm -rf "$WORK/out"
	mkdir "$WORK/out"
	measure "$TG" render "$@" >"$WORK/time" || {
		cat "$WORK/err" >&2
		exit 1
	}
	out_bytes=-
	[ "$output" = - ] || out_bytes=$(cat $output | wc -c)
	echo "$name $bytes $(cat "$WORK/time") $out_bytes" >>"$WORK/rows"
	echo "bench-render: $name: $(awk '{print $1 " s, peak RSS " $2 " KB"}' "$WORK/time")"
}
all=$((mem_bytes + stack_bytes))
run memg "$mem_bytes" "$WORK/out/memg.*" memg "$REC" -o "$WORK/out"
drawn=$(sed -n 's/.*labelled; \([0-9]*\) of \([0-9]*\) points drawn.*/\1 of \2/p' "$WORK/err")
svg_kb=$(($(wc -c <"$WORK/out/memg.svg") / 1024))
peaks=$(wc -l <"$WORK/out/memg.txt")
run collapsed "$all" "$WORK/out/folded" collapsed "$REC" -o "$WORK/out/folded"
run "collapsed --weight bytes" "$all" "$WORK/out/folded" collapsed "$REC" --weight bytes \
	-o "$WORK/out/folded"
run top "$all" - top "$REC"
run speedscope "$all" "$WORK/out/ss.json" speedscope "$REC" -o "$WORK/out/ss.json"
run pprof "$all" "$WORK/out/p.pb.gz" pprof "$REC" -o "$WORK/out/p.pb.gz"

python3 - "$WORK/rows" "$total" "$THREADS" "$svg_kb" "$peaks" "$drawn" <<'PY'
import os, platform, subprocess, sys, time
rows_path, total, threads, svg_kb, peaks, drawn = sys.argv[1:7]
total = int(total)
model = "unknown CPU"
with open("/proc/cpuinfo") as f:
    for line in f:
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
gp = subprocess.run(["gnuplot", "--version"], capture_output=True, text=True).stdout.strip()
lines = [
    "Machine: %s, %d cores (nproc), Linux %s; %s; %s; load average %.1f when done"
    " (a shared machine: figures vary by a factor of about 2 from run to run)." % (
        model, os.cpu_count(), platform.release(), gp, time.strftime("%Y-%m-%d"),
        os.getloadavg()[0]),
    "",
    "Input: a synthetic recording from `tools/gen-recording.py` (%d threads, stacks up to 40"
    " deep over 2000 functions, 1 return in 5 with a non-zero delta): %.1f MB in all, read"
    " from the page cache.  MB/s counts the bytes each command reads (memg: the .mem files;"
    " the others: .mem and .stack); seconds are wall-clock, gnuplot included for memg."
    "  Peak RSS is tgattach's own high-water mark (VmHWM)." % (int(threads), total / 1e6),
    "",
    "| command | input MB | seconds | MB/s | peak RSS MB | output MB |",
    "|---|---:|---:|---:|---:|---:|",
]
for row in open(rows_path):
    *name, nbytes, secs, kb, out = row.split()
    secs = max(float(secs), 0.01)
    lines.append("| `render %s` | %.1f | %.2f | %.0f | %.1f | %s |" % (
        " ".join(name), int(nbytes) / 1e6, secs, int(nbytes) / 1e6 / secs, int(kb) / 1024,
        "-" if out == "-" else "%.1f" % (int(out) / 1e6)))
lines += ["", "The synthetic stacks are a random walk, so collapsed finds hundreds of thousands"
          " of distinct stacks and writes most of the output: real programs repeat theirs.", "",
          "memg drew a %s KB SVG (%s points: each series decimated to at most 4 points"
          " per 1/2048 of its time span) and listed %s peaks in memg.txt (labels: one per"
          " 80x55-pixel cell at most)." % (svg_kb, drawn or "all", peaks.strip()), ""]
path = "docs/benchmarks.md"
begin, end = "<!-- render:begin -->", "<!-- render:end -->"
text = open(path).read() if os.path.exists(path) else "# Benchmarks\n"
block = begin + "\n" + "\n".join(lines) + end
if begin in text and end in text:
    text = text[:text.index(begin)] + block + text[text.index(end) + len(end):]
else:
    text = text.rstrip("\n") + "\n\n## Render throughput (tools/bench-render.sh)\n\n" + block + "\n"
with open(path, "w") as f:
    f.write(text)
print("\n".join(lines))
PY
echo "bench-render: results written to docs/benchmarks.md (data in $WORK deleted)"
