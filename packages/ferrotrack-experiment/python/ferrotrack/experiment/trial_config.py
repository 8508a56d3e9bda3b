"""What a trial's settings give its trial runs: the pipeline type, the resolved config and
params, and the hash that tells a resume whether a finished trial run's settings changed.

Checked once by ``Experiment.create`` (every trial names a pipeline) and used again by
``TrialRunner`` for each trial run.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from omegaconf import OmegaConf

from ferrotrack.experiment.config.expand import TrialRunSpec, TrialSpec
from ferrotrack.experiment.config.files import EXPERIMENT_FILE, ConfigDir
from ferrotrack.experiment.errors import ConfigError, UnknownNameError
from ferrotrack.experiment.factory import FactoryRegistry, FactoryType
from ferrotrack.experiment.pipelines.pipeline_factory import PipelineFactory, pipeline_class

if TYPE_CHECKING:
    from omegaconf import DictConfig

__all__ = [
    "check_pipelines",
    "epochs_of",
    "params_hash",
    "pipeline_type",
    "spec_hash",
    "trial_run_config",
]


def check_pipelines(
    config: ConfigDir, trials: Sequence[TrialSpec], registry: FactoryRegistry
) -> None:
    """Every trial names a pipeline type; with the default factory, a registered one."""
    default = type(registry.get(FactoryType.PIPELINE)) is PipelineFactory
    for trial in trials:
        try:
            name = pipeline_type(trial)
        except ConfigError as exc:
            raise ConfigError(
                f"trial {trial.name!r} names no pipeline; expected settings.pipeline.type "
                f"(in {EXPERIMENT_FILE}, base.yaml or trials.yaml) to be a registered pipeline",
                file=config.file(EXPERIMENT_FILE),
                key="settings.pipeline.type",
            ) from exc
        if default:
            try:
                pipeline_class(name)
            except UnknownNameError as exc:
                exc.args = (f"trial {trial.name!r}: {exc.args[0]}",)
                raise


def pipeline_type(trial: TrialSpec) -> str:
    """The trial's ``settings.pipeline.type``: the name its pipeline factory builds."""
    section = trial.settings.get("pipeline")
    name = section.get("type") if isinstance(section, Mapping) else None
    if not isinstance(name, str) or not name:
        raise ConfigError(f"trial {trial.name!r}: expected settings.pipeline.type, a name")
    return name


def trial_run_config(
    spec: TrialRunSpec,
) -> tuple[DictConfig | None, dict[str, Any], ConfigError | None]:
    """The trial run's config and params; a config that cannot be built still gives params
    (the raw settings) so that the run is recorded, failed with the error."""
    try:
        config = spec.config()
    except ConfigError as exc:
        return None, {**spec.trial.settings, "repeat": spec.repeat, "seed": spec.seed}, exc
    return config, _container(config), None


def epochs_of(config: DictConfig | None) -> int | None:
    """``pipeline.epochs`` when it is a positive int (the epoch bar's length), else ``None``."""
    if config is None:
        return None
    epochs = OmegaConf.select(config, "pipeline.epochs", default=None)
    return epochs if isinstance(epochs, int) and epochs > 0 else None


def params_hash(params: Mapping[str, Any]) -> str:
    """A stable hash of a trial run's resolved params (key order does not count), recorded
    as ``ferrotrack.config_hash``: a resume reruns a finished trial run whose settings
    changed."""
    text = json.dumps(params, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def spec_hash(spec: TrialRunSpec) -> str:
    """``params_hash`` of the params the trial run would get now. Settings without an
    interpolation are their own resolved form, which skips omegaconf (10,000 trial runs
    resume in well under a second)."""
    settings = spec.trial.settings
    if "${" not in json.dumps(settings, default=str):
        return params_hash({**settings, "repeat": spec.repeat, "seed": spec.seed})
    return params_hash(trial_run_config(spec)[1])


def _container(config: DictConfig) -> dict[str, Any]:
    data = OmegaConf.to_container(config, resolve=True)
    assert isinstance(data, dict)
    return {str(k): v for k, v in data.items()}
