"""The meta-distribution installs core and every package within ranges that hold their
current versions, and forwards every heavy extra of every package."""

from __future__ import annotations

import tomllib
from importlib.metadata import version
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement

PACKAGES = Path(__file__).resolve().parents[2]


def project(name: str) -> dict[str, Any]:
    """The ``[project]`` table of ``packages/<name>/pyproject.toml``."""
    found: dict[str, Any] = tomllib.loads((PACKAGES / name / "pyproject.toml").read_text())[
        "project"
    ]
    return found


def test_every_package_is_a_dependency_within_a_range_holding_its_version() -> None:
    wanted = {Requirement(r).name: Requirement(r) for r in project("ferrotrack")["dependencies"]}
    packages = sorted(p.name for p in PACKAGES.iterdir() if (p / "pyproject.toml").is_file())
    assert sorted(wanted) == [p for p in packages if p != "ferrotrack"]
    for name, requirement in wanted.items():
        assert requirement.specifier, f"{name}: a range, not any version"
        assert requirement.specifier.contains(version(name)), (name, version(name))


def test_every_extra_of_every_package_is_forwarded() -> None:
    extras: dict[str, list[str]] = project("ferrotrack")["optional-dependencies"]
    every = {Requirement(r).name: Requirement(r).extras for r in extras["all"]}
    for package in sorted(p.name for p in PACKAGES.iterdir() if (p / "pyproject.toml").is_file()):
        if package == "ferrotrack":
            continue
        own: dict[str, list[str]] = project(package).get("optional-dependencies", {})
        for extra in own:
            (forward,) = (Requirement(r) for r in extras[extra])
            assert forward.name == package, extra
            assert forward.extras == {extra}
        assert every.get(package, set()) == set(own), package
