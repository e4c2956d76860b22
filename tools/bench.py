#!/usr/bin/env python3
"""make bench: the sampler's costs, measured on real interpreters.

For pyenv 3.11 and 3.12 targets with 1, 10 and 100 threads at stack depths 10, 50 and 200:
tgattach's CPU time per sample (user+sys, from wait4's rusage, over a 1 kHz run), the
highest sustained rate (asked for 10 kHz), bytes written per sample and per second, peak
RSS; the target's slowdown on a fixed CPU-bound job (unattached vs 100 Hz vs 1 kHz, median
of several rounds); and the time from start to the first sample, cold and warm (layout
cache).  Prints a Markdown report and writes it into docs/benchmarks.md between markers.
Figures are measurements of this run on this machine: nothing here asserts a threshold.
"""
import glob
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import benchdoc

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TG = os.path.join(ROOT, "tgattach")
TARGET = os.path.join(ROOT, "fixtures", "bench_target.py")
QUICK = os.environ.get("BENCH_QUICK") == "1"


def pyenv(prefix):
    root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    found = sorted(glob.glob(os.path.join(root, "versions", prefix + "*", "bin", "python")))
    return found[0] if found else None


def start_target(python, threads, depth, mode):
    p = subprocess.Popen([python, TARGET, str(threads), str(depth), mode],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    if not line.startswith("READY"):
        p.kill()
        raise RuntimeError("bench target did not start: %r" % line)
    return p


def stop(p):
    p.kill()
    p.wait()


def run_tg(pid, out, rate, seconds, env=None, extra=()):
    """Run a recording; returns (cpu seconds, peak RSS KiB, samples, bytes written)."""
    p = subprocess.Popen([TG, "-p", str(pid), "-o", out, "-r", str(rate), "-d", str(seconds),
                          "-q"] + list(extra), env=env, stdin=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    if status != 0:
        raise RuntimeError("tgattach exited with status %d" % status)
    d = os.path.join(out, str(pid))
    with open(os.path.join(d, "process.mem")) as f:
        samples = sum(1 for _ in f)
    written = sum(os.path.getsize(os.path.join(d, n)) for n in os.listdir(d))
    return ru.ru_utime + ru.ru_stime, ru.ru_maxrss, samples, written


def per_sample(python, threads, depth):
    target = start_target(python, threads, depth, "idle")
    try:
        with tempfile.TemporaryDirectory() as out:
            seconds = 1.5 if QUICK else 3
            cpu, rss, samples, written = run_tg(target.pid, out, 1000, seconds)
        with tempfile.TemporaryDirectory() as out:
            _, _, max_samples, _ = run_tg(target.pid, out, 10000, 1 if QUICK else 2)
            max_rate = max_samples / (1 if QUICK else 2)
    finally:
        stop(target)
    return {
        "us_per_sample": cpu / samples * 1e6,
        "rate": samples / seconds,
        "max_rate": max_rate,
        "bytes_per_sample": written / samples,
        "bytes_per_s": written / seconds,
        "rss_mb": rss / 1024.0,
    }


def job_times(python, modes, rounds):
    """Seconds of one job round per mode (rate 0: not attached); the modes take turns in
    every round, so a shared machine's drift falls on all of them alike."""
    target = start_target(python, 10, 50, "job")
    times = {m: [] for m in modes}
    try:
        for _ in range(rounds):
            for mode in modes:
                rate, extra = mode
                out = tempfile.mkdtemp()
                tg = None
                try:
                    if rate:
                        tg = subprocess.Popen([TG, "-p", str(target.pid), "-o", out, "-r",
                                               str(rate), "-q"] + list(extra),
                                              stdin=subprocess.DEVNULL)
                        time.sleep(0.3)
                    target.stdin.write("\n")
                    target.stdin.flush()
                    times[mode].append(float(target.stdout.readline().split()[1]))
                finally:
                    if tg:
                        tg.terminate()
                        tg.wait()
                    shutil.rmtree(out, ignore_errors=True)
    finally:
        stop(target)
    return times


def meta_value(path, key):
    with open(path) as f:
        for line in f:
            if line.startswith(key + "="):
                return line.split("=", 1)[1].strip()
    return None


def consistent_cost(python, threads, depth):
    """--consistent at 100 Hz: tgattach's CPU per sample and how long the target's threads
    were held per sample (meta pause_us: from the pause asked to the resume asked)."""
    target = start_target(python, threads, depth, "idle")
    try:
        with tempfile.TemporaryDirectory() as out:
            cpu, _, samples, _ = run_tg(target.pid, out, 100, 1.5 if QUICK else 3,
                                        extra=["--consistent"])
            meta = os.path.join(out, str(target.pid), "meta")
            held = float(meta_value(meta, "pause_us") or "nan")
            missed = int(meta_value(meta, "pause_missed") or "0")
    finally:
        stop(target)
    return cpu / samples * 1e6, held, missed


def first_sample_latency(python, cache):
    target = start_target(python, 10, 50, "idle")
    out = tempfile.mkdtemp()
    env = dict(os.environ, XDG_CACHE_HOME=cache)
    try:
        t0 = time.perf_counter()
        tg = subprocess.Popen([TG, "-p", str(target.pid), "-o", out, "-r", "1000", "-q"],
                              env=env, stdin=subprocess.DEVNULL)
        mem = os.path.join(out, str(target.pid), "process.mem")
        while time.perf_counter() - t0 < 10:
            if os.path.exists(mem) and os.path.getsize(mem) > 0:
                break
            time.sleep(0.0005)
        elapsed = time.perf_counter() - t0
        tg.terminate()
        tg.wait()
        return elapsed
    finally:
        stop(target)
        shutil.rmtree(out, ignore_errors=True)


def machine():
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return "%s, %d cores, Linux %s" % (model, os.cpu_count(), platform.release())


def main():
    if not os.access(TG, os.X_OK):
        sys.exit("bench: build ./tgattach first (make)")
    lines = ["Machine: " + machine() + ".", ""]
    threads_list = [1, 10] if QUICK else [1, 10, 100]
    depths = [10, 50] if QUICK else [10, 50, 200]
    lines += ["### Cost per sample (target threads idle at the bottom of their stacks)", "",
              "| python | threads | depth | CPU µs/sample | achieved Hz at 1 kHz | max Hz "
              "(asked 10 kHz) | bytes/sample | KB/s at 1 kHz | tgattach peak RSS MB |",
              "|---|---|---|---|---|---|---|---|---|"]
    pythons = [(v, pyenv(v + ".")) for v in ("3.11", "3.12")]
    for version, python in pythons:
        if not python:
            lines.append("| %s | skipped: not installed | | | | | | | |" % version)
            continue
        for threads in threads_list:
            for depth in depths:
                r = per_sample(python, threads, depth)
                lines.append("| %s | %d | %d | %.1f | %.0f | %.0f | %.0f | %.1f | %.1f |" % (
                    version, threads, depth, r["us_per_sample"], r["rate"], r["max_rate"],
                    r["bytes_per_sample"], r["bytes_per_s"] / 1024, r["rss_mb"]))
                print(lines[-1], flush=True)
    python = pyenv("3.12.") or pyenv("3.11.")
    if python:
        rounds = 3 if QUICK else 7
        modes = [(0, ()), (100, ()), (1000, ()), (100, ("--consistent",)),
                 (1000, ("--consistent",))]
        times = job_times(python, modes, rounds)
        base = statistics.median(times[(0, ())])
        lines += ["", "### Target slowdown (3.12 job of about 0.7 s: 10 threads, depth 50, "
                  "CPU-bound main thread; %d rounds, the modes taking turns in each; median, "
                  "spread min–max)" % rounds, "",
                  "| attached at | job seconds (median) | spread | slowdown |", "|---|---|---|---|"]
        for mode in modes[:3]:
            med = statistics.median(times[mode])
            lines.append("| %s | %.3f | %.3f–%.3f | %+.1f%% |" % (
                "not attached" if not mode[0] else "%d Hz" % mode[0], med, min(times[mode]),
                max(times[mode]), (med / base - 1) * 100))
            print(lines[-1], flush=True)
        lines += ["", "### `--consistent` (threads stopped for each stack sample; 3.12, 100 Hz)",
                  "", "Off by default: the target is paused for each sample.  *held* is the "
                  "time from the pause asked to the resume asked (the threads stop and start "
                  "within it), from meta's `pause_us`.", "",
                  "| threads | depth | tgattach CPU µs/sample | threads held µs/sample | "
                  "samples not paused |", "|---|---|---|---|---|"]
        for threads, depth in ((1, 10), (10, 50)) + (() if QUICK else ((100, 50),)):
            cpu, held, missed = consistent_cost(python, threads, depth)
            lines.append("| %d | %d | %.0f | %.0f | %d |" % (threads, depth, cpu, held, missed))
            print(lines[-1], flush=True)
        lines += ["", "| attached at, --consistent | job seconds (median) | spread | slowdown |",
                  "|---|---|---|---|"]
        for mode in modes[3:]:
            med = statistics.median(times[mode])
            lines.append("| %d Hz | %.3f | %.3f–%.3f | %+.1f%% |" % (
                mode[0], med, min(times[mode]), max(times[mode]), (med / base - 1) * 100))
            print(lines[-1], flush=True)
        cache = tempfile.mkdtemp()
        cold, warm = [], []
        for _ in range(3):
            shutil.rmtree(cache, ignore_errors=True)
            os.makedirs(cache)
            cold.append(first_sample_latency(python, cache))
            warm.append(first_sample_latency(python, cache))
        shutil.rmtree(cache, ignore_errors=True)
        lines += ["", "### Time from start to the first sample (3.12, median of 3)", "",
                  "| layout cache | ms |", "|---|---|",
                  "| cold (DWARF parsed) | %.1f |" % (statistics.median(cold) * 1000),
                  "| warm (cached by build-id) | %.1f |" % (statistics.median(warm) * 1000)]
    report = "\n".join(lines) + "\n"
    print(report)
    benchdoc.write_section("sampler", report, "Sampler (tools/bench.py)")


if __name__ == "__main__":
    main()
