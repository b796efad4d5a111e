#!/usr/bin/env python3
"""Replaces one "## " section of a Markdown file with new text.

Usage: replace_docs_section.py FILE "## Heading" < new_section.md
   or: from replace_docs_section import replace_section

The section runs from the line equal to the heading to the next "## " line;
when the heading is absent, the new text is appended (to "# Benchmarks"
when the file does not exist yet). The new text should start with the
heading itself.
"""
import os
import sys


def replace_section(path, section, new):
    new = new.rstrip("\n") + "\n"
    text = open(path).read() if os.path.exists(path) else "# Benchmarks\n"
    lines = text.splitlines(keepends=True)
    start = next((i for i, l in enumerate(lines) if l.rstrip("\n") == section), None)
    if start is None:
        text = text.rstrip("\n") + "\n\n" + new
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        tail = "".join(lines[end:])
        text = "".join(lines[:start]) + new + ("\n" + tail if tail else "")
    open(path, "w").write(text)


if __name__ == "__main__":
    replace_section(sys.argv[1], sys.argv[2], sys.stdin.read())
