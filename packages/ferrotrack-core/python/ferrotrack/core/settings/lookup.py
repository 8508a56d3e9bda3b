"""The one settings lookup that tracking and every reader use: light (no pydantic) and cheap.

Precedence, per key: an explicit argument, then a ``FERROTRACK_*`` environment variable, then
the nearest settings file, then the default. The settings file is the nearest
``ferrotrack.toml`` (its top-level keys) or ``pyproject.toml`` with a ``[tool.ferrotrack]``
table, searched from the working directory upward.

Paths: a relative ``root`` in a settings file is relative to the file's folder, so every
script of a project writes to (and reads from) one store wherever it is started; a relative
``root=`` or ``FERROTRACK_ROOT`` is relative to the working directory. ``~`` is expanded in
both the file and the variable.

Each call walks the folders (two ``stat`` calls per level) so a file created or edited since
the last call is seen; a file is parsed again only when its mtime or size changed.
"""

from __future__ import annotations

import math
import os
import stat
from pathlib import Path
from typing import Any, Literal, NamedTuple

from ferrotrack.core.errors import InvalidArgumentError

__all__ = [
    "DEFAULT_ROOT",
    "DURABILITIES",
    "PLUGIN_LISTS",
    "Durability",
    "SettingsFile",
    "TrackingDefaults",
    "file_settings",
    "find_settings_file",
    "lookup_root",
    "root_and_source",
    "tracking_defaults",
]

Durability = Literal["none", "on_close", "every_flush"]
DURABILITIES: tuple[Durability, ...] = ("none", "on_close", "every_flush")
DEFAULT_ROOT = "ferrotrack-runs"
"""The store folder used when no argument, variable or settings file names one."""
DEFAULT_FLUSH_INTERVAL = 1.0
DEFAULT_DURABILITY: Durability = "on_close"
PLUGIN_LISTS = ("backends", "collectors", "frameworks", "processors")
"""Settings keys that select plugins by name (env: ``FERROTRACK_BACKENDS=a,b``...)."""

ENV_PREFIX = "FERROTRACK_"


class SettingsFile(NamedTuple):
    """A settings file and its ferrotrack table (``[tool.ferrotrack]`` for a pyproject)."""

    path: Path
    table: dict[str, Any]

    @property
    def label(self) -> str:
        """How error messages name the table: ``/p/pyproject.toml [tool.ferrotrack]``."""
        if self.path.name == "pyproject.toml":
            return f"{self.path} [tool.ferrotrack]"
        return str(self.path)


class TrackingDefaults(NamedTuple):
    """What a run needs before it starts, resolved by :func:`tracking_defaults`."""

    root: Path
    flush_interval: float
    durability: Durability
    backends: tuple[str, ...] = ()
    collectors: tuple[str, ...] = ()
    frameworks: tuple[str, ...] = ()
    processors: tuple[str, ...] = ()
    settings_file: Path | None = None

    @property
    def plugins_configured(self) -> bool:
        """Whether the settings select any plugin (only then is pydantic worth loading)."""
        return bool(self.backends or self.collectors or self.frameworks or self.processors)


# path -> ((mtime_ns, size), table or None)
_parsed: dict[str, tuple[tuple[int, int], dict[str, Any] | None]] = {}


def _file_key(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    return st.st_mtime_ns, st.st_size


def _read_table(path: str, key: tuple[int, int], pyproject: bool) -> dict[str, Any] | None:
    hit = _parsed.get(path)
    if hit is not None and hit[0] == key:
        return hit[1]
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None
    table: dict[str, Any] | None = None
    if not pyproject or b"ferrotrack" in data:  # most pyproject files are never parsed
        import tomllib

        try:
            doc = tomllib.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise InvalidArgumentError(
                f"settings file {path}: expected valid TOML ({exc})"
            ) from None
        if pyproject:
            tool = doc.get("tool")
            found = tool.get("ferrotrack") if isinstance(tool, dict) else None
            if found is not None and not isinstance(found, dict):
                raise InvalidArgumentError(
                    f"{path}: tool.ferrotrack: expected a table, got {type(found).__name__}"
                )
            table = found
        else:
            table = doc
    _parsed[path] = (key, table)
    return table


def find_settings_file(start: str | os.PathLike[str] | None = None) -> SettingsFile | None:
    """The nearest settings file from ``start`` (default: the working directory) upward."""
    folder = os.path.abspath(start if start is not None else os.getcwd())
    while True:
        for name, pyproject in (("ferrotrack.toml", False), ("pyproject.toml", True)):
            path = os.path.join(folder, name)
            key = _file_key(path)
            if key is not None:
                table = _read_table(path, key, pyproject)
                if table is not None:
                    return SettingsFile(Path(path), table)
        parent = os.path.dirname(folder)
        if parent == folder:
            return None
        folder = parent


def file_settings(
    start: str | os.PathLike[str] | None = None,
) -> tuple[SettingsFile | None, dict[str, Any]]:
    """The nearest settings file and its table with ``-`` in keys read as ``_`` and a
    relative ``root`` made relative to the file's folder (what pydantic settings read)."""
    found = find_settings_file(start)
    if found is None:
        return None, {}
    table = {str(k).replace("-", "_"): v for k, v in found.table.items()}
    if "root" in table:
        table["root"] = _root(table["root"], f"{found.label}: key 'root'", found.path.parent)
    return found, table


def _bad(where: str, expected: str, value: object) -> InvalidArgumentError:
    return InvalidArgumentError(f"{where}: expected {expected}, got {value!r}")


def _root(value: object, where: str, base: Path | None) -> Path:
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str) or not value.strip() or "\0" in value:
        raise _bad(where, "a folder path (a non-empty str)", value)
    path = Path(os.path.expanduser(value))
    return base / path if base is not None and not path.is_absolute() else path


def _flush_interval(value: object, where: str) -> float:
    number: object = value
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise _bad(where, "seconds > 0 (a number)", value) from None
    if (
        isinstance(number, bool)
        or not isinstance(number, int | float)
        or not math.isfinite(number)
        or number <= 0
    ):
        raise _bad(where, "seconds > 0 (a number)", value)
    return float(number)


def _durability(value: object, where: str) -> Durability:
    text = value.strip() if isinstance(value, str) else value
    for choice in DURABILITIES:
        if text == choice:
            return choice
    raise _bad(where, "one of " + ", ".join(repr(d) for d in DURABILITIES), value)


def _names(value: object, where: str) -> tuple[str, ...]:
    items: object = value
    if isinstance(value, str):
        text = value.strip()
        if not text.startswith("["):
            return tuple(part.strip() for part in text.split(",") if part.strip())
        import json

        try:
            items = json.loads(text)
        except ValueError:
            raise _bad(where, "plugin names as 'a,b' or a JSON list", value) from None
    if isinstance(items, list | tuple) and all(isinstance(i, str) and i.strip() for i in items):
        return tuple(i.strip() for i in items)
    raise _bad(where, "a list of plugin names (or 'a,b')", value)


def lookup_root(root: str | os.PathLike[str] | None = None) -> Path:
    """The store root: ``root``, else ``$FERROTRACK_ROOT``, else the settings file's
    ``root``, else ``./ferrotrack-runs``. Reads nothing else, so a bad value elsewhere in
    the settings never stops a reader."""
    return root_and_source(root)[0]


def root_and_source(
    root: str | os.PathLike[str] | None = None, *, given_as: str = "root"
) -> tuple[Path, str]:
    """:func:`lookup_root` and where the root came from, for messages: ``given_as`` (how
    the caller names its argument, e.g. ``--root``), ``FERROTRACK_ROOT``, the settings
    file's key, or ``the default``."""
    if root is not None:
        return _root(root, given_as, None), given_as
    env = os.environ.get(ENV_PREFIX + "ROOT")
    if env:
        return _root(env, ENV_PREFIX + "ROOT", None), ENV_PREFIX + "ROOT"
    found = find_settings_file()
    if found is not None and "root" in found.table:
        where = f"{found.label}: key 'root'"
        return _root(found.table["root"], where, found.path.parent), where
    return Path(DEFAULT_ROOT), "the default"


def tracking_defaults(
    *,
    root: str | os.PathLike[str] | None = None,
    flush_interval: float | None = None,
    durability: str | None = None,
) -> TrackingDefaults:
    """What tracking needs, each key from the argument, else ``FERROTRACK_<KEY>``, else the
    nearest settings file, else its default. Raises :class:`InvalidArgumentError` naming the
    argument, variable or file key whose value is bad, and what was expected."""
    found, table = file_settings()
    label = found.label if found is not None else ""
    env = os.environ

    def pick(key: str) -> tuple[object, str] | None:
        env_name = ENV_PREFIX + key.upper()
        if env_name in env and (env[env_name] or key in PLUGIN_LISTS):
            return env[env_name], env_name
        if key in table:
            return table[key], f"{label}: key {key!r}"
        return None

    env_root = env.get(ENV_PREFIX + "ROOT")
    if root is not None:
        resolved_root = _root(root, "root", None)
    elif env_root:
        resolved_root = _root(env_root, ENV_PREFIX + "ROOT", None)
    else:
        resolved_root = table.get("root") or Path(DEFAULT_ROOT)  # file_settings resolved it
    if flush_interval is not None:
        interval = _flush_interval(flush_interval, "flush_interval")
    else:
        got = pick("flush_interval")
        interval = _flush_interval(*got) if got else DEFAULT_FLUSH_INTERVAL
    if durability is not None:
        policy = _durability(durability, "durability")
    else:
        got = pick("durability")
        policy = _durability(*got) if got else DEFAULT_DURABILITY
    lists: dict[str, tuple[str, ...]] = {}
    for key in PLUGIN_LISTS:
        got = pick(key)
        lists[key] = _names(*got) if got else ()
    return TrackingDefaults(
        root=resolved_root,
        flush_interval=interval,
        durability=policy,
        backends=lists["backends"],
        collectors=lists["collectors"],
        frameworks=lists["frameworks"],
        processors=lists["processors"],
        settings_file=found.path if found is not None else None,
    )
