"""``ferrotrack doctor [--fix]``: find crashed and inconsistent runs, and repair them."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from ferrotrack.core.cli._common import echo_json, err_console, out_console, store_root
from ferrotrack.core.store.catalog import (
    RunRecord,
    effective_status,
    list_runs,
    read_json,
    write_json_atomic,
)
from ferrotrack.core.store.process import is_alive

__all__ = ["diagnose", "doctor", "unreadable_files"]


def _temp_leftovers(record: RunRecord) -> list[str]:
    found: list[str] = []
    for folder in (record.ref.path, record.ref.path / "metrics"):
        try:
            names = os.listdir(folder)
        except FileNotFoundError:
            continue
        found += [str(folder / n) for n in names if n.startswith(".") and n.endswith(".tmp")]
    return found


def _stale_summaries(record: RunRecord) -> list[int]:
    """Ranks whose summary is missing, unreadable or older than their segments."""
    import polars as pl

    from ferrotrack.core.store.catalog import live_segments, summary_paths

    live, _ = live_segments(record.ref.path)
    top: dict[int, int] = {}
    for seg, _path in live:
        top[seg.rank] = max(top.get(seg.rank, 0), seg.hi)
    summaries = summary_paths(record.ref.path)
    stale: list[int] = []
    for rank, seq in sorted(top.items()):
        path = summaries.get(rank)
        try:
            kv = pl.read_parquet_metadata(path) if path is not None else {}
            covered = int(kv.get("ferrotrack.max_seq", "0"))
        except (OSError, ValueError, pl.exceptions.PolarsError):
            covered = -1
        if covered < seq:
            stale.append(rank)
    return stale


def unreadable_files(record: RunRecord) -> list[str]:
    """Files of the run the store cannot read (a truncated segment or summary...), each with
    its problem, as the store crate's ``verify_run`` reports them (footers only: fast)."""
    from ferrotrack.core._native import verify_run

    found = verify_run(record.ref.path)
    out: list[str] = []
    for path, problem in found:
        try:
            shown = str(Path(path).relative_to(record.ref.path))
        except ValueError:
            shown = str(path)
        out.append(f"unreadable {shown}: {problem}")
    return out


def diagnose(record: RunRecord) -> list[str]:
    """What is wrong with a run, one short sentence per problem."""
    from ferrotrack.core.store.catalog import live_segments

    problems: list[str] = unreadable_files(record)
    if record.status == "crashed" and record.meta.get("status") != "crashed":
        problems.append("crashed: marked running but its writer is gone")
    temps = _temp_leftovers(record)
    if temps:
        problems.append(f"{len(temps)} temporary leftover file(s)")
    _, covered = live_segments(record.ref.path)
    if covered:
        problems.append(f"{len(covered)} segment(s) already merged by a compaction")
    stale = _stale_summaries(record)
    if stale:
        problems.append(f"stale or missing summary of rank(s) {', '.join(map(str, stale))}")
    return problems


def _writer_alive(record: RunRecord) -> bool:
    meta = record.meta
    host, pid, start = meta.get("host"), meta.get("pid"), meta.get("pid_start")
    if record.status != "running" or not isinstance(host, str) or not isinstance(pid, int):
        return False
    return is_alive(host, pid, start if isinstance(start, int) else None) is not False


def _reload(record: RunRecord) -> RunRecord:
    """The record as the run's files say now (after a fix)."""
    meta = read_json(record.ref.path / "run.json")
    return RunRecord(record.ref, meta, effective_status(meta))


def _fix(record: RunRecord) -> dict[str, Any]:
    from ferrotrack.core._native import recover_run

    report: dict[str, Any] = dict(recover_run(record.ref.path))
    if record.status == "crashed" and record.meta.get("status") == "running":
        meta = dict(record.meta)
        meta["status"] = "crashed"
        write_json_atomic(record.ref.path / "run.json", meta)
        report["marked_crashed"] = True
    return report


@click.command("doctor")
@click.option("--fix", is_flag=True, help="Repair what was found (runs no live process writes).")
@click.option("--experiment", "-e", multiple=True, help="Only these experiments.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def doctor(fix: bool, experiment: tuple[str, ...], as_json: bool) -> None:
    """Find crashed or inconsistent runs; with --fix, recover them and mark crashed ones.

    Exits with status 1 when problems remain.
    """
    from rich.markup import escape
    from rich.progress import track

    records = list_runs(store_root(), experiment=experiment or None)
    results: list[dict[str, Any]] = []
    for record in track(
        records,
        description="checking runs",
        console=err_console(),
        transient=True,
        disable=len(records) < 50,
    ):
        problems = diagnose(record)
        if not problems:
            continue
        entry: dict[str, Any] = {
            "experiment": record.ref.experiment,
            "run_id": record.ref.run_id,
            "problems": problems,
        }
        if fix and _writer_alive(record):
            entry["skipped"] = "a live process writes this run"
        elif fix:
            entry["fixed"] = _fix(record)
            left = diagnose(_reload(record))
            if left:
                entry["remaining"] = left
        results.append(entry)
    unresolved = [r for r in results if "fixed" not in r or r.get("remaining")]
    if as_json:
        echo_json({"checked": len(records), "runs": results})
    else:
        console = out_console()
        for r in results:
            solved = "fixed" in r and not r.get("remaining")
            verb = "[green]fixed[/]" if solved else "[red]problem[/]"
            line = f"{verb} {r['experiment']}/{r['run_id']}: " + escape("; ".join(r["problems"]))
            if r.get("remaining"):
                line += " [red](still: " + escape("; ".join(r["remaining"])) + ")[/]"
            if r.get("skipped"):
                line += f" (not fixed: {r['skipped']})"
            console.print(line)
        console.print(
            f"{len(records)} run(s) checked, {len(results)} with problems"
            + (f", {len(results) - len(unresolved)} fixed" if fix else "")
        )
    if unresolved:
        raise SystemExit(1)
