"""Backend configs from YAML: one or several documents, each with its ``backend_type``.

The config class of a ``backend_type`` is the built-in one (``configs.BUILTIN``) or the
``config_class`` of the backend registered under that name (entry-point group
``ferrotrack.run``), so a third-party backend's configs load the same way. A relative
``work_dir`` in a file is relative to that file's folder, as in a model file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from ferrotrack.core.errors import InvalidArgumentError
from ferrotrack.core.plugins.execution import execution_plugin_names, load_execution_plugin
from ferrotrack.run.configs import builtin_config_class
from ferrotrack.run.configs.base import config_error
from ferrotrack.run.errors import BackendConfigError
from ferrotrack.run.model import relative_to_file
from ferrotrack.run.yaml_scalars import load_yaml_documents

__all__ = ["backend_names", "config_class_for", "load_backend_configs", "parse_backend_config"]


def backend_names() -> list[str]:
    """The run backends installed (entry-point names), sorted."""
    return execution_plugin_names("run")


def config_class_for(backend_type: str) -> type[BaseModel]:
    """The config model of ``backend_type`` (:class:`BackendConfigError` listing the
    installed backends when there is none)."""
    found = builtin_config_class(backend_type)
    if found is not None:
        return found
    try:
        backend = load_execution_plugin("run", backend_type)
    except InvalidArgumentError:
        raise BackendConfigError(
            f"unknown backend_type {backend_type!r}; installed run backends: "
            f"{', '.join(backend_names()) or 'none'}"
        ) from None
    model = getattr(backend, "config_class", None)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise BackendConfigError(
            f"backend {backend_type!r} ({backend.__module__}) declares no config_class"
        )
    return model


def parse_backend_config(data: Any, where: str = "") -> BaseModel:
    """One config from a mapping with ``backend_type``."""
    place = f"{where}: " if where else ""
    if not isinstance(data, dict):
        raise BackendConfigError(
            f"{place}expected a mapping with backend_type, got {type(data).__name__}"
        )
    kind = data.get("backend_type")
    if not isinstance(kind, str):
        raise BackendConfigError(
            f"{place}missing backend_type (expected one of: {', '.join(backend_names())})"
        )
    model = config_class_for(kind)
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise config_error(kind, err, where) from None


def load_backend_configs(path: str | os.PathLike[str]) -> list[BaseModel]:
    """Every config in a YAML file (documents separated by ``---``), in order; a relative
    ``work_dir`` is joined to the file's folder."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as exc:
        raise BackendConfigError(f"cannot read backend config {source}: {exc.strerror}") from None
    try:
        documents = load_yaml_documents(text)
    except yaml.YAMLError as exc:
        raise BackendConfigError(f"{source} is not valid YAML: {exc}") from None
    if not documents:
        raise BackendConfigError(f"{source} holds no backend config")
    for doc in documents:
        work_dir = doc.get("work_dir") if isinstance(doc, dict) else None
        if isinstance(work_dir, str) and work_dir:
            doc["work_dir"] = relative_to_file(work_dir, source)
    return [
        parse_backend_config(
            doc, f"{source} (document {index + 1})" if len(documents) > 1 else str(source)
        )
        for index, doc in enumerate(documents)
    ]
