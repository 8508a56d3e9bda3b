"""The top-level ``ferrotrack`` group: global options, error handling, plugin sub-commands."""

from __future__ import annotations

import sys
from importlib.metadata import entry_points
from typing import Any

import click

from ferrotrack.core.cli._common import State, err_console
from ferrotrack.core.errors import FerrotrackError
from ferrotrack.core.store.layout import resolve_root

__all__ = ["ENTRY_POINT_GROUP", "build", "main"]

ENTRY_POINT_GROUP = "ferrotrack.cli"


class FerrotrackGroup(click.Group):
    """A group that turns expected errors into one red line and a non-zero exit."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (FerrotrackError, OSError) as exc:
            obj = ctx.find_object(State)
            if obj is not None and obj.debug:
                raise
            err_console().print(f"[red]error:[/red] {exc}", markup=True, highlight=False)
            raise SystemExit(1) from None


@click.group(cls=FerrotrackGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--root",
    type=click.Path(file_okay=False),
    default=None,
    help="Store folder (default: $FERROTRACK_ROOT, the settings file's root, ./ferrotrack-runs).",
)
@click.option("--debug", is_flag=True, help="Show tracebacks of errors.")
@click.pass_context
def cli(ctx: click.Context, root: str | None, debug: bool) -> None:
    """ferrotrack: runs, metrics and the store, from the shell."""
    ctx.obj = State(resolve_root(root), debug=debug)


def build() -> click.Group:
    """The command with its own sub-commands and those declared in ``ferrotrack.cli``."""
    from ferrotrack.core.cli.doctor_cmd import doctor
    from ferrotrack.core.cli.metrics_cmd import metrics_cmd
    from ferrotrack.core.cli.runs_cmd import runs_group

    for command in (runs_group, metrics_cmd, doctor):
        cli.add_command(command)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in cli.commands:
            continue
        try:
            command = ep.load()
            if not isinstance(command, click.Command):
                raise TypeError(f"expected a click command or group, got {type(command)!r}")
        except Exception as exc:  # a broken plugin must not break the command
            err_console().print(
                f"[yellow]warning:[/yellow] ignoring CLI plugin {ep.name!r} ({ep.value}): {exc}"
            )
            continue
        cli.add_command(command, ep.name)
    return cli


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``ferrotrack`` console script."""
    build().main(args=argv if argv is not None else sys.argv[1:], prog_name="ferrotrack")
