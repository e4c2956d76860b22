#!/bin/sh
# bench-attrib.sh [--rounds N] [--no-write]: what the memory attribution (bursts of memory
# micro-samples, --mem-rate) costs, for `make bench`.  On Debian's gunicorn serving
# fixtures/realserver/flask_app.py with one worker (sync, then gthread with 4 threads):
#   idle:  tgattach's CPU (user + sys of the whole process, /proc/PID/stat) over IDLE_S
#          seconds, as % of a core, attached with the defaults, with --mem-rate 20, with
#          --mem-rate 0 (attribution off), with --realtime and with --no-autogroup: one
#          fresh server per mode, the modes at once;
#   busy:  requests per second under `ab -c 2 -t 10 -n 1000000` on /leak (127.0.0.1 only,
#          bounded in time) with tgattach not attached, default, --mem-rate 20,
#          --mem-rate 0, --realtime and --no-autogroup, the modes interleaved in ROUNDS
#          rounds (order rotated per round),
#          a fresh server for each run (/leak keeps ~30 KB per request); medians, and the
#          slowdown as the median of each round's ratio to that round's unattached run;
#          tgattach's CPU over the load and its peak RSS (VmHWM) per mode.
# Writes the section between <!-- attrib:begin --> and <!-- attrib:end --> of
# docs/benchmarks.md (tools/benchdoc.py).  About 9 minutes on 2 cores with 3 rounds;
# BENCH_QUICK=1: 1 round, shorter windows.  TGATTACH=path to test another build.
set -e
cd "$(dirname "$0")/.."
TG=${TGATTACH:-./tgattach}
[ -x "$TG" ] || { echo "bench-attrib: build $TG first (make)" >&2; exit 1; }
command -v ab >/dev/null || { echo "bench-attrib: needs ab (apache2-utils; tools/deps.sh)" >&2; exit 1; }
[ -x /usr/bin/python3 ] || { echo "bench-attrib: needs /usr/bin/python3" >&2; exit 1; }
/usr/bin/python3.11 -c 'import gunicorn, flask' 2>/dev/null || {
	echo "bench-attrib: needs Debian's python3.11 with gunicorn and python3-flask (tools/deps.sh)" >&2
	exit 1
}
exec /usr/bin/python3 - "$TG" "$@" <<'PY'
import argparse
import os
import platform
import shutil
import signal
import statistics
import sys
import tempfile
import time

sys.path.insert(0, "tools")
import benchdoc
from gunisrv import (WARMUP_N, AB_N, Fail, Recorder, Server, ab_for, share, stop,
                     stop_all, versions)
from procutil import cpu_model, cpu_s, status_kb

QUICK = os.environ.get("BENCH_QUICK") == "1"
IDLE_S = 5 if QUICK else 20       # idle: CPU measured over this window
LOAD_S = 4 if QUICK else 10       # ab -t
# (label, tgattach options); None: not attached
MODES = [
    ("not attached", None),
    ("--mem-rate 0 (attribution off)", ["--mem-rate", "0"]),
    ("--mem-rate 20 (bursts 1 in 5)", ["--mem-rate", "20"]),
    ("default (--mem-rate 100: bursts back to back)", []),
    ("--realtime (the loop under SCHED_FIFO)", ["--realtime"]),
    ("default, --no-autogroup (its session's share left as it is)", ["--no-autogroup"]),
]
SERVERS = [("sync", "gunicorn, sync worker (`-w 1 -k sync`)", []),
           ("gthread", "gunicorn, gthread worker (`-w 1 -k gthread --threads 4`)",
            ["--threads", "4"])]


def log(msg):
    print("bench-attrib: " + msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------
# the measurements

def idle(tg, work):
    """{server kind: {attached mode: (tgattach CPU % of a core, peak RSS KB)}}: every kind
    and mode at once, each on its own fresh server."""
    runs = []
    try:
        for kind, _, extra in SERVERS:
            for label, opts in MODES:
                if opts is not None:
                    srv = Server(extra)
                    runs.append([kind, label, srv, None])
                    runs[-1][3] = Recorder(tg, srv.worker, opts, work)
        marks = [run[3].mark() for run in runs]
        time.sleep(IDLE_S)
        ends = [run[3].mark() for run in runs]
        res = {kind: {} for kind, _, _ in SERVERS}
        for (kind, label, srv, rec), a, b in zip(runs, marks, ends):
            res[kind][label] = (share(a, b), rec.close())
        return res
    finally:
        for _, _, srv, rec in runs:
            if rec and rec.p.poll() is None:
                stop(rec.p)
            srv.close()


def busy_run(tg, extra, opts, work):
    """One fresh server under ab: (requests/s, tgattach CPU %, peak RSS KB, worker RSS KB
    at the end, worker CPU µs per request)."""
    srv = Server(extra)
    rec = None
    try:
        if opts is not None:
            rec = Recorder(tg, srv.worker, opts, work)
            a = rec.mark()
        w0 = cpu_s(srv.worker)
        rps, n = ab_for(srv.port, LOAD_S)
        wus = (cpu_s(srv.worker) - w0) * 1e6 / max(n, 1)
        worker_kb = status_kb(srv.worker, "VmRSS")
        if rec is None:
            return rps, None, None, worker_kb, wus
        cpu = share(a, rec.mark())
        peak = rec.close()
        rec = None
        return rps, cpu, peak, worker_kb, wus
    finally:
        if rec and rec.p.poll() is None:
            stop(rec.p)
        srv.close()


def busy(tg, extra, rounds, work):
    """{label: [(round, rps, cpu, peak, worker_kb, worker_us)]}, the modes rotated in each
    round."""
    res = {label: [] for label, _ in MODES}
    for r in range(rounds):
        order = MODES[r % len(MODES):] + MODES[:r % len(MODES)]
        for label, opts in order:
            rps, cpu, peak, wkb, wus = busy_run(tg, extra, opts, work)
            res[label].append((r, rps, cpu, peak, wkb, wus))
            log("  round %d/%d, %s: %.0f requests/s, worker %.0f µs/request%s" % (
                r + 1, rounds, label, rps, wus,
                "" if cpu is None else ", tgattach %.1f %% of a core, peak %.1f MB" % (
                    cpu, peak / 1024)))
    return res


# ---------------------------------------------------------------------------------------
# the report

def pct(x):
    return "%.1f %%" % x


def table(title, idle_res, busy_res):
    base = {x[0]: x[1] for x in busy_res[MODES[0][0]]}
    base_us = statistics.median(x[5] for x in busy_res[MODES[0][0]])
    lines = [
        "### %s" % title,
        "",
        "| mode | idle: tgattach CPU | idle: tgattach peak RSS MB "
        "| busy: requests/s, median (range) | busy: slowdown, median (range) "
        "| busy: worker CPU µs/request | busy: tgattach CPU | busy: tgattach peak RSS MB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    summary = {}
    for label, opts in MODES:
        runs = busy_res[label]
        rps = [x[1] for x in runs]
        wus = statistics.median(x[5] for x in runs)
        row = [label]
        if opts is None:
            row += ["-", "-"]
        else:
            icpu, ipeak = idle_res[label]
            row += [pct(icpu), "%.1f" % (ipeak / 1024)]
        row.append("%.0f (%.0f – %.0f)" % (statistics.median(rps), min(rps), max(rps)))
        if opts is None:
            row += ["-", "%.0f" % wus, "-", "-"]
            summary[label] = None
        else:
            slow = [100.0 * (1 - x[1] / base[x[0]]) for x in runs]
            cpu = statistics.median(x[2] for x in runs)
            row.append("%+.1f %% (%+.1f – %+.1f)" % (statistics.median(slow), min(slow),
                                                   max(slow)))
            row.append("%.0f (%+.0f %%)" % (wus, 100.0 * (wus / base_us - 1)))
            row.append(pct(cpu))
            row.append("%.1f" % (max(x[3] for x in runs) / 1024))
            summary[label] = (idle_res[label][0], statistics.median(slow), cpu,
                              100.0 * (wus / base_us - 1))
        lines.append("| " + " | ".join(row) + " |")
    wkb = [x[4] for label, _ in MODES for x in busy_res[label]]
    lines += ["", "The worker's RSS at the end of a busy run: %.0f – %.0f MB." % (
        min(wkb) / 1024, max(wkb) / 1024)]
    return lines, summary


def autogroups():
    try:
        with open("/proc/sys/kernel/sched_autogroup_enabled") as f:
            return "on" if f.read().strip() == "1" else "off"
    except OSError:
        return "none in this kernel"


def verdicts(summaries):
    off, r20, dflt = MODES[1][0], MODES[2][0], MODES[3][0]
    out = []
    for kind, s, noise in summaries:
        d, o, t = s[dflt], s[off], s[r20]
        out.append(
            "- %s, idle: the default mode takes %s of a core (attribution off: %s, so %+.1f "
            "points are the attribution's; --mem-rate 20: %s) — %s." % (
                kind, pct(d[0]), pct(o[0]), d[0] - o[0], pct(t[0]),
                "within the 5 % budget" if d[0] < 5.0 else "**over the 5 % budget**"))
        over = [name for name, v in (("the default", d), ("--mem-rate 20", t),
                                      ("--mem-rate 0", o)) if v[1] > 3.0]
        out.append(
            "- %s, busy: slowdown of requests/s %+.1f %% with the default mode (attribution "
            "off: %+.1f %%, --mem-rate 20: %+.1f %%): %s; %s.  The worker's CPU per request "
            "changes by %+.0f %% (off: %+.0f %%, --mem-rate 20: %+.0f %%).  tgattach takes %s "
            "of a core (off: %s, so %+.1f points are the attribution's; --mem-rate 20: %s)." % (
                kind, d[1], o[1], t[1],
                "measured over the 3 % budget: " + ", ".join(over) if over
                else "all measured within the 3 % budget",
                ("but unattached, requests/s spread over %.0f %% of their median between "
                 "rounds, more than the budget: this run cannot tell a few %% from noise "
                 "(tools/bench_slowdown.py pairs runs on one server for an interval)"
                 % noise) if noise > 3.0 else
                ("unattached, requests/s spread over %.0f %% of their median between rounds"
                 % noise),
                d[3], o[3], t[3], pct(d[2]), pct(o[2]), d[2] - o[2], pct(t[2])))
        r = s[MODES[4][0]]
        out.append(
            "- %s, --realtime (opt-in, not held to the budgets): idle %s of a core; busy, "
            "slowdown of requests/s %+.1f %%, the worker's CPU per request %+.0f %%, "
            "tgattach %s of a core." % (kind, pct(r[0]), r[1], r[3], pct(r[2])))
        g = s[MODES[5][0]]
        out.append(
            "- %s, the default without raising its session's autogroup (--no-autogroup): "
            "idle %s of a core; busy, slowdown of requests/s %+.1f %%, the worker's CPU per "
            "request %+.0f %%, tgattach %s of a core." % (
                kind, pct(g[0]), g[1], g[3], pct(g[2])))
        if o[0] >= 5.0 or t[0] >= 5.0:
            out.append("  Over the idle budget too: %s." % ", ".join(
                "%s (%s)" % (name, pct(v[0])) for name, v in (("--mem-rate 20", t),
                                                              ("--mem-rate 0", o))
                if v[0] >= 5.0))
    return out


def main():
    ap = argparse.ArgumentParser(prog="tools/bench-attrib.sh")
    ap.add_argument("tg")
    ap.add_argument("--rounds", type=int, default=1 if QUICK else 3)
    ap.add_argument("--no-write", action="store_true", help="print only")
    args = ap.parse_args()
    tg = os.path.abspath(args.tg)
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, lambda n, f: (_ for _ in ()).throw(KeyboardInterrupt()))
    t0 = time.monotonic()
    load0 = os.getloadavg()[0]
    work = tempfile.mkdtemp(prefix="tg-bench-attrib.")
    results = []
    try:
        log("idle: %d s, %d servers at once" % (IDLE_S, len(SERVERS) * (len(MODES) - 1)))
        i = idle(tg, work)
        for kind, title, extra in SERVERS:
            log("%s: busy, %d rounds of %d modes, %d s each" % (kind, args.rounds, len(MODES),
                                                             LOAD_S))
            b = busy(tg, extra, args.rounds, work)
            results.append((kind, title, i[kind], b))
    except Fail as e:
        sys.exit("bench-attrib: %s" % e)
    except KeyboardInterrupt:
        sys.exit("bench-attrib: interrupted")
    finally:
        stop_all()
        shutil.rmtree(work, ignore_errors=True)
    minutes = (time.monotonic() - t0) / 60
    ver = versions()
    text = [
        "Machine: %s, %d cores (nproc), Linux %s; %s; load average %.1f at the start, %.1f "
        "when done (a shared machine: other jobs run beside this one, so requests/s vary "
        "from run to run; the ranges show by how much)."
        % (cpu_model(), os.cpu_count(), platform.release(), time.strftime("%Y-%m-%d"), load0,
           os.getloadavg()[0]),
        "",
        "Target: Debian's Python %s, gunicorn %s, Flask %s, one worker serving "
        "`fixtures/realserver/flask_app.py`; tgattach (`tgattach -p WORKER -o DIR -q "
        "[--mem-rate HZ]`, 100 stack samples per second) records the worker and is ended "
        "with SIGTERM.  Every server is fresh and has first answered %d requests to /leak.  "
        "CPU is tgattach's user + sys time (all its threads, /proc/PID/stat) from 0.5 s after "
        "its first sample to the end of the window, as a share of one core; peak RSS is its "
        "VmHWM.  The server, the load client and tgattach each run in a session of their "
        "own, as a service, a client and an administrator's shell do: with autogroups on "
        "(this machine: %s), tgattach's default raises its session's autogroup to nice -10 "
        "and --no-autogroup does not (docs/memory.md)." % (ver + (WARMUP_N, autogroups())),
        "",
        "*Idle*: no requests, over %d s; the attached modes of both servers at once, each "
        "on its own server.  *Busy*: `ab -c 2 -t %d -n %d` on /leak (each request keeps ~30 "
        "KB, so a server is started afresh for every run), rounds: %d, the %d modes in each "
        "round in an order rotated from round to round; the slowdown of a mode is the "
        "median over the rounds of 1 − its requests/s ÷ that round's unattached "
        "requests/s.  Budgets (the issue): the default mode below 5 %% of a core on an idle "
        "server, and a busy server slowed by at most 3 %%.  tgattach's CPU time is counted by "
        "the kernel and varies little from run to run; requests/s depend on whatever else "
        "the machine runs.  %.1f minutes in all."
        % (IDLE_S, LOAD_S, AB_N, args.rounds, len(MODES), minutes),
        "",
    ]
    summaries = []
    for kind, title, i, b in results:
        lines, summary = table(title, i, b)
        text += lines + [""]
        base = [x[1] for x in b[MODES[0][0]]]
        summaries.append((kind, summary, 100.0 * (max(base) - min(base)) / statistics.median(base)))
    text += ["Against the budgets:", ""] + verdicts(summaries) + [""]
    report = "\n".join(text)
    print(report)
    if not args.no_write:
        benchdoc.write_section("attrib", report,
                               "Memory attribution cost (tools/bench-attrib.sh)")
        log("results written to docs/benchmarks.md")


main()
PY
