#!/usr/bin/env python3
"""make bench: tgattach beside its peers, on the same targets: austin (Debian's, in the trixie
root, on its python3.13) and CPython 3.15's own sampler (`python3.15 -m profiling.sampling
attach`, in the unstable root, on python3.15).  Each samples fixtures/bench_target.py (10
threads parked 50 frames deep, plus the main thread: 11 threads) at 1 kHz, stacks only
(tgattach with --mem-rate 0: no memory attribution, which the peers do not do).

Per tool: its CPU time (user+sys, from wait4's rusage) over two runs of different lengths,
so that the start (imports, attach, symbol lookup) cancels out: the cost of one more sampling
round (every thread once) is (cpu_long - cpu_short) / (rounds_long - rounds_short), and per
thread-sample that over 11; the rate it kept (rounds per second of the long run).  Rounds
are counted from each tool's own output: tgattach's meta `samples`, austin's sample count
(its samples are thread-samples) over 11, the 3.15 sampler's `Captured N samples`.

Needs root and the Debian roots (make roots); installs Debian's austin into the trixie root
when it is missing (apt, Check-Valid-Until=false, as tools/mkroots.sh), and mounts /proc
inside each root while it runs (both peers read /proc/PID; tgattach reads from outside, as
always).  It runs in a mount namespace of its own (it starts itself again under `unshare
--mount`), so that the mounts end with it, whatever ends it, and the host's never change.  Writes the section between <!-- peers:begin --> and <!-- peers:end --> of
docs/benchmarks.md.  BENCH_QUICK=1: shorter runs.  Nothing here asserts a threshold.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import benchdoc
from bench import machine, meta_value

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TG = os.path.join(ROOT, "tgattach")
ROOTS = os.environ.get("TG_ROOTS", "/var/tmp/tgattach-roots")
QUICK = os.environ.get("BENCH_QUICK") == "1"
THREADS = 11  # bench_target's 10 and its main thread
RATE = 1000
SHORT, LONG = (1, 2) if QUICK else (1, 4)
APT = ["-o", "Acquire::Check-Valid-Until=false", "-q"]


def log(msg):
    sys.stderr.write("bench-peers: %s\n" % msg)


class Root:
    """A Debian root with /proc mounted inside while in use, and the target's copy."""

    def __init__(self, name, python):
        self.dir = os.path.join(ROOTS, name)
        self.python = python
        self.mounted = False

    def available(self):
        return os.access(os.path.join(self.dir, self.python.lstrip("/")), os.X_OK)

    def __enter__(self):
        subprocess.run(["mount", "-t", "proc", "proc", os.path.join(self.dir, "proc")],
                       check=True)
        self.mounted = True
        self.work = tempfile.mkdtemp(prefix="tgbench-", dir=os.path.join(self.dir, "tmp"))
        shutil.copy(os.path.join(ROOT, "fixtures", "bench_target.py"), self.work)
        return self

    def __exit__(self, *exc):
        shutil.rmtree(self.work, ignore_errors=True)
        if self.mounted:
            subprocess.run(["umount", os.path.join(self.dir, "proc")])

    def inside(self, path):
        """A path of the host under the root, as the root sees it."""
        return "/" + os.path.relpath(path, self.dir)

    def argv(self, *args):
        return ["chroot", self.dir] + list(args)


def have_austin(root):
    if os.access(os.path.join(root.dir, "usr/bin/austin"), os.X_OK):
        return True
    log("installing Debian's austin into %s" % root.dir)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get"] + APT + ["update"],
                ["apt-get"] + APT + ["install", "-y", "--no-install-recommends", "austin"]):
        r = subprocess.run(root.argv(*cmd), env=env, capture_output=True, text=True)
        if r.returncode:
            log("%s failed: %s" % (" ".join(cmd), (r.stderr or r.stdout)[-300:]))
            return False
    return True


def start_target(root):
    p = subprocess.Popen(root.argv(root.python, os.path.join(root.inside(root.work),
                                                             "bench_target.py"),
                                   "10", "50", "idle"),
                         stdout=subprocess.PIPE, text=True)
    if not p.stdout.readline().startswith("READY"):
        p.kill()
        raise RuntimeError("bench target did not start in %s" % root.dir)
    time.sleep(0.3)
    return p


def timed(argv):
    """Run argv; (cpu seconds, stdout + stderr)."""
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    if status:
        raise RuntimeError("%s: exit status %d: %s" % (argv[0], status, out[-300:]))
    return ru.ru_utime + ru.ru_stime, out


def run_tgattach(root, pid, seconds):
    out = tempfile.mkdtemp()
    try:
        cpu, _ = timed([TG, "-p", str(pid), "-o", out, "-r", str(RATE), "-d", str(seconds), "-q",
                        "--mem-rate", "0"])
        return cpu, int(meta_value(os.path.join(out, str(pid), "meta"), "samples"))
    finally:
        shutil.rmtree(out, ignore_errors=True)


def run_austin(root, pid, seconds):
    path = os.path.join(root.work, "out.austin")
    cpu, text = timed(root.argv("austin", "-i", str(1000000 // RATE), "-x", str(seconds),
                                "-p", str(pid), "-o", root.inside(path)))
    m = re.search(r"Error rate\D*\d+/(\d+)", re.sub(r"\x1b\[[0-9;]*m", "", text))
    if not m:
        raise RuntimeError("austin printed no sample count: %s" % text[-300:])
    return cpu, int(m.group(1)) / THREADS


def run_cpython(root, pid, seconds):
    path = os.path.join(root.work, "out.collapsed")
    cpu, text = timed(root.argv(root.python, "-m", "profiling.sampling", "attach", "-r",
                                "%dhz" % RATE, "-d", str(seconds), "-a", "--collapsed", "-o",
                                root.inside(path), str(pid)))
    m = re.search(r"Captured (\d+) samples", text)
    if not m:
        raise RuntimeError("profiling.sampling printed no sample count: %s" % text[-300:])
    return cpu, int(m.group(1))


def measure(root, run):
    """(µs per round, µs per thread-sample, rounds per second kept)."""
    target = start_target(root)
    try:
        c1, n1 = run(root, target.pid, SHORT)
        c2, n2 = run(root, target.pid, LONG)
    finally:
        target.kill()
        target.wait()
    per_round = (c2 - c1) / max(n2 - n1, 1) * 1e6
    return per_round, per_round / THREADS, n2 / LONG


def main():
    if os.geteuid() != 0:
        log("needs root (chroot, mount): skipped")
        return 0
    if os.environ.get("TG_BENCH_PEERS_NS") != "1":  # the /proc mounts: ours alone
        os.environ["TG_BENCH_PEERS_NS"] = "1"
        os.execvp("unshare", ["unshare", "--mount", "--propagation", "private",
                              sys.executable, os.path.abspath(__file__)] + sys.argv[1:])
    if not os.access(TG, os.X_OK):
        log("build %s first (make)" % TG)
        return 1
    cases = []
    trixie = Root("trixie", "/usr/bin/python3.13")
    unstable = Root("unstable", "/usr/bin/python3.15")
    for root, peer, name, run in ((trixie, "austin 3.7.0 (Debian)", "austin", run_austin),
                                  (unstable, "python3.15 -m profiling.sampling", "cpython",
                                   run_cpython)):
        if not root.available():
            log("%s has no %s (make roots): skipped" % (root.dir, root.python))
            continue
        if name == "austin" and not have_austin(root):
            continue
        with root:
            for label, fn in (("tgattach --mem-rate 0", run_tgattach), (peer, run)):
                log("%s on %s" % (label, os.path.basename(root.python)))
                cases.append((os.path.basename(root.python), label) + measure(root, fn))
    if not cases:
        log("no root to measure in")
        return 1
    lines = [
        "Machine: %s; %s.  Target: fixtures/bench_target.py, 10 threads parked 50 frames deep "
        "and the main thread (11 threads), in its Debian root; each tool samples it at %d Hz. "
        "The cost of a round (every thread once) is the difference of the tool's CPU time "
        "(user+sys) between a %d s and a %d s run, over the difference of their rounds, so "
        "that starting (imports, attach, symbols) cancels out; rounds are counted from each "
        "tool's own output." % (machine(), time.strftime("%Y-%m-%d"), RATE, SHORT, LONG),
        "",
        "| interpreter | tool | rounds/s kept (of %d) | CPU µs per round | CPU µs per "
        "thread-sample |" % RATE,
        "|---|---|---:|---:|---:|",
    ]
    for interp, label, per_round, per_thread, rate in cases:
        lines.append("| %s | %s | %.0f | %.0f | %.1f |" % (interp, label, rate, per_round,
                                                           per_thread))
    lines.append("")
    lines.append("Every tool here reads the target from outside without stopping it (austin "
                 "and CPython's sampler in their default modes; tgattach without "
                 "--consistent).  A rate kept below %d means rounds took longer than the "
                 "interval." % RATE)
    report = "\n".join(lines) + "\n"
    print(report)
    benchdoc.write_section("peers", report, "Peers: austin and CPython 3.15's sampler "
                           "(tools/bench_peers.py)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
