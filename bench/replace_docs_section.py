#!/usr/bin/env python3
"""Replaces one "## " section of a Markdown file with new text.

Usage: replace_docs_section.py FILE "## Heading" < new_section.md

The section runs from the line equal to the heading to the next "## " line;
when the heading is absent, the new text is appended. The new text should
start with the heading itself.
"""
import sys


def main() -> int:
    path, section = sys.argv[1], sys.argv[2]
    new = sys.stdin.read().rstrip("\n") + "\n"
    text = open(path).read()
    lines = text.splitlines(keepends=True)
    start = next((i for i, l in enumerate(lines) if l.rstrip("\n") == section), None)
    if start is None:
        text = text.rstrip("\n") + "\n\n" + new
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        tail = "".join(lines[end:])
        text = "".join(lines[:start]) + new + ("\n" + tail if tail else "")
    open(path, "w").write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
