"""``ferrotrack experiment run|show|status CONFIG_DIR``, added through ``ferrotrack.cli``.

``run`` exits non-zero when a trial run failed, so a scheduler or CI sees it; ``show`` and
``status`` only read (the config, the store) and never start a run. A pipeline class lives
in the user's code: ``--import`` names the module or ``.py`` file that registers it (a
package can instead declare it in the ``ferrotrack.experiment.pipelines`` entry points).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from ferrotrack.core.cli._common import out_console, print_error, state
from ferrotrack.core.errors import FerrotrackError
from ferrotrack.core.params import flatten

__all__ = ["experiment_group"]

_CONFIG_DIR = click.Path(exists=True, file_okay=False, path_type=Path)
MAX_ROWS = 200
"""``show`` and ``status`` draw at most this many rows unless ``--all``: rich takes seconds
to lay out a table of 10,000."""
_ALL = click.option("--all", "show_all", is_flag=True, help=f"Every row (default: {MAX_ROWS}).")
_STYLES = {
    "done": "green",
    "completed": "green",
    "skipped": "dim",
    "stopped": "yellow",
    "running": "cyan",
    "pending": "dim",
    "failed": "red",
}


@click.group("experiment")
def experiment_group() -> None:
    """Run experiments described by a config directory, see their trials and progress."""


@experiment_group.command("run")
@click.argument("config_dir", type=_CONFIG_DIR)
@click.option("--resume", is_flag=True, help="Continue the latest run: skip finished trial runs.")
@click.option(
    "--trial",
    "trials",
    multiple=True,
    help="Only this trial, run again in the latest run (repeatable; with --resume: only "
    "its unfinished trial runs).",
)
@click.option(
    "--import",
    "imports",
    multiple=True,
    metavar="MODULE",
    help="A module or .py file to import first (it registers your pipelines). Repeatable.",
)
@click.option(
    "--progress/--no-progress", default=None, help="Progress bars (default: on a terminal)."
)
@click.option(
    "--executor",
    metavar="NAME",
    default=None,
    help="Run each trial in a process of its own on this run backend (ferrotrack.run entry "
    "points: local, slurm, dask...; default: env.yaml's executor, else in this process).",
)
@click.option(
    "--max-concurrency",
    type=click.IntRange(min=1),
    default=None,
    help="Trials running at once on the executor (default: env.yaml's, else 4).",
)
@click.option("--in-run", "in_run", default=None, hidden=True)  # what an executor starts
def run_cmd(  # noqa: PLR0917  (click passes each option)
    config_dir: Path,
    resume: bool,
    trials: tuple[str, ...],
    imports: tuple[str, ...],
    progress: bool | None,
    executor: str | None,
    max_concurrency: int | None,
    in_run: str | None,
) -> None:
    """Run every trial run of CONFIG_DIR, each a ferrotrack run; exit 1 if one failed."""
    from ferrotrack.experiment.experiment import Experiment

    _import_all(imports, config_dir)
    experiment = Experiment.create(config_dir, root=_explicit_root())
    try:
        if in_run is not None:  # one trial process of an experiment run started elsewhere
            from ferrotrack.experiment.executor import run_trial_process

            outcome = run_trial_process(
                experiment, in_run, trials, resume=resume, progress=progress
            )
        else:
            outcome = experiment.run(
                resume=resume,
                trials=trials or None,
                progress=progress,
                executor=executor,
                max_concurrency=max_concurrency,
            )
    except FerrotrackError:
        raise
    except Exception as exc:  # on_error: raise re-raised a trial run's error (recorded)
        if state().debug:
            raise
        last = experiment.last_outcome
        stored = last is not None and bool(last.failed) and last.failed[-1].run_id is not None
        where = " (the failed trial run is in the store)" if stored else ""
        print_error(f"{type(exc).__name__}: {exc}{where}")
        raise SystemExit(1) from None
    done = [*outcome.completed, *outcome.stopped, *outcome.failed, *outcome.skipped]
    done.sort(key=lambda o: (_order(experiment.trials, o.trial), o.repeat))
    table = _trial_table([o.trial for o in done], "repeat", "status")
    table.add_column("run_id", no_wrap=True, min_width=32)
    for item in done:
        status = item.status.value
        table.add_row(
            escape(item.trial),
            str(item.repeat),
            f"[{_STYLES.get(status, '')}]{status}[/]",
            item.run_id or "-",
        )
    console = out_console()
    console.print(table)
    for item in outcome.failed:
        console.print(f"[red]failed[/] {escape(item.label)}: {escape(item.error or '')}")
    console.print(f"experiment {escape(experiment.name)} (run {outcome.run_id}): {outcome}")
    if not outcome.ok:
        raise SystemExit(1)


@experiment_group.command("show")
@click.argument("config_dir", type=_CONFIG_DIR)
@_ALL
def show_cmd(config_dir: Path, show_all: bool) -> None:
    """The trial runs CONFIG_DIR expands to, with the settings that differ; runs nothing."""
    from ferrotrack.experiment.config.expand import expand_trials, trial_runs
    from ferrotrack.experiment.config.files import load_config_dir

    config = load_config_dir(config_dir)
    trials = expand_trials(config)
    flat = {t.name: flatten(t.settings) for t in trials}
    keys = sorted({k for f in flat.values() for k in f})
    varying = [k for k in keys if len({repr(f.get(k)) for f in flat.values()}) > 1]
    table = _trial_table([t.name for t in trials], "id", "repeat")
    table.add_column("seed", no_wrap=True)
    for key in varying:
        table.add_column(escape(key))
    runs = trial_runs(trials)
    for spec in runs if show_all else runs[:MAX_ROWS]:
        settings = flat[spec.trial.name]
        table.add_row(
            escape(spec.trial.name),
            "-" if spec.trial.id is None else str(spec.trial.id),
            str(spec.repeat),
            str(spec.seed),
            *(escape(_text(settings.get(k))) for k in varying),
        )
    console = out_console()
    console.print(table)
    _more(console, len(runs), show_all)
    shared = sorted({str(f.get("pipeline.type")) for f in flat.values()})
    console.print(
        f"experiment {escape(config.experiment['name'])}: {len(trials)} trial(s), "
        f"{len(runs)} trial run(s); pipeline {escape(', '.join(shared))}"
    )


@experiment_group.command("status")
@click.argument("config_dir", type=_CONFIG_DIR)
@_ALL
def status_cmd(config_dir: Path, show_all: bool) -> None:
    """Which trial runs of CONFIG_DIR's latest run are done, failed, stopped or pending."""
    from ferrotrack.core.store.layout import resolve_root
    from ferrotrack.experiment.config.expand import expand_trials, trial_runs
    from ferrotrack.experiment.config.files import load_config_dir
    from ferrotrack.experiment.results import status_table

    config = load_config_dir(config_dir)
    root = _explicit_root()
    store = resolve_root(root if root is not None else config.env.get("root"))
    expected = [(s.trial.name, s.repeat) for s in trial_runs(expand_trials(config))]
    frame = status_table(store, config.experiment["name"], expected)
    table = _trial_table(frame["trial"].to_list(), "repeat", "state", "attempts")
    table.add_column("run_id", no_wrap=True, min_width=32)
    for row in (frame if show_all else frame.head(MAX_ROWS)).iter_rows(named=True):
        table.add_row(
            escape(row["trial"]),
            str(row["repeat"]),
            f"[{_STYLES.get(row['state'], '')}]{row['state']}[/]",
            str(row["attempts"]),
            row["run_id"] or "-",
        )
    counts = frame.group_by("state").len().sort("state").iter_rows()
    console = out_console()
    console.print(table)
    _more(console, frame.height, show_all)
    console.print(
        f"experiment {escape(config.experiment['name'])}: "
        + ", ".join(f"{n} {s}" for s, n in counts)
    )


def _trial_table(names: Sequence[str], *columns: str) -> Table:
    """A table whose short columns (status, repeat...) never wrap; a long trial name folds
    onto more lines rather than squeezing them (``comp…``). ``names``: for the width."""
    table = Table()
    widest = max([5, *map(len, names[:MAX_ROWS])])
    table.add_column("trial", overflow="fold", min_width=min(widest, 12), ratio=1)
    for column in columns:
        table.add_column(column, no_wrap=True)
    return table


def _more(console: Any, total: int, show_all: bool) -> None:
    if not show_all and total > MAX_ROWS:
        console.print(f"… and {total - MAX_ROWS} more (use --all)")


def _explicit_root() -> Path | None:
    """The store given with ``ferrotrack --root``; else ``None`` (``env.yaml``'s root, then
    the settings, decide)."""
    current = state()
    return current.root if current.root_source == "--root" else None


def _import_all(names: Sequence[str], config_dir: Path) -> None:
    """Imports each module (dotted name, from the working folder or the config directory)
    or ``.py`` file, so that its ``@YAMLSerializable.register`` classes exist."""
    for folder in (str(Path.cwd()), str(config_dir.resolve())):
        if folder not in sys.path:
            sys.path.insert(0, folder)
    for name in names:
        path = Path(name)
        if path.suffix == ".py":
            _import_file(name, path)
        else:
            try:
                importlib.import_module(name)
            except Exception as exc:  # ImportError, or the module's own code raising
                raise click.BadParameter(
                    f"{name}: {type(exc).__name__}: {exc}", param_hint="--import"
                ) from exc


def _import_file(name: str, path: Path) -> None:
    """Runs a ``.py`` file as a module: under its stem when no module has that name (so
    pickles and ``module:Class`` names work), else under a private name, so that a file
    called ``random.py`` never replaces the standard ``random``."""
    if not path.is_file():
        raise click.BadParameter(f"{name}: no such file", param_hint="--import")
    full = path.resolve()
    module_name = path.stem
    if not _free_module_name(module_name, full):
        module_name = f"_ferrotrack_import_{zlib.crc32(str(full).encode()):08x}_{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, full)
    if spec is None or spec.loader is None:
        raise click.BadParameter(f"{name}: cannot be imported as Python", param_hint="--import")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:
        sys.modules.pop(module_name, None)
        if not isinstance(exc, Exception):
            raise
        raise click.BadParameter(
            f"{name}: {type(exc).__name__} while importing it: {exc}", param_hint="--import"
        ) from exc


def _free_module_name(name: str, file: Path) -> bool:
    """Whether ``name`` can stand for ``file``: no module has it yet and no other module
    (``numpy``, not imported yet) would be hidden behind it."""
    if name in sys.modules:
        return False
    try:
        found = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return False
    return found is None or found.origin == str(file)


def _order(trials: Sequence[Any], name: str) -> int:
    for i, trial in enumerate(trials):
        if trial.name == name:
            return i
    return len(trials)


def _text(value: object) -> str:
    return "-" if value is None else str(value)
