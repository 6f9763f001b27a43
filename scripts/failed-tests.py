#!/usr/bin/env python3
"""Prints the tests that failed in the xUnit files `swift test --xunit-output` wrote, one per line,
as `--filter` patterns (module.Suite/test), so scripts/test can retry exactly those once.

Usage: scripts/failed-tests.py RESULTS_DIR
Exits 2 when no xUnit file was written (the test process crashed: nothing to attribute, no retry).
"""
import glob
import os
import re
import sys
import xml.etree.ElementTree as ET


def main() -> int:
    directory = sys.argv[1]
    files = sorted(glob.glob(os.path.join(directory, "*.xml")))
    if not files:
        return 2
    failed = []
    for path in files:
        try:
            root = ET.parse(path).getroot()
        except ET.ParseError:
            return 2
        for case in root.iter("testcase"):
            if case.find("failure") is None and case.find("error") is None:
                continue
            classname = case.get("classname", "")
            name = case.get("name", "")
            # Swift Testing matches --filter against `module.Suite/test(args:)` followed by more
            # of the test's id, so the pattern is anchored at the start only.
            pattern = "^" + re.escape(f"{classname}/{name}")
            if pattern not in failed:
                failed.append(pattern)
    for pattern in failed:
        print(pattern)
    return 0


if __name__ == "__main__":
    sys.exit(main())
