"""``ferrotrack sync RUN --backend NAME``: fill a backend from the store, without duplicates."""

from __future__ import annotations

import json
from pathlib import Path

import click

__all__ = ["sync"]


@click.command("sync")
@click.argument("run")
@click.option("--backend", "backend_name", required=True, help="Backend plugin name.")
@click.option(
    "--root",
    type=click.Path(path_type=Path),
    default=None,
    help="Store folder (default: the main command's --root, FERROTRACK_ROOT, settings).",
)
@click.option(
    "--config",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Backend config value (JSON or text), over the settings' config.",
)
def sync(run: str, backend_name: str, root: Path | None, overrides: tuple[str, ...]) -> None:
    """Send the points of RUN (a run folder or id) the backend has not received yet."""
    from ferrotrack.core.delivery.orchestrator import delivery_options
    from ferrotrack.core.delivery.replay import sync_run
    from ferrotrack.core.errors import FerrotrackError
    from ferrotrack.core.plugins.backend import BackendPlugin
    from ferrotrack.core.plugins.kinds import PluginType
    from ferrotrack.core.plugins.manager import PluginManager
    from ferrotrack.core.settings import FerrotrackSettings, RouteRule

    settings = FerrotrackSettings()
    config = settings.plugin_config(PluginType.BACKEND, backend_name)
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep:
            raise click.BadParameter(f"expected KEY=VALUE, got {key!r}", param_hint="--config")
        try:
            config[key] = json.loads(raw)
        except ValueError:
            config[key] = raw
    rule = settings.routing.get(backend_name, RouteRule())
    try:
        run_dir = _run_dir(run, root)
        with PluginManager() as manager:
            backend = manager.create(backend_name, PluginType.BACKEND, config)
            assert isinstance(backend, BackendPlugin)
            manager.start_all()
            report = sync_run(
                run_dir,
                backend,
                include=rule.include,
                exclude=rule.exclude,
                options=delivery_options(settings),
                redact=settings.redact,
            )
    except FerrotrackError as exc:
        raise click.ClickException(settings.redact(str(exc))) from None
    click.echo(
        f"{report.backend}: {report.rows_delivered} new points read, {report.points_sent} sent; "
        f"cursor {report.cursor}"
    )
    if not report.ok:
        raise click.ClickException(
            f"backend {report.backend!r} failed: {settings.redact(report.last_error or '')}; "
            "run the same command again to resume"
        )


def _run_dir(run: str, root: Path | None) -> Path:
    """A run folder given as a path, or an id, prefix or name in the store."""
    from ferrotrack.core.cli._common import store_root
    from ferrotrack.core.delivery.replay import find_run_dir

    path = Path(run)
    if (path / "run.json").is_file() or (path / "metrics").is_dir():
        return path
    return find_run_dir(run, store_root(root, "sync --root"))
