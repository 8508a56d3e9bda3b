"""Reading an experiment's config directory: the four YAML files, checked before anything runs.

Every problem is a :class:`~ferrotrack.experiment.errors.ConfigError` naming the file, the
key path (``trials[2].repeat``) and what was expected, so that a typo is fixed from the
message alone. The files are read with PyYAML's safe loader (which gives the line of a syntax
error) into plain dicts; omegaconf only comes in when a trial run's config is built.
"""

from __future__ import annotations

import datetime
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ferrotrack.experiment.errors import ConfigError

__all__ = [
    "BASE_FILE",
    "ENV_FILE",
    "EXPERIMENT_FILE",
    "TRIALS_FILE",
    "ConfigDir",
    "load_config_dir",
]

ENV_FILE = "env.yaml"
EXPERIMENT_FILE = "experiment.yaml"
BASE_FILE = "base.yaml"
TRIALS_FILE = "trials.yaml"

ON_ERROR_CHOICES = ("continue", "raise")
ENV_KEYS = (
    "workspace",
    "root",
    "verbose",
    "debug",
    "on_error",
    "trackers",
    "executor",
    "max_concurrency",
)
EXPERIMENT_KEYS = ("name", "id", "desc", "settings")
BASE_KEYS = ("settings",)
TRIAL_KEYS = ("name", "id", "repeat", "settings", "values", "grid")


@dataclass(frozen=True)
class ConfigDir:
    """The validated contents of a config directory, defaults filled in.

    ``env``: workspace and root as absolute paths (``str``; relative ones are taken from the
    config directory; root ``None`` means ferrotrack's settings decide), verbose, debug,
    on_error, trackers (a list of ``{type, ...}``), executor (a run backend name, a
    ``{type, ...}`` mapping, or ``None``) and max_concurrency (``None`` or an int ≥ 1).
    ``experiment``: name, id, desc, settings.
    ``base``: settings. ``trials``: one dict per entry of ``trials.yaml`` with name, id,
    repeat, settings, values (``None`` or a list) and grid (a dict, maybe empty)."""

    path: Path
    env: dict[str, Any]
    experiment: dict[str, Any]
    base: dict[str, Any]
    trials: list[dict[str, Any]]

    def file(self, name: str) -> Path:
        """The path of one of the directory's files (``trials.yaml``...), for messages."""
        return self.path / name


def load_config_dir(path: str | Path) -> ConfigDir:
    """Reads and validates ``env.yaml``, ``experiment.yaml`` (required), ``base.yaml`` and
    ``trials.yaml`` under ``path``; raises ConfigError on the first problem found."""
    folder = Path(path).expanduser().resolve()
    if not folder.is_dir():
        what = "does not exist" if not folder.exists() else "is not a directory"
        raise ConfigError(
            f"the config directory {what}; expected a folder holding {EXPERIMENT_FILE}",
            file=folder,
        )
    experiment_file = folder / EXPERIMENT_FILE
    if not experiment_file.is_file():
        near = sorted(p.name for p in folder.iterdir() if p.suffix in (".yaml", ".yml"))
        hint = f"; found: {', '.join(near)}" if near else "; the folder has no YAML file"
        raise ConfigError(
            f"missing {EXPERIMENT_FILE}, which is required (keys: name, and optionally id, "
            f"desc, settings){hint}",
            file=experiment_file,
        )
    env = _check_env(folder, _read(folder / ENV_FILE, {}))
    experiment = _check_experiment(folder / EXPERIMENT_FILE, _read(experiment_file, None))
    base = _check_base(folder / BASE_FILE, _read(folder / BASE_FILE, {}))
    trials = _check_trials(folder / TRIALS_FILE, _read(folder / TRIALS_FILE, []))
    return ConfigDir(folder, env, experiment, base, trials)


# ---- reading ----------------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """The safe loader, refusing a key given twice in one mapping (PyYAML keeps the last),
    and reading numbers as YAML 1.2 does (as omegaconf does): ``1e-5`` is a float there,
    a string under PyYAML's YAML 1.1 rules."""


_MERGE_TAG = "tag:yaml.org,2002:merge"

# YAML 1.2 floats that YAML 1.1 spells only with a dot: 1e5, 1E-5, .5, +1.0e+3. Added after
# PyYAML's own resolvers, so what they already read (ints, 1.5, .inf, .nan) is unchanged.
_FLOAT_12 = re.compile(
    r"""^[-+]?(?:
        [0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?
      | [0-9][0-9_]*[eE][-+]?[0-9]+
      | \.[0-9][0-9_]*(?:[eE][-+]?[0-9]+)?
    )$""",
    re.X,
)
_Loader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT_12, list("-+0123456789."))


def _construct_mapping(loader: _Loader, node: yaml.MappingNode, deep: bool = False) -> Any:
    """A mapping whose explicit keys are all different. A merge key (``<<: *anchor``) is
    left to PyYAML: the keys it brings may be overridden by explicit ones, as YAML says."""
    seen: dict[Any, yaml.Node] = {}
    for key_node, _ in node.value:
        if key_node.tag == _MERGE_TAG:
            continue
        key = loader.construct_object(key_node, deep=True)
        try:
            first = seen.get(key)
        except TypeError:  # an unhashable key; the base constructor reports it
            continue
        if first is not None:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"key {key!r} given twice in one mapping (first at line "
                f"{first.start_mark.line + 1})",
                key_node.start_mark,
            )
        seen[key] = key_node
    return loader.construct_mapping(node, deep=deep)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _read(file: Path, default: Any) -> Any:
    """The YAML document of ``file``; ``default`` when the file is absent (``None``: it must
    exist) or empty."""
    if not file.exists():
        return default
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the file: {exc}", file=file) from exc
    try:
        data = yaml.load(text, Loader=_Loader)  # a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown line"
        problem = exc.problem or exc.context or "invalid YAML"
        if exc.problem and exc.context and exc.context_mark:  # where the broken part began
            problem += f" ({exc.context} at line {exc.context_mark.line + 1})"
        raise ConfigError(f"malformed YAML at {where}: {problem}", file=file) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"malformed YAML: {exc}", file=file) from exc
    return default if data is None and default is not None else data


# ---- checking ---------------------------------------------------------------------------


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a mapping",
    }.get(type(value), type(value).__name__)


def _wrong(file: Path, key: str, expected: str, value: Any) -> ConfigError:
    got = _type_name(value)
    if not isinstance(value, dict | list) and value is not None:
        got = f"{value!r} ({got})"
    return ConfigError(f"expected {expected}, got {got}", file=file, key=key)


def _mapping(file: Path, key: str, value: Any, allowed: tuple[str, ...] | None) -> dict[str, Any]:
    """``value`` as a dict with string keys, only ``allowed`` ones when given."""
    if not isinstance(value, dict):
        raise _wrong(file, key or "(top level)", "a mapping", value)
    _check_keys(file, key, value)
    if allowed is not None:
        unknown = [k for k in value if k not in allowed]
        if unknown:
            at = f"{key}.{unknown[0]}" if key else str(unknown[0])
            raise ConfigError(
                f"unknown key {unknown[0]!r}; allowed keys: {', '.join(allowed)}",
                file=file,
                key=at,
            )
    return value


def _check_keys(file: Path, key: str, value: dict[Any, Any]) -> None:
    for k in value:
        if not isinstance(k, str):
            hint = (
                " (YAML reads yes/no/on/off/true/false as booleans; quote the key)"
                if isinstance(k, bool)
                else "; quote it"
            )
            raise ConfigError(
                f"key {k!r} is {_type_name(k)}, expected a string{hint}",
                file=file,
                key=key or "(top level)",
            )


def _settings(file: Path, key: str, value: Any) -> dict[str, Any]:
    """A settings tree: mappings with string keys, lists and scalars omegaconf can hold."""
    if value is None:
        return {}
    tree = _mapping(file, key, value, None)
    _check_tree(file, key, tree)
    return tree


def _check_tree(file: Path, key: str, value: Any) -> None:
    if isinstance(value, dict):
        _check_keys(file, key, value)
        for k, v in value.items():
            _check_tree(file, f"{key}.{k}", v)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_tree(file, f"{key}[{i}]", v)
    elif isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(
            f"got {value!r}: NaN/infinity cannot be stored as a param; quote it if you mean "
            "the string",
            file=file,
            key=key,
        )
    elif isinstance(value, datetime.date | bytes):
        raise ConfigError(
            f"{_type_name(value)} value {value!r} is not supported in settings; "
            "expected a string, number, boolean, null, list or mapping (quote it)",
            file=file,
            key=key,
        )


def _optional(
    file: Path, data: Mapping[str, Any], key: str, check: Callable[[Any], bool], expected: str
) -> None:
    if key in data and not check(data[key]):
        raise _wrong(file, key, expected, data[key])


def _is_bool(v: Any) -> bool:
    return isinstance(v, bool)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_id(v: Any) -> bool:
    return v is None or _is_int(v) or isinstance(v, str)


def _is_text(v: Any) -> bool:
    return isinstance(v, str) and bool(v.strip())


def _check_env(folder: Path, data: Any) -> dict[str, Any]:
    file = folder / ENV_FILE
    env = _mapping(file, "", data, ENV_KEYS)
    _optional(file, env, "workspace", _is_text, "a non-empty path string")
    _optional(file, env, "root", lambda v: v is None or _is_text(v), "a path string or null")
    _optional(file, env, "verbose", _is_bool, "true or false")
    _optional(file, env, "debug", _is_bool, "true or false")
    _optional(file, env, "on_error", lambda v: v in ON_ERROR_CHOICES, "'continue' or 'raise'")
    trackers = env.get("trackers")
    if trackers is None:
        trackers = []
    if not isinstance(trackers, list):
        raise _wrong(file, "trackers", "a list of {type: <name>, ...} mappings", trackers)
    for i, tracker in enumerate(trackers):
        at = f"trackers[{i}]"
        section = _settings(file, at, tracker)
        if not _is_text(section.get("type")):
            raise _wrong(file, f"{at}.type", "a tracker or backend name", section.get("type"))
    executor = env.get("executor")
    if isinstance(executor, dict):
        _settings(file, "executor", executor)
        if not _is_text(executor.get("type")):
            raise _wrong(file, "executor.type", "a run backend name", executor.get("type"))
    elif executor is not None and not _is_text(executor):
        raise _wrong(file, "executor", "a run backend name or {type: <name>, ...}", executor)
    _optional(
        file,
        env,
        "max_concurrency",
        lambda v: v is None or (_is_int(v) and v >= 1),
        "an integer ≥ 1",
    )
    if env.get("max_concurrency") is not None and executor is None:
        raise ConfigError(
            "max_concurrency applies to an executor; expected 'executor: <run backend>' too",
            file=file,
            key="max_concurrency",
        )
    root = env.get("root")
    return {
        "workspace": str(folder / Path(env.get("workspace", "workspace")).expanduser()),
        "root": None if root is None else str(folder / Path(root).expanduser()),
        "verbose": env.get("verbose", False),
        "debug": env.get("debug", False),
        "on_error": env.get("on_error", "continue"),
        "trackers": trackers,
        "executor": executor,
        "max_concurrency": env.get("max_concurrency"),
    }


def _check_experiment(file: Path, data: Any) -> dict[str, Any]:
    if data is None:
        raise ConfigError(
            "the file is empty; expected at least 'name: <experiment name>'", file=file, key="name"
        )
    experiment = _mapping(file, "", data, EXPERIMENT_KEYS)
    if "name" not in experiment:
        raise ConfigError(
            "missing the experiment's name (a non-empty string)", file=file, key="name"
        )
    _optional(file, experiment, "name", _is_text, "a non-empty string")
    _optional(file, experiment, "id", _is_id, "an integer or a string")
    _optional(file, experiment, "desc", lambda v: v is None or isinstance(v, str), "a string")
    return {
        "name": experiment["name"],
        "id": experiment.get("id"),
        "desc": experiment.get("desc") or "",
        "settings": _settings(file, "settings", experiment.get("settings")),
    }


def _check_base(file: Path, data: Any) -> dict[str, Any]:
    base = _mapping(file, "", data, BASE_KEYS)
    return {"settings": _settings(file, "settings", base.get("settings"))}


def _check_trials(file: Path, data: Any) -> list[dict[str, Any]]:
    if not isinstance(data, list):
        raise _wrong(file, "(top level)", "a list of trials ({name, repeat, settings...})", data)
    trials: list[dict[str, Any]] = []
    first_index: dict[str, int] = {}
    for i, entry in enumerate(data):
        trial = _check_trial(file, f"trials[{i}]", entry)
        name = trial["name"]
        if name in first_index:
            raise ConfigError(
                f"duplicate trial name {name!r} (first used by trials[{first_index[name]}]); "
                "expected every trial name to be unique",
                file=file,
                key=f"trials[{i}].name",
            )
        first_index[name] = i
        trials.append(trial)
    return trials


def _check_trial(file: Path, at: str, entry: Any) -> dict[str, Any]:
    trial = _mapping(file, at, entry, TRIAL_KEYS)
    name = trial.get("name")
    if not _is_text(name):
        raise _wrong(file, f"{at}.name", "a non-empty string (every trial needs a name)", name)
    repeat = trial.get("repeat", 1)
    if not _is_int(repeat) or repeat < 1:
        raise _wrong(file, f"{at}.repeat", "an integer ≥ 1", repeat)
    if not _is_id(trial.get("id")):
        raise _wrong(file, f"{at}.id", "an integer or a string", trial.get("id"))
    values = trial.get("values")
    if values is not None:
        if not isinstance(values, list) or not values:
            raise _wrong(file, f"{at}.values", "a non-empty list of values for '?'", values)
        _check_tree(file, f"{at}.values", values)
        _refuse_placeholder(file, f"{at}.values", values)
    grid = trial.get("grid")
    if grid is None:
        grid = {}
    _mapping(file, f"{at}.grid", grid, None)
    for key, options in grid.items():
        if not key or any(not part for part in key.split(".")):
            raise ConfigError(
                "expected a dotted settings path such as 'model.lr'", file=file, key=f"{at}.grid"
            )
        if not isinstance(options, list) or not options:
            raise _wrong(file, f"{at}.grid.{key}", "a non-empty list of options", options)
        _check_tree(file, f"{at}.grid.{key}", options)
        _refuse_placeholder(file, f"{at}.grid.{key}", options)
    return {
        "name": name,
        "id": trial.get("id"),
        "repeat": repeat,
        "settings": _settings(file, f"{at}.settings", trial.get("settings")),
        "values": values,
        "grid": grid,
    }


def _refuse_placeholder(file: Path, key: str, value: Any) -> None:
    """A value or grid option must be concrete: a ``"?"`` in it would never be filled."""
    if isinstance(value, dict):
        for k, v in value.items():
            _refuse_placeholder(file, f"{key}.{k}", v)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _refuse_placeholder(file, f"{key}[{i}]", v)
    elif value == "?":
        raise ConfigError(
            "the placeholder '?' cannot be a value or grid option (nothing would fill it); "
            "expected a concrete value",
            file=file,
            key=key,
        )
