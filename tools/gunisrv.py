"""A gunicorn worker serving fixtures/realserver/flask_app.py, its load (ab) and tgattach
recording it: what the cost benchmarks share (tools/bench-attrib.sh,
tools/bench_slowdown.py).  Everything started here is ended on every path (stop_all)."""
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request

from procutil import children_of, cpu_s, free_port, status_kb, stop_group

PYTHON = "/usr/bin/python3.11"
FIX = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "fixtures",
                                   "realserver"))
WARMUP_N = 300                    # requests to /leak before any measurement
AB_N = 1000000                    # ab -n: with -t, only the size of ab's table


class Fail(Exception):
    pass


LIVE = []


def start(argv, **kw):
    kw.setdefault("stdin", subprocess.DEVNULL)
    kw.setdefault("stdout", subprocess.DEVNULL)
    kw.setdefault("stderr", subprocess.DEVNULL)
    p = subprocess.Popen(argv, start_new_session=True, **kw)
    LIVE.append(p)
    return p


def stop(p, sig=signal.SIGTERM, wait=10.0):
    """End p and its process group (p leads it); returns its exit status."""
    rc = stop_group(p, sig, wait)
    if p in LIVE:
        LIVE.remove(p)
    return rc


def stop_all():
    for p in reversed(list(LIVE)):
        stop(p, wait=3.0)


def versions():
    """(python, gunicorn, flask) versions of the server's interpreter."""
    ver = subprocess.run([PYTHON, "-c", "import gunicorn, flask, platform; print("
                          "platform.python_version(), gunicorn.__version__, flask.__version__)"],
                         capture_output=True, text=True).stdout.split()
    return tuple(ver[:3]) if len(ver) >= 3 else ("?", "?", "?")


class Server:
    """A fresh gunicorn (one worker) serving flask_app, warmed up; extra: gunicorn options
    (["--threads", "4"] makes it a gthread worker)."""

    def __init__(self, extra):
        self.port = free_port()
        self.err = tempfile.TemporaryFile()
        argv = [PYTHON, "-m", "gunicorn", "--chdir", FIX, "-w", "1",
                "-k", "gthread" if extra else "sync"] + extra + [
                "-b", "127.0.0.1:%d" % self.port, "--timeout", "120",
                "--log-level", "warning", "flask_app:app"]
        self.master = start(argv, stderr=self.err)
        self.wait_ready()
        kids = children_of(self.master.pid)
        if len(kids) != 1:
            raise Fail("gunicorn %d has %d workers, expected 1" % (self.master.pid, len(kids)))
        self.worker = kids[0]
        ab(self.port, ["-n", str(WARMUP_N)], 60)

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def wait_ready(self):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.master.poll() is not None:
                self.err.seek(0)
                raise Fail("gunicorn exited with %d: %s" % (
                    self.master.returncode, self.err.read().decode(errors="replace")[-300:]))
            try:
                with urllib.request.urlopen(self.url("/"), timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise Fail("gunicorn did not answer on port %d within 30 s" % self.port)

    def close(self):
        stop(self.master, signal.SIGQUIT)  # gunicorn's quick shutdown: nothing to finish
        self.err.close()


def ab(port, args, timeout):
    """Runs ab -c 2 on /leak (127.0.0.1 only); returns (requests per second, complete
    requests).  Any failed or non-2xx request fails."""
    argv = ["ab", "-q", "-c", "2"] + args + ["http://127.0.0.1:%d/leak" % port]
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=timeout)
    m = re.search(r"Requests per second:\s+([\d.]+)", r.stdout)
    if r.returncode != 0 or not m:
        raise Fail("%s: exit %d: %s" % (" ".join(argv), r.returncode,
                                         (r.stderr or r.stdout).strip()[-300:]))
    failed = re.search(r"Failed requests:\s+(\d+)", r.stdout)
    non2xx = re.search(r"Non-2xx responses:\s+(\d+)", r.stdout)
    if (failed and int(failed.group(1))) or non2xx:
        raise Fail("%s: failed requests:\n%s" % (" ".join(argv), r.stdout[-600:]))
    return float(m.group(1)), int(re.search(r"Complete requests:\s+(\d+)", r.stdout).group(1))


def ab_for(port, seconds):
    """ab for about `seconds` (-t): (requests per second, complete requests)."""
    return ab(port, ["-t", str(seconds), "-n", str(AB_N)], seconds + 60)


class Recorder:
    """tgattach on a worker, until stopped with SIGTERM (how a user ends it).  Ready once
    it has written its first sample and 0.5 s more have passed (layouts, first walks)."""

    def __init__(self, tg, pid, opts, work):
        self.opts = opts
        self.out = tempfile.mkdtemp(dir=work)
        self.err = tempfile.TemporaryFile()
        self.p = start([tg, "-p", str(pid), "-o", self.out, "-q"] + opts, stderr=self.err)
        mem = os.path.join(self.out, str(pid), "process.mem")
        deadline = time.monotonic() + 20
        while not (os.path.exists(mem) and os.path.getsize(mem) > 0):
            if self.p.poll() is not None:
                raise Fail("tgattach %s exited with %d: %s" % (
                    " ".join(opts), self.p.returncode, self.errtail()))
            if time.monotonic() > deadline:
                raise Fail("tgattach %s wrote no sample within 20 s" % " ".join(opts))
            time.sleep(0.02)
        time.sleep(0.5)

    def errtail(self):
        self.err.seek(0)
        return self.err.read().decode(errors="replace").strip()[-300:]

    def mark(self):
        return time.monotonic(), cpu_s(self.p.pid)

    def close(self):
        """SIGTERM; its peak RSS in KB.  Anything but exit 0 fails."""
        peak = status_kb(self.p.pid, "VmHWM")
        rc = stop(self.p, wait=30.0)
        self.err.close()
        shutil.rmtree(self.out, ignore_errors=True)
        if rc != 0:
            raise Fail("tgattach %s exited with %s after SIGTERM" % (" ".join(self.opts), rc))
        return peak


def share(a, b):
    """% of a core between two Recorder marks."""
    return 100.0 * (b[1] - a[1]) / (b[0] - a[0])
