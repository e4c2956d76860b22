#!/usr/bin/env python3
"""make bench: what native stacks cost (`--profile c|both`, issue 15), beside the
Python-only mode, at 100 Hz.

  - per sample, on fixtures/bench_target.py (pyenv 3.12): tgattach's CPU per stack sample
    (user+sys from wait4's rusage over the run, divided by the samples) with 1 idle thread,
    10 idle threads and 10 busy threads at depth 50, and the native frames per unwind;
  - the target's slowdown on the bench target's fixed CPU-bound job (10 threads, the main
    one running the job), unattached and attached in each mode, the modes taking turns in
    each round (median, spread);
  - Debian's gunicorn (sync worker) serving fixtures/realserver/flask_app.py under
    `ab -c 2` on /leak (127.0.0.1 only, bounded in time): requests per second unattached
    and in each mode, a fresh server per run, the modes rotated per round, and tgattach's
    CPU over the load.
The Python-only mode runs with --mem-rate 0 here, as c and both do (memory charged at
stack samples only), so that the columns differ by the native stacks alone.  Writes the
section between <!-- native:begin --> and <!-- native:end --> of docs/benchmarks.md.
BENCH_QUICK=1: fewer rounds, shorter runs.  Nothing here asserts a threshold.
"""
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

import benchdoc
from bench import job_times, machine, meta_value, pyenv, start_target
from procutil import cpu_s, free_port

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TG = os.environ.get("TGATTACH", os.path.join(ROOT, "tgattach"))
TARGET = os.path.join(ROOT, "fixtures", "bench_target.py")
FIX = os.path.join(ROOT, "fixtures", "realserver")
QUICK = os.environ.get("BENCH_QUICK") == "1"
MODES = [("python", ["--mem-rate", "0"]), ("c", ["--profile", "c"]),
         ("both", ["--profile", "both"])]





def per_sample(python, threads, mode, opts):
    target = start_target(python, threads, 50, mode)
    try:
        with tempfile.TemporaryDirectory() as out:
            argv = [TG, "-p", str(target.pid), "-o", out, "-r", "100", "-d",
                    "2" if QUICK else "5", "-q"] + opts
            p = subprocess.Popen(argv)
            _, status, ru = os.wait4(p.pid, 0)
            if status:
                raise RuntimeError("tgattach exited with %d" % status)
            d = os.path.join(out, str(target.pid))
            meta = os.path.join(d, "meta")
            samples = int(meta_value(meta, "samples"))
            unwinds = int(meta_value(meta, "native_unwinds") or 0)
            frames = int(meta_value(meta, "native_frames") or 0)
            missed = int(meta_value(meta, "native_missed") or 0)
            hold = meta_value(meta, "native_hold_us") or "-"
    finally:
        target.kill()
        target.wait()
    return ((ru.ru_utime + ru.ru_stime) / samples * 1e6,
            frames / unwinds if unwinds else 0.0, missed, hold, samples)





def worker_of(master):
    for _ in range(100):
        kids = subprocess.run(["pgrep", "-P", str(master)], capture_output=True,
                              text=True).stdout.split()
        if kids:
            return int(kids[0])
        time.sleep(0.05)
    raise RuntimeError("gunicorn started no worker")


def ab(port, seconds):
    r = subprocess.run(["ab", "-q", "-c", "2", "-t", str(seconds), "-n", "1000000",
                        "http://127.0.0.1:%d/leak" % port], capture_output=True, text=True,
                       timeout=seconds + 60)
    m = re.search(r"Requests per second:\s+([\d.]+)", r.stdout)
    if r.returncode or not m:
        raise RuntimeError("ab failed: %s" % (r.stderr or r.stdout)[-300:])
    return float(m.group(1))




def gunicorn_run(opts, seconds):
    """requests/s under ab on a fresh sync worker, and tgattach's % of a core."""
    port = free_port()
    master = subprocess.Popen(["/usr/bin/python3.11", "-m", "gunicorn", "--chdir", FIX, "-w",
                               "1", "-k", "sync", "-b", "127.0.0.1:%d" % port,
                               "--log-level", "warning", "flask_app:app"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    tg = None
    out = tempfile.mkdtemp()
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen("http://127.0.0.1:%d/" % port, timeout=1).read()
                break
            except OSError:
                time.sleep(0.05)
        worker = worker_of(master.pid)
        ab(port, 1)  # warm up
        if opts is not None:
            tg = subprocess.Popen([TG, "-p", str(worker), "-o", out, "-r", "100", "-q"] + opts,
                                  stdin=subprocess.DEVNULL)
            time.sleep(1.0)
            c0, t0 = cpu_s(tg.pid), time.monotonic()
        rps = ab(port, seconds)
        share = None
        if tg:
            share = 100.0 * (cpu_s(tg.pid) - c0) / (time.monotonic() - t0)
        return rps, share
    finally:
        if tg:
            tg.terminate()
            tg.wait()
        os.killpg(master.pid, signal.SIGKILL)
        master.wait()
        subprocess.run(["rm", "-rf", out])



def main():
    python = pyenv("3.12.")
    if not python or not os.access(TG, os.X_OK):
        sys.exit("bench-native: needs ./tgattach (make) and pyenv 3.12")
    lines = ["Machine: %s." % machine(), "",
             "### Cost per stack sample (pyenv 3.12, depth 50, 100 Hz)", "",
             "*held*: meta's `native_hold_us`, per thread and sample: from its stop asked to "
             "the thread let go (*stop*), and of that the unwind and the walk of its Python "
             "frames while it was held (*work*).", "",
             "| target | mode | tgattach CPU µs/sample | samples in %d s | native frames per "
             "thread | held µs | threads not unwound |" % (2 if QUICK else 5),
             "|---|---|---:|---:|---:|---|---:|"]
    for threads, mode in ((1, "idle"), (10, "idle"), (10, "busy")):
        for label, opts in MODES:
            us, frames, missed, hold, samples = per_sample(python, threads, mode, opts)
            lines.append("| %d %s | %s | %.0f | %d | %s | %s | %s |" % (
                threads, mode, label, us, samples, "%.0f" % frames if frames else "-",
                hold if label != "python" else "-", missed if label != "python" else "-"))
            print(lines[-1], flush=True)
    rounds = 3 if QUICK else 7
    modes = [(0, ())] + [(100, tuple(opts)) for _, opts in MODES]
    by_mode = job_times(python, modes, rounds)
    times = {"not attached": by_mode[modes[0]]}
    times.update({label: by_mode[(100, tuple(opts))] for label, opts in MODES})
    base = statistics.median(times["not attached"])
    lines += ["", "### Target slowdown (3.12: a fixed CPU-bound job in the main thread, "
              "10 threads, depth 50; %d rounds, the modes taking turns; median, spread)"
              % rounds, "",
              "| attached at 100 Hz | job seconds | spread | slowdown |", "|---|---:|---:|---:|"]
    for label in ["not attached"] + [m[0] for m in MODES]:
        t = times[label]
        lines.append("| %s | %.3f | %.3f–%.3f | %+.1f%% |" % (
            label, statistics.median(t), min(t), max(t),
            (statistics.median(t) / base - 1) * 100))
        print(lines[-1], flush=True)
    try:
        if not shutil.which("ab"):
            raise RuntimeError("no ab (apache2-utils)")
        seconds, rounds = (3, 1) if QUICK else (8, 3)
        modes = [("not attached", None)] + MODES
        res = {m[0]: [] for m in modes}
        for r in range(rounds):
            for label, opts in modes[r % len(modes):] + modes[:r % len(modes)]:
                res[label].append(gunicorn_run(opts, seconds))
        base = statistics.median(x[0] for x in res["not attached"])
        lines += ["", "### gunicorn sync worker under `ab -c 2` on /leak (Debian's python3.11, "
                  "100 Hz; %d rounds of %d s, a fresh server each)" % (rounds, seconds), "",
                  "| mode | requests/s (median) | slowdown | tgattach CPU, % of a core |",
                  "|---|---:|---:|---:|"]
        for label, _ in modes:
            rps = statistics.median(x[0] for x in res[label])
            cpu = [x[1] for x in res[label] if x[1] is not None]
            lines.append("| %s | %.0f | %+.1f%% | %s |" % (
                label, rps, (1 - rps / base) * 100,
                "%.1f" % statistics.median(cpu) if cpu else "-"))
            print(lines[-1], flush=True)
    except (RuntimeError, OSError) as e:
        lines += ["", "gunicorn: skipped (%s)" % e]
    report = "\n".join(lines) + "\n"
    print(report)
    benchdoc.write_section("native", report, "Native stacks (tools/bench_native.py)")


if __name__ == "__main__":
    main()
