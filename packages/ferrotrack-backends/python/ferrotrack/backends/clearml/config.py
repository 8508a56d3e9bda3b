"""Settings of the ``clearml`` backend (``backend_configs.clearml`` in ferrotrack's settings)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, SecretStr, field_validator

from ferrotrack.core.records import RunInfo

__all__ = ["DEFAULT_FOLDER", "ClearmlConfig", "safe_host"]

DEFAULT_FOLDER = "clearml"
"""The folder, in the run's folder, that holds the offline session by default."""


class ClearmlConfig(BaseModel):
    """Offline (the default) or online, and where the task goes.

    Offline, ClearML writes the session into ``<offline_folder>/offline/<task id>/`` (and a
    zip of it beside, when the task closes); ``Task.import_offline_session`` uploads it
    later. Online needs ``api_host`` and the credentials (else ClearML's own
    ``clearml.conf`` or ``CLEARML_API_*`` variables).
    """

    model_config = ConfigDict(extra="forbid")

    offline: bool | None = None
    """``None``: offline unless ``api_host`` or credentials are set here."""
    project: str | None = None
    """The ClearML project; default the run's experiment."""
    task_name: str | None = None
    """The ClearML task's name; default the run's name."""
    offline_folder: Path | None = None
    """ClearML's cache folder for the offline session; a relative path is taken from the
    run's folder. Default ``<run folder>/clearml`` (the session lives with the run)."""
    api_host: str | None = None
    """The ClearML API server (``http://host:8008``), online only."""
    web_host: str | None = None
    files_host: str | None = None
    access_key: SecretStr | None = None
    secret_key: SecretStr | None = None
    connect_timeout: float = 5.0
    """Seconds to wait for the API server to answer before giving up (online)."""

    @field_validator("api_host", "web_host", "files_host")
    @classmethod
    def _no_credentials(cls, value: str | None) -> str | None:
        """A host with a user or password in it would show them in messages: refused."""
        if value is not None and "@" in urlsplit(value if "//" in value else f"//{value}").netloc:
            raise ValueError("put credentials in access_key and secret_key, not in the URL")
        return value

    @property
    def is_offline(self) -> bool:
        """Whether the task is written offline."""
        if self.offline is not None:
            return self.offline
        return self.api_host is None and self.access_key is None and self.secret_key is None

    def cache_dir(self, info: RunInfo) -> Path:
        """The cache folder ClearML is given (``CLEARML_CACHE_DIR``) for this run."""
        if self.offline_folder is None:
            return info.run_dir / DEFAULT_FOLDER
        text = str(self.offline_folder).format(
            run_id=info.run_id, experiment=info.experiment, name=info.name
        )
        path = Path(text).expanduser()
        return path if path.is_absolute() else info.run_dir / path


def safe_host(url: str) -> str:
    """``scheme://host:port`` of ``url``, without a user, password, path or query."""
    parts = urlsplit(url if "//" in url else f"http://{url}")
    host = parts.hostname or "?"
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # a port that is not a number
        port = ":?"
    return f"{parts.scheme}://{host}{port}"
