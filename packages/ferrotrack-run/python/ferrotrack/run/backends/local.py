"""The ``local`` run backend: the command as a subprocess of this machine."""

from __future__ import annotations

from typing import Any

from ferrotrack.run.backends.base import CommandBackend
from ferrotrack.run.configs.local import LocalConfig
from ferrotrack.run.execution import Execution
from ferrotrack.run.process import command_argv, run_command

__all__ = ["LocalBackend"]


class LocalBackend(CommandBackend):
    """Runs the model run's command here, in its own process group (optionally under
    ``mpiexec -n``); a timeout ends the whole group: SIGTERM, grace, SIGKILL."""

    backend_name = "local"
    config_class = LocalConfig

    def execute(self, execution: Execution, model_run: Any, config: Any) -> bool:
        assert isinstance(config, LocalConfig)
        model = execution.model
        command = config.command if config.command is not None else model.command
        if command is None:
            return execution.succeed("no command: the inputs were generated, nothing was run")
        argv = command_argv(command, mpiexec=config.mpiexec, processes=config.processes)
        spec = execution.command_spec(
            argv,
            cwd=config.work_dir,
            extra_env=config.env_vars,
            timeout=config.timeout if config.timeout is not None else model.timeout,
            grace=config.grace,
        )
        return execution.record(run_command(spec))
