"""The helpers every framework plugin shares: versions, numbers, warnings, foreign patches."""

from __future__ import annotations

import functools
import logging
import math
import os
import sys
import types
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch.utils.tensorboard import SummaryWriter

import ferrotrack.core as ft
from ferrotrack.core.errors import MissingDependencyError, PluginWarning
from ferrotrack.frameworks._support import (
    MetricSources,
    UnsupportedVersionError,
    WarnOnce,
    as_number,
    foreign_patch,
    import_library,
    installed,
    require_version,
    settle,
    version_tuple,
)

releases = st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=5)
suffixes = st.sampled_from(["", "+cpu", "+cu132", "rc1", ".dev20261130", "a2", "-beta", " "])


@given(releases, suffixes)
def test_version_tuple_reads_the_release_numbers(release: list[int], suffix: str) -> None:
    assert version_tuple(".".join(map(str, release)) + suffix) == tuple(release)


@given(st.text(alphabet=st.characters(blacklist_categories=["Nd"]), max_size=10))
def test_a_version_without_numbers_reads_as_empty(text: str) -> None:
    assert version_tuple("x" + text) == ()


@given(st.floats(allow_nan=False) | st.integers(min_value=-(2**53), max_value=2**53))
def test_as_number_keeps_every_python_number(value: float) -> None:
    assert as_number(value) == float(value)


@given(st.floats(width=32, allow_nan=False))
def test_as_number_reads_tensors_and_numpy_scalars(value: float) -> None:
    assert as_number(torch.tensor(value)) == value
    assert as_number(np.float32(value)) == value
    assert as_number(np.array([value], dtype=np.float32)) == value


def test_as_number_refuses_what_is_no_number() -> None:
    for value in ("1.5", b"1", None, True, np.bool_(True), torch.tensor([1.0, 2.0]), object()):
        assert as_number(value) is None, value
    assert math.isnan(as_number(float("nan")) or 0.0)


def test_require_version_names_the_range() -> None:
    module = types.ModuleType("somelib")
    module.__dict__["__version__"] = "1.9.3"
    with pytest.raises(UnsupportedVersionError, match=r"'demo' supports somelib 2\.0 to 2\.4\.x"):
        require_version("demo", module, "2.0", "2.4")
    assert issubclass(UnsupportedVersionError, MissingDependencyError)
    module.__dict__["__version__"] = "2.4.9"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert require_version("demo", module, "2.0", "2.4") == "2.4.9"
    module.__dict__["__version__"] = "2.5.0"
    with pytest.warns(PluginWarning, match=r"'demo'.*somelib 2\.5\.0 is newer.*2\.0 to 2\.4\.x"):
        require_version("demo", module, "2.0", "2.4")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once per process and version
        require_version("demo", module, "2.0", "2.4")
    module.__dict__["__version__"] = "unknown"
    with pytest.warns(PluginWarning, match=r"cannot read somelib's version 'unknown'"):
        require_version("demo", module, "2.0", "2.4")


def test_warn_once_per_key() -> None:
    warn = WarnOnce("demo")
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        said = [warn("a", "first"), warn("a", "again"), warn("b", "other")]
    assert said == [True, False, True]
    assert [str(w.message) for w in seen] == ["framework 'demo': first", "framework 'demo': other"]
    assert warn.count == 3


def test_import_library_names_the_extra() -> None:
    with pytest.raises(MissingDependencyError, match=r"pip install ferrotrack-frameworks\[x\]"):
        import_library("demo", "no_such_module_here", "x")


def test_foreign_patch_sees_through_functools_wraps() -> None:
    own = vars(SummaryWriter)["add_scalar"]
    assert foreign_patch(own, torch) is None

    @functools.wraps(own)
    def theirs(*args: object) -> object:
        return own(*args)

    who = foreign_patch(theirs, torch)
    assert who is not None
    assert "theirs" in who
    assert "test_support.py" in who
    assert foreign_patch(functools.partial(own), torch) == "a partial object"


def test_installed_finds_without_importing(monkeypatch: pytest.MonkeyPatch) -> None:
    assert installed("colorsys")
    assert not installed("no_such_module_here")
    assert not installed("colorsys.no_such_submodule")  # a parent that is no package
    monkeypatch.setitem(sys.modules, "colorsys", None)  # how tests hide an installed library
    assert not installed("colorsys")


def test_metric_sources_describe_each_name_once_per_run(root: Path) -> None:
    sources = MetricSources("demo", metadata={"unit": "s"})
    fact = {"type": "scalar", "source": "demo", "metadata": {"unit": "s"}}
    with ft.start_run("one") as one:
        sources.note(one, "a", "b")
        sources.note(one, "a")
        assert sources.names == {"a", "b"}
        assert settle()
        assert ft.metric_info(one.run_dir) == {"a": fact, "b": fact}
    with ft.start_run("two") as two:
        sources.note(two, "a")  # a new run: described again, in its own folder
        assert settle()
        assert ft.metric_info(two.run_dir) == {"a": fact}
    sources.note(object(), "c")  # something without a run folder: nothing to write
    assert settle()


def test_metric_facts_that_cannot_be_written_are_logged(
    root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    gone = types.SimpleNamespace(run_dir=root / "no-such-run")
    with caplog.at_level(logging.WARNING, logger="ferrotrack.frameworks"):
        MetricSources("demo").note(gone, "a")
        assert settle()
    assert "could not record metric facts" in caplog.text


def test_a_forked_child_records_with_a_worker_of_its_own(root: Path) -> None:
    with ft.start_run("parent") as run:
        MetricSources("demo").note(run, "before")
        assert settle()
        pid = os.fork()
        if pid == 0:  # the child: note a name, wait for it, report through the exit code
            ok = False
            try:
                MetricSources("demo").note(run, "child")
                ok = settle(10.0)
            finally:
                os._exit(0 if ok else 1)
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert set(ft.metric_info(run.run_dir)) == {"before", "child"}
