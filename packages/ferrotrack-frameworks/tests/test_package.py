"""The package's public names: each resolves on first use, none imports a training library
when the package itself is imported."""

from __future__ import annotations

import subprocess
import sys

from ferrotrack import frameworks


def test_every_public_name_resolves() -> None:
    assert sorted(dir(frameworks)) == sorted(frameworks.__all__)
    for name in frameworks.__all__:
        assert getattr(frameworks, name).__name__ == name
    assert frameworks.__version__ == "0.1.0"


def test_importing_the_package_is_light() -> None:
    code = (
        "import sys, ferrotrack.frameworks\n"
        "print(sorted(m for m in ('torch', 'transformers', 'lightning', 'tensorboardX')"
        " if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
