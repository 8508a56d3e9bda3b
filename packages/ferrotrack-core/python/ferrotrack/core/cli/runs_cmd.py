"""``ferrotrack runs list|show|compare|delete``."""

from __future__ import annotations

import math
import shutil
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from ferrotrack.core.cli._common import echo_json, fmt_time, out_console, store_root
from ferrotrack.core.delivery.health import backend_health
from ferrotrack.core.errors import InvalidArgumentError
from ferrotrack.core.store.catalog import (
    STATUSES,
    RunRef,
    effective_status,
    find_run,
    flatten,
    list_runs,
    read_json,
)

__all__ = ["runs_group"]


@click.group("runs")
def runs_group() -> None:
    """List, inspect, compare and delete runs."""


def _duration(meta: dict[str, Any]) -> float | None:
    started, ended = meta.get("started"), meta.get("ended")
    if isinstance(started, int) and isinstance(ended, int):
        return (ended - started) / 1e9
    return None


@runs_group.command("list")
@click.option("--experiment", "-e", multiple=True, help="Only these experiments (repeatable).")
@click.option("--status", "-s", multiple=True, type=click.Choice(STATUSES), help="Only these.")
@click.option("--limit", "-n", type=click.IntRange(min=1), default=None, help="Newest N runs.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_cmd(
    experiment: tuple[str, ...], status: tuple[str, ...], limit: int | None, as_json: bool
) -> None:
    """Runs of the store, newest first."""
    records = list_runs(store_root(), experiment=experiment or None, status=status or None)
    records.sort(key=lambda r: r.ref.run_id, reverse=True)
    records = records[:limit] if limit else records
    rows: list[dict[str, Any]] = [
        {
            "experiment": r.ref.experiment,
            "run_id": r.ref.run_id,
            "name": r.meta.get("name") or r.ref.run_id[-8:],
            "status": r.status,
            "started": r.meta.get("started"),
            "duration_s": _duration(dict(r.meta)),
            "tags": r.meta.get("tags") or {},
        }
        for r in records
    ]
    if as_json:
        echo_json(rows)
        return
    table = Table("experiment", "name", "status", "started (UTC)", "duration")
    table.add_column("run_id", no_wrap=True, min_width=32)
    for row in rows:
        d = row["duration_s"]
        table.add_row(
            row["experiment"],
            str(row["name"]),
            _styled(row["status"]),
            fmt_time(row["started"]),
            "-" if d is None else f"{d:.1f}s",
            row["run_id"],
        )
    out_console().print(table)


def _styled(status: str) -> str:
    color = {"finished": "green", "running": "cyan", "failed": "red", "crashed": "red"}
    return f"[{color.get(status, 'yellow')}]{status}[/]"


def _summary_dict(ref: RunRef) -> dict[str, dict[str, Any]]:
    from ferrotrack.core.analysis.summaries import read_run_summary

    frame = read_run_summary(ref.folder)
    return {row.pop("name"): row for row in frame.to_dicts()}


@runs_group.command("show")
@click.argument("run")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def show_cmd(run: str, as_json: bool) -> None:
    """Metadata, parameters and metric summaries of RUN (an id, id prefix or name)."""
    ref = find_run(run, store_root())
    meta = read_json(ref.path / "run.json")
    params = read_json(ref.path / "params.json")
    summary = _summary_dict(ref)
    info = {**meta, "experiment": ref.experiment, "run_id": ref.run_id}
    info["status"] = effective_status(meta)
    mirrors = backend_health(ref.path)
    if as_json:
        echo_json(
            {
                "run": info,
                "params": params,
                "metrics": summary,
                "backends": mirrors,
                "path": str(ref.path),
            }
        )
        return
    console = out_console()
    head = Table.grid(padding=(0, 2))
    for key in ("experiment", "run_id", "name", "status", "parent", "host", "pid"):
        head.add_row(f"[bold]{key}[/]", str(info.get(key, "-")))
    head.add_row("[bold]started[/]", fmt_time(info.get("started")))
    head.add_row("[bold]ended[/]", fmt_time(info.get("ended")))
    head.add_row("[bold]path[/]", str(ref.path))
    for key, value in (info.get("tags") or {}).items():
        head.add_row(f"[bold]tag {key}[/]", str(value))
    console.print(head)
    if params:
        table = Table("param", "value", title="params")
        for key, value in flatten(params).items():
            table.add_row(key, repr(value))
        console.print(table)
    if summary:
        table = Table("metric", "count", "last", "min", "max", "last_step", title="metrics")
        for name, s in summary.items():
            table.add_row(
                name,
                str(s["count"]),
                _num(s["last"]),
                _num(s["min"]),
                _num(s["max"]),
                str(s["last_step"]),
            )
        console.print(table)
    if mirrors:
        table = Table("backend", "state", "points", "status sent", "last error", title="mirrors")
        for name, m in mirrors.items():
            color = {"ok": "green", "behind": "yellow", "degraded": "red"}[m["state"]]
            table.add_row(
                name,
                f"[{color}]{m['state']}[/]",
                f"{m['rows']}/{m['total']}",
                str(m["status_sent"] or "-"),
                escape(m["error"] or "-"),
            )
        console.print(table)
        if any(m["state"] != "ok" for m in mirrors.values()):
            console.print(
                f"[dim]fill a mirror with `ferrotrack sync {ref.run_id} --backend NAME`[/]"
            )


def _num(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return f"{value:.6g}" if isinstance(value, float) else str(value)


@runs_group.command("compare")
@click.argument("runs", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def compare_cmd(runs: tuple[str, ...], as_json: bool) -> None:
    """Parameters that differ and metric summaries of RUNS, side by side."""
    if len(runs) < 2:
        raise InvalidArgumentError("compare: give at least two runs")
    root = store_root()
    refs = [find_run(r, root) for r in runs]
    params = [flatten(read_json(r.path / "params.json")) for r in refs]
    keys = sorted({k for p in params for k in p})
    differ = {
        k: [p.get(k) for p in params]
        for k in keys
        if len({repr(p.get(k, _MISSING)) for p in params}) > 1
    }
    summaries = [_summary_dict(r) for r in refs]
    names = sorted({n for s in summaries for n in s})
    metrics = {
        n: {stat: [s.get(n, {}).get(stat) for s in summaries] for stat in ("last", "min", "max")}
        for n in names
    }
    ids = [r.run_id for r in refs]
    if as_json:
        echo_json({"runs": ids, "params": differ, "metrics": metrics})
        return
    console = out_console()
    short = [i[-8:] for i in ids]
    table = Table("param", *short, title="params that differ")
    for key, values in differ.items():
        table.add_row(key, *("-" if v is None else repr(v) for v in values))
    console.print(table if differ else "[dim]all parameters are equal[/]")
    table = Table("metric", "stat", *short, title="metrics")
    for name, stats in metrics.items():
        for stat, values in stats.items():
            table.add_row(name, stat, *(_num(v) for v in values))
    console.print(table)


_MISSING = object()


@runs_group.command("delete")
@click.argument("runs", nargs=-1, required=True)
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
def delete_cmd(runs: tuple[str, ...], yes: bool) -> None:
    """Delete RUNS (their whole folders). Refuses runs that are still running."""
    root = store_root()
    refs = [find_run(r, root) for r in runs]
    for ref in refs:
        if effective_status(read_json(ref.path / "run.json")) == "running":
            raise InvalidArgumentError(
                f"run {ref.run_id} is still running; finish it before deleting it"
            )
    listing = "\n".join(f"  {r.experiment}/{r.run_id}" for r in refs)
    if not yes and not click.confirm(f"Delete {len(refs)} run(s)?\n{listing}\n", default=False):
        raise click.Abort()
    for ref in refs:
        shutil.rmtree(ref.path)
        click.echo(f"deleted {ref.experiment}/{ref.run_id}")
