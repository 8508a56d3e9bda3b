"""One execution of a model run is one ferrotrack run: this module opens and closes it.

Any backend records the same things: the model's config and the backend's as params, the
status, exit code and duration, and the command's output in the run's ``logs/``. The child
gets ``FERROTRACK_RUN_DIR``, so its own ``ferrotrack.core.log(...)`` calls land in the same
run (under a rank of its own), from any engine that shares the folder.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

import ferrotrack.core as ft
from ferrotrack.core.run import RUN_DIR_ENV
from ferrotrack.run.process import CommandSpec, ProcessResult

__all__ = [
    "Execution",
    "ExecutionFailed",
    "ModelView",
    "cancel",
    "model_view",
    "start_execution",
]

STDOUT = "stdout.txt"
STDERR = "stderr.txt"
CANCEL = ".cancel"


class ExecutionFailed(RuntimeError):
    """Why a model run failed, stored as the ferrotrack run's error."""


@dataclass(frozen=True)
class ModelView:
    """The fields a backend reads from a model run: :class:`ferrotrack.run.ModelRun`, or any
    object with core's ``ModelRun`` protocol (missing fields take their defaults)."""

    run_id: str
    output_dir: Path
    name: str | None = None
    experiment: str = "model-runs"
    config: Mapping[str, Any] = field(default_factory=dict)
    command: str | Sequence[str] | None = None
    env_vars: Mapping[str, str] = field(default_factory=dict)
    work_dir: Path | None = None
    timeout: float | None = None
    root: Path | None = None
    parent: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def staging_dir(self) -> Path:
        """The model run's own folder: ``output_dir / run_id``."""
        return Path(self.output_dir) / self.run_id


def model_view(model_run: Any) -> ModelView:
    """What a backend needs of ``model_run``, read once."""

    def get(name: str, default: Any = None) -> Any:
        value = getattr(model_run, name, default)
        return default if value is None else value

    work_dir = get("work_dir")
    root = get("root")
    return ModelView(
        run_id=str(model_run.run_id),
        output_dir=Path(model_run.output_dir),
        name=get("name"),
        experiment=str(get("experiment", "model-runs")),
        config=dict(get("config", {})),
        command=get("command"),
        env_vars={str(k): str(v) for k, v in dict(get("env_vars", {})).items()},
        work_dir=Path(work_dir) if work_dir is not None else None,
        timeout=get("timeout"),
        root=Path(root) if root is not None else None,
        parent=get("parent"),
        tags={str(k): str(v) for k, v in dict(get("tags", {})).items()},
    )


class Execution:
    """The ferrotrack run recording one execution, and where its command's output goes."""

    def __init__(self, run: ft.Run, model: ModelView, backend: str) -> None:
        self.run = run
        self.model = model
        self.backend = backend
        self.logs_dir = run.run_dir / "logs"
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        self.cancel_file = self.logs_dir / CANCEL
        self.stdout = self.logs_dir / STDOUT
        self.stderr = self.logs_dir / STDERR
        self.started = time.monotonic()

    def __repr__(self) -> str:
        return f"<Execution {self.run.run_id} of model run {self.model.run_id} on {self.backend}>"

    def environment(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The child's whole environment: ours, the model run's and the backend's variables,
        and ``FERROTRACK_RUN_DIR`` (so its logging lands in this run)."""
        env = dict(os.environ)
        for inherited in ("FERROTRACK_RANK", "RANK", "LOCAL_RANK"):
            env.pop(inherited, None)  # ours; the model's or backend's own are kept below
        env.update(self.model.env_vars)
        env.update(extra or {})
        env[RUN_DIR_ENV] = str(self.run.run_dir.resolve())  # the child runs elsewhere
        return env

    def command_spec(
        self,
        argv: list[str],
        *,
        cwd: Path | None = None,
        extra_env: Mapping[str, str] | None = None,
        timeout: float | None = None,
        grace: float = 5.0,
    ) -> CommandSpec:
        """A :class:`CommandSpec` writing into this run's logs, cancellable by
        :func:`cancel`; ``cwd`` defaults to the model run's folder."""
        folder = cwd or self.model.work_dir or self.model.staging_dir
        return CommandSpec(
            argv=argv,
            cwd=str(folder),
            env=self.environment(extra_env),
            stdout=str(self.stdout),
            stderr=str(self.stderr),
            timeout=timeout,
            grace=grace,
            cancel_file=str(self.cancel_file),
        )

    def record(self, result: ProcessResult, *, reason: str | None = None) -> bool:
        """Records how the command ended and finishes the run; ``True`` when it succeeded."""
        if result.exit_code is not None:
            self.run.log("run/exit_code", float(result.exit_code), 0)
        self.run.log("run/duration_s", result.duration, 0)
        tags: dict[str, Any] = {"ferrotrack.exit_code": result.exit_code}
        tags.update({f"ferrotrack.{key}": value for key, value in result.extra.items()})
        why = reason or result.reason()
        if why is not None:
            tags["ferrotrack.reason"] = why
        self.run.set_tags(tags)
        self.cancel_file.unlink(missing_ok=True)
        if result.ok:
            self.run.finish("finished")
        elif result.cancelled:
            self.run.finish("killed", error=ExecutionFailed(why), signal_name="cancel")
        else:
            self.run.finish("failed", error=ExecutionFailed(why))
        return result.ok

    def succeed(self, note: str) -> bool:
        """Finishes the run as successful without a process (e.g. nothing to run)."""
        self.run.set_tags({"ferrotrack.reason": note})
        self.run.finish("finished")
        return True

    def fail(self, reason: str) -> bool:
        """Finishes the run as failed for ``reason`` (no process, or one that never ran)."""
        self.run.set_tags({"ferrotrack.reason": reason})
        self.run.finish("failed", error=ExecutionFailed(reason))
        return False

    def interrupted(self) -> None:
        """Finishes the run as killed by Ctrl-C, with how long it ran (the caller
        re-raises); nothing when it was already recorded."""
        if self.run.status != "running":
            return
        self.run.log("run/duration_s", time.monotonic() - self.started, 0)
        self.run.set_tags({"ferrotrack.reason": "interrupted (KeyboardInterrupt)"})
        self.cancel_file.unlink(missing_ok=True)
        self.run.finish("killed", signal_name="SIGINT")


def start_execution(model_run: Any, backend: str, config: BaseModel | None) -> Execution:
    """Opens the ferrotrack run of one execution of ``model_run`` on ``backend``."""
    model = model_view(model_run)
    params: dict[str, Any] = dict(model.config)
    if config is not None:
        recorded = getattr(config, "recorded", None)
        params["run_backend"] = recorded() if callable(recorded) else config.model_dump(mode="json")
    tags = {
        **model.tags,
        "ferrotrack.model_run": model.run_id,
        "ferrotrack.backend": backend,
        "ferrotrack.output_dir": str(model.staging_dir.resolve()),
    }
    run = ft.start_run(
        model.name or model.run_id,
        experiment=model.experiment,
        root=model.root,
        params=params,
        tags=tags,
        parent=model.parent,
        rank=0,  # its own run: a launcher's RANK (torchrun, mpiexec) is not this run's
    )
    attach = getattr(model_run, "attach_tracked_run", None)
    if callable(attach):
        attach(run)
    return Execution(run, model, backend)


def cancel(target: Execution | str | os.PathLike[str]) -> None:
    """Asks an execution's command to end (its process group is terminated within a
    fraction of a second), through a file in the run's ``logs/``: it works for any engine
    that shares the run folder. ``target`` is an :class:`Execution` or a run folder."""
    folder = target.logs_dir if isinstance(target, Execution) else Path(target) / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / CANCEL).touch()
