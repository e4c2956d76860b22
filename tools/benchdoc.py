"""docs/benchmarks.md, written section by section: each benchmark owns the text between
<!-- NAME:begin --> and <!-- NAME:end --> and replaces only that (appended, under a heading,
when missing); the file is replaced whole, never left half-written."""
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOC = os.path.join(ROOT, "docs", "benchmarks.md")


def write_section(name, text, heading):
    begin, end = "<!-- %s:begin -->" % name, "<!-- %s:end -->" % name
    try:
        with open(DOC) as f:
            doc = f.read()
    except FileNotFoundError:
        doc = "# Benchmarks\n"
    block = "%s\n%s%s" % (begin, text, end)
    b, e = doc.find(begin), doc.find(end)
    if b >= 0 and e > b:
        doc = doc[:b] + block + doc[e + len(end):]
    else:
        doc = doc.rstrip("\n") + "\n\n## %s\n\n%s\n" % (heading, block)
    tmp = DOC + ".tmp"
    with open(tmp, "w") as f:
        f.write(doc)
    os.replace(tmp, DOC)
