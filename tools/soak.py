#!/usr/bin/env python3
"""make soak: a long recording of a busy server, as a check that tgattach stays bounded.

Starts fixtures/soak_server.py (threads that come and go, thousands of new code objects,
ever-new function names, thread renames, a heap that grows and empties, forked children),
attaches `tgattach -p PID -o OUT -q` and, every --interval seconds, records tgattach's
VmRSS/VmHWM, open descriptors and CPU time, and the bytes of the recording by kind of file.
At the end it stops tgattach with SIGTERM and checks that it exited with status 0 and left
every thread of the target untraced and running, and that the target still answers.

Fails (exit 1) when tgattach died or exited non-zero, when the target was left traced,
stopped or dead, when tgattach's descriptors exceed their bound, or when its RSS grows by
more than --max-rss-slope KB/hour over the second half of the run (judged only when the
run lasts an hour or more: shorter runs measure the warm-up).

Writes OUT/soak.csv (one row per sample), OUT/soak-report.md, and the report into
docs/benchmarks.md between <!-- soak:begin --> and <!-- soak:end --> (unless --no-write).
Python 3, standard library only.
"""
import argparse
import csv
import datetime
import glob
import os
import platform
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time

import benchdoc

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TG = os.path.join(ROOT, "tgattach")
SERVER = os.path.join(ROOT, "fixtures", "soak_server.py")
BENCH_MD = benchdoc.DOC

# 1 MB/hour is 24 MB a day, more than tgattach's whole measured footprint (about 15 MB): a
# leak that small would still double it daily, and a leak per sample, per code object or
# per forked child is far larger.  Bounded caches add nothing once warm; what does grow is
# the set of names kept for the whole run (each never-seen function or file name, each new
# thread's file name: about 100 bytes apiece), 0.3 - 0.6 MB/hour on the soak server, which
# makes a never-seen name every second and a new thread every 2 s.  On that workload the
# code cache (8192 entries per process) fills over about 25 minutes, so the fit is judged
# only when the second half starts after 30 minutes (runs of an hour or more).
DEFAULT_MAX_SLOPE_KB_H = 1024.0
JUDGE_MIN_HALF_S = 1800
# Descriptors a recording may hold: at most 64 thread files (OUTPUT_MAX_OPEN), /proc files
# for each live thread of the target (its stat and schedstat), and a few fixed ones (the
# directory, process.mem/.alloc, statm, the tracer's event descriptors, stdio): 32 is
# generous for those.  A forked child is a second recording (one thread) while it lives.
FD_FIXED, FD_THREAD_FILES, FD_PER_LIVE_THREAD = 32, 64, 2


def fd_bound(threads_max):
    one = FD_FIXED + FD_THREAD_FILES
    return one + FD_PER_LIVE_THREAD * threads_max + one + FD_PER_LIVE_THREAD


FIELDS = ["t", "rss_kb", "hwm_kb", "fds", "cpu_s", "bytes", "process_mem", "process_alloc",
          "stack", "mem", "meta", "children", "files", "child_dirs", "target_threads",
          "target_rss_kb", "attached", "compiled", "novel", "connections", "forks",
          "requests"]


def pyenv_python(prefix):
    root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    found = sorted(glob.glob(os.path.join(root, "versions", prefix + "*", "bin", "python")))
    return found[0] if found else None


def proc_status(pid):
    return proc_status_path("/proc/%d/status" % pid)


def tasks(pid):
    """tgattach's thread ids, as strings (its tracer is a thread of its own)."""
    try:
        return set(os.listdir("/proc/%d/task" % pid))
    except OSError:
        return set()


def limit_nofile(n):
    """In the child before exec: the soft descriptor limit (0: leave it)."""
    if n:
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        soft = n if hard == resource.RLIM_INFINITY else min(n, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def kb(status, key):
    v = status.get(key, "0 kB").split()
    return int(v[0]) if v else 0


def cpu_seconds(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def fd_count(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return None


def file_kind(name):
    if name in ("process.mem", "process.alloc", "meta"):
        return name.replace(".", "_")
    if name.endswith(".stack"):
        return "stack"
    if name.endswith(".mem"):
        return "mem"
    return None


def output_sizes(rec, pid):
    """Bytes of the recording by kind: the target's own files, and child directories."""
    sizes = dict(bytes=0, process_mem=0, process_alloc=0, stack=0, mem=0, meta=0,
                 children=0, files=0, child_dirs=0)
    try:
        entries = list(os.scandir(rec))
    except OSError:
        return sizes
    for d in entries:
        if not d.is_dir(follow_symlinks=False):
            continue
        own = d.name == str(pid)
        if not own:
            sizes["child_dirs"] += 1
        for e in os.scandir(d.path):
            try:
                n = e.stat(follow_symlinks=False).st_size
            except OSError:
                continue
            sizes["files"] += 1
            sizes["bytes"] += n
            kind = file_kind(e.name)
            if not own:
                sizes["children"] += n
            elif kind:
                sizes[kind] += n
    return sizes


def read_stats(path):
    out = {}
    try:
        with open(path) as f:
            for line in f:
                k, _, v = line.strip().partition("=")
                if v.isdigit():
                    out[k] = int(v)
    except OSError:
        pass
    return out


def thread_states(pid):
    """(tid, TracerPid, State letter) of every thread of pid."""
    out = []
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return out
    for tid in tids:
        st = proc_status_path("/proc/%d/task/%s/status" % (pid, tid))
        if st:
            out.append((int(tid), int(st.get("TracerPid", "0")), st.get("State", "?")[:1]))
    return out


def proc_status_path(path):
    out = {}
    try:
        with open(path) as f:
            for line in f:
                k, _, v = line.partition(":")
                out[k] = v.strip()
    except OSError:
        return None
    return out


def ask(port, request, timeout=30):
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        f = s.makefile("rwb")
        f.write(request.encode() + b"\n")
        f.flush()
        return f.readline().decode().strip()


def linfit(xs, ys):
    """Least squares y = a + b x; returns (a, b, residuals)."""
    n = len(xs)
    if n < 2:
        return (ys[0] if ys else 0.0), 0.0, [0.0] * n
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx if sxx else 0.0
    a = my - b * mx
    return a, b, [y - (a + b * x) for x, y in zip(xs, ys)]


def count_lines(paths):
    n = 0
    for p in paths:
        with open(p, "rb") as f:
            while True:
                chunk = f.read(1 << 20)
                if not chunk:
                    break
                n += chunk.count(b"\n")
    return n


def fmt_dur(s):
    for unit, size in (("hour", 3600), ("minute", 60), ("second", 1)):
        if s >= size or unit == "second":
            v = s / size
            text = ("%.1f" % v).rstrip("0").rstrip(".")
            return "%s %s%s" % (text, unit, "" if text == "1" else "s")


class Soak:
    def __init__(self, a):
        self.a = a
        self.out = os.path.abspath(a.out)
        self.rec = os.path.join(self.out, "rec")
        self.stats_path = os.path.join(self.out, "target-stats")
        self.samples = []
        self.failures = []
        self.notes = []
        self.target = self.tg = None
        self.port = 0

    # ---- the run ----

    def start(self):
        shutil.rmtree(self.rec, ignore_errors=True)
        os.makedirs(self.rec, exist_ok=True)
        self.target = subprocess.Popen(
            [self.a.python, SERVER, "--stats", self.stats_path, "--fork-every",
             str(self.a.fork_every)], stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, text=True)
        line = self.target.stdout.readline()
        if not line.startswith("READY"):
            self.target.kill()
            raise SystemExit("soak: the server did not start: %r" % line)
        self.port = int(line.split()[1])
        cmd = [TG, "-p", str(self.target.pid), "-o", self.rec, "-q"]
        if self.a.rate:
            cmd[5:5] = ["-r", str(self.a.rate)]
        self.cmd = cmd
        nofile = self.a.nofile
        self.tg_err_path = os.path.join(self.out, "tgattach.stderr")
        self.tg_err = open(self.tg_err_path, "w")
        self.tg = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stderr=self.tg_err,
                                   preexec_fn=lambda: limit_nofile(nofile))
        # The clock starts once tgattach traces the target (its first sample follows).
        end = time.monotonic() + 60
        while time.monotonic() < end and self.tg.poll() is None:
            st = proc_status(self.target.pid) or {}
            if st.get("TracerPid", "0") in tasks(self.tg.pid):
                break
            time.sleep(0.05)
        self.t0 = time.monotonic()
        self.started = datetime.datetime.now()

    def sample(self):
        t = time.monotonic() - self.t0
        st = proc_status(self.tg.pid)
        tst = proc_status(self.target.pid) or {}
        if st is None or self.tg.poll() is not None:
            return None
        row = dict(t=round(t, 1), rss_kb=kb(st, "VmRSS"), hwm_kb=kb(st, "VmHWM"),
                   fds=fd_count(self.tg.pid), cpu_s=cpu_seconds(self.tg.pid),
                   target_threads=int(tst.get("Threads", "0")),
                   target_rss_kb=kb(tst, "VmRSS"),
                   attached=int(tst.get("TracerPid", "0") in tasks(self.tg.pid)))
        row.update(output_sizes(self.rec, self.target.pid))
        stats = read_stats(self.stats_path)
        for k in ("compiled", "novel", "connections", "forks", "requests"):
            row[k] = stats.get(k, 0)
        return row

    def run(self):
        deadline = self.t0 + self.a.seconds
        next_at = self.t0
        while True:
            now = time.monotonic()
            if self.target.poll() is not None:
                self.failures.append("the target exited during the run (status %s)" %
                                     self.target.returncode)
                return
            if now >= next_at:
                row = self.sample()
                if row is None:
                    self.tg.wait()
                    self.failures.append("tgattach exited during the run, after %s (%s)" %
                                         (fmt_dur(now - self.t0), self.tg_last_error()))
                    return
                self.samples.append(row)
                self.progress(row)
                next_at += self.a.interval
            if now >= deadline:
                row = self.sample()
                if row is not None:
                    self.samples.append(row)
                return
            time.sleep(min(1.0, max(0.05, min(next_at, deadline) - time.monotonic())))

    def nofile_text(self):
        if self.a.nofile:
            return "RLIMIT_NOFILE %d" % self.a.nofile
        return "RLIMIT_NOFILE %d, inherited" % resource.getrlimit(resource.RLIMIT_NOFILE)[0]

    def tg_last_error(self):
        self.tg_err.flush()
        try:
            with open(self.tg_err_path, errors="replace") as f:
                lines = [l.strip() for l in f if l.startswith("tgattach:")]
        except OSError:
            lines = []
        return lines[-1] if lines else "it printed no error"

    def progress(self, row):
        if self.a.quiet:
            return
        print("soak: %7.0f s  rss %6d KB  hwm %6d KB  fds %3s  cpu %7.1f s  out %8.1f MB  "
              "files %d" % (row["t"], row["rss_kb"], row["hwm_kb"], row["fds"], row["cpu_s"],
                            row["bytes"] / 1e6, row["files"]), flush=True)

    def stop_tg(self):
        if self.tg.poll() is None:
            self.tg.send_signal(signal.SIGTERM)
            end = time.monotonic() + 60
            while time.monotonic() < end:
                pid, status = os.waitpid(self.tg.pid, os.WNOHANG)
                if pid:
                    self.tg.returncode = os.waitstatus_to_exitcode(status)
                    break
                time.sleep(0.1)
            else:
                self.failures.append("tgattach did not exit within 60 s of SIGTERM; killed")
                self.tg.kill()
                self.tg.wait()
        code = self.tg.returncode
        if code != 0 and not any("exited during the run" in x for x in self.failures):
            how = ("killed by signal %d" % -code) if code < 0 else ("exit status %d" % code)
            self.failures.append("tgattach ended with %s" % how)

    def check_target(self):
        if self.target.poll() is not None:
            self.failures.append("the target is not running after the recording")
            return
        time.sleep(0.5)
        bad = [(tid, tr, s) for tid, tr, s in thread_states(self.target.pid)
               if tr != 0 or s in "tT"]
        self.threads_checked = len(thread_states(self.target.pid))
        for tid, tr, s in bad:
            self.failures.append("target thread %d left %s (TracerPid %d, State %s)" %
                                 (tid, "traced" if tr else "stopped", tr, s))
        try:
            answer = ask(self.port, "ping")
        except OSError as e:
            answer = "error: %s" % e
        if answer != "pong":
            self.failures.append("the target no longer answers after the recording: %s" %
                                 answer)

    def stop_target(self):
        if self.target.poll() is None:
            self.target.send_signal(signal.SIGTERM)
            try:
                self.target.wait(30)
            except subprocess.TimeoutExpired:
                self.target.kill()
                self.target.wait()

    def cleanup(self):
        for p in (self.tg, self.target):
            if p and p.poll() is None:
                p.kill()
                p.wait()
        if getattr(self, "tg_err", None):
            self.tg_err.close()

    # ---- the figures ----

    def write_csv(self):
        with open(os.path.join(self.out, "soak.csv"), "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=FIELDS)
            w.writeheader()
            for row in self.samples:
                w.writerow({k: row.get(k, "") for k in FIELDS})

    def analyse(self):
        s = self.samples
        if len(s) < 3:
            self.failures.append("too few samples (%d) to judge anything" % len(s))
            return None
        dur = s[-1]["t"]
        half = [r for r in s if r["t"] >= dur / 2]
        f = {"duration": dur, "samples": len(s)}
        # RSS: warm-up is the first half; the slope is fitted over the second.
        _, slope, res = linfit([r["t"] / 3600 for r in half], [r["rss_kb"] for r in half])
        f["rss_first"] = s[0]["rss_kb"]
        f["rss_half"] = half[0]["rss_kb"]
        f["rss_end"] = s[-1]["rss_kb"]
        f["rss_max"] = max(r["rss_kb"] for r in s)
        f["hwm_end"] = s[-1]["hwm_kb"]
        f["rss_slope"] = slope
        f["half_s"] = dur - half[0]["t"]
        quarter = [r for r in s if r["t"] >= dur * 0.75]
        f["rss_slope_q4"] = linfit([r["t"] / 3600 for r in quarter],
                                   [r["rss_kb"] for r in quarter])[1]
        f["judged"] = dur / 2 >= JUDGE_MIN_HALF_S - self.a.interval
        if f["judged"] and slope > self.a.max_rss_slope:
            self.failures.append(
                "tgattach's RSS grows by %.0f KB/hour over the second half (limit %.0f)" %
                (slope, self.a.max_rss_slope))
        # Output: linear after the first stacks were written (the first 10 % of the run).
        body = [r for r in s if r["t"] >= dur * 0.1]
        xs, ys = [r["t"] for r in body], [r["bytes"] for r in body]
        _, rate, res = linfit(xs, ys)
        f["out_rate"] = rate
        f["out_total"] = s[-1]["bytes"]
        f["out_resid_pct"] = (100.0 * max(abs(x) for x in res) / (ys[-1] - ys[0])
                              if ys[-1] > ys[0] else 0.0)
        mid = [r for r in body if r["t"] >= (body[0]["t"] + body[-1]["t"]) / 2][0]
        r1 = (mid["bytes"] - body[0]["bytes"]) / max(1e-9, mid["t"] - body[0]["t"])
        r2 = (body[-1]["bytes"] - mid["bytes"]) / max(1e-9, body[-1]["t"] - mid["t"])
        f["out_rate_ratio"] = r2 / r1 if r1 else 0.0
        span = max(1e-9, body[-1]["t"] - body[0]["t"])
        f["kind_rates"] = {k: (body[-1][k] - body[0][k]) / span
                           for k in ("process_mem", "process_alloc", "stack", "mem", "meta",
                                     "children")}
        f["files"] = s[-1]["files"]
        f["child_dirs"] = s[-1]["child_dirs"]
        f["files_rate_h"] = (body[-1]["files"] - body[0]["files"]) / span * 3600
        # Descriptors.
        fds = [r["fds"] for r in s if r["fds"] is not None]
        f["fds_min"], f["fds_max"] = min(fds), max(fds)
        f["fds_half_max"] = max(r["fds"] for r in half)
        f["fds_first_half_max"] = max(r["fds"] for r in s if r["t"] < dur / 2)
        f["target_threads_max"] = max(r["target_threads"] for r in s)
        limit = fd_bound(f["target_threads_max"])
        f["fd_limit"] = limit
        if f["fds_max"] > limit:
            self.failures.append("tgattach held %d descriptors (bound %d)" %
                                 (f["fds_max"], limit))
        f["cpu_s"] = s[-1]["cpu_s"]
        f["cpu_pct"] = 100.0 * (s[-1]["cpu_s"] - s[0]["cpu_s"]) / max(1e-9, dur - s[0]["t"])
        for k in ("compiled", "novel", "connections", "forks", "requests"):
            f[k] = s[-1].get(k, 0)
        f["attached_all"] = all(r["attached"] for r in s)
        if not f["attached_all"]:
            self.notes.append("the target's main thread was not traced by tgattach in %d of "
                              "%d samples" % (sum(1 for r in s if not r["attached"]), len(s)))
        self.lines(f)
        return f

    def lines(self, f):
        """Bytes per sample (process files) and per line (thread files), counted at the end."""
        d = os.path.join(self.rec, str(self.target.pid))
        pm, pa = os.path.join(d, "process.mem"), os.path.join(d, "process.alloc")
        f["proc_samples"] = count_lines([pm]) if os.path.exists(pm) else 0
        pm_b = os.path.getsize(pm) if os.path.exists(pm) else 0
        pa_b = os.path.getsize(pa) if os.path.exists(pa) else 0
        n = max(1, f["proc_samples"])
        f["b_per_sample_mem"], f["b_per_sample_alloc"] = pm_b / n, pa_b / n
        f["sample_rate"] = f["proc_samples"] / max(1e-9, f["duration"])
        stacks = [p for p in glob.glob(os.path.join(d, "*.stack"))]
        mems = [p for p in glob.glob(os.path.join(d, "*.mem"))
                if os.path.basename(p) != "process.mem"]
        st_b = sum(os.path.getsize(p) for p in stacks)
        me_b = sum(os.path.getsize(p) for p in mems)
        f["stack_lines"], f["mem_lines"] = count_lines(stacks), count_lines(mems)
        f["b_per_stack_line"] = st_b / max(1, f["stack_lines"])
        f["b_per_mem_line"] = me_b / max(1, f["mem_lines"])
        f["thread_files"] = len(stacks)
        workers = [p for p in stacks if os.path.basename(p).startswith("worker-")]
        f["worker_stack_rate"] = (sum(os.path.getsize(p) for p in workers) / len(workers) /
                                  f["duration"]) if workers else 0.0
        f["worker_mem_rate"] = (sum(os.path.getsize(p[:-6] + ".mem") for p in workers
                                    if os.path.exists(p[:-6] + ".mem")) / len(workers) /
                                f["duration"]) if workers else 0.0
        f["worker_lines_rate"] = (count_lines(workers) / len(workers) / f["duration"]
                                  if workers else 0.0)
        short = [p for p in stacks if os.path.basename(p).startswith("Thread-")]
        sizes = sorted(os.path.getsize(p) + (os.path.getsize(p[:-6] + ".mem")
                                             if os.path.exists(p[:-6] + ".mem") else 0)
                       for p in short)
        f["short_threads"] = len(short)
        f["short_thread_bytes"] = sizes[len(sizes) // 2] if sizes else 0

    # ---- the report ----

    def report(self, f):
        a = self.a
        load = os.getloadavg()[0]
        py = subprocess.run([a.python, "-c", "import platform;print(platform.python_version())"],
                            capture_output=True, text=True).stdout.strip()
        label = "**This run lasted %s**" % fmt_dur(a.seconds)
        if a.seconds < 86400:
            label += (" (`SOAK_SECONDS=%d`).  `make soak` runs 24 hours by default: this "
                      "section does not report a 24-hour run." % a.seconds)
        else:
            label += "."
        if f["duration"] < a.seconds - 2 * a.interval:
            label += "  tgattach stopped after %s: see the result below." % fmt_dur(
                f["duration"])
        out = []
        w = out.append
        w("## Soak: bounded growth (tools/soak.py, `make soak`)")
        w("")
        w(label)
        w("")
        w("Machine: %s, %d cores (nproc), Linux %s; %s; load average %.1f when done (a shared "
          "machine).  Started %s." % (platform.machine(), os.cpu_count(), platform.release(),
                                      datetime.date.today().isoformat(), load,
                                      self.started.strftime("%Y-%m-%d %H:%M")))
        w("")
        w("Target: Python %s running `fixtures/soak_server.py`: a loopback TCP server with one "
          "handler thread per connection (%d connections, so %d threads came and went; at most "
          "%d threads at once), %d requests, %d functions compiled with `compile`/`exec` (new "
          "code objects, names from a pool of 2000), %d of them under never-seen function and "
          "file names, workers renaming themselves every 10 s, a heap growing to 60 MB and "
          "emptied over and over, and %d forked children, one every %g s (recorded into %d "
          "child directories).  tgattach: `%s` (%s), stopped with SIGTERM."
          % (py, f["connections"], f["connections"], f["target_threads_max"], f["requests"],
             f["compiled"], f["novel"], f["forks"], a.fork_every, f["child_dirs"],
             " ".join(["tgattach"] + self.cmd[1:]).replace(self.rec, "OUT").replace(
                 str(self.target.pid), "PID"),
             "%.0f Hz; descriptor limit %s" % (f["sample_rate"], self.nofile_text())))
        w("")
        w("| tgattach | value |")
        w("|---|---:|")
        w("| RSS at the first sample (%.0f s) | %.1f MB |" % (self.samples[0]["t"],
                                                          f["rss_first"] / 1024))
        w("| RSS after warm-up (half-time, %s) | %.1f MB |" % (fmt_dur(f["duration"] / 2),
                                                            f["rss_half"] / 1024))
        w("| RSS at the end | %.1f MB |" % (f["rss_end"] / 1024))
        w("| peak RSS (VmHWM) | %.1f MB |" % (f["hwm_end"] / 1024))
        w("| RSS slope over the second half (least squares) | %+.0f KB/hour |" % f["rss_slope"])
        w("| RSS slope over the last quarter | %+.0f KB/hour |" % f["rss_slope_q4"])
        w("| open descriptors (min – max; max in 1st / 2nd half) | %d – %d; %d / %d |"
          % (f["fds_min"], f["fds_max"], f["fds_first_half_max"], f["fds_half_max"]))
        w("| CPU | %.0f s, %.1f %% of a core |" % (f["cpu_s"], f["cpu_pct"]))
        w("| exit | %s |" % ("status 0 after SIGTERM" if self.tg.returncode == 0 else
                             "status %s" % self.tg.returncode))
        w("")
        w("| output | value |")
        w("|---|---:|")
        w("| written | %.1f MB in %d files |" % (f["out_total"] / 1e6, f["files"]))
        w("| rate (least squares after the first 10 %%) | %.0f bytes/s = %.2f GB/day |"
          % (f["out_rate"], f["out_rate"] * 86400 / 1e9))
        w("| linearity: largest residual / rate 2nd half ÷ 1st half | %.2f %% of the growth "
          "/ %.3f |" % (f["out_resid_pct"], f["out_rate_ratio"]))
        kr = f["kind_rates"]
        w("| by kind, bytes/s | process.mem %.0f, process.alloc %.0f, .stack %.0f, .mem %.0f, "
          "child dirs %.0f |" % (kr["process_mem"], kr["process_alloc"], kr["stack"],
                                 kr["mem"], kr["children"]))
        w("| per sample (%d samples) | process.mem %.1f + process.alloc %.1f = %.1f bytes |"
          % (f["proc_samples"], f["b_per_sample_mem"], f["b_per_sample_alloc"],
             f["b_per_sample_mem"] + f["b_per_sample_alloc"]))
        w("| per line | .stack (call) %.1f bytes, .mem (return) %.1f bytes |"
          % (f["b_per_stack_line"], f["b_per_mem_line"]))
        w("| per busy worker thread | %.0f lines/s in .stack, %.0f + %.0f bytes/s (.stack + "
          ".mem) |" % (f["worker_lines_rate"], f["worker_stack_rate"], f["worker_mem_rate"]))
        w("| per short-lived handler thread | 2 files, %.0f bytes (median of %d) |"
          % (f["short_thread_bytes"], f["short_threads"]))
        w("| new files | %.0f per hour |" % f["files_rate_h"])
        w("")
        verdict = "**PASS**" if not self.failures else "**FAIL**: " + "; ".join(self.failures)
        judged = ("RSS slope judged against %.0f KB/hour" % a.max_rss_slope if f["judged"] else
                  "RSS slope not judged: the run lasted %s, under an hour (the warm-up lasts "
                  "about 25 minutes here)"
                  % fmt_dur(f["duration"]))
        w("Checks: tgattach alive to the end and exited 0; every one of the target's %d "
          "threads left with TracerPid 0 and not stopped, and the target still answering; "
          "descriptors at most %d (64 thread files, 2 per live thread, 32 others; as "
          "much again for a forked child); %s.  Result: %s"
          % (getattr(self, "threads_checked", 0), f["fd_limit"], judged, verdict))
        for n in self.notes + [x.rstrip(".") for x in a.note]:
            w("")
            w("Note: %s." % n)
        w("")
        w("Samples every %g s in OUT/soak.csv (`python3 tools/soak.py --help`)." % a.interval)
        return "\n".join(out) + "\n"


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float,
                    default=float(os.environ.get("SOAK_SECONDS", "86400")),
                    help="length of the recording (default 86400, or $SOAK_SECONDS)")
    ap.add_argument("--interval", type=float, default=0,
                    help="seconds between samples (default: duration/360, 2 to 60)")
    ap.add_argument("--out", default=os.path.join(ROOT, "build", "soak"),
                    help="working directory: OUT/rec (the recording), OUT/soak.csv")
    ap.add_argument("--python", default=pyenv_python("3.12") or "python3",
                    help="interpreter for the server (default: pyenv 3.12)")
    ap.add_argument("--fork-every", type=float, default=60.0,
                    help="seconds between the server's forks (default 60; 0: none)")
    ap.add_argument("--rate", type=int, default=0, help="tgattach -r (default: its own)")
    ap.add_argument("--max-rss-slope", type=float, default=DEFAULT_MAX_SLOPE_KB_H,
                    help="KB/hour allowed over the second half (default %(default)g)")
    ap.add_argument("--nofile", type=int, default=1024,
                    help="tgattach's RLIMIT_NOFILE (default 1024, the usual soft limit of a "
                    "login shell; 0: inherit)")
    ap.add_argument("--note", action="append", default=[],
                    help="a sentence to add to the report (repeatable)")
    ap.add_argument("--no-write", action="store_true", help="leave docs/benchmarks.md alone")
    ap.add_argument("--keep", action="store_true", help="keep OUT/rec (default: removed "
                    "after a passing run)")
    ap.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    a = ap.parse_args()
    if a.seconds <= 0:
        ap.error("--seconds must be positive")
    if a.interval <= 0:
        a.interval = min(60.0, max(2.0, a.seconds / 360))
    return a


def main():
    a = parse_args()
    if not os.access(TG, os.X_OK):
        sys.exit("soak: %s: not built (make build)" % TG)
    s = Soak(a)
    try:
        s.start()
        s.run()
        s.stop_tg()
        s.check_target()
    finally:
        s.stop_target()
        s.cleanup()
    s.write_csv()
    f = s.analyse()
    if f is None:
        print("soak: FAIL: " + "; ".join(s.failures))
        return 1
    text = s.report(f)
    with open(os.path.join(s.out, "soak-report.md"), "w") as fh:
        fh.write(text)
    print(text)
    if not a.no_write:
        benchdoc.write_section("soak", text, "Soak: bounded growth (tools/soak.py, `make soak`)")
        print("soak: report written into %s" % os.path.relpath(BENCH_MD, os.getcwd()))
    if not s.failures and not a.keep:
        shutil.rmtree(s.rec, ignore_errors=True)
    return 1 if s.failures else 0


if __name__ == "__main__":
    sys.exit(main())
