"""bench_memory.py: how well tgattach charges memory to the threads that allocated it.

Usage: python3 tools/bench_memory.py [--tgattach PATH] [--runs N] [--rate HZ]
                                     [--metric rss,heap] [--extra ARGS] [--json FILE]
                                     [--cost] [PYTHON...]

For each interpreter (default: pyenv 3.11 and 3.12, Debian /usr/bin/python3.11) and each
metric, runs fixtures/alloc_threads.py N times under `tgattach --metric M`, and compares
what each worker function's return line in THREAD.mem charged with the fixture's own
tracemalloc truth.  Prints, per thread, the truth, the mean charge and the error in
percent (|charged - truth| / |truth|; for a thread whose truth is near zero, the error is
given relative to the largest truth, marked "*"), and whether the busiest allocator was
ranked first.  With --cost, measures instead what reading the allocator costs on idle
processes of growing heaps (from the mem_cost_us line tgattach writes into meta), and
what the quick readings cost on a busy process of a small and a large heap.  Uses
only the standard library.
"""
import argparse
import glob
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from procutil import status_kb  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURE = os.path.join(ROOT, "fixtures", "alloc_threads.py")
NEAR_ZERO = 1 << 20  # truths under 1 MiB are "net zero" threads


def pyenv_python(prefix):
    root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    for d in sorted(glob.glob(os.path.join(root, "versions", prefix + "*"))):
        exe = os.path.join(d, "bin", "python")
        if os.access(exe, os.X_OK):
            return exe
    return None


def read_truth(path):
    funcs = {}
    with open(path) as f:
        for line in f:
            fields = line.rstrip("\n").split("\t")
            if fields[0] == "func":
                funcs[fields[1]] = (fields[2], int(fields[3]))
    return funcs


def unescape(s):
    """Reverse the field escaping of THREAD.mem: \\xHH is the byte 0xHH."""
    out, i, raw = bytearray(), 0, s.encode()
    while i < len(raw):
        if raw[i:i + 2] == b"\\x" and len(raw) >= i + 4:
            try:
                out.append(int(raw[i + 2:i + 4], 16))
                i += 4
                continue
            except ValueError:
                pass
        out.append(raw[i])
        i += 1
    return out.decode("utf-8", "replace")


def charged_by_function(piddir, thread, func):
    """Sum of the return deltas of `func` in THREAD.mem (the worker runs it once)."""
    total, found = 0, False
    path = os.path.join(piddir, thread + ".mem")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        for line in f:
            site, _, delta = line.rstrip("\n").rpartition("=>")
            name = unescape(site.rsplit(":", 1)[-1])
            if name == func:
                total += int(delta)
                found = True
    return total if found else None


def wait_traced(pid, timeout):
    until = time.time() + timeout
    while time.time() < until:
        try:
            with open("/proc/%d/status" % pid) as f:
                for line in f:
                    if line.startswith("TracerPid:") and int(line.split()[1]) != 0:
                        return True
        except OSError:
            return False
        time.sleep(0.02)
    return False


def one_run(tg, python, metric, rate, extra):
    tmp = tempfile.mkdtemp(prefix="tg-bench-mem-")
    truth_path = os.path.join(tmp, "truth.txt")
    fx = subprocess.Popen([python, FIXTURE, truth_path], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, cwd=os.path.dirname(FIXTURE))
    rec = None
    try:
        ready = fx.stdout.readline().decode()
        if not ready.startswith("READY"):
            raise RuntimeError("fixture did not start: %r" % ready)
        cmd = [tg, "-p", str(fx.pid), "-o", tmp, "-q", "-r", str(rate), "--metric", metric]
        rec = subprocess.Popen(cmd + extra, stdin=subprocess.DEVNULL)
        if not wait_traced(fx.pid, 10):
            raise RuntimeError("tgattach did not attach")
        time.sleep(0.3)
        fx.stdin.write(b"go\n")
        fx.stdin.flush()
        done = fx.stdout.readline().decode()
        if not done.startswith("DONE"):
            raise RuntimeError("fixture did not finish: %r" % done)
        time.sleep(0.3)
        rec.send_signal(signal.SIGINT)
        if rec.wait(30) != 0:
            raise RuntimeError("tgattach exited %d" % rec.returncode)
    finally:
        if rec and rec.poll() is None:
            rec.kill()
            rec.wait()
        try:
            fx.stdin.close()
        except OSError:
            pass
        try:
            fx.wait(10)
        except subprocess.TimeoutExpired:
            fx.kill()
            fx.wait()
    truth = read_truth(truth_path)
    piddir = os.path.join(tmp, str(fx.pid))
    result = {}
    for thread, (func, net) in truth.items():
        result[thread] = (net, charged_by_function(piddir, thread, func))
    subprocess.call(["rm", "-rf", tmp])
    return result


def error_pct(truth, charged, scale):
    if charged is None:
        return None, False
    if abs(truth) >= NEAR_ZERO:
        return 100.0 * abs(charged - truth) / abs(truth), False
    return 100.0 * abs(charged - truth) / scale, True


def report(label, metric, runs):
    threads = list(runs[0].keys())
    scale = max(abs(r[t][0]) for r in runs for t in threads)
    print("%s, --metric %s, %d runs:" % (label, metric, len(runs)))
    print("  %-9s %10s %10s %8s %8s" % ("thread", "truth MB", "charged MB", "err %", "max %"))
    summary = {}
    for t in threads:
        truths = [r[t][0] for r in runs]
        charges = [r[t][1] for r in runs if r[t][1] is not None]
        errs = [error_pct(r[t][0], r[t][1], scale) for r in runs]
        vals = [e for e, _ in errs if e is not None]
        rel = any(z for _, z in errs)
        mean_t = sum(truths) / len(truths)
        mean_c = sum(charges) / len(charges) if charges else float("nan")
        mean_e = sum(vals) / len(vals) if vals else float("nan")
        max_e = max(vals) if vals else float("nan")
        print("  %-9s %10.1f %10.1f %7.1f%s %7.1f%s" % (t, mean_t / 1e6, mean_c / 1e6, mean_e,
                                                     "*" if rel else " ", max_e,
                                                     "*" if rel else " "))
        summary[t] = {"truth": mean_t, "charged": mean_c, "err_pct": mean_e,
                      "max_err_pct": max_e, "relative_to_largest": rel,
                      "missing": len(runs) - len(charges)}
    firsts = 0
    for r in runs:
        busiest = max(threads, key=lambda t: r[t][0])
        ranked = max(threads, key=lambda t: r[t][1] if r[t][1] is not None else -1e18)
        firsts += busiest == ranked
    print("  busiest allocator ranked first in %d of %d runs" % (firsts, len(runs)))
    summary["_ranked_first"] = [firsts, len(runs)]
    return summary


COST_TARGET = r"""
import sys, time
data = ["%%0100d" %% i for i in range(%d)]
sys.stdout.write("READY\n"); sys.stdout.flush()
while True: time.sleep(100)
"""


# A busy process on a heap of N small tuples: a thread builds and drops 2,000 strings every
# 0.5 ms, so that the quick readings run (an idle process gets no bursts).
BUSY_TARGET = r"""
import sys, threading, time
keep = [(i, i + 1) for i in range(%d)]
def churn():
    while True:
        x = [str(i) for i in range(2000)]
        del x
        time.sleep(0.0005)
threading.Thread(target=churn, daemon=True).start()
sys.stdout.write("READY\n"); sys.stdout.flush()
while True: time.sleep(100)
"""


def read_meta(piddir):
    meta = {}
    with open(os.path.join(piddir, "meta")) as f:
        for line in f:
            key, _, value = line.rstrip("\n").partition("=")
            meta[key] = value  # the last run wins
    return meta


def last_alloc_row(piddir):
    cols, row = None, None
    with open(os.path.join(piddir, "process.alloc")) as f:
        for line in f:
            if line.startswith("# time "):
                cols = line[2:].split()
            elif not line.startswith("#") and "?" not in line.split()[8:9]:
                row = line.split()
    return dict(zip(cols, row)) if cols and row else {}


def cost(tg, python, objects, seconds, rate):
    """What reading the allocator costs, on an idle process holding `objects` strs."""
    tmp = tempfile.mkdtemp(prefix="tg-bench-cost-")
    fx = subprocess.Popen([python, "-c", COST_TARGET % objects], stdout=subprocess.PIPE)
    try:
        fx.stdout.readline()
        subprocess.check_call([tg, "-p", str(fx.pid), "-o", tmp, "-q", "-r", str(rate),
                               "-d", str(seconds), "--metric", "heap"],
                              stdin=subprocess.DEVNULL)
        piddir = os.path.join(tmp, str(fx.pid))
        meta, row = read_meta(piddir), last_alloc_row(piddir)
    finally:
        fx.kill()
        fx.wait()
        subprocess.call(["rm", "-rf", tmp])
    return meta, row


def report_cost(tg, python, rate):
    print("allocator statistics cost, %s, %g Hz stack samples, --metric heap:" % (python, rate))
    print("  %9s %10s %8s %10s %10s %12s %10s" % ("objects", "arenas MB", "pools", "walk us",
                                                   "walks/s", "sample us*", "micro us"))
    for objects in (10000, 100000, 1000000, 3000000):
        meta, row = cost(tg, python, objects, 3, rate)
        parts = dict(p.split(":", 1) for p in meta.get("mem_cost_us", "").split())
        walks = int(meta.get("alloc_walks", "0"))
        arena = float(row.get("arena_bytes", "0")) / 1e6
        print("  %9d %10.1f %8d %10s %10.1f %12s %10s" % (
            objects, arena, int(arena * 1e6 / 16384), parts.get("walk", "?"), walks / 3.0,
            parts.get("sample", "?"), parts.get("micro", "?")))
        sys.stdout.flush()
    print("  * memory part of a stack sample, pool walks included")


def busy_cost(tg, python, objects, seconds):
    """tgattach's CPU seconds and its meta, recording a busy process of `objects` tuples."""
    tmp = tempfile.mkdtemp(prefix="tg-bench-busy-")
    fx = subprocess.Popen([python, "-c", BUSY_TARGET % objects], stdout=subprocess.PIPE)
    try:
        fx.stdout.readline()
        rss = status_kb(fx.pid, "VmRSS")
        before = os.times()
        subprocess.check_call([tg, "-p", str(fx.pid), "-o", tmp, "-q", "-d", str(seconds)],
                              stdin=subprocess.DEVNULL)
        after = os.times()
        cpu = (after.children_user - before.children_user) + \
              (after.children_system - before.children_system)
        meta = read_meta(os.path.join(tmp, str(fx.pid)))
    finally:
        fx.kill()
        fx.wait()
        subprocess.call(["rm", "-rf", tmp])
    return rss / 1024.0, cpu, meta


def report_busy_cost(tg, python):
    print("quick readings on a busy process, by heap size, %s, the defaults, 5 s:" % python)
    print("  %9s %9s %10s %10s %12s" % ("tuples", "RSS MB", "reading us", "every us",
                                         "tgattach %"))
    for objects in (1000000, 20000000):
        rss, cpu, meta = busy_cost(tg, python, objects, 5)
        parts = dict(p.split(":", 1) for p in meta.get("mem_cost_us", "").split())
        print("  %9d %9.0f %10s %10s %12.1f" % (objects, rss, parts.get("micro", "?"),
                                                 meta.get("mem_reading_us", "?"), cpu / 5 * 100))
        sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tgattach", default=os.path.join(ROOT, "tgattach"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--rate", type=float, default=100)
    ap.add_argument("--metric", default="rss,heap")
    ap.add_argument("--json")
    ap.add_argument("--extra", default="", help="more tgattach arguments")
    ap.add_argument("--cost", action="store_true",
                    help="only measure what reading the allocator costs")
    ap.add_argument("pythons", nargs="*")
    args = ap.parse_args()
    pythons = args.pythons or [p for p in (pyenv_python("3.11."), pyenv_python("3.12."),
                                           "/usr/bin/python3.11") if p and os.path.exists(p)]
    if args.cost:
        for python in pythons[:1]:
            report_cost(args.tgattach, python, args.rate)
        busy = pyenv_python("3.12.") or pythons[0]
        report_busy_cost(args.tgattach, busy)
        return
    out = {}
    for python in pythons:
        for metric in args.metric.split(","):
            runs = [one_run(args.tgattach, python, metric, args.rate, args.extra.split())
                    for _ in range(args.runs)]
            out["%s %s" % (python, metric)] = report(python, metric, runs)
            sys.stdout.flush()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
