"""The top-level ``ferrotrack`` group: global options, error handling, every command.

Core's own commands (``runs``, ``metrics``, ``doctor``, ``plugins``, ``sync``) live in this
folder; the ``ferrotrack.cli`` entry-point group is for other packages' commands only.
"""

from __future__ import annotations

import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import click

from ferrotrack.core.cli._common import State, err_console, print_error
from ferrotrack.core.errors import FerrotrackError
from ferrotrack.core.settings.lookup import root_and_source

__all__ = ["ENTRY_POINT_GROUP", "build", "main"]

ENTRY_POINT_GROUP = "ferrotrack.cli"
"""Entry points of click commands or groups that other packages add to ``ferrotrack``."""


class FerrotrackGroup(click.Group):
    """A group that turns expected errors into one line on stderr and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError:
            raise  # click prints the usage with it (exit status 2)
        except (FerrotrackError, OSError, click.ClickException) as exc:
            obj = ctx.find_object(State)
            if obj is not None and obj.debug:
                raise
            if isinstance(exc, click.ClickException):
                print_error(exc.format_message())
                raise SystemExit(exc.exit_code) from None
            print_error(str(exc))
            raise SystemExit(1) from None


@click.group(cls=FerrotrackGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--root",
    type=click.Path(file_okay=False),
    default=None,
    help="Store folder (default: $FERROTRACK_ROOT, the settings file's root, ./ferrotrack-runs).",
)
@click.option("--debug", is_flag=True, help="Show tracebacks of errors.")
@click.version_option(
    package_name="ferrotrack-core", prog_name="ferrotrack", message="%(prog)s %(version)s"
)
@click.pass_context
def cli(ctx: click.Context, root: str | None, debug: bool) -> None:
    """ferrotrack: runs, metrics and the store, from the shell."""
    ctx.obj = current = State(Path(), debug=debug)  # set first: --debug applies to errors below
    current.root, current.root_source = root_and_source(root, given_as="--root")


def build() -> click.Group:
    """The command with core's sub-commands and those declared in ``ferrotrack.cli``."""
    from ferrotrack.core.cli.doctor_cmd import doctor
    from ferrotrack.core.cli.metrics_cmd import metrics_cmd
    from ferrotrack.core.cli.plugins_cmd import plugins
    from ferrotrack.core.cli.runs_cmd import runs_group
    from ferrotrack.core.cli.sync_cmd import sync

    for command in (runs_group, metrics_cmd, doctor, plugins, sync):
        cli.add_command(command)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in cli.commands:  # core's own commands are never replaced
            continue
        try:
            command = ep.load()
            if not isinstance(command, click.Command):
                raise TypeError(f"expected a click command or group, got {type(command)!r}")
        except Exception as exc:  # a broken plugin must not break the command
            err_console().print(
                f"[yellow]warning:[/yellow] ignoring CLI plugin {ep.name!r} ({ep.value}): "
                + _escape(f"{type(exc).__name__}: {exc}"),
            )
            continue
        cli.add_command(command, ep.name)
    return cli


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``ferrotrack`` console script."""
    build().main(args=argv if argv is not None else sys.argv[1:], prog_name="ferrotrack")
