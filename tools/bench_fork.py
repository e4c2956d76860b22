#!/usr/bin/env python3
"""Fork latency tgattach adds per child (issue 5), measured on a real interpreter.

fixtures/fork_bench.py forks N children one after the other; each child exits at once and
the parent waits for it before the next fork.  Timed unattached, under a minimal tracer
(tools/ptrace-floor.c: the kernel's ptrace round trip, the floor), with tgattach -r 100
attached (following forks, the default), and with --no-follow-forks; the modes take turns
within each of ROUNDS rounds.  Reported per child: the time the parent spends inside
os.fork() (it is held while the tracer handles the fork event) and the whole fork + exit +
waitpid cycle (the exit is reported to the parent only once the tracer has reaped it), as
medians, and what each mode adds.  Prints a Markdown report and writes it into
docs/benchmarks.md between <!-- fork:begin --> and <!-- fork:end --> (the section is
created when missing; the rest of the file is kept).  Nothing here asserts a threshold.

Usage: tools/bench_fork.py [--tg PATH] [--python PATH] [--children N] [--rounds R]
                           [--no-write]
Environment: BENCH_QUICK=1 for fewer children and rounds.
"""
import argparse
import glob
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

import benchdoc

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURE = os.path.join(ROOT, "fixtures", "fork_bench.py")
RATE = 100


def pyenv(prefix):
    root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    found = sorted(glob.glob(os.path.join(root, "versions", prefix + "*", "bin", "python")))
    return found[0] if found else None


class Fixture:
    def __init__(self, python):
        self.p = subprocess.Popen([python, FIXTURE], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        line = self.p.stdout.readline()
        if not line.startswith("READY"):
            self.stop()
            raise RuntimeError("fork_bench.py did not start: %r" % line)

    def run(self, n):
        """(seconds in os.fork, seconds for the whole loop) for n children."""
        self.p.stdin.write("RUN %d\n" % n)
        self.p.stdin.flush()
        words = self.p.stdout.readline().split()
        if len(words) != 3 or words[0] != "TIME":
            raise RuntimeError("fork_bench.py: unexpected answer %r" % words)
        return float(words[1]), float(words[2])

    def stop(self):
        self.p.kill()
        self.p.wait()


def has_stack_file(d):
    return os.path.isdir(d) and any(n.endswith(".stack") for n in os.listdir(d))


def attach(tg, pid, out, extra):
    """Start tgattach and wait for its first sample of pid (a .stack file appears)."""
    p = subprocess.Popen([tg, "-p", str(pid), "-o", out, "-r", str(RATE), "-q"] + extra,
                         stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    until = time.monotonic() + 30
    while time.monotonic() < until:
        if p.poll() is not None:
            raise RuntimeError("tgattach %s exited %d: %s" % (" ".join(extra), p.returncode,
                                                             p.stderr.read().strip()))
        if has_stack_file(os.path.join(out, str(pid))):
            return p
        time.sleep(0.01)
    p.kill()
    raise RuntimeError("tgattach did not sample within 30 s")


def detach(p):
    p.send_signal(signal.SIGINT)
    try:
        p.wait(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        raise RuntimeError("tgattach did not stop on SIGINT")
    if p.returncode != 0:
        raise RuntimeError("tgattach exited %d: %s" % (p.returncode, p.stderr.read().strip()))


def supports(tg, option):
    try:
        text = subprocess.run([tg, "record", "--help"], capture_output=True, text=True,
                              timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False
    return option in text


def build_floor():
    """Compile tools/ptrace-floor.c (the least a fork-following tracer costs)."""
    out = os.path.join(ROOT, "build", "rel", "ptrace-floor")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    subprocess.run(["cc", "-O2", "-o", out, os.path.join(ROOT, "tools", "ptrace-floor.c")],
                   check=True)
    return out


def attach_floor(floor, pid):
    p = subprocess.Popen([floor, str(pid), "3600"])
    until = time.monotonic() + 10
    while time.monotonic() < until:
        with open("/proc/%d/status" % pid) as f:
            if any(l.startswith("TracerPid:") and l.split()[1] != "0" for l in f):
                return p
        time.sleep(0.005)
    p.kill()
    raise RuntimeError("ptrace-floor did not attach")


def one_round(fx, n, mode, tg, floor, dirs):
    """(µs in fork, µs per cycle) per child for one run of n forks under mode."""
    label, extra = mode
    if label == "unattached":
        in_fork, total = fx.run(n)
    elif label.startswith("minimal"):
        p = attach_floor(floor, fx.p.pid)
        try:
            in_fork, total = fx.run(n)
        finally:
            p.terminate()
            p.wait()
    else:
        out = tempfile.mkdtemp(prefix="tg-bench-fork-")
        try:
            p = attach(tg, fx.p.pid, out, extra)
            try:
                in_fork, total = fx.run(n)
            finally:
                detach(p)
            dirs[label] = dirs.get(label, 0) + len([d for d in os.listdir(out) if d.isdigit()]) - 1
        finally:
            shutil.rmtree(out, ignore_errors=True)
    return in_fork / n * 1e6, total / n * 1e6


def bench(tg, python, n, rounds):
    """Every mode once per round, rounds interleaved (a shared machine drifts); medians."""
    modes = [("unattached", None),
             ("minimal tracer (tools/ptrace-floor.c: wait + PTRACE_CONT only)", None),
             ("attached (following forks)", [])]
    if supports(tg, "--no-follow-forks"):
        modes.append(("attached, --no-follow-forks", ["--no-follow-forks"]))
    floor = build_floor()
    samples, dirs = {m[0]: [] for m in modes}, {}
    fx = Fixture(python)
    try:
        fx.run(max(10, n // 10))  # warm up: page cache, the first fork's copy-on-write
        for _ in range(rounds):
            for mode in modes:
                samples[mode[0]].append(one_round(fx, n, mode, tg, floor, dirs))
    finally:
        fx.stop()
    results = {}
    for label, got in samples.items():
        results[label] = (statistics.median(f for f, _ in got), statistics.median(c for _, c in got),
                          min(f for f, _ in got), max(f for f, _ in got))
    for label, count in dirs.items():
        results[label + " dirs"] = count
    return results


def report(results, tg, python, n, rounds):
    version = subprocess.run([python, "-c", "import sys; print(sys.version.split()[0])"],
                             capture_output=True, text=True).stdout.strip()
    base_fork, base_total = results["unattached"][:2]
    lines = [
        "Machine: %s, %d cores (nproc), Linux %s; %s; load average %.1f when done (a "
        "shared machine: figures vary from run to run)." % (
            platform.processor() or platform.machine(), os.cpu_count(), platform.release(),
            time.strftime("%Y-%m-%d"), os.getloadavg()[0]),
        "",
        "Target: Python %s (`fixtures/fork_bench.py`) forks %d children one after the other; "
        "each calls `os._exit(0)` at once and is reaped with `waitpid` before the next fork.  "
        "tgattach: `%s -r %d`.  *fork()* is the time the parent spends inside `os.fork()` "
        "(held while the tracer handles the fork event); *cycle* is fork + exit + waitpid (a "
        "traced child's exit reaches its parent once the tracer has reaped it).  The minimal "
        "tracer does nothing but a blocking `waitpid` and `PTRACE_CONT`: what a fork costs "
        "under it is the kernel's ptrace round trip on this machine, the floor for any tracer "
        "that follows forks.  %d rounds, the modes interleaved; medians (fork() range), µs "
        "per child." % (version, n, os.path.relpath(tg, ROOT), RATE, rounds),
        "",
        "| mode | fork() µs (range) | cycle µs | fork() added µs | cycle added µs | child dirs |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label, value in results.items():
        if label.endswith(" dirs"):
            continue
        fork_us, total_us, lo, hi = value
        if label == "unattached":
            lines.append("| unattached | %.0f (%.0f–%.0f) | %.0f | - | - | - |" % (
                fork_us, lo, hi, total_us))
            continue
        dirs = results.get(label + " dirs")
        lines.append("| %s | %.0f (%.0f–%.0f) | %.0f | %+.0f | %+.0f | %s |" % (
            label, fork_us, lo, hi, total_us, fork_us - base_fork, total_us - base_total,
            "-" if dirs is None else dirs))
    return "\n".join(lines) + "\n"


def main():
    quick = os.environ.get("BENCH_QUICK") == "1"
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tg", default=os.path.join(ROOT, "tgattach"))
    ap.add_argument("--python", default=pyenv("3.12.") or pyenv("3.11."))
    ap.add_argument("--children", type=int, default=100 if quick else 300)
    ap.add_argument("--rounds", type=int, default=3 if quick else 7)
    ap.add_argument("--no-write", action="store_true", help="print only")
    args = ap.parse_args()
    if not args.python:
        sys.exit("bench_fork: no pyenv 3.12 or 3.11 interpreter (give --python)")
    if not os.access(args.tg, os.X_OK):
        sys.exit("bench_fork: %s is not built (make build)" % args.tg)
    results = bench(os.path.abspath(args.tg), args.python, args.children, args.rounds)
    text = report(results, os.path.abspath(args.tg), args.python, args.children, args.rounds)
    print(text)
    if not args.no_write:
        benchdoc.write_section("fork", text, "Fork following (tools/bench_fork.py)")


if __name__ == "__main__":
    main()
