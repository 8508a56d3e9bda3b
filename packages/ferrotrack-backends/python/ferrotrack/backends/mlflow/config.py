"""Settings of the ``mlflow`` backend (``backend_configs.mlflow`` in ferrotrack's settings)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr

__all__ = ["MAX_METRICS_PER_REQUEST", "MlflowConfig"]

MAX_METRICS_PER_REQUEST = 1000
"""MLflow's limit on entities (metrics + params + tags) in one ``log_batch`` request."""


class MlflowConfig(BaseModel):
    """Where the MLflow server is and how hard to try each request.

    The request knobs are small on purpose: delivery retries a failed item with its own
    backoff and marks the backend degraded, so the MLflow client must fail fast instead of
    retrying for minutes (its default) on a dead server.
    """

    model_config = ConfigDict(extra="forbid")

    tracking_uri: str | None = None
    """``http://host:port``, ``sqlite:///mlflow.db``, ...; default: MLflow's own resolution
    (``MLFLOW_TRACKING_URI``, else its default)."""
    experiment: str | None = None
    """The MLflow experiment; default: the ferrotrack run's experiment name."""
    username: str | None = None
    """HTTP basic-auth user (with ``password``); or put both in ``MLFLOW_TRACKING_USERNAME``
    and ``MLFLOW_TRACKING_PASSWORD``, which MLflow reads itself."""
    password: SecretStr | None = None
    """HTTP basic-auth password; never printed."""
    chunk_size: int = Field(default=MAX_METRICS_PER_REQUEST, ge=1, le=MAX_METRICS_PER_REQUEST)
    """Points per ``log_batch`` request (MLflow takes at most 1000)."""
    request_timeout: int | None = Field(default=None, ge=1)
    """Seconds per HTTP request (``MLFLOW_HTTP_REQUEST_TIMEOUT``); default: that variable if
    set, else 10."""
    request_retries: int | None = Field(default=None, ge=0, le=10)
    """Retries inside the MLflow client (``MLFLOW_HTTP_REQUEST_MAX_RETRIES``); default: that
    variable if set, else 0 (delivery retries instead)."""
