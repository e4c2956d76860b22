#!/usr/bin/python3
"""Opens a speedscope file in the real speedscope app, headless.

Usage: speedscope_open.py PROFILE.json PNG

Serves the app the speedscope npm package ships (build/npm/node_modules/speedscope/dist/
release) and the profile from 127.0.0.1 (a free port, this process only), loads
index.html#profileURL=... in Debian's chromium, headless, and prints what the page shows
once it has rendered: the profile selector's text ("NAME (1/N)", N the profiles it
read), then writes a screenshot to PNG.  Exit 0 when the page named a profile, 1 when
it did not (the app could not read the file), 2 when chromium or the app is missing."""
import http.server
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading

APP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "build", "npm",
                   "node_modules", "speedscope", "dist", "release")


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, fmt, *args):
        pass


def chromium(url, *extra):
    argv = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
            "--window-size=1600,900", "--virtual-time-budget=8000"] + list(extra) + [url]
    try:  # a file the app cannot read raises an alert, which holds a headless page
        out = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             timeout=40).stdout
    except subprocess.TimeoutExpired:
        return ""
    return out.decode("utf-8", "replace")


def main():
    profile, png = sys.argv[1], sys.argv[2]
    if not shutil.which("chromium") or not os.path.isfile(os.path.join(APP, "index.html")):
        print("chromium or the speedscope app is missing")
        return 2
    root = tempfile.mkdtemp(prefix="tg-speedscope-")
    try:
        shutil.copytree(APP, os.path.join(root, "app"))
        shutil.copy(profile, os.path.join(root, "app", "profile.json"))
        handler = lambda *a, **k: Quiet(*a, directory=os.path.join(root, "app"), **k)
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        base = "http://127.0.0.1:%d/" % srv.server_address[1]
        url = base + "index.html#profileURL=" + base + "profile.json"
        dom = chromium(url, "--dump-dom")
        # the toolbar: "NAME <span>(I/N)</span>" or "NAME (I/N)"
        shown = re.search(r">([^<>]+?)\s*(?:<[^>]*>\s*)*\((\d+)/(\d+)\)", dom)
        if shown:
            chromium(url, "--screenshot=" + os.path.abspath(png))
        srv.shutdown()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    if not shown:
        print("the app named no profile")
        return 1
    print("shown: %s (%s/%s)" % shown.groups())
    return 0


if __name__ == "__main__":
    sys.exit(main())
