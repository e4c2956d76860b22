#!/usr/bin/env python3
"""make bench: what the mechanisms that would read an allocation and its stack in the same
instant cost the target, or whether they work at all, on this machine (issue 11; the
argument is in docs/memory.md, "Mechanisms other than polling").

The target: Debian's /usr/bin/python3.11 calling fixtures/realserver/work.py's build_payload
and crunch in a loop (the real-server tests' leak and churn, without a server), which reports
its own throughput as calls per CPU-second of its process (user + sys: what the kernel spends
on the target's behalf, interrupts and traps included, is charged to it).  Modes, run in
turn, each round interleaved:
  - unobserved;
  - kernel-timed sampling of the target's user CPU (`perf record -e cpu-clock:u`, every 100
    and every 20 µs of its CPU time), the floor of any in-kernel sampler (eBPF included:
    it adds its program to each sample) that would read the memory and the stack together;
  - a uprobe on PyObject_Malloc, counted only (`perf stat`): the floor of any tool that
    traps the allocator;
and, apart, whether a hardware watchpoint fires at all: a Python process writes one word
1,000,000 times while `perf stat -e mem:ADDR:w` counts the writes.

Needs root and perf (installs Debian's linux-perf when missing).  Writes the section between
<!-- mechanisms:begin --> and <!-- mechanisms:end --> of docs/benchmarks.md; restores
kernel.perf_event_max_sample_rate, which the kernel lowers when sampling interrupts run
long.  BENCH_QUICK=1: one round of 2 s.  Nothing here asserts a threshold.
"""
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import benchdoc
from bench import machine

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYTHON = "/usr/bin/python3.11"
QUICK = os.environ.get("BENCH_QUICK") == "1"
ROUNDS, SECONDS = (1, 2) if QUICK else (3, 4)
RATE_KNOB = "/proc/sys/kernel/perf_event_max_sample_rate"
WRITES = 1000000

# the target: work.py's leak and churn in a loop; prints its pid, waits for a line on stdin,
# runs SECONDS, prints calls per CPU-second (KEPT cleared now and then: a bounded heap)
LOOP = r"""
import os, sys, time
sys.path.insert(0, sys.argv[1])
import work
print(os.getpid(), flush=True)
sys.stdin.readline()
n, t0, end = 0, time.process_time(), time.monotonic() + float(sys.argv[2])
while time.monotonic() < end:
    for _ in range(10):
        work.build_payload(n)
        work.crunch(n)
        n += 1
    if n % 200 == 0:
        work.KEPT.clear()
print("%.1f %d" % (n / (time.process_time() - t0), n), flush=True)
"""

# the watchpoint's subject: one word written WRITES times, its address printed first
WRITER = r"""
import ctypes, sys
word = ctypes.c_long(0)
print(ctypes.addressof(word), flush=True)
sys.stdin.readline()
for i in range(%d):
    word.value = i
print("done", flush=True)
""" % WRITES


def log(msg):
    sys.stderr.write("bench-mechanisms: %s\n" % msg)


def have_perf():
    if shutil.which("perf"):
        return True
    log("installing Debian's linux-perf")
    r = subprocess.run(["apt-get", "install", "-y", "-q", "linux-perf"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return r.returncode == 0 and shutil.which("perf") is not None


def start(code, *args):
    p = subprocess.Popen([PYTHON, "-c", code] + list(args), stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    first = p.stdout.readline().strip()
    if not first.isdigit():
        p.kill()
        p.wait()
        raise RuntimeError("target printed %r, not its pid or address" % first)
    return p, int(first)


def observer(mode, pid, data):
    """The perf command observing pid for mode, or None (unobserved)."""
    span = str(SECONDS + 1)
    if mode == "none":
        return None
    if mode.startswith("clock"):
        period = mode[len("clock"):]
        return ["perf", "record", "-q", "-e", "cpu-clock:u", "-c", period, "-p", str(pid),
                "-o", data, "--", "sleep", span]
    return ["perf", "stat", "-x", ",", "-e", "probe_python3:PyObject_Malloc", "-p", str(pid),
            "-o", data, "--", "sleep", span]


def samples_in(data):
    """SAMPLE records in a perf.data file (what the kernel kept of the asked rate)."""
    out = subprocess.run(["perf", "report", "--stats", "-i", data], capture_output=True,
                         text=True).stdout
    m = re.search(r"SAMPLE events:\s*(\d+)", out)
    return int(m.group(1)) if m else 0


def hits_in(data):
    with open(data) as f:
        for line in f:
            if "PyObject_Malloc" in line and line.split(",")[0].isdigit():
                return int(line.split(",")[0])
    return 0


def run_once(mode, work):
    """(calls per CPU-second, calls, events seen by the observer) for one run."""
    target, _ = start(LOOP, os.path.join(ROOT, "fixtures", "realserver"), str(SECONDS))
    data = os.path.join(work, "perf.out")
    argv = observer(mode, target.pid, data)
    obs = subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL) if argv else None
    try:
        time.sleep(0.5 if obs else 0)  # perf attached before the loop starts
        target.stdin.write("go\n")
        target.stdin.flush()
        rate, calls = target.stdout.readline().split()
        target.wait(30)
    finally:
        if target.poll() is None:
            target.kill()
            target.wait()
        if obs:
            obs.wait(30)
    events = 0
    if obs:
        events = samples_in(data) if mode.startswith("clock") else hits_in(data)
    return float(rate), int(calls), events


def watchpoint_fires():
    """How many of WRITES writes a hardware watchpoint counted (perf stat mem:ADDR:w)."""
    writer, addr = start(WRITER)
    try:
        stat = subprocess.Popen(["perf", "stat", "-x", ",", "-e", "mem:0x%x:w" % addr, "-p",
                                 str(writer.pid), "--", "sleep", "30"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        time.sleep(0.5)
        writer.stdin.write("go\n")
        writer.stdin.flush()
        writer.stdout.readline()
        writer.wait(30)
        stat.wait(35)
        for line in stat.stderr.read().splitlines():
            field = line.split(",")[0]
            if "mem:" in line:
                return int(field) if field.isdigit() else None
        return None
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()


def measure(work):
    modes = ["none", "clock100000", "clock20000", "uprobe"]
    got = {m: [] for m in modes}
    for r in range(ROUNDS):
        for m in modes:
            log("round %d, %s" % (r + 1, m))
            got[m].append(run_once(m, work))
    return modes, got


def table(modes, got):
    base = statistics.median(x[0] for x in got["none"])
    labels = {"none": "unobserved",
              "clock100000": "`perf record -e cpu-clock:u`, every 100 µs of its CPU",
              "clock20000": "`perf record -e cpu-clock:u`, every 20 µs of its CPU",
              "uprobe": "uprobe on `PyObject_Malloc` (`perf stat`, counted only)"}
    lines = ["| mode | calls per CPU-second (median) | of unobserved | events per call | "
             "target CPU µs per event |", "|---|---:|---:|---:|---:|"]
    for m in modes:
        rate = statistics.median(x[0] for x in got[m])
        per_call, cost = "-", "-"
        if m != "none":
            events = sum(x[2] for x in got[m]) / max(sum(x[1] for x in got[m]), 1)
            per_call = "%.1f" % events
            if events > 0:
                cost = "%.1f" % ((1.0 / rate - 1.0 / base) / events * 1e6)
        lines.append("| %s | %.0f | %.0f %% | %s | %s |" % (labels[m], rate, 100.0 * rate / base,
                                                            per_call, cost))
    return lines


def main():
    if os.geteuid() != 0:
        log("needs root (perf on another process, uprobes): skipped")
        return 0
    if not os.access(PYTHON, os.X_OK) or not have_perf():
        log("needs %s and perf: skipped" % PYTHON)
        return 0
    knob = open(RATE_KNOB).read().strip()
    probe = subprocess.run(["perf", "probe", "-q", "-x", PYTHON, "-a", "PyObject_Malloc"],
                           capture_output=True, text=True)
    work = tempfile.mkdtemp()
    try:
        if probe.returncode:
            log("perf probe failed: %s" % probe.stderr.strip()[-200:])
            return 1
        modes, got = measure(work)
        fired = watchpoint_fires()
    finally:
        subprocess.run(["perf", "probe", "-q", "-d", "probe_python3:PyObject_Malloc"],
                       capture_output=True)
        with open(RATE_KNOB, "w") as f:
            f.write(knob + "\n")
        shutil.rmtree(work, ignore_errors=True)
    lines = ["Machine: %s; %s.  Target: %s calling work.py's `build_payload` and `crunch` "
             "(fixtures/realserver/) in a loop, %d s per run, %d round(s), modes "
             "interleaved; calls per CPU-second of the target's process (user + sys, so "
             "that the kernel's work on its behalf counts)." % (
                 machine(), time.strftime("%Y-%m-%d"), PYTHON, SECONDS, ROUNDS), ""]
    lines += table(modes, got)
    lines += ["", "Hardware watchpoint: %s of %d writes to one word counted by "
              "`perf stat -e mem:ADDR:w`." % ("none" if fired is None else fired, WRITES),
              "", "Events per call: samples kept per `build_payload` + `crunch` pair "
              "(cpu-clock), or calls of PyObject_Malloc (uprobe); the CPU per event is the "
              "added CPU per call over them."]
    report = "\n".join(lines) + "\n"
    print(report)
    benchdoc.write_section("mechanisms", report, "Same-instant mechanisms: their cost to "
                           "the target (tools/bench_mechanisms.py)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
