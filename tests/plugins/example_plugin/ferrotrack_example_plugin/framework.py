"""A framework plugin whose import is recorded (see ``sentinel``); it patches nothing."""

from __future__ import annotations

from ferrotrack.core.plugins import FrameworkPlugin, PluginMetadata, PluginType

from . import sentinel

sentinel.imported.append(__name__)


class QuietFramework(FrameworkPlugin):
    """Captures nothing; exists so that tests can tell whether its module was imported."""

    @classmethod
    def get_metadata(cls) -> PluginMetadata:
        """Metadata of ``example_quiet``."""
        return PluginMetadata(name="example_quiet", version="0.3.1", type=PluginType.FRAMEWORK)
