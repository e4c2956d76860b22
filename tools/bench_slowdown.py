"""bench_slowdown.py [--blocks N] [--no-write]: how much tgattach slows a busy server, told
apart from the machine's noise (`make bench`; issue 11's budget: at most 3 %).

tools/bench-attrib.sh runs each mode on its own fresh server, some minutes apart: its
unattached rounds spread by 8 - 20 % of their median, more than the budget.  Here the
runs are paired on one server, close in time.  For each server kind (gunicorn sync, then
gthread with 4 threads) and each mode, BLOCKS blocks; a block is one fresh, warmed-up
server loaded four times in a row by `ab -c 2 -t RUN_S` on /leak (127.0.0.1 only), twice
unattached (A) and twice with tgattach recording the worker (B), in the order ABBA or
BAAB by turns, so that a drift along the block (the worker's heap grows by ~30 KB a
request) cancels.  A block's ratio is its B runs' requests over its A runs'; the slowdown
is 1 - the geometric mean of the ratios, with a 95 % interval from Student's t over the
blocks' logarithms.  Beside each run: the worker's CPU per request, and the time its
threads waited on a run queue for a CPU and how often they were preempted (schedstat,
status): where a slowdown with the same CPU per request goes.  tgattach is attached
before its first B run (it has written its first sample and run 0.5 s more) and ended
with SIGTERM after its last.  Verdicts: within the budget when the interval's top is
at most 3 %, over it when its bottom is above, else undecided.  About 11 minutes on 2
cores; BENCH_QUICK=1: 2 blocks of 2 s runs.
Writes the section between <!-- slowdown:begin --> and <!-- slowdown:end --> of
docs/benchmarks.md.  TGATTACH=path to test another build."""
import argparse
import math
import os
import platform
import shutil
import signal
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchdoc
from gunisrv import Fail, Recorder, Server, ab_for, share, stop, stop_all, versions
from procutil import cpu_model, cpu_s, sched_wait

QUICK = os.environ.get("BENCH_QUICK") == "1"
RUN_S = 2 if QUICK else 4
BUDGET = 3.0
MODES = [("default", []), ("--mem-rate 0 (attribution off)", ["--mem-rate", "0"])]
SERVERS = [("sync", "gunicorn sync worker (`-w 1 -k sync`)", []),
           ("gthread", "gunicorn gthread worker (`-w 1 -k gthread --threads 4`)",
            ["--threads", "4"])]
# Student's t, two-sided 95 %, by degrees of freedom
T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201,
        2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086]


def log(msg):
    print("bench-slowdown: " + msg, file=sys.stderr, flush=True)


def t975(df):
    return T975[df - 1] if df <= len(T975) else 1.96


class Block:
    """One server, four runs: rps and worker CPU µs per request per run, by A/B."""

    def __init__(self, order):
        self.order = order
        self.rps = {"A": [], "B": []}
        self.wus = {"A": [], "B": []}
        self.wait = {"A": [], "B": []}  # % of the run's time the worker's threads waited for a CPU
        self.preempt = {"A": [], "B": []}  # the worker's threads preempted, per request
        self.tg_cpu = []

    def ratio(self):
        return sum(self.rps["B"]) / sum(self.rps["A"])

    def cpu_ratio(self):
        """the worker's CPU per request, B over A"""
        return sum(self.wus["B"]) / sum(self.wus["A"])


def run_block(tg, extra, opts, order, work):
    blk = Block(order)
    srv = Server(extra)
    rec = None
    try:
        for i, x in enumerate(order):
            if x == "B" and rec is None:
                rec = Recorder(tg, srv.worker, opts, work)
            if x == "A" and rec is not None:
                rec.close()
                rec = None
            w0, q0, t0 = cpu_s(srv.worker), sched_wait(srv.worker), time.monotonic()
            m0 = rec.mark() if rec else None
            rps, n = ab_for(srv.port, RUN_S)
            q1, t1 = sched_wait(srv.worker), time.monotonic()
            blk.rps[x].append(rps)
            blk.wus[x].append((cpu_s(srv.worker) - w0) * 1e6 / max(n, 1))
            blk.wait[x].append(100 * (q1[0] - q0[0]) / (t1 - t0))
            blk.preempt[x].append((q1[1] - q0[1]) / max(n, 1))
            if rec:
                blk.tg_cpu.append(share(m0, rec.mark()))
        if rec is not None:
            rec.close()
            rec = None
        return blk
    finally:
        if rec is not None and rec.p.poll() is None:
            stop(rec.p)
        srv.close()


def interval(logs):
    """(slowdown %, low %, high %) from the blocks' log ratios; infinite bounds with one
    block (no interval)."""
    m = statistics.mean(logs)
    if len(logs) < 2:
        return 100 * (1 - math.exp(m)), -math.inf, math.inf
    h = t975(len(logs) - 1) * statistics.stdev(logs) / math.sqrt(len(logs))
    return 100 * (1 - math.exp(m)), 100 * (1 - math.exp(m + h)), 100 * (1 - math.exp(m - h))


def measure(tg, blocks, work):
    """[(kind, title, label, [Block])]"""
    res = []
    for kind, title, extra in SERVERS:
        for label, opts in MODES:
            log("%s, %s: %d blocks of 4 runs of %d s" % (kind, label, blocks, RUN_S))
            got = []
            for b in range(blocks):
                blk = run_block(tg, extra, opts, "ABBA" if b % 2 == 0 else "BAAB", work)
                got.append(blk)
                log("  block %d/%d %s: A %s, B %s requests/s: ratio %.3f" % (
                    b + 1, blocks, blk.order, " ".join("%.0f" % r for r in blk.rps["A"]),
                    " ".join("%.0f" % r for r in blk.rps["B"]), blk.ratio()))
            res.append((kind, title, label, got))
    return res


def verdict(lo, hi):
    if hi <= BUDGET:
        return "within the 3 % budget"
    if lo > BUDGET:
        return "**over the 3 % budget**"
    return "undecided (the interval holds 3 %)"


def report(res, blocks, minutes, load):
    ver = versions()
    lines = [
        "Machine: %s, %s cores (nproc), Linux %s; %s; load average %.1f at the start, %.1f when "
        "done.  Target: Debian's Python %s, gunicorn %s, Flask %s, one worker serving "
        "`fixtures/realserver/flask_app.py`; load `ab -c 2 -t %d` on /leak; %d blocks per "
        "row, each a fresh server loaded four times in a row, twice unattached (A) and "
        "twice recorded by `tgattach -p WORKER -o DIR -q` (B), ABBA and BAAB by turns.  "
        "Slowdown: 1 − the geometric mean over the blocks of B's requests ÷ A's, with its "
        "95 %% interval (Student's t over the blocks).  Waiting for a CPU: the time the "
        "worker's threads spent runnable on a run queue (schedstat), summed over them, "
        "as a share of the run; preempted: their involuntary context switches.  The "
        "medians over the runs.  %.1f minutes in all."
        % (cpu_model(), os.cpu_count(), platform.release(), time.strftime("%Y-%m-%d"),
           load[0], load[1], ver[0], ver[1], ver[2], RUN_S, blocks, minutes),
        "",
        "| server | mode | requests/s A → B (medians) | slowdown (95 % interval) "
        "| worker CPU µs/request A → B (95 % interval of the change) "
        "| worker waiting for a CPU, % of the time A → B | worker preempted per request "
        "A → B | tgattach CPU | verdict |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for kind, _, label, got in res:
        s, lo, hi = interval([math.log(b.ratio()) for b in got])
        a = [r for b in got for r in b.rps["A"]]
        bb = [r for b in got for r in b.rps["B"]]
        wa = statistics.median(w for b in got for w in b.wus["A"])
        wb = statistics.median(w for b in got for w in b.wus["B"])
        # the change of CPU per request is minus its "slowdown"
        cs, cs_lo, cs_hi = interval([math.log(b.cpu_ratio()) for b in got])
        cpu = statistics.median(c for b in got for c in b.tg_cpu)
        qa, qb = (statistics.median(q for b in got for q in b.wait[x]) for x in "AB")
        pa, pb = (statistics.median(q for b in got for q in b.preempt[x]) for x in "AB")
        lines.append("| %s | %s | %.0f → %.0f | %+.1f %% (%+.1f – %+.1f) | %.0f → %.0f "
                     "(%+.1f %%: %+.1f – %+.1f) | %.1f → %.1f %% | %.2f → %.2f | %.1f %% "
                     "| %s |" % (
                         kind, label, statistics.median(a), statistics.median(bb), s, lo, hi,
                         wa, wb, -cs, -cs_hi, -cs_lo, qa, qb, pa, pb, cpu, verdict(lo, hi)))
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(prog="tools/bench_slowdown.py")
    ap.add_argument("--blocks", type=int, default=2 if QUICK else 8)
    ap.add_argument("--no-write", action="store_true", help="print only")
    args = ap.parse_args()
    tg = os.path.abspath(os.environ.get("TGATTACH", os.path.join(benchdoc.ROOT, "tgattach")))
    if not os.access(tg, os.X_OK):
        sys.exit("bench-slowdown: build %s first (make)" % tg)
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, lambda n, f: (_ for _ in ()).throw(KeyboardInterrupt()))
    t0, load0 = time.monotonic(), os.getloadavg()[0]
    work = tempfile.mkdtemp(prefix="tg-bench-slowdown.")
    try:
        res = measure(tg, args.blocks, work)
    except Fail as e:
        sys.exit("bench-slowdown: %s" % e)
    except KeyboardInterrupt:
        sys.exit("bench-slowdown: interrupted")
    finally:
        stop_all()
        shutil.rmtree(work, ignore_errors=True)
    text = report(res, args.blocks, (time.monotonic() - t0) / 60,
                  (load0, os.getloadavg()[0]))
    print(text)
    if not args.no_write:
        benchdoc.write_section("slowdown", text,
                               "Busy server slowdown, paired runs (tools/bench_slowdown.py)")
        log("results written to docs/benchmarks.md")


if __name__ == "__main__":
    main()
