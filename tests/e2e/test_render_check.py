#!/usr/bin/env python3
"""Structure checks for the render end-to-end tests (called by test_render_*.c).

    test_render_check.py speedscope FILE   validate a speedscope file; print a summary
    test_render_check.py svgplots FILE     parse an SVG with an XML parser; print the key
                                           title of every plot gnuplot drew, one per line
    test_render_check.py folded FILE       every line is STACK COUNT as flamegraph.pl and
                                           speedscope parse it; print the number of lines
    test_render_check.py monotonic FILE TITLE  the line of the plot titled TITLE in a gnuplot
                                           SVG never goes back in time (x); print its points
    test_render_check.py ticks FILE        a gnuplot SVG's tick labels: on each axis none
                                           repeated and none touching another (widths
                                           estimated from the font size); print per axis
                                           the number of labels, the lowest and highest

Exit status 1 with a one-line reason on stderr when the file is wrong.
"""
import json
import re
import sys
import xml.etree.ElementTree as ET

SVG = "{http://www.w3.org/2000/svg}"


def fail(msg):
    sys.stderr.write(msg + "\n")
    sys.exit(1)


def check_speedscope(path):
    with open(path, "rb") as f:
        raw = f.read()
    try:
        doc = json.loads(raw.decode("utf-8"))  # strict: invalid UTF-8 or JSON fails
    except (UnicodeDecodeError, ValueError) as e:
        fail("not JSON: %s" % e)
    if doc.get("$schema") != "https://www.speedscope.app/file-format-schema.json":
        fail("bad $schema")
    frames = doc["shared"]["frames"]
    for fr in frames:
        if not isinstance(fr.get("name"), str) or not isinstance(fr.get("file"), str):
            fail("frame without name/file: %r" % fr)
    summary = {"profiles": [], "frames": len(frames), "name": doc.get("name")}
    for p in doc["profiles"]:
        if p["type"] != "evented" or p["unit"] != "seconds":
            fail("profile %r: not evented/seconds" % p.get("name"))
        stack, last, opens = [], None, 0
        for ev in p["events"]:
            if ev["type"] not in ("O", "C") or not 0 <= ev["frame"] < len(frames):
                fail("bad event %r" % ev)
            if last is not None and ev["at"] < last:
                fail("profile %r: time goes backwards at %r" % (p["name"], ev))
            last = ev["at"]
            if ev["type"] == "O":
                stack.append(ev["frame"])
                opens += 1
            elif not stack or stack.pop() != ev["frame"]:
                fail("profile %r: close of a frame that is not open: %r" % (p["name"], ev))
        if stack:
            fail("profile %r: %d frames left open" % (p["name"], len(stack)))
        events = p["events"]
        if events and (p["startValue"] > events[0]["at"] or p["endValue"] < events[-1]["at"]):
            fail("profile %r: events outside [startValue, endValue]" % p["name"])
        summary["profiles"].append({"name": p["name"], "calls": opens})
    print(json.dumps(summary, sort_keys=True))


def check_svgplots(path):
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        fail("not XML: %s" % e)
    if root.tag != SVG + "svg":
        fail("root is %s, not svg" % root.tag)
    for g in root.iter(SVG + "g"):
        if (g.get("id") or "").startswith("gnuplot_plot_"):
            t = g.find(SVG + "title")
            print(t.text if t is not None and t.text else "")


# a character of gnuplot's Sans at font-size F is at most about 0.62 F wide (digits 0.56 F)
CHAR_WIDTH = 0.62


def tick_labels(root):
    """{axis: [(x, y, text, font size)]}: the labels gnuplot writes as a translated group
    holding one text, grouped by side: 'x' (centred, below the plot), 'y' (right-aligned),
    'y2' (left-aligned)."""
    axes = {"x": [], "y": [], "y2": []}
    for g in root.iter(SVG + "g"):
        m = re.match(r"translate\(([-\d.]+),([-\d.]+)\)", g.get("transform") or "")
        texts = g.findall(SVG + "text")
        if not m or len(texts) != 1 or g.get("transform").count("rotate"):
            continue
        text = "".join(texts[0].itertext()).strip()
        try:
            float(text)
        except ValueError:
            continue  # a title or a peak label, not a number
        x, y, size = float(m.group(1)), float(m.group(2)), float(g.get("font-size") or 12)
        side = {"middle": "x", "end": "y", "start": "y2"}.get(g.get("text-anchor"))
        if side:
            axes[side].append((x, y, text, size))
    return axes


def check_ticks(path):
    root = ET.parse(path).getroot()
    axes = tick_labels(root)
    # x labels sit on one row below the plot: the lowest row of centred numbers
    if axes["x"]:
        row = max(y for _, y, _, _ in axes["x"])
        axes["x"] = [a for a in axes["x"] if abs(a[1] - row) < 0.5]
    for side, labels in axes.items():
        texts = [t for _, _, t, _ in labels]
        dup = sorted({t for t in texts if texts.count(t) > 1})
        if dup:
            fail("%s axis: labels repeated: %s (all: %s)" % (side, dup, texts))
        if side == "x":
            labels.sort()
            for a, b in zip(labels, labels[1:]):
                half = lambda l: len(l[2]) * CHAR_WIDTH * l[3] / 2
                if b[0] - a[0] < half(a) + half(b) + 4:
                    fail("x axis: labels %r at %.1f and %r at %.1f touch" %
                         (a[2], a[0], b[2], b[0]))
        else:
            by_x = {}
            for l in labels:
                by_x.setdefault(round(l[0]), []).append(l)
            for col in by_x.values():
                col.sort(key=lambda l: l[1])
                for a, b in zip(col, col[1:]):
                    if b[1] - a[1] < a[3] + 2:
                        fail("%s axis: labels %r and %r touch" % (side, a[2], b[2]))
        values = [float(t) for t in texts] or [0]
        print("%s %d %g %g" % (side, len(labels), min(values), max(values)))


def check_monotonic(path, title):
    root = ET.parse(path).getroot()
    for g in root.iter(SVG + "g"):
        t = g.find(SVG + "title")
        if not (g.get("id") or "").startswith("gnuplot_plot_") or t is None or t.text != title:
            continue
        xs = []
        for p in g.iter(SVG + "path"):
            # the first moveto draws the key's sample line; the rest is the data
            for seg in (p.get("d") or "").split("M")[2:]:
                xs += [float(pt.split(",")[0]) for pt in seg.replace("L", " ").split()]
        if not xs:
            fail("the line titled %r has no points" % title)
        for a, b in zip(xs, xs[1:]):
            if b < a - 0.01:
                fail("the line titled %r goes back in time: x %.2f after %.2f" % (title, b, a))
        print(len(xs))
        return
    fail("no plot titled %r" % title)


def check_folded(path):
    n = 0
    with open(path, "rb") as f:
        for raw in f:
            n += 1
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                fail("line %d: not UTF-8" % n)
            if not line.endswith("\n") or re.search(r"[\x00-\x1f\x7f]", line[:-1]):
                fail("line %d: control character" % n)
            m = re.match(r"^(.*) (\d+)\n$", line)
            if not m or m.group(1).endswith(" ") or re.search(r"\s\d+(\.\d*)?$", m.group(1)):
                fail("line %d: not 'STACK COUNT' (or the stack ends like a count)" % n)
            if any(fr == "" for fr in m.group(1).split(";")):
                fail("line %d: empty frame" % n)
    print(n)


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "monotonic":
        return check_monotonic(sys.argv[2], sys.argv[3])
    if len(sys.argv) != 3:
        fail(__doc__)
    {"speedscope": check_speedscope, "svgplots": check_svgplots,
     "folded": check_folded, "ticks": check_ticks}[sys.argv[1]](sys.argv[2])


if __name__ == "__main__":
    main()
