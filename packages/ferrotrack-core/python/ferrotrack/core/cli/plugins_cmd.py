"""``ferrotrack plugins list|show``: what is installed, and why a plugin is unavailable."""

from __future__ import annotations

import json

import click

from ferrotrack.core.plugins.kinds import PluginType

__all__ = ["plugins"]

_KINDS = [k.value for k in PluginType]


@click.group("plugins")
def plugins() -> None:
    """Installed plugins (backends, collectors, frameworks, processors, ...)."""


@plugins.command("list")
@click.option(
    "--type", "kind", type=click.Choice(_KINDS), default=None, help="Only plugins of this kind."
)
@click.option("--json", "as_json", is_flag=True, help="One JSON array, for scripts.")
def list_plugins(kind: str | None, as_json: bool) -> None:
    """Every plugin: name, kind, package, version, available or why not."""
    from ferrotrack.core.plugins.manager import PluginManager

    rows = [i.row() for i in PluginManager().plugins(PluginType(kind) if kind else None)]
    if as_json:
        click.echo(json.dumps(rows, indent=1))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("name", "kind", "package", "version", "available")
    for row in rows:
        why = "yes" if row["available"] else f"no: {row['reason']}"
        if row["install_hint"]:
            why += f" ({row['install_hint']})"
        table.add_row(*(str(row[c] or "") for c in ("name", "kind", "package", "version")), why)
    Console(soft_wrap=True).print(table)


@plugins.command("show")
@click.argument("name")
@click.option(
    "--type",
    "kind",
    type=click.Choice(_KINDS),
    default=None,
    help="The kind, when several plugins share the name.",
)
def show_plugin(name: str, kind: str | None) -> None:
    """A plugin's metadata and config schema (JSON Schema), as JSON."""
    from ferrotrack.core.errors import FerrotrackError
    from ferrotrack.core.plugins.manager import PluginManager

    try:
        info = PluginManager().info(name, PluginType(kind) if kind else None)
    except FerrotrackError as exc:
        raise click.ClickException(str(exc)) from None
    data: dict[str, object] = info.row()
    if info.metadata is not None:
        data["metadata"] = info.metadata.describe()
    click.echo(json.dumps(data, indent=1))
