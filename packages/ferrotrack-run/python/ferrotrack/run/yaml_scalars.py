"""One way to read YAML in ``ferrotrack.run``: model files, backend configs, ``--set`` and
sweep specs all read ``1e-3`` as the same float and a date as the same string.

PyYAML follows YAML 1.1, where ``1e-3`` (no dot) is a *string* while ``1.0e-3`` is a float;
YAML 1.2 and every user read both as floats. And a YAML date (``start: 2024-01-01``) would
load as a ``datetime.date``, which a run's params cannot hold (they are JSON): it is kept
as its ISO text instead.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping
from typing import Any

import yaml

__all__ = ["ScalarLoader", "env_strings", "load_yaml", "load_yaml_documents", "parse_scalar"]


class ScalarLoader(yaml.SafeLoader):
    """PyYAML's safe loader reading ``1e-3``, ``1E5`` and ``.5`` as floats (as YAML 1.2
    does) and timestamps as their ISO text (``2024-01-01``, ``2024-01-01T10:00:00``)."""


_YAML12_FLOAT = re.compile(
    r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+|\.[0-9][0-9_]*(?:[eE][-+]?[0-9]+)?)$"
)
ScalarLoader.add_implicit_resolver("tag:yaml.org,2002:float", _YAML12_FLOAT, list("-+0123456789."))


def _timestamp_as_text(loader: yaml.SafeLoader, node: yaml.Node) -> str:
    value = yaml.SafeLoader.construct_yaml_timestamp(loader, node)  # type: ignore[arg-type]
    if isinstance(value, datetime.date):
        return value.isoformat()
    return str(value)


ScalarLoader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_as_text)


def load_yaml(text: str) -> Any:
    """One YAML document (:class:`yaml.YAMLError` when it is not valid)."""
    return yaml.load(text, Loader=ScalarLoader)  # a SafeLoader subclass


def load_yaml_documents(text: str) -> list[Any]:
    """Every document of a ``---``-separated YAML text, empty ones left out."""
    loaded = yaml.load_all(text, Loader=ScalarLoader)  # a SafeLoader subclass
    return [doc for doc in loaded if doc is not None]


def parse_scalar(text: str) -> Any:
    """One value as YAML reads it: ``3`` an int, ``1e-3`` a float, ``true`` a bool,
    ``adam`` a string, ``null`` None, ``'1'`` the string ``1``; text that is not a plain
    scalar (``[1, 2]``, ``a: b``) stays the text given."""
    stripped = text.strip()
    if not stripped:
        return ""
    try:
        value = load_yaml(stripped)
    except yaml.YAMLError:
        return stripped
    if isinstance(value, dict | list | bytes):  # not a plain scalar
        return stripped
    return value


def env_strings(value: Any) -> Any:
    """Environment variable values from YAML: numbers and booleans become the text a
    shell expects (``4`` -> ``"4"``, ``true`` -> ``"true"``); anything else is left for
    the model's own check to refuse."""
    if not isinstance(value, Mapping):
        return value
    out: dict[Any, Any] = {}
    for key, item in value.items():
        if isinstance(item, bool):
            out[key] = "true" if item else "false"
        elif isinstance(item, int | float):
            out[key] = str(item)
        else:
            out[key] = item
    return out
