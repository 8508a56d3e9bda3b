"""From a config directory to the list of trials and trial runs an experiment executes.

Settings merge base < experiment < trial (mappings deep-merged, lists and scalars replaced).
A trial's ``values: [...]`` fills every ``"?"`` setting, one trial per value (the Experiment
Manager's ``insert_value``); its ``grid: {dotted.key: [options...]}`` makes one trial per
combination of options (``multiply``). All of it works on plain dicts: an experiment of
10,000 trials must expand in well under a second, so omegaconf is only used when one trial
run's ``DictConfig`` is asked for (which also resolves ``${...}`` interpolations).
"""

from __future__ import annotations

import itertools
import json
import pickle
import re
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from ferrotrack.experiment.config.files import (
    BASE_FILE,
    EXPERIMENT_FILE,
    TRIALS_FILE,
    ConfigDir,
)
from ferrotrack.experiment.errors import ConfigError

__all__ = [
    "PLACEHOLDER",
    "SettingsOrigin",
    "TrialRunSpec",
    "TrialSpec",
    "expand_trials",
    "trial_runs",
]

PLACEHOLDER = "?"
"""A setting with this value is filled from the trial's ``values``."""

KeyPath = tuple[str | int, ...]


@dataclass(frozen=True)
class SettingsOrigin:
    """Which file and key each setting of a trial came from, so that an error found later
    (a bad interpolation) still names the line of YAML to fix. Shared by every trial one
    ``trials.yaml`` entry expands into."""

    layers: tuple[tuple[Path, str, Mapping[str, Any]], ...]
    """(file, key prefix, settings), the highest precedence first."""
    trials_file: Path | None = None
    trial_key: str = ""
    """``trials[i]`` of the entry, or empty for the implicit trial of a folder without trials."""
    grid_keys: tuple[str, ...] = ()
    placeholders: tuple[KeyPath, ...] = ()

    def locate(self, path: KeyPath, *, filled: bool = True) -> tuple[Path, str]:
        """The file and key path a setting at ``path`` was written at; with ``filled``,
        a value that a grid option or ``values`` put there is located at those."""
        if filled and self.trials_file is not None:
            dotted = _dotted(path)
            for key in self.grid_keys:
                if dotted == key or dotted.startswith(key + ".") or dotted.startswith(key + "["):
                    return self.trials_file, f"{self.trial_key}.grid.{key}"
            if any(path[: len(p)] == p for p in self.placeholders):
                return self.trials_file, f"{self.trial_key}.values"
        for file, prefix, settings in self.layers:
            if _has(settings, path):
                return file, f"{prefix}.{_dotted(path)}" if path else prefix
        file, prefix, _ = self.layers[-1]
        return file, f"{prefix}.{_dotted(path)}" if path else prefix


@dataclass(frozen=True)
class TrialSpec:
    """One trial: its merged settings with placeholders and grid options filled in.

    ``index`` is its position in the expanded list; ``experiment`` the experiment's name
    (part of the default seed); ``origin`` where its settings were written."""

    name: str
    id: int | str | None
    repeat: int
    settings: dict[str, Any] = field(hash=False)
    index: int
    experiment: str = ""
    origin: SettingsOrigin | None = field(default=None, repr=False, compare=False, hash=False)


@dataclass(frozen=True)
class TrialRunSpec:
    """One repeat of a trial, with the seed it runs under."""

    trial: TrialSpec
    repeat: int
    seed: int

    @property
    def name(self) -> str:
        """``<trial>/<repeat>``, the name of the trial run's ferrotrack run."""
        return f"{self.trial.name}/{self.repeat}"

    def config(self) -> DictConfig:
        """The settings plus ``repeat`` and ``seed`` as a DictConfig, interpolations
        resolved; a ``${...}`` that cannot be resolved is a ConfigError naming its file."""
        data = dict(self.trial.settings)
        data["repeat"] = self.repeat
        data["seed"] = self.seed
        try:
            config = OmegaConf.create(data)
            OmegaConf.resolve(config)
        except OmegaConfBaseException as exc:
            raise self._config_error(exc) from exc
        return config

    def _config_error(self, exc: OmegaConfBaseException) -> ConfigError:
        path = _parse_key(str(getattr(exc, "full_key", "") or ""))
        value = _get(self.trial.settings, path)
        reason = str(getattr(exc, "msg", "") or exc).splitlines()[0]
        origin = self.trial.origin
        if origin is not None:
            file, key = origin.locate(path)
        else:
            file, key = Path(EXPERIMENT_FILE), "settings." + _dotted(path)
        return ConfigError(
            f"trial {self.trial.name!r} (repeat {self.repeat}): cannot resolve {value!r}: "
            f"{reason}; expected an interpolation such as ${{other.key}} naming an existing "
            "setting (or repeat, seed)",
            file=file,
            key=key,
        )


def expand_trials(cfg: ConfigDir) -> list[TrialSpec]:
    """Every trial of the config directory, in file order (values, then grid combinations
    in the order the options are written); ConfigError on a placeholder without values,
    values without a placeholder, a grid key that cannot be set, or two trials of one name."""
    base = cfg.base["settings"]
    experiment = cfg.experiment["settings"]
    shared = _merge(base, experiment)
    name = cfg.experiment["name"]
    layers_below = (
        (cfg.file(EXPERIMENT_FILE), "settings", experiment),
        (cfg.file(BASE_FILE), "settings", base),
    )
    if not cfg.trials:
        origin = SettingsOrigin(layers_below)
        _refuse_reserved(shared, origin, name)
        _require_no_placeholder(shared, origin, name)
        return [TrialSpec(name, cfg.experiment["id"], 1, _copy(shared), 0, name, origin)]

    trials_file = cfg.file(TRIALS_FILE)
    out: list[TrialSpec] = []
    made_by: dict[str, int] = {}
    for i, entry in enumerate(cfg.trials):
        at = f"trials[{i}]"
        before = len(out)
        _expand_entry(
            entry,
            at,
            shared=shared,
            layers_below=layers_below,
            trials_file=trials_file,
            experiment=name,
            out=out,
        )
        for spec in out[before:]:
            if spec.name in made_by:
                by = "" if made_by[spec.name] == i else f" (trials[{made_by[spec.name]}] too)"
                raise ConfigError(
                    f"the expanded trial name {spec.name!r} is made twice{by}; expected "
                    "trial names, values and options that print differently",
                    file=trials_file,
                    key=f"{at}.{'grid' if entry['grid'] else 'values'}",
                )
            made_by[spec.name] = i
    return out


def trial_runs(trials: Sequence[TrialSpec]) -> list[TrialRunSpec]:
    """Each trial's repeats, in order, with the seed of each: ``settings.seed + repeat`` when
    the settings have an integer ``seed``, else a stable crc32 of ``<experiment>/<trial>``
    plus the repeat, modulo 2**31 (the same on every machine and Python)."""
    runs: list[TrialRunSpec] = []
    append = runs.append
    for trial in trials:
        seed = trial.settings.get("seed")
        if isinstance(seed, str):
            seed = _resolved_seed(trial)
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
            raise _seed_error(trial, seed)
        if isinstance(seed, int):
            for r in range(trial.repeat):
                append(TrialRunSpec(trial, r, seed + r))
        else:
            first = zlib.crc32(f"{trial.experiment}/{trial.name}".encode())
            for r in range(trial.repeat):
                append(TrialRunSpec(trial, r, (first + r) % 2**31))
    return runs


def _resolved_seed(trial: TrialSpec) -> Any:
    """The trial's ``seed`` setting with its interpolation resolved (``${base_seed}``)."""
    try:
        return OmegaConf.create(trial.settings)["seed"]
    except OmegaConfBaseException as exc:
        spec = TrialRunSpec(trial, 0, 0)
        raise spec._config_error(exc) from exc


def _seed_error(trial: TrialSpec, seed: Any) -> ConfigError:
    origin = trial.origin
    file, key = origin.locate(("seed",)) if origin else (Path(EXPERIMENT_FILE), "settings.seed")
    return ConfigError(
        f"trial {trial.name!r}: the setting seed is {seed!r} ({type(seed).__name__}); expected "
        "an integer (each repeat runs under seed + repeat), or no seed setting at all",
        file=file,
        key=key,
    )


# ---- one trials.yaml entry --------------------------------------------------------------


def _expand_entry(
    entry: Mapping[str, Any],
    at: str,
    *,
    shared: dict[str, Any],
    layers_below: tuple[tuple[Path, str, Mapping[str, Any]], ...],
    trials_file: Path,
    experiment: str,
    out: list[TrialSpec],
) -> None:
    merged = _merge(shared, entry["settings"])
    grid: dict[str, list[Any]] = entry["grid"]
    grid_parts = [key.split(".") for key in grid]
    placeholders = tuple(
        path
        for path in _placeholders(merged, ())
        if not any(_covers(parts, path) for parts in grid_parts)
    )
    values: list[Any] | None = entry["values"]
    origin = SettingsOrigin(
        ((trials_file, f"{at}.settings", entry["settings"]), *layers_below),
        trials_file,
        at,
        tuple(grid),
        placeholders,
    )
    name, trial_id, repeat = entry["name"], entry["id"], entry["repeat"]
    _refuse_reserved(merged, origin, name)
    for key in grid:
        _require_grid_parent(merged, key, grid, origin, name)
    if values is None:
        _require_no_placeholder(merged, origin, name, placeholders)
        filled = [(name, _copy(merged))]
    elif not placeholders:
        raise ConfigError(
            "values are given but the trial's merged settings (base < experiment < trial) "
            f"have no {PLACEHOLDER!r} setting to fill; expected a setting whose value is "
            f"{PLACEHOLDER!r}",
            file=trials_file,
            key=f"{at}.values",
        )
    else:
        filled = [
            (f"{name}[{_label(value)}]", _filled(merged, placeholders, value)) for value in values
        ]

    append = out.append
    if not grid:
        for trial_name, settings in filled:
            append(TrialSpec(trial_name, trial_id, repeat, settings, len(out), experiment, origin))
        return
    keys = list(grid)
    labels = [[f"{key}={_label(option)}" for option in grid[key]] for key in keys]
    combos = list(
        zip(
            itertools.product(*grid.values()),
            itertools.product(*labels),
            strict=True,
        )
    )
    where = [f"{at}.grid.{key}" for key in keys]
    for trial_name, settings in filled:
        # The mappings on the way to each grid key are made once, in the template, and the
        # steps into them found once: per trial only a copy and a few item assignments.
        steps = [_prepare(settings, parts) for parts in grid_parts]
        # A fresh tree per trial from one pickle: C-speed copying, 2-3x _copy's.
        template = pickle.dumps(settings, pickle.HIGHEST_PROTOCOL)
        for options, label in combos:
            tree = pickle.loads(template)  # bytes made just above
            for path, option, parts, key in zip(steps, options, grid_parts, where, strict=True):
                if isinstance(option, dict | list):
                    option = _copy(option)  # noqa: PLW2901
                if path is None:  # not a way through the template: checked the long way
                    _set(tree, parts, option, trials_file, key)
                    continue
                try:
                    node = tree
                    for step in path[:-1]:
                        node = node[step]
                    node[path[-1]] = option
                except (KeyError, IndexError, TypeError):  # an earlier option changed the way
                    _set(tree, parts, option, trials_file, key)
            append(
                TrialSpec(
                    f"{trial_name}[{','.join(label)}]",
                    trial_id,
                    repeat,
                    tree,
                    len(out),
                    experiment,
                    origin,
                )
            )


RESERVED = "repeat"
"""A top-level setting that the trial run's config sets itself (the repeat index)."""


def _refuse_reserved(merged: Mapping[str, Any], origin: SettingsOrigin, name: str) -> None:
    if RESERVED not in merged and RESERVED not in origin.grid_keys:
        return
    file, key = origin.locate((RESERVED,))
    raise ConfigError(
        f"trial {name!r}: {RESERVED!r} is reserved at the top of the settings (each trial "
        f"run's config gets its repeat index there); expected another name, such as "
        f"'repeats' or 'pipeline.{RESERVED}'",
        file=file,
        key=key,
    )


def _require_grid_parent(
    merged: Mapping[str, Any],
    key: str,
    grid: Mapping[str, Any],
    origin: SettingsOrigin,
    name: str,
) -> None:
    """The mappings on the way to a grid key exist (a new leaf under one is fine): a typo
    in the path (``optimiser.lr`` for ``optimizer.lr``) would otherwise add a setting that
    nothing reads. A way that another grid key makes (``a`` then ``a.y``) is left to the
    expansion, which checks it option by option."""
    parts = key.split(".")
    for depth in range(1, len(parts)):
        if ".".join(parts[:depth]) in grid:
            return
    node: Any = merged
    for depth, part in enumerate(parts[:-1]):
        if isinstance(node, dict):
            if part not in node:
                level = ".".join(parts[:depth]) or "the top of the settings"
                known = ", ".join(sorted(map(str, node))) or "(none)"
                raise ConfigError(
                    f"trial {name!r}: the grid key {key!r} goes through "
                    f"{'.'.join(parts[: depth + 1])!r}, which the merged settings (base < "
                    f"experiment < trial) do not have; existing keys at {level}: {known}",
                    file=origin.trials_file,
                    key=f"{origin.trial_key}.grid.{key}",
                )
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return  # a scalar or short list on the way: the expansion says why


def _require_no_placeholder(
    merged: Mapping[str, Any],
    origin: SettingsOrigin,
    name: str,
    placeholders: tuple[KeyPath, ...] | None = None,
) -> None:
    found = placeholders if placeholders is not None else tuple(_placeholders(merged, ()))
    if not found:
        return
    file, key = origin.locate(found[0], filled=False)
    if origin.trials_file is None:
        where = f"the experiment has no {TRIALS_FILE} entry to give it values"
    else:
        where = f"trial {name!r} ({origin.trial_key} of {TRIALS_FILE}) has no 'values' list"
    raise ConfigError(
        f"the setting is the placeholder {PLACEHOLDER!r} but {where}; expected 'values: "
        f"[...]' on the trial, a grid option for it, or a concrete value here",
        file=file,
        key=key,
    )


# ---- plain-dict helpers -----------------------------------------------------------------


def _merge(low: Mapping[str, Any], high: Mapping[str, Any]) -> dict[str, Any]:
    """A new dict: ``high`` over ``low``, mappings merged key by key, anything else replaced.
    Leaves are shared with the inputs; callers copy before handing a tree out."""
    out = dict(low)
    for key, value in high.items():
        below = out.get(key)
        if isinstance(value, dict) and isinstance(below, dict):
            out[key] = _merge(below, value)
        else:
            out[key] = value
    return out


def _copy(value: Any) -> Any:
    """A deep copy of YAML data (dicts, lists, scalars): several times faster than
    ``copy.deepcopy``, which the 10,000-trial budget needs."""
    if isinstance(value, dict):
        return {k: _copy(v) if isinstance(v, dict | list) else v for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) if isinstance(v, dict | list) else v for v in value]
    return value


def _placeholders(value: Any, path: KeyPath) -> list[KeyPath]:
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _placeholders(v, (*path, k))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _placeholders(v, (*path, i))]
    return [path] if isinstance(value, str) and value == PLACEHOLDER else []


def _covers(parts: list[str], path: KeyPath) -> bool:
    """Whether setting the grid key ``parts`` overwrites the setting at ``path``."""
    return len(parts) <= len(path) and all(
        str(p) == part for p, part in zip(path, parts, strict=False)
    )


def _filled(settings: dict[str, Any], placeholders: tuple[KeyPath, ...], value: Any) -> Any:
    tree = _copy(settings)
    for path in placeholders:
        container = tree
        for part in path[:-1]:
            container = container[part]
        container[path[-1]] = _copy(value)
    return tree


def _prepare(tree: dict[str, Any], parts: list[str]) -> KeyPath | None:
    """The steps to the dotted key ``parts`` (list indices as ints), making the missing
    mappings on the way; ``None`` where the way is blocked (``_set`` then says why)."""
    node: Any = tree
    steps: list[str | int] = []
    for depth, part in enumerate(parts):
        if isinstance(node, dict):
            steps.append(part)
            if depth < len(parts) - 1:
                node = node.setdefault(part, {})
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            steps.append(int(part))
            node = node[int(part)]
        else:
            return None
    return tuple(steps)


def _set(tree: dict[str, Any], parts: list[str], value: Any, file: Path, key: str) -> None:
    """Sets the dotted key ``parts`` (a missing mapping on the way is created; a list item
    is addressed by its index)."""
    container: Any = tree
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        step: str | int
        if isinstance(container, dict):
            step = part
        elif isinstance(container, list) and part.isdigit() and int(part) < len(container):
            step = int(part)
        else:
            got = "a list without that index" if isinstance(container, list) else repr(container)
            raise ConfigError(
                f"cannot set the option: the setting {'.'.join(parts[:depth]) or '(top)'} is "
                f"{got}; expected a mapping on the way to {'.'.join(parts)}",
                file=file,
                key=key,
            )
        if last:
            container[step] = value
        elif isinstance(container, dict):
            container = container.setdefault(part, {})
        else:
            container = container[step]


def _label(value: Any) -> str:
    """How a value or option shows in a trial name: YAML-like scalars, compact JSON else."""
    if isinstance(value, str):
        return value
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)


def _dotted(path: KeyPath) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


_KEY_PART = re.compile(r"\[(\d+)\]|([^.\[\]]+)")


def _parse_key(full_key: str) -> KeyPath:
    """omegaconf's ``full_key`` (``a.b[0].c``) as a key path."""
    return tuple(int(index) if index else name for index, name in _KEY_PART.findall(full_key))


def _has(tree: Any, path: KeyPath) -> bool:
    node = tree
    for part in path:
        in_dict = isinstance(node, dict) and isinstance(part, str) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and part < len(node)
        if not (in_dict or in_list):
            return False
        node = node[part]
    return True


def _get(tree: Any, path: KeyPath) -> Any:
    node = tree
    for part in path:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return None
    return node
