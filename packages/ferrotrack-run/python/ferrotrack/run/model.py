"""``ModelRun``: a model's config, its input templates and command; run anywhere.

Seed 003's model object. ``generate()`` renders the input files into the model run's folder
(``output_dir / run_id``); ``run()``, ``postprocess()`` and ``pipeline()`` hand it to the
plugin named, found by entry point (``ferrotrack.run``, ``ferrotrack.postprocess``,
``ferrotrack.pipeline``), so a backend of a package ferrotrack never saw works the same.
"""

from __future__ import annotations

import os
import re
import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from ferrotrack.core.plugins.execution import get_execution_plugin
from ferrotrack.run.errors import ModelRunError
from ferrotrack.run.templates import render_templates
from ferrotrack.run.yaml_scalars import env_strings, load_yaml

if TYPE_CHECKING:
    from ferrotrack.core import Run

__all__ = ["ModelRun", "new_run_id", "relative_to_file"]

_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_FILE_RELATIVE = ("template_dir", "work_dir", "output_dir")
"""The path fields that a model file gives relative to its own folder."""


def new_run_id() -> str:
    """A readable, time-sortable id: ``run_20261130T120000_3f9a1c``."""
    return f"run_{time.strftime('%Y%m%dT%H%M%S')}_{secrets.token_hex(3)}"


class ModelRun(BaseModel):
    """A model run: what to generate, what to execute, where, and for how long.

    >>> model = ModelRun(run_id="demo", command="echo hi", output_dir="out")  # doctest: +SKIP
    >>> model.run(backend="local")                                           # doctest: +SKIP
    True
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    run_id: str = Field(default_factory=new_run_id, description="the model run's folder name")
    name: str | None = Field(default=None, description="the ferrotrack run's name (default run_id)")
    experiment: str = Field(default="model-runs", description="ferrotrack experiment of its runs")
    output_dir: Path = Field(default=Path("model-runs"), description="parent of its folder")
    config: dict[str, Any] = Field(default_factory=dict, description="the model's settings")
    templates: dict[str, str] = Field(
        default_factory=dict, description="file name -> Jinja2 text, rendered by generate()"
    )
    template_dir: Path | None = Field(
        default=None, description="a folder of Jinja2 templates rendered file by file"
    )
    command: str | list[str] | None = Field(
        default=None, description="a string runs through /bin/sh -c, a list as argv"
    )
    env_vars: dict[str, str] = Field(default_factory=dict, description="added to the environment")
    work_dir: Path | None = Field(default=None, description="default: the model run's folder")
    timeout: float | None = Field(default=None, gt=0, description="seconds")
    root: Path | None = Field(default=None, description="ferrotrack store (default: settings)")
    parent: str | None = Field(default=None, description="run id of a parent ferrotrack run")
    tags: dict[str, str] = Field(default_factory=dict, description="tags of its ferrotrack runs")

    _tracked: Run | None = PrivateAttr(default=None)

    @field_validator("run_id")
    @classmethod
    def _check_run_id(cls, value: str) -> str:
        if not _RUN_ID.match(value):
            raise ValueError(
                "expected 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit"
            )
        return value

    @field_validator("env_vars", mode="before")
    @classmethod
    def _env_as_text(cls, value: Any) -> Any:
        return env_strings(value)  # OMP_NUM_THREADS: 4 in YAML is meant as "4"

    @property
    def staging_dir(self) -> Path:
        """The model run's own folder, ``output_dir / run_id``: inputs and outputs."""
        return Path(self.output_dir) / self.run_id

    @property
    def tracked_run(self) -> Run | None:
        """The ferrotrack run of the last execution (``None`` before the first)."""
        return self._tracked

    def attach_tracked_run(self, run: Run) -> None:
        """Called by a backend when it opens the ferrotrack run of an execution."""
        self._tracked = run

    def generate(self) -> Path:
        """Renders the templates into :attr:`staging_dir` (created) and returns it."""
        folder = self.staging_dir
        folder.mkdir(parents=True, exist_ok=True)
        render_templates(
            self.templates, self.template_dir, folder, context=self._template_context()
        )
        return folder

    def _template_context(self) -> dict[str, Any]:
        # The config's own keys come last: they win over the helper names.
        return {
            "config": self.config,
            "run_id": self.run_id,
            "model": self,
            "env": os.environ,
            **self.config,
        }

    def run(self, backend: str = "local", **kwargs: Any) -> bool:
        """Executes this model run on the run backend named (``local``, ``docker``,
        ``slurm``, ``ray``, ``dask`` or any registered); ``True`` when it succeeded."""
        result = get_execution_plugin("run", backend).run(self, **kwargs)
        return bool(result)

    def postprocess(self, processor: str = "noop", **kwargs: Any) -> dict[str, Any]:
        """Hands the outputs to the postprocessor named; its result dict."""
        result: dict[str, Any] = get_execution_plugin("postprocess", processor).process(
            self, **kwargs
        )
        return result

    def pipeline(self, pipeline_backend: str = "local", **kwargs: Any) -> dict[str, Any]:
        """Generate, run and postprocess through the pipeline backend named."""
        result: dict[str, Any] = get_execution_plugin("pipeline", pipeline_backend).execute(
            self, **kwargs
        )
        return result

    def with_config(self, updates: dict[str, Any], *, run_id: str) -> ModelRun:
        """A copy with ``updates`` (dotted keys reach into nested settings) and its own id;
        it shares nothing with this one (and has no tracked run yet). A dotted key whose
        parent setting is not a mapping, or a copy that is not a valid model run, raises
        :class:`ModelRunError` naming the key or field."""
        data = self.model_dump()
        for key, value in updates.items():
            _set_dotted(data["config"], key, value)
        data["run_id"] = run_id
        try:
            return type(self).model_validate(data)
        except ValidationError as err:
            raise ModelRunError(f"invalid model run {run_id!r}: {_problems(err)}") from None

    @classmethod
    def from_yaml(cls, path: str | os.PathLike[str]) -> ModelRun:
        """A model run from a YAML file of its fields (:class:`ModelRunError` naming the
        file and field when it does not fit). Relative paths in the file (``template_dir``,
        ``output_dir``, ``work_dir``) are relative to the file's folder, so it runs the
        same from any working folder."""
        source = Path(path)
        try:
            data = load_yaml(source.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ModelRunError(f"cannot read model run file {source}: {exc.strerror}") from None
        except yaml.YAMLError as exc:
            raise ModelRunError(f"{source} is not valid YAML: {exc}") from None
        if not isinstance(data, dict):
            raise ModelRunError(f"{source}: expected a mapping of ModelRun fields")
        for field in _FILE_RELATIVE:
            value = data.get(field)
            if isinstance(value, str) and value:
                data[field] = relative_to_file(value, source)
        try:
            return cls.model_validate(data)
        except ValidationError as err:
            raise ModelRunError(f"{source}: invalid model run: {_problems(err)}") from None


def relative_to_file(value: str, source: Path) -> Path:
    """``value`` (a path written in the file ``source``) as seen from the working folder:
    ``~`` expanded, a relative path joined to the file's folder."""
    path = Path(value).expanduser()
    return path if path.is_absolute() else source.parent / path


def _problems(err: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
        for e in err.errors(include_input=False, include_url=False)
    )


def _set_dotted(config: dict[str, Any], key: str, value: Any) -> None:
    """Sets ``a.b.c`` in nested dicts, creating the levels that are missing; a level that
    holds something else than a mapping is refused rather than silently replaced."""
    *parents, leaf = key.split(".")
    node = config
    for depth, part in enumerate(parents):
        if part not in node:
            node[part] = {}
        child = node[part]
        if not isinstance(child, dict):
            where = ".".join(parents[: depth + 1])
            raise ModelRunError(
                f"config key {key!r}: {where!r} is {child!r}, not a mapping of settings "
                f"(set {where!r} itself, or make it a mapping first)"
            )
        node = child
    node[leaf] = value
