"""Settings: code arguments over ``FERROTRACK_*`` environment variables over a file.

The file is the nearest ``ferrotrack.toml`` (top-level keys) or ``pyproject.toml`` with a
``[tool.ferrotrack]`` table, searched from the working directory upward. Plugin configs are
plain tables keyed by plugin name; values under secret-looking keys (``api_key``, ``token``,
``password``...) become :class:`pydantic.SecretStr`, so they print as ``**********`` and
:meth:`FerrotrackSettings.safe_dump` (what goes into ``run.json``) never holds them.

>>> FerrotrackSettings(backends=["jsonl"], flush_interval=2.0).flush_interval  # doctest: +SKIP
2.0
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, Field, PrivateAttr, SecretStr, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from ferrotrack.core.errors import InvalidArgumentError
from ferrotrack.core.settings.lookup import file_settings, tracking_defaults

__all__ = ["SECRET_KEY", "FerrotrackSettings", "OrchestratorSettings", "RouteRule"]

SECRET_KEY = re.compile(r"(?i)(secret|token|password|passwd|api_?key|credential|private_?key)")
"""Config keys whose values are treated as secrets."""

_MASK = "**********"


class RouteRule(BaseModel):
    """Which metric names a backend receives (globs; ``*`` also matches ``/``)."""

    include: list[str] = Field(default_factory=lambda: ["*"])
    exclude: list[str] = Field(default_factory=list)


class OrchestratorSettings(BaseModel):
    """Delivery to backends; see :class:`ferrotrack.core.orchestrator.OrchestratorOptions`."""

    max_pending_rows: int = Field(default=1_000_000, ge=1)
    max_batch_rows: int = Field(default=65_536, ge=1)
    max_failures: int = Field(default=5, ge=1)
    backoff_initial: float = Field(default=0.1, gt=0)
    backoff_max: float = Field(default=30.0, gt=0)
    drain_timeout: float = Field(default=30.0, ge=0)
    delivery_share: float = Field(default=0.05, gt=0, le=1)
    """Share of wall time the backends of a process together spend delivering while the
    run logs (1: no limit): the loop keeps its speed, the mirror lags meanwhile."""
    quiet_after: float | None = Field(default=None, gt=0)
    """Seconds without a flushed batch after which delivery goes full speed (default: two
    flush intervals, at least 0.5 s)."""


def _wrap_secrets(value: Any, key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: _wrap_secrets(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_wrap_secrets(v, key) for v in value]
    if isinstance(value, str) and SECRET_KEY.search(key):
        return SecretStr(value)
    return value


def _unwrap_secrets(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _unwrap_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unwrap_secrets(v) for v in value]
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    return value


def _secret_values(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in _secret_values(v)]
    if isinstance(value, list):
        return [s for v in value for s in _secret_values(v)]
    if isinstance(value, SecretStr):
        return [value.get_secret_value()]
    return []


class _FileSource(PydanticBaseSettingsSource):
    """The settings file as a pydantic-settings source (lowest precedence); the same lookup
    as :func:`ferrotrack.core.settings.tracking_defaults`, so both agree on every key."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        _, table = file_settings()
        return table.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        _, table = file_settings()
        names = set(self.settings_cls.model_fields)
        return {k: v for k, v in table.items() if k in names}


def _split_names(value: Any) -> Any:
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


def _one_line(exc: ValidationError) -> str:
    """A pydantic error as ``where: what`` items on one line."""
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"]) or "value"
        parts.append(f"{where}: {error['msg']} (got {error.get('input')!r})")
    return "; ".join(parts)


_KINDS = ("backend", "collector", "framework", "processor", "run", "postprocess", "pipeline")
"""Plugin kinds (the values of :class:`~ferrotrack.core.plugins.PluginType`), each with a
``<kind>_configs`` table of per-plugin configs."""

_SECTION_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")

M = TypeVar("M", bound=BaseModel)


def _env_section(prefix: str) -> dict[str, Any]:
    """``FERROTRACK_UI__PORT=1`` and ``FERROTRACK_UI__AUTH__TOKEN=x`` as a nested dict
    (keys lower-cased; a value that looks like JSON is parsed)."""
    out: dict[str, Any] = {}
    for key, raw in os.environ.items():
        if not key.upper().startswith(prefix) or len(key) == len(prefix):
            continue
        path = [part.lower() for part in key[len(prefix) :].split("__")]
        if not all(path):
            continue
        value: Any = raw
        if raw.strip()[:1] in ("[", "{"):
            with contextlib.suppress(ValueError):
                value = json.loads(raw)
        node = out
        for part in path[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[path[-1]] = value
    return out


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` on ``base``, table by table."""
    out = dict(base)
    for key, value in over.items():
        old = out.get(key)
        out[key] = (
            _merge(old, value) if isinstance(old, dict) and isinstance(value, dict) else value
        )
    return out


class FerrotrackSettings(BaseSettings):
    """Everything configurable, with precedence code > ``FERROTRACK_*`` env > file.

    Lists come from env as ``a,b`` or JSON; nested keys with ``__``:
    ``FERROTRACK_BACKEND_CONFIGS__MLFLOW__TRACKING_URI=http://…``. Every plugin kind has a
    ``<kind>_configs`` table (``[tool.ferrotrack.framework_configs.torch]``); a package reads
    a table of its own with :meth:`section`.
    """

    model_config = SettingsConfigDict(
        env_prefix="FERROTRACK_",
        env_nested_delimiter="__",
        extra="ignore",
        validate_default=True,
    )

    root: Path | None = None
    backends: Annotated[list[str], NoDecode] = Field(default_factory=list)
    collectors: Annotated[list[str], NoDecode] = Field(default_factory=list)
    frameworks: Annotated[list[str], NoDecode] = Field(default_factory=list)
    processors: Annotated[list[str], NoDecode] = Field(default_factory=list)
    backend_configs: dict[str, dict[str, Any]] = Field(default_factory=dict)
    collector_configs: dict[str, dict[str, Any]] = Field(default_factory=dict)
    framework_configs: dict[str, dict[str, Any]] = Field(default_factory=dict)
    processor_configs: dict[str, dict[str, Any]] = Field(default_factory=dict)
    run_configs: dict[str, dict[str, Any]] = Field(default_factory=dict)
    postprocess_configs: dict[str, dict[str, Any]] = Field(default_factory=dict)
    pipeline_configs: dict[str, dict[str, Any]] = Field(default_factory=dict)
    sections: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """Package tables given in code (``FerrotrackSettings(sections={"ui": {...}})``)."""
    routing: dict[str, RouteRule] = Field(default_factory=dict)
    flush_interval: float = Field(default=1.0, gt=0)
    durability: Literal["none", "on_close", "every_flush"] = "on_close"
    orchestrator: OrchestratorSettings = Field(default_factory=OrchestratorSettings)

    _file_table: dict[str, Any] = PrivateAttr(default_factory=dict)

    _split = field_validator("backends", "collectors", "frameworks", "processors", mode="before")(
        _split_names
    )

    def __init__(self, **values: Any) -> None:
        # The light lookup checks the keys it shares with this model first, so a bad value
        # gets the same message (naming the variable or file key) on both paths.
        tracking_defaults(
            root=values.get("root"),
            flush_interval=values.get("flush_interval"),
            durability=values.get("durability"),
        )
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise InvalidArgumentError(f"settings: {_one_line(exc)}") from None
        _, table = file_settings()
        self._file_table = _wrap_secrets(table)

    @field_validator(*(f"{k}_configs" for k in _KINDS), "sections", mode="after")
    @classmethod
    def _secrets(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        wrapped: dict[str, dict[str, Any]] = _wrap_secrets(value)
        return wrapped

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Code, then environment, then the settings file."""
        return init_settings, env_settings, _FileSource(settings_cls)

    def configs(self, kind: str) -> dict[str, dict[str, Any]]:
        """Every config of one plugin kind (``PluginType`` or its value), secrets masked."""
        value = str(getattr(kind, "value", kind))
        if value not in _KINDS:
            raise InvalidArgumentError(f"plugin kind {kind!r}: expected one of {', '.join(_KINDS)}")
        table: dict[str, dict[str, Any]] = getattr(self, f"{value}_configs")
        return table

    def plugin_config(self, kind: str, name: str) -> dict[str, Any]:
        """The config of one plugin (``kind`` a ``PluginType`` or its value, e.g.
        ``"backend"``) with secrets revealed: pass it straight to the plugin (whose config
        model should declare them ``SecretStr``), never print it."""
        config: dict[str, Any] = _unwrap_secrets(self.configs(kind).get(name, {}))
        return config

    def section_data(self, name: str) -> dict[str, Any]:
        """The raw table ``name`` of a package (secrets revealed): the settings file's
        ``[tool.ferrotrack.<name>]`` (or ``[<name>]`` in ``ferrotrack.toml``), under
        ``FERROTRACK_<NAME>__<KEY>`` variables, under ``sections={name: ...}`` in code."""
        if not isinstance(name, str) or not _SECTION_NAME.match(name):
            raise InvalidArgumentError(
                f"settings section {name!r}: expected a lower-case name of letters, digits "
                "and '_', starting with a letter"
            )
        if name in type(self).model_fields:
            raise InvalidArgumentError(
                f"settings section {name!r}: the name is a core setting; choose another"
            )
        from_file = self._file_table.get(name, {})
        if not isinstance(from_file, dict):
            raise InvalidArgumentError(
                f"settings section {name!r}: expected a table in the settings file, "
                f"got {type(from_file).__name__}"
            )
        data = _merge(_unwrap_secrets(from_file), _env_section(f"FERROTRACK_{name.upper()}__"))
        data = _merge(data, _unwrap_secrets(self.sections.get(name, {})))
        return data

    def section(self, name: str, model: type[M]) -> M:
        """A package's own table, validated by its pydantic ``model``.

        >>> class UiSettings(BaseModel):                   # doctest: +SKIP
        ...     port: int = 8080
        ...     token: SecretStr | None = None
        >>> FerrotrackSettings().section("ui", UiSettings)  # doctest: +SKIP

        Declare secrets ``SecretStr`` in ``model``: they then never print. Raises
        :class:`InvalidArgumentError` naming the section and each bad key.
        """
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            raise InvalidArgumentError(
                f"settings section {name!r}: expected a pydantic model class, got {model!r}"
            )
        data = self.section_data(name)
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            raise InvalidArgumentError(
                f"settings section {name!r} ([tool.ferrotrack.{name}] or "
                f"FERROTRACK_{name.upper()}__*): {_one_line(exc)}"
            ) from None

    def secret_values(self) -> list[str]:
        """Every secret value held (for :meth:`redact`): plugin configs and sections."""
        found: list[str] = []
        for kind in _KINDS:
            found += _secret_values(self.configs(kind))
        found += _secret_values(self.sections) + _secret_values(self._file_table)
        return found

    def redact(self, text: str) -> str:
        """``text`` with every secret value replaced by ``**********``."""
        for secret in sorted(set(self.secret_values()), key=len, reverse=True):
            if len(secret) >= 4:
                text = text.replace(secret, _MASK)
        return text

    def safe_dump(self) -> dict[str, Any]:
        """A JSON-ready dict without secrets (masked), e.g. for ``run.json``."""
        data: dict[str, Any] = self.model_dump(mode="json")
        return data
