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
    help="Store root (default: settings, FERROTRACK_ROOT, ./ferrotrack-runs).",
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
    from ferrotrack.core.errors import FerrotrackError
    from ferrotrack.core.delivery.orchestrator import OrchestratorOptions
    from ferrotrack.core.plugins.backend import BackendPlugin
    from ferrotrack.core.plugins.kinds import PluginType
    from ferrotrack.core.plugins.manager import PluginManager
    from ferrotrack.core.settings import FerrotrackSettings, RouteRule
    from ferrotrack.core.store.layout import resolve_root
    from ferrotrack.core.delivery.replay import find_run_dir, sync_run

    settings = FerrotrackSettings()
    if root is None:  # under the main command, its --root applies
        root = getattr(click.get_current_context().find_root().obj, "root", None)
    config = settings.plugin_config("backend", backend_name)
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
        run_dir = find_run_dir(run, resolve_root(root or settings.root))
        with PluginManager() as manager:
            backend = manager.create(backend_name, PluginType.BACKEND, config)
            assert isinstance(backend, BackendPlugin)
            manager.start_all()
            report = sync_run(
                run_dir,
                backend,
                include=rule.include,
                exclude=rule.exclude,
                options=OrchestratorOptions(**settings.orchestrator.model_dump()),
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
