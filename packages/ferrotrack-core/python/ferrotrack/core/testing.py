"""Test helpers for ferrotrack and the packages built on it (imported by tests only).

>>> @pytest.fixture                                                     # doctest: +SKIP
... def root(tmp_path, monkeypatch):
...     yield from isolated_root(tmp_path, monkeypatch)
"""

from __future__ import annotations

import contextlib
import io
import re
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ferrotrack.core.active import current

if TYPE_CHECKING:
    import pyarrow as pa
    import pytest

__all__ = [
    "code_lines",
    "contains_lines",
    "imported_names",
    "isolated_root",
    "point_batch",
    "promised_output",
    "python_blocks",
    "run_doc_blocks",
    "stop_process",
]

_PROCESS_VARIABLES = ("FERROTRACK_RUN_DIR", "RANK", "LOCAL_RANK", "FERROTRACK_RANK")
"""Variables that would attach a test's runs to another run or rank."""


def isolated_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, chdir: bool = False
) -> Iterator[Path]:
    """An empty store root under ``tmp_path``, set as ``FERROTRACK_ROOT``, with no rank or
    run inherited from the environment; with ``chdir``, the working folder too, so no
    settings file above it is read. Runs still open when the test ends are finished."""
    store = tmp_path / "store"
    if chdir:
        monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FERROTRACK_ROOT", str(store))
    for var in _PROCESS_VARIABLES:
        monkeypatch.delenv(var, raising=False)
    yield store
    while (run := current()) is not None:
        run.finish()


def point_batch(rows: Sequence[tuple[str, int, int, float]]) -> pa.RecordBatch:
    """A batch in the store's schema, as a backend receives it, from ``(name, step,
    timestamp ns, value)`` rows (the names dictionary-encoded, as the store writes them)."""
    import pyarrow as pa

    from ferrotrack.core.plugins.arrow import point_schema

    names = pa.array([r[0] for r in rows], pa.string()).dictionary_encode()
    return pa.RecordBatch.from_arrays(
        [
            names.cast(pa.dictionary(pa.uint32(), pa.string())),
            pa.array([r[1] for r in rows], pa.int64()),
            pa.array([r[2] for r in rows], pa.timestamp("ns", tz="UTC")),
            pa.array([r[3] for r in rows], pa.float64()),
        ],
        schema=point_schema(),
    )


_PROMISE = re.compile(r"\s*print\(.*\)\s+# (.+)$")
"""A print line with a trailing ``# value``: the output it promises."""


def python_blocks(text: str) -> list[str]:
    """The blocks of a Markdown text fenced as ```python, which a page promises will run
    (illustrative fragments are fenced as ```py)."""
    return re.findall(r"```python\n(.*?)```", text, re.S)


def promised_output(block: str) -> list[str]:
    """The lines ``block`` promises to print: the trailing ``# value`` of each ``print``
    line, before any ``  (note)`` after it."""
    return [
        m.group(1).split("  ")[0].strip()
        for line in block.splitlines()
        if (m := _PROMISE.match(line))
    ]


def run_doc_blocks(
    doc: Path, blocks: Sequence[str], *, module: str, ignore: tuple[str, ...] = ()
) -> int:
    """Runs ``blocks`` of the page ``doc`` in order, in one namespace named ``module``, and
    asserts that each prints exactly the lines it promises (lines starting with one of
    ``ignore`` aside: output a library prints itself). Returns how many lines were
    promised, so that a test can ask for some."""
    namespace: dict[str, object] = {"__name__": module}
    promised = 0
    for block in blocks:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(block, str(doc), "exec", dont_inherit=True), namespace)
        printed = [line for line in out.getvalue().splitlines() if not line.startswith(ignore)]
        expected = promised_output(block)
        assert printed == expected, f"{doc}: a block printed {printed}, promised {expected}"
        promised += len(expected)
    return promised


# --- guides' code blocks in examples (the acceptance lines of the seeds) ------------------

_IMPORT_LINE = re.compile(r"^\s*(from\s+\S+\s+)?import\s")


def code_lines(text: str) -> list[str]:
    """The lines of a guide block (or an example) that must match: trailing spaces cut,
    blank lines and import lines (which map to ferrotrack's) left out."""
    lines = (line.rstrip() for line in text.splitlines())
    return [line for line in lines if line and not _IMPORT_LINE.match(line)]


def contains_lines(haystack: Sequence[str], needle: Sequence[str]) -> bool:
    """Whether ``needle`` occurs in ``haystack`` as consecutive lines."""
    n = len(needle)
    return any(list(haystack[i : i + n]) == list(needle) for i in range(len(haystack) - n + 1))


def imported_names(text: str) -> dict[str, str]:
    """Each name an import binds (anywhere in the code) -> the module it comes from."""
    import ast

    names: dict[str, str] = {}
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                names[alias.asname or alias.name] = node.module or ""
        elif isinstance(node, ast.Import):
            for alias in node.names:
                names[alias.asname or alias.name.split(".")[0]] = alias.name
    return names


def stop_process(
    proc: subprocess.Popen[str] | subprocess.Popen[bytes], timeout: float = 10.0
) -> None:
    """Ends a server or daemon a test or benchmark started: SIGTERM, so it can clean up,
    then SIGKILL if it is still there after ``timeout`` seconds; reaps it either way."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
