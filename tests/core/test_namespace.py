"""The PEP 420 namespace and the import budget of ferrotrack.core."""

from __future__ import annotations

import subprocess
import sys


def test_ferrotrack_is_a_namespace_package() -> None:
    import ferrotrack

    # One ferrotrack/__init__.py in any distribution would silently hide every sibling.
    assert ferrotrack.__file__ is None
    assert len(list(ferrotrack.__path__)) >= 1


def test_importing_core_loads_no_heavy_library() -> None:
    code = (
        "import sys, ferrotrack.core\n"
        "heavy = [m for m in ('polars', 'pyarrow', 'numpy', 'rich', 'click', 'pydantic') "
        "if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
