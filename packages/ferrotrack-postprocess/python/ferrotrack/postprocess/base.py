"""What the four processors share: arguments checked into a config, and every failure
turned into a ``success: False`` result instead of an exception.

The rule (``docs/postprocess/README.md``): ``process()`` does not raise. A bad argument
(an unknown name, a wrong type) gives ``success: False`` with ``error: "invalid
arguments"`` and a message naming each field; a failure while processing gives
``success: False`` with the exception's type and text. Only :class:`MissingDependencyError`
(an optional library is not installed: the install is incomplete, no argument fixes it)
propagates, as ``KeyboardInterrupt`` does.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ValidationError

from ferrotrack.core.errors import FerrotrackError, MissingDependencyError
from ferrotrack.core.plugins.execution import ModelRun, PostprocessorPlugin
from ferrotrack.core.plugins.kinds import PluginType
from ferrotrack.core.plugins.metadata import PluginMetadata
from ferrotrack.postprocess.config import ProcessorConfig
from ferrotrack.postprocess.results import failed

__all__ = ["INVALID_ARGUMENTS", "ProcessorBase", "check_arguments"]

logger = logging.getLogger("ferrotrack.postprocess")

INVALID_ARGUMENTS = "invalid arguments"
"""The ``error`` of a result refused for its arguments."""


class ProcessorBase(PostprocessorPlugin):
    """A postprocessor whose ``process(model_run, **kwargs)`` validates ``kwargs`` with
    :attr:`config_class` and hands the config to :meth:`run`.

    Arguments given to ``initialize(config)`` (a plugin manager's settings) are defaults;
    those given to ``process`` override them.
    """

    processor_name: ClassVar[str]
    description: ClassVar[str]
    config_class: ClassVar[type[ProcessorConfig]]
    dependencies: ClassVar[tuple[str, ...]] = ()
    extra: ClassVar[str | None] = None

    @classmethod
    def get_metadata(cls) -> PluginMetadata:
        """Name, version, description and config model, for listings."""
        from ferrotrack.postprocess import __version__

        return PluginMetadata(
            name=cls.processor_name,
            version=__version__,
            type=PluginType.POSTPROCESS,
            description=cls.description,
            author="ferrotrack",
            dependencies=list(cls.dependencies),
            config_model=cls.config_class,
            extra=cls.extra,
        )

    def process(self, model_run: ModelRun, **kwargs: Any) -> dict[str, Any]:
        """The result dict (``success``, ``processor``, ``run_id``, ``message``, results)."""
        name = self.processor_name
        run_id = getattr(model_run, "run_id", None)
        problem = _model_run_problem(model_run)
        if problem is not None:
            return failed(name, None, INVALID_ARGUMENTS, f"{name}: {problem}")
        defaults = self.config.model_dump(exclude_unset=True) if self.config is not None else {}
        config = check_arguments(self.config_class, {**defaults, **kwargs})
        if isinstance(config, str):
            return failed(name, run_id, INVALID_ARGUMENTS, f"{name}: {config}")
        try:
            return self.run(model_run, config)
        except MissingDependencyError:
            raise
        except Exception as exc:  # the seed's rule: a failure is a result, not a raise
            expected = isinstance(exc, FerrotrackError | OSError)
            log = logger.info if expected else logger.exception
            log("%s failed for model run %r: %s", name, run_id, exc)
            return failed(
                name,
                run_id,
                f"{type(exc).__name__}: {exc}",
                f"{name} failed for model run {run_id!r}: {exc}",
            )

    def run(self, model_run: ModelRun, config: Any) -> dict[str, Any]:
        """The processing itself, with checked arguments; may raise (see the module)."""
        raise NotImplementedError


def check_arguments(model: type[BaseModel], kwargs: Mapping[str, Any]) -> Any:
    """``kwargs`` as a ``model``, or a message naming each bad argument and what was
    expected (never the value given: an argument may hold a secret)."""
    try:
        return model.model_validate(dict(kwargs))
    except ValidationError as err:
        known = ", ".join(sorted(model.model_fields))
        problems = []
        for e in err.errors(include_input=False, include_url=False):
            where = ".".join(str(p) for p in e["loc"]) or "<arguments>"
            if e["type"] == "extra_forbidden":
                problems.append(f"{where}: unknown argument (known: {known})")
            else:
                problems.append(f"{where}: {e['msg']}")
        return "invalid arguments: " + "; ".join(problems)


def _model_run_problem(model_run: object) -> str | None:
    """Why ``model_run`` cannot be processed, if it cannot (see ``ModelRun``)."""
    run_id = getattr(model_run, "run_id", None)
    if not isinstance(run_id, str) or not run_id:
        return (
            f"model_run: expected an object with a non-empty str run_id "
            f"(ferrotrack.core.plugins.execution.ModelRun), got {type(model_run).__name__}"
        )
    output_dir = getattr(model_run, "output_dir", None)
    if not isinstance(output_dir, str) and not hasattr(output_dir, "__fspath__"):
        return f"model_run.output_dir: expected a path, got {type(output_dir).__name__}"
    return None
