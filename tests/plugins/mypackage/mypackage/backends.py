"""Seed 003's ``CustomRunBackend``, verbatim; its custom logic runs the model run's command
through the ``local`` run backend, found by entry point like any other."""

# fmt: off
# mypy: disable-error-code="no-untyped-def, attr-defined"
from __future__ import annotations

import logging
from typing import Any

from ferrotrack.core.plugins.execution import get_execution_plugin

logger = logging.getLogger("mypackage")


class CustomRunBackend:
    """Custom run backend example."""

    def run(self, model_run, **kwargs):
        """Execute the model run.

        Args:
            model_run: The ModelRun instance
            **kwargs: Backend-specific parameters

        Returns:
            bool: True if successful, False otherwise
        """
        try:
            # Generate model inputs
            model_run.generate()

            # Custom execution logic here
            return self._execute_custom_logic(model_run, **kwargs)

        except Exception as e:
            logger.exception(f"Custom backend failed: {e}")
            return False


def _execute_custom_logic(self: CustomRunBackend, model_run: Any, **kwargs: Any) -> bool:
    """The guide leaves this to the reader: here, the ``local`` backend runs the command."""
    return bool(get_execution_plugin("run", "local").run(model_run, **kwargs))


CustomRunBackend._execute_custom_logic = _execute_custom_logic
