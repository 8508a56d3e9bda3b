"""``ferrotrack run MODEL.yaml`` and ``ferrotrack backends list|validate|schema``.

``run`` exits 1 when the model run failed, so a scheduler or CI sees it. A backend config
file may hold several documents (one per backend); ``run`` takes the one whose
``backend_type`` is the backend chosen (``--backend``, else the file's first document).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from ferrotrack.core.cli._common import echo_json, out_console, state
from ferrotrack.core.errors import InvalidArgumentError

__all__ = ["backends_group", "run_command"]

_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


def _assignment(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` with VALUE read as a model file reads it (``1e-3`` a float, a date its
    ISO text, ``[1, 2]`` a list)."""
    import yaml

    from ferrotrack.run.yaml_scalars import load_yaml

    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise click.BadParameter(f"expected KEY=VALUE, got {text!r}", param_hint="--set")
    try:
        return key.strip(), load_yaml(raw) if raw else ""
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise click.BadParameter(
            f"{text!r}: VALUE is read as YAML ({problem}); quote it to pass it as text",
            param_hint="--set",
        ) from None


def backend_options(backend: str | None, config_file: Path | None) -> tuple[str, dict[str, Any]]:
    """The backend's name and its options, from ``--backend`` and ``--backend-config``."""
    from ferrotrack.run.loading import load_backend_configs

    if config_file is None:
        return backend or "local", {}
    configs = load_backend_configs(config_file)
    kinds = [str(getattr(c, "backend_type", "")) for c in configs]
    wanted = backend or kinds[0]
    if wanted not in kinds:
        raise InvalidArgumentError(
            f"{config_file} has no config for backend {wanted!r} (it has: {', '.join(kinds)})"
        )
    chosen = configs[kinds.index(wanted)]
    return wanted, chosen.model_dump(exclude_unset=True, exclude={"backend_type"})


@click.command("run")
@click.argument("model_file", type=_FILE)
@click.option("--backend", "-b", default=None, help="Run backend (default: local).")
@click.option(
    "--backend-config", "config_file", type=_FILE, default=None, help="Backend config YAML."
)
@click.option(
    "--set",
    "assignments",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a config value (dotted keys; VALUE read as YAML). Repeatable.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
def run_command(
    model_file: Path,
    backend: str | None,
    config_file: Path | None,
    assignments: tuple[str, ...],
    as_json: bool,
) -> None:
    """Run the model run described by MODEL_FILE (YAML of ModelRun fields); exit 1 if it
    failed."""
    from ferrotrack.run.model import ModelRun

    model = ModelRun.from_yaml(model_file)
    if assignments:
        updates = dict(_assignment(a) for a in assignments)
        model = model.with_config(updates, run_id=model.run_id)
    if model.root is None:
        model.root = state().root
    name, options = backend_options(backend, config_file)
    ok = model.run(backend=name, **options)
    tracked = model.tracked_run
    outcome = {
        "success": ok,
        "model_run": model.run_id,
        "backend": name,
        "run_id": tracked.run_id if tracked else None,
        "run_dir": str(tracked.run_dir) if tracked else None,
        "reason": tracked.tags.get("ferrotrack.reason") if tracked else None,
    }
    if as_json:
        echo_json(outcome)
    else:
        colour = "green" if ok else "red"
        word = "succeeded" if ok else "failed"
        line = f"[{colour}]{word}[/]: model run {escape(model.run_id)} on {escape(name)}"
        if tracked is not None:
            line += (
                f" (ferrotrack run {tracked.run_id}; logs in {escape(str(tracked.run_dir))}/logs)"
            )
        if outcome["reason"]:
            line += f"\n  reason: {escape(str(outcome['reason']))}"
        out_console().print(line)
    if not ok:
        sys.exit(1)


@click.group("backends")
def backends_group() -> None:
    """List the run backends, validate backend config files, print a config's schema."""


@backends_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_command(as_json: bool) -> None:
    """The installed run backends (entry-point group ferrotrack.run)."""
    from ferrotrack.run.registry import describe_backends

    rows = describe_backends()
    if as_json:
        echo_json(rows)
        return
    table = Table("name", "package", "available", "description")
    for row in rows:
        available = "yes" if row["available"] else f"[red]no[/]: {escape(row['problem'] or '')}"
        table.add_row(row["name"], row["package"], available, escape(row["description"]))
    out_console().print(table)


@backends_group.command("validate")
@click.argument("config_file", type=_FILE)
def validate_command(config_file: Path) -> None:
    """Check every document of CONFIG_FILE against its backend's config model."""
    from ferrotrack.run.loading import load_backend_configs

    configs = load_backend_configs(config_file)
    for index, config in enumerate(configs, start=1):
        kind = getattr(config, "backend_type", "?")
        out_console().print(f"[green]ok[/]: document {index}: backend {escape(str(kind))}")


@backends_group.command("schema")
@click.argument("name")
def schema_command(name: str) -> None:
    """The JSON Schema of backend NAME's config."""
    from ferrotrack.run.loading import config_class_for

    click.echo(json.dumps(config_class_for(name).model_json_schema(), indent=2))
