#!/usr/bin/python3
"""A strict checker of the Prometheus text exposition format (0.0.4) for `jfe status
--metrics`: metric and label names, quoting, HELP/TYPE before the samples of a family, one
TYPE per family, known types, numeric values, no duplicate series, a final newline.
usage: prom_check.py < metrics.txt   (exit 0 and "OK n samples", or 1 and the first problem)"""
import re
import sys

NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"')
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


def fail(n, msg):
    print(f"line {n}: {msg}")
    sys.exit(1)


def main():
    text = sys.stdin.read()
    if not text.endswith("\n"):
        fail(0, "no final newline")
    typed, helped, seen, done = {}, set(), set(), set()
    current = None
    samples = 0
    for n, line in enumerate(text.split("\n")[:-1], 1):
        if line.startswith("# HELP "):
            parts = line.split(" ", 3)
            if len(parts) < 4 or not NAME.match(parts[2]):
                fail(n, "bad HELP")
            if parts[2] in helped:
                fail(n, "second HELP for " + parts[2])
            helped.add(parts[2])
            continue
        if line.startswith("# TYPE "):
            parts = line.split(" ")
            if len(parts) != 4 or not NAME.match(parts[2]) or parts[3] not in TYPES:
                fail(n, "bad TYPE")
            if parts[2] in typed:
                fail(n, "second TYPE for " + parts[2])
            if parts[2] in done:
                fail(n, "TYPE after samples of " + parts[2])
            typed[parts[2]] = parts[3]
            continue
        if line.startswith("#") or line == "":
            fail(n, "stray comment or blank line")
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$", line)
        if not m:
            fail(n, "not a sample: " + line)
        name, labels, value = m.group(1), m.group(3) or "", m.group(4)
        if current != name:
            if name in done:
                fail(n, "samples of " + name + " not together")
            if current:
                done.add(current)
            current = name
        if labels:
            rest = LABEL.sub("", labels).replace(",", "")
            if rest:
                fail(n, "bad labels: " + labels)
        try:
            float(value)
        except ValueError:
            fail(n, "bad value " + value)
        key = (name, labels)
        if key in seen:
            fail(n, "duplicate series " + line)
        seen.add(key)
        samples += 1
    if samples == 0:
        fail(0, "no samples")
    print(f"OK {samples} samples")


main()
