"""Builders of stores for the UI's tests and benchmark (H4's and H5's): real runs written
through ``ferrotrack.core``, plus the few things only a broken or foreign process leaves
(a crashed writer, a corrupt segment, captured logs).

Every builder takes the store ``root`` and returns what a test needs to find its runs.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import textwrap
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import ferrotrack.core as ft

__all__ = [
    "HTML_TEXT",
    "Built",
    "clone_runs",
    "corrupt_run",
    "crashed_run",
    "failed_run",
    "html_run",
    "long_series_run",
    "make_runs",
    "png_bytes",
    "run_with_artifacts",
]

HTML_TEXT = '<script>alert("x")</script><img src=x onerror=alert(1)>'
"""Markup a run's name, params and tags may hold; the UI must show it as text."""


@dataclass(frozen=True)
class Built:
    """A run a builder made: its experiment, id, name and folder."""

    experiment: str
    run_id: str
    name: str
    folder: Path


def _built(run: ft.Run) -> Built:
    return Built(run.experiment, run.run_id, run.name, Path(run.run_dir))


def make_runs(
    root: Path,
    n: int,
    *,
    experiment: str = "exp",
    points: int = 20,
    metrics: tuple[str, ...] = ("train/loss", "val/acc"),
) -> list[Built]:
    """``n`` finished runs, each with nested params (``optim.lr``, ``optim.name``,
    ``layers``), tags (``team``, ``seed``) and ``points`` points per metric, whose values
    depend on the run's index ``i`` (``train/loss`` = ``(i + 1) / (step + 1)``)."""
    out = []
    for i in range(n):
        params = {"optim": {"lr": 10.0 ** -(1 + i % 4), "name": ["adam", "sgd"][i % 2]},
                  "layers": 2 + i % 3}  # fmt: skip
        tags = {"team": ["red", "blue"][i % 2], "seed": str(i)}
        with ft.start_run(f"run-{i}", experiment=experiment, root=root, params=params,
                          tags=tags) as run:  # fmt: skip
            steps = np.arange(points, dtype=np.int64)
            if "train/loss" in metrics:
                run.log_array("train/loss", (i + 1) / (steps + 1.0), steps=steps)
            for name in metrics:
                if name != "train/loss":
                    run.log_array(name, np.linspace(0.0, 1.0, points) * (i + 1) / n, steps=steps)
            run.log_event("level_start", name="epoch", level="epoch", step=0)
            run.log_event("checkpoint", "saved", step=points - 1, data={"file": "model.pt"})
        out.append(_built(run))
    return out


def failed_run(root: Path, *, experiment: str = "exp") -> Built:
    """A run that failed with ``ValueError('boom')``: ``run.json`` holds the traceback."""
    run = ft.start_run("failing", experiment=experiment, root=root, params={"lr": 0.1})
    run.log("train/loss", 1.0, step=0)
    try:
        raise ValueError("boom")
    except ValueError as exc:
        run.finish("failed", error=exc)
    return _built(run)


def crashed_run(root: Path, *, experiment: str = "exp") -> Built:
    """A run whose writer process died without a word (``os._exit``): readers say crashed."""
    code = textwrap.dedent(
        f"""
        import os, ferrotrack.core as ft
        run = ft.start_run("crashing", experiment={experiment!r}, root={str(root)!r})
        run.log("train/loss", 2.0, step=0)
        run.flush()
        print(run.run_id, flush=True)
        os._exit(3)
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False, timeout=120)  # fmt: skip
    run_id = done.stdout.strip().splitlines()[-1]
    folder = Path(root) / f"experiment={experiment}" / f"run={run_id}"
    return Built(experiment, run_id, "crashing", folder)


def long_series_run(
    root: Path, n: int, *, experiment: str = "long", name: str = "loss", chunk: int = 1_000_000
) -> Built:
    """One run with ``n`` points of ``name`` (a noisy sine, steps 0..n-1) and 100 of ``acc``."""
    rng = np.random.default_rng(0)
    with ft.start_run("long", experiment=experiment, root=root) as run:
        for lo in range(0, n, chunk):
            steps = np.arange(lo, min(n, lo + chunk), dtype=np.int64)
            run.log_array(name, np.sin(steps / 1e4) + rng.normal(0, 0.1, steps.size),
                          steps=steps)  # fmt: skip
        run.log_array("acc", np.linspace(0, 1, 100), steps=np.arange(100, dtype=np.int64))
    return _built(run)


def png_bytes(width: int = 4, height: int = 3) -> bytes:
    """A valid RGB PNG image of ``width`` x ``height`` red pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw))
            + chunk(b"IEND", b""))  # fmt: skip


def run_with_artifacts(root: Path, work: Path, *, experiment: str = "exp") -> Built:
    """A run with artifacts (``notes.txt``, ``plot.png``, ``table.csv``, ``table.parquet``,
    ``blob.bin``, ``sub/deep.txt``) and captured logs (``logs/stdout.txt`` of 1000 lines,
    ``logs/stderr.txt``)."""
    import polars as pl

    work.mkdir(parents=True, exist_ok=True)
    (work / "notes.txt").write_text("hello artifact\nsecond line\n")
    (work / "plot.png").write_bytes(png_bytes())
    (work / "table.csv").write_text("a,b\n1,x\n2,y\n3,z\n")
    pl.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]}).write_parquet(work / "table.parquet")
    (work / "blob.bin").write_bytes(bytes(range(256)))
    (work / "deep.txt").write_text("deep\n")
    with ft.start_run("with-files", experiment=experiment, root=root) as run:
        run.log("train/loss", 1.0, step=0)
        for name in ("notes.txt", "plot.png", "table.csv", "table.parquet", "blob.bin"):
            run.log_artifact(work / name)
        run.log_artifact(work / "deep.txt", name="sub/deep.txt")
    logs = Path(run.run_dir) / "logs"
    logs.mkdir(exist_ok=True)
    (logs / "stdout.txt").write_text("".join(f"line {i}\n" for i in range(1000)))
    (logs / "stderr.txt").write_text("warning: something\n")
    return _built(run)


def html_run(root: Path, *, experiment: str = "exp") -> Built:
    """A run whose name, a param, a tag and a metric name hold :data:`HTML_TEXT`."""
    with ft.start_run(HTML_TEXT, experiment=experiment, root=root,
                      params={"note": HTML_TEXT}, tags={"html": HTML_TEXT}) as run:  # fmt: skip
        run.log(f"m{HTML_TEXT}", 1.0, step=0)
    return _built(run)


def corrupt_run(root: Path, *, experiment: str = "exp") -> Built:
    """A run whose metric ``loss`` has a readable segment (steps 0..9, values 0..9) followed
    by a segment of the same rank holding bytes that are not Parquet (as a disk fault or a
    foreign writer leaves one)."""
    import re

    with ft.start_run("corrupt", experiment=experiment, root=root) as run:
        run.log_array("loss", np.arange(10, dtype=np.float64), steps=np.arange(10))
    metrics = Path(run.run_dir) / "metrics"
    seqs = [int(n) for p in metrics.glob("part-00000-*.parquet")
            for n in re.findall(r"-(\d{10})", p.name)]  # fmt: skip
    bad = metrics / f"part-00000-{max(seqs) + 1:010d}.parquet"
    bad.write_bytes(b"this is not parquet" * 10)
    return _built(run)


def clone_runs(template: Built, n: int, *, experiment: str | None = None) -> list[str]:
    """``n`` copies of a finished run's folder beside it (new ids, names ``clone-<i>``,
    param ``i``), for stores of many runs built in seconds; returns the new ids."""
    exp_dir = template.folder.parent
    if experiment is not None:
        exp_dir = exp_dir.parent / f"experiment={experiment}"
        exp_dir.mkdir(exist_ok=True)
    meta = json.loads((template.folder / "run.json").read_text())
    params = json.loads((template.folder / "params.json").read_text() or "{}")
    ids = []
    for i in range(n):
        run_id = _new_id()
        target = exp_dir / f"run={run_id}"
        # hard links: store files are never changed in place (replaced by a rename), so
        # the copies share the template's bytes and a store of 100,000 builds in minutes
        shutil.copytree(template.folder, target, ignore=shutil.ignore_patterns(".locks"),
                        copy_function=_link_or_copy)  # fmt: skip
        for name in ("run.json", "params.json"):
            (target / name).unlink()
        meta.update(run_id=run_id, name=f"clone-{i}", experiment=exp_dir.name[11:])
        (target / "run.json").write_text(json.dumps(meta))
        (target / "params.json").write_text(json.dumps({**params, "i": i}))
        ids.append(run_id)
    return ids


def _link_or_copy(src: str, dst: str) -> None:
    """A hard link, or a copy where the file system refuses one (too many links: ext4
    allows 65,000 per file; another device)."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _new_id() -> str:
    from ferrotrack.core.store.layout import new_run_id

    return new_run_id()


def remove_all(root: Path) -> None:
    """Deletes a store built here (for the benchmark's temporary stores)."""
    if os.path.isdir(root):
        shutil.rmtree(root)


def damaged_run(root: Path, *, experiment: str = "exp", column: str = "value") -> Built:
    """A finished run whose metrics ``acc`` and ``loss`` (steps 0..9, value = step) sit in
    a good segment, followed by a segment of the same rank that ferrotrack wrote, holding
    ``loss`` steps 10..209, whose footer reads but whose ``column`` chunk has 16 bytes
    overwritten in its middle (a disk fault inside the data): the file keeps its length and
    footer, and reading that column fails. The bad file is ``part-00000-<seq>.parquet``,
    the run's last segment (the builder checks that the damage is one a reader notices)."""
    import io
    import re
    import tempfile

    import pyarrow.parquet as pq

    with ft.start_run("damaged", experiment=experiment, root=root) as run:
        steps = np.arange(10, dtype=np.int64)
        run.log_array("loss", steps.astype(np.float64), steps=steps)
        run.log_array("acc", steps.astype(np.float64), steps=steps)
    metrics = Path(run.run_dir) / "metrics"
    seqs = [int(n) for p in metrics.glob("part-00000-*.parquet")
            for n in re.findall(r"-(\d{10})", p.name)]  # fmt: skip
    bad = metrics / f"part-00000-{max(seqs) + 1:010d}.parquet"
    with tempfile.TemporaryDirectory() as scratch:
        with ft.start_run("source", experiment="scratch", root=scratch) as source:
            for step in range(10, 210):
                source.log("loss", float(step), step=step)
        [written] = (Path(source.run_dir) / "metrics").glob("part-*.parquet")
        good = written.read_bytes()
    meta = pq.ParquetFile(io.BytesIO(good)).metadata
    names = [meta.row_group(0).column(c).path_in_schema for c in range(meta.num_columns)]
    chunk = meta.row_group(0).column(names.index(column))
    start = chunk.dictionary_page_offset or chunk.data_page_offset
    middle = start + chunk.total_compressed_size // 2
    for at in range(middle - 8, start + chunk.total_compressed_size - 16):
        data = good[:at] + b"\xff" * 16 + good[at + 16 :]
        assert len(data) == len(good)
        try:
            pq.ParquetFile(io.BytesIO(data)).read(columns=[column])
        except Exception:  # the damage shows: keep it
            bad.write_bytes(data)
            pq.read_metadata(bad)  # the footer still reads
            return _built(run)
    raise RuntimeError(f"no 16-byte damage of the {column!r} chunk made it unreadable")
