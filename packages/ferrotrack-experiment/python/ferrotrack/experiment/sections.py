"""A config section (``DictConfig``, mapping or ``None``) in the form its user takes it.

Callbacks and backend trackers take the fields of their section as plain keyword data;
environments and tracker factories keep a ``DictConfig``. omegaconf is imported on first
use, so importing a callback module stays cheap.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ferrotrack.experiment.errors import ConfigError

if TYPE_CHECKING:
    from omegaconf import DictConfig

__all__ = ["as_dictconfig", "section_fields"]


def section_fields(config: Any, expected: str) -> dict[str, Any]:
    """``config`` as a plain dict without its ``type`` key (``{}`` for ``None``); anything
    but a mapping is a ``ConfigError`` saying ``"{expected}, got <its type>"``."""
    if config is None:
        return {}
    from omegaconf import DictConfig, OmegaConf

    if isinstance(config, DictConfig):
        plain = OmegaConf.to_container(config, resolve=True)
    elif isinstance(config, Mapping):
        plain = dict(config)
    else:
        raise ConfigError(f"{expected}, got {type(config).__name__}")
    assert isinstance(plain, dict)
    return {str(k): v for k, v in plain.items() if k != "type"}


def as_dictconfig(config: DictConfig | Mapping[str, Any] | None) -> DictConfig:
    """``config`` itself when it is a ``DictConfig``, else a new one (empty for ``None``)."""
    from omegaconf import DictConfig, OmegaConf

    if isinstance(config, DictConfig):
        return config
    created = OmegaConf.create(dict(config) if config is not None else {})
    assert isinstance(created, DictConfig)
    return created
