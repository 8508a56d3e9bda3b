"""Prints the runtime dependencies of every workspace package, one per line.

The setup installs them from PyPI first, then the packages themselves editable
without dependencies, so that sibling packages are never fetched from an index.
"""

from __future__ import annotations

import pathlib
import re
import tomllib

ROOT = pathlib.Path(__file__).resolve().parent.parent
OWN = re.compile(r"^ferrotrack(-[a-z]+)?\b")

for pyproject in sorted(ROOT.glob("packages/*/pyproject.toml")):
    project = tomllib.loads(pyproject.read_text())["project"]
    for dep in project.get("dependencies", []):
        if not OWN.match(dep):
            print(dep)
